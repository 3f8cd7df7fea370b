# -*- coding: utf-8 -*-
# Copyright: zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Problems of a deploy request found before anything changes: the
``deploy_request_problems`` filter."""

from __future__ import annotations

import difflib
import re

DOCUMENTATION = r'''
name: deploy_request_problems
short_description: List what is wrong with a deploy, rollback or switch request, one message per problem
version_added: 0.2.0
description:
  - Checks the variables of a request that Ansible's argument specs cannot check, before the deploy lock
    is taken or any host is touched.
  - A variable whose name starts with one of O(prefixes) but is not in O(known) is reported with the closest
    known name (Python's C(difflib), cutoff 0.6), so that C(deploy_serail) is not silently ignored.
  - O(serial) is what the rolling play's C(serial) keyword gets. It is a positive integer, a percentage from
    1% to 100%, a list of those, or a comma-separated string of them (as an AWX survey gives it). Ansible
    itself would fail on C(abc) only once the rolling play starts (after the lock, the stage and the
    migrations), and takes C(0) as "every host at once".
positional: known
options:
  _input:
    description: Names of the variables set for the request (for example from the C(ansible.builtin.varnames) lookup).
    type: list
    elements: str
    required: true
  known:
    description: Every option name the playbooks and roles read.
    type: list
    elements: str
    required: true
  prefixes:
    description: Only names starting with one of these are checked.
    type: list
    elements: str
    default: [deploy_, rollback_, switch_]
  serial:
    description: The value of C(deploy_serial), or V(null) when it is not set.
    type: raw
'''

EXAMPLES = r'''
- name: Fail naming every problem of the request
  ansible.builtin.fail:
    msg: "{{ problems | join(' ') }}"
  vars:
    problems: >-
      {{ query('ansible.builtin.varnames', '^(deploy|rollback|switch)_')
         | zerodowntime.deploy.deploy_request_problems(known_options, serial=deploy_serial | default(none)) }}
  when: problems | length > 0
'''

RETURN = r'''
_value:
  description:
    - One sentence per problem, naming the variable, what is wrong and what would fix it; empty when the
      request has none.
  type: list
  elements: str
'''

_SERIAL_ENTRY = re.compile(r"^(?:[1-9][0-9]*|(?:[1-9][0-9]?|100)%)$")


def serial_problems(serial):
    """Check a ``deploy_serial`` value.

    :arg serial: None (unset), an int, a str ("2", "25%", "1,25%,100%") or a
        list of those.
    :returns: a list of messages (str), empty when the value is valid.
    """
    if serial is None:
        return []
    if isinstance(serial, (list, tuple)):
        entries = list(serial)
    elif isinstance(serial, bool):
        entries = [serial]
    else:
        entries = [part.strip() for part in str(serial).split(",")]
    if not entries:
        return ["deploy_serial is an empty list: give a batch size such as 1, 25% or 1,25%,100%."]
    wrong = [entry for entry in entries if isinstance(entry, bool) or not _SERIAL_ENTRY.match(str(entry).strip())]
    if wrong:
        return ["deploy_serial has %s: each batch must be a positive number of hosts (1, 2, ...) or a "
                "percentage from 1%% to 100%% (got %r); for example -e deploy_serial=1 or "
                "-e deploy_serial=1,25%%,100%%." % (
                    "an invalid entry" if len(wrong) == 1 else "invalid entries",
                    serial if not isinstance(serial, (list, tuple)) else list(serial))]
    return []


def unknown_option_problems(names, known, prefixes=("deploy_", "rollback_", "switch_")):
    """Report variables that look like options but are not known.

    :arg names: iterable of variable names (str) set for the request.
    :arg known: iterable of every known option name (str).
    :arg prefixes: only names starting with one of these (str) are checked.
    :returns: a list of messages (str), one per unknown name, sorted by name.
    """
    known = sorted(set(known))
    problems = []
    for name in sorted(set(names)):
        if not name.startswith(tuple(prefixes)) or name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = "did you mean %s?" % close[0] if close else "it is not an option of zerodowntime.deploy."
        problems.append("Unknown option %s: %s Nothing reads it, so its value would be ignored." % (name, hint))
    return problems


def deploy_request_problems(names, known, prefixes=("deploy_", "rollback_", "switch_"), serial=None):
    """The ``deploy_request_problems`` filter.

    :arg names: list of the request's variable names (str).
    :arg known: list of known option names (str).
    :arg prefixes: list of name prefixes (str) to check.
    :arg serial: the deploy_serial value, or None.
    :returns: list of messages (str); empty when the request is valid.
    """
    return unknown_option_problems(names, known, prefixes) + serial_problems(serial)


class FilterModule(object):
    """The deploy request filters."""

    def filters(self):
        """Return {name: function} of this module's filters."""
        return {"deploy_request_problems": deploy_request_problems}
