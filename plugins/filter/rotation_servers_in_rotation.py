# -*- coding: utf-8 -*-
# Copyright: zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which servers every balancer has in rotation: the
``rotation_servers_in_rotation`` filter."""

from __future__ import annotations

DOCUMENTATION = r'''
name: rotation_servers_in_rotation
short_description: The servers that every balancer has in rotation, settled and with their checks on
version_added: 0.2.0
description:
  - Reads the results of a looped M(zerodowntime.deploy.haproxy_info) task (one item per balancer) and returns
    the names of the servers that are in rotation in the given backend on every balancer, as the turn's enable
    leaves a server; the deploy's rolling play gives a host with nothing to change no turn when its server is
    one of them.
  - A server is in rotation on a balancer when, in that balancer's backend, its administrative state is
    C(ready), its operational state C(up), its status a settled C(UP) (not C(UP 1/3), which HAProxy shows for
    a server leaving maintenance before it checked it, nor C(DOWN 1/2)) or C(no check), and neither its health
    check nor its agent check is disabled (a drain turns the agent off; the enable turns it back on).
  - A server is left out when one balancer lacks it or its backend, and every server is left out when a
    balancer could not be read (failed or skipped), since what cannot be read is not in rotation.
options:
  _input:
    description: C(results) of the looped M(zerodowntime.deploy.haproxy_info) task; C(item) is the balancer.
    type: list
    elements: dict
    required: true
  backend:
    description: The backend whose servers count (C(rotation_backend)).
    type: str
    required: true
'''

EXAMPLES = r'''
- name: Publish which servers every balancer has in rotation
  ansible.builtin.set_fact:
    in_rotation: "{{ __info.results | zerodowntime.deploy.rotation_servers_in_rotation('app') }}"
'''

RETURN = r'''
_value:
  description: Server names (str), sorted; empty when no balancer was read.
  type: list
  elements: str
  sample: [app1, app3]
'''

# Statuses of `show stat` in which a server takes its share of requests and
# no transition is under way (HAProxy's management guide, section 9.1,
# field 17 "status").
SETTLED_STATUSES = ("UP", "no check")


def in_rotation(server):
    """Whether one server, as haproxy_info returns it, is in rotation.

    :arg server: dict with admin_state, operational_state, status,
        health_check and agent_check (haproxy_info's server entry).
    :returns: bool.
    """
    return (server.get("admin_state") == "ready"
            and server.get("operational_state") == "up"
            and server.get("status") in SETTLED_STATUSES
            and server.get("health_check") != "disabled"
            and server.get("agent_check") != "disabled")


def rotation_servers_in_rotation(readings, backend):
    """The ``rotation_servers_in_rotation`` filter.

    :arg readings: list of dicts (haproxy_info results, one per balancer).
    :arg backend: str, the backend read.
    :returns: sorted list of str, the servers in rotation in backend on
        every balancer; [] when there is no reading or one failed.
    """
    readings = list(readings or [])
    if not readings:
        return []
    found = None
    for reading in readings:
        if reading.get("failed") or reading.get("skipped") or "backends" not in reading:
            return []
        servers = ((reading["backends"].get(backend) or {}).get("servers") or {})
        here = {name for name, server in servers.items() if in_rotation(server or {})}
        found = here if found is None else found & here
    return sorted(found)


class FilterModule(object):
    """The filter of the servers in rotation on every balancer."""

    def filters(self):
        """Return {name: function} of this module's filters."""
        return {"rotation_servers_in_rotation": rotation_servers_in_rotation}
