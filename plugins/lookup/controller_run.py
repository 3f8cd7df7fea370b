# -*- coding: utf-8 -*-
# Copyright: zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``controller_run`` lookup: which ansible-playbook process runs this play."""

from __future__ import annotations

DOCUMENTATION = r'''
name: controller_run
short_description: Identify the ansible-playbook process that runs this play on the controller
version_added: 0.2.0
description:
  - Returns the host name, boot ID, PID namespace, process ID and process start time of the C(ansible-playbook)
    process on the controller (the parent of the worker process that runs the task).
  - The deploy_lock role records it in the lock's C(holder.json), so that a later run on the same controller can
    tell, with the P(zerodowntime.deploy.lock_holder_gone#filter) filter, that the run holding the lock has ended.
  - Linux controllers only; elsewhere the boot ID, namespace and start time are null and the run is never found gone.
options: {}
'''

EXAMPLES = r'''
- name: Show which process runs this play
  ansible.builtin.debug:
    msg: "{{ query('zerodowntime.deploy.controller_run')[0] }}"
'''

RETURN = r'''
_raw:
  description: One element, a dictionary.
  type: list
  elements: dict
  contains:
    host:
      description: The controller's host name.
      type: str
    boot_id:
      description: C(/proc/sys/kernel/random/boot_id), or null.
      type: str
    pid_namespace:
      description: The target of C(/proc/self/ns/pid), such as C(pid:[4026531836]), or null.
      type: str
    pid:
      description: Process ID of C(ansible-playbook).
      type: int
    start:
      description: Its start time in clock ticks since boot (field 22 of C(/proc/<pid>/stat)), or null.
      type: str
'''

from ansible.plugins.lookup import LookupBase

from ansible_collections.zerodowntime.deploy.plugins.module_utils.controller_run import this_run


class LookupModule(LookupBase):
    """``lookup('zerodowntime.deploy.controller_run')``: takes no terms."""

    def run(self, terms, variables=None, **kwargs):
        """Return ``[this_run()]``, a one-element list (see RETURN)."""
        self.set_options(var_options=variables, direct=kwargs)
        return [this_run()]
