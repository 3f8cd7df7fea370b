# -*- coding: utf-8 -*-
# Copyright: zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a balancer's HAProxy reads the servers' state back at a reload: the
``rotation_server_state_file`` filter."""

from __future__ import annotations

import posixpath
import re

DOCUMENTATION = r'''
name: rotation_server_state_file
short_description: The server-state-file a HAProxy configuration reads back at a reload
version_added: 0.2.0
description:
  - Reads the C(server-state-file), C(server-state-base) and C(load-server-state-from-file) lines of a HAProxy
    configuration and returns the path of the global server-state-file, as HAProxy resolves it.
  - A relative C(server-state-file) is under C(server-state-base), or else under C(/) (the working directory
    systemd gives HAProxy).
  - Returns an empty string when there is no C(server-state-file), or when no C(load-server-state-from-file global)
    reads it (with C(local) each backend reads a file of its own).
options:
  _input:
    description: The configuration's lines, for example the C(stdout) of a C(grep) for those directives.
    type: str
    required: true
'''

EXAMPLES = r'''
- name: Read when the servers' state was last saved on the balancer
  ansible.builtin.stat:
    path: "{{ __config_lines.stdout | zerodowntime.deploy.rotation_server_state_file }}"
  when: (__config_lines.stdout | zerodowntime.deploy.rotation_server_state_file) | length > 0
'''

RETURN = r'''
_value:
  description: Absolute path of the global server-state-file, or an empty string (none, or not read back).
  type: str
'''

# The first argument of a directive, quoted or not, up to a blank or a comment.
_DIRECTIVE = r"^\s*%s\s+(?:\"(?P<quoted>[^\"]+)\"|'(?P<single>[^']+)'|(?P<bare>[^\s#]+))"
_STATE_FILE = re.compile(_DIRECTIVE % "server-state-file", re.M)
_STATE_BASE = re.compile(_DIRECTIVE % "server-state-base", re.M)
_LOAD_GLOBAL = re.compile(r"^\s*load-server-state-from-file\s+global\b", re.M)


def _argument(pattern, text):
    match = pattern.search(text)
    if not match:
        return None
    return match.group("quoted") or match.group("single") or match.group("bare")


def rotation_server_state_file(text):
    """The ``rotation_server_state_file`` filter.

    :arg text: str, lines of a HAProxy configuration (any others are ignored).
    :returns: str, the absolute path of the global server-state-file (the
        first ``server-state-file``, joined to ``server-state-base`` or ``/``
        when relative, as HAProxy does), or "" when there is none or no
        ``load-server-state-from-file global`` reads it.
    """
    text = text or ""
    path = _argument(_STATE_FILE, text)
    if not path or not _LOAD_GLOBAL.search(text):
        return ""
    return posixpath.normpath(posixpath.join(_argument(_STATE_BASE, text) or "/", path))


class FilterModule(object):
    """The server-state-file filter."""

    def filters(self):
        """Return {name: function} of this module's filters."""
        return {"rotation_server_state_file": rotation_server_state_file}
