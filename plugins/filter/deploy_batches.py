# -*- coding: utf-8 -*-
# Copyright: zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rolling play's ``serial`` from deploy_serial: the ``deploy_batches`` filter."""

from __future__ import annotations

DOCUMENTATION = r'''
name: deploy_batches
short_description: Turn deploy_serial into the list of batch sizes the rolling play's serial keyword takes
version_added: 0.2.0
description:
  - C(deploy_serial) is a batch size (V(1), V(25%)), a list of them (V([1, "25%", "100%"])), or a comma-separated
    string of them (V("1,25%,100%")), as an AWX survey gives it. Ansible's C(serial) keyword takes a list; a list is
    returned unchanged, anything else is split on commas and trimmed.
  - The sizes are checked in preflight (C(zerodowntime.deploy.deploy_request_problems)), before the lock is taken;
    this filter does not check them.
options:
  _input:
    description: The value of C(deploy_serial); default it to V(1) (one host at a time).
    type: raw
    required: true
'''

EXAMPLES = r'''
- name: Roll the release across the app hosts, one batch at a time
  hosts: app
  serial: "{{ deploy_serial | default(1) | zerodowntime.deploy.deploy_batches }}"
  tasks: []
'''

RETURN = r'''
_value:
  description: The batch sizes, in order.
  type: list
  elements: raw
  sample: ["1", "25%", "100%"]
'''


def deploy_batches(serial):
    """The ``deploy_batches`` filter.

    :arg serial: a list (returned as it is), or an int or str, which is
        turned into str and split on commas ("1,25%" -> ["1", "25%"]).
    :returns: list of batch sizes (int or str items), as Ansible's ``serial``
        play keyword takes them.
    :raises: nothing.
    """
    if isinstance(serial, (list, tuple)):
        return list(serial)
    return [part.strip() for part in str(serial).split(",")]


class FilterModule(object):
    """The batches filter."""

    def filters(self):
        """Return {name: function} of this module's filters."""
        return {"deploy_batches": deploy_batches}
