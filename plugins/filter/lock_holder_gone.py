# -*- coding: utf-8 -*-
# Copyright: zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``lock_holder_gone`` filter: whether the run that holds a lock has ended."""

from __future__ import annotations

from ansible_collections.zerodowntime.deploy.plugins.module_utils.controller_run import run_is_gone

DOCUMENTATION = r'''
name: lock_holder_gone
short_description: Tell whether the run recorded in a deploy lock has certainly ended on this controller
version_added: 0.2.0
description:
  - Takes a lock's holder record (C(holder.json) as the deploy_lock role writes it) and returns true only when its
    C(controller) entry names this controller (same host name, PID namespace and boot) and that
    C(ansible-playbook) process no longer runs, or its process ID now belongs to a process started later, or the
    controller has rebooted since.
  - A record from another controller (an AWX job's container, a colleague's laptop), or without a C(controller)
    entry, gives false, since whether that run still goes cannot be known from here.
options:
  _input:
    description: The holder record, a dictionary with a C(controller) entry from the P(zerodowntime.deploy.controller_run#lookup) lookup.
    type: dict
    required: true
'''

EXAMPLES = r'''
- name: Take over a lock whose run was killed on this controller
  ansible.builtin.set_fact:
    lock_is_stale: "{{ holder | zerodowntime.deploy.lock_holder_gone }}"
'''

RETURN = r'''
_value:
  description: Whether the holder's run has certainly ended.
  type: bool
'''


def lock_holder_gone(holder):
    """Whether the run in ``holder`` (dict, with a ``controller`` dict) has ended; bool."""
    if not isinstance(holder, dict):
        return False
    return run_is_gone(holder.get("controller"))


class FilterModule:
    """Filters of the deploy lock."""

    def filters(self):
        """Map of filter names to functions."""
        return {"lock_holder_gone": lock_holder_gone}
