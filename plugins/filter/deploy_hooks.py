# -*- coding: utf-8 -*-
# Copyright: zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The user's hooks of a deploy, checked and resolved: the ``deploy_hooks`` filter."""

from __future__ import annotations

import difflib
import os

DOCUMENTATION = r'''
name: deploy_hooks
short_description: Check the deploy_hooks option and resolve each hook's task file on the controller
version_added: 0.2.0
description:
  - C(deploy_hooks) maps a hook's name (C(before_enable), C(after_deploy), ...) to a task file of the user's,
    which the deploy role includes at that point of a host's turn or of the deploy.
  - Returns the hooks with each path made absolute against the directory C(ansible-playbook) runs in (as
    C(deploy_artifact_dir)), and every problem found, one message each, so that preflight fails before the
    deploy lock is taken and any host is touched.
  - A problem is reported for an input that is not a mapping, a name not in O(names) (with the closest known
    name, Python's C(difflib), cutoff 0.6), a value that is not a non-empty string, and a file that does not
    exist on the controller.
positional: names
options:
  _input:
    description: The value of C(deploy_hooks); V(null) or an empty mapping means no hooks.
    type: raw
    required: true
  names:
    description: Every hook name the deploy role knows.
    type: list
    elements: str
    required: true
'''

EXAMPLES = r'''
- name: Fail naming every problem of deploy_hooks
  ansible.builtin.fail:
    msg: "{{ checked.problems | join(' ') }}"
  vars:
    checked: "{{ deploy_hooks | default({}) | zerodowntime.deploy.deploy_hooks(['before_enable', 'after_deploy']) }}"
  when: checked.problems | length > 0
'''

RETURN = r'''
_value:
  description: The resolved hooks and the problems found.
  type: dict
  contains:
    paths:
      description: Hook name to the absolute path of its task file, for the names and values that are valid.
      type: dict
      sample: {before_enable: /home/ops/site/hooks/warm_cache.yml}
    problems:
      description: One message per problem; empty when the option is valid.
      type: list
      elements: str
      sample: ["Unknown hook 'before_enabel' in deploy_hooks; did you mean 'before_enable'?"]
'''


def deploy_hooks(hooks, names):
    """The ``deploy_hooks`` filter.

    :arg hooks: the ``deploy_hooks`` value: None, or a dict of hook name (str)
        to task file path (str, absolute or relative to the current directory
        of the controller process, which is where ansible-playbook runs).
    :arg names: list of the known hook names (str).
    :returns: dict ``{"paths": {name: absolute path}, "problems": [message]}``;
        ``paths`` holds only the valid entries.
    :raises: nothing; every problem is a message in ``problems``.
    """
    result = {"paths": {}, "problems": []}
    if hooks is None or hooks == "":
        return result
    if not isinstance(hooks, dict):
        result["problems"].append(
            "deploy_hooks must be a mapping of hook name to task file, such as "
            "{before_enable: hooks/warm_cache.yml} (got %s)." % type(hooks).__name__)
        return result
    known = list(names)
    for name in sorted(hooks, key=str):
        path = hooks[name]
        if name not in known:
            close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
            result["problems"].append(
                "Unknown hook '%s' in deploy_hooks%s Known hooks: %s." % (
                    name, "; did you mean '%s'?" % close[0] if close else ".", ", ".join(known)))
            continue
        if not isinstance(path, str) or not path.strip():
            result["problems"].append(
                "deploy_hooks.%s must be the path of a task file on the controller (got %r)." % (name, path))
            continue
        resolved = os.path.abspath(os.path.expanduser(path.strip()))
        if not os.path.isfile(resolved):
            result["problems"].append(
                "deploy_hooks.%s: task file %s not found on the controller (relative paths are read from "
                "the directory ansible-playbook runs in, %s)." % (name, resolved, os.getcwd()))
            continue
        result["paths"][name] = resolved
    return result


class FilterModule(object):
    """The deploy hooks filter."""

    def filters(self):
        """Return {name: function} of this module's filters."""
        return {"deploy_hooks": deploy_hooks}
