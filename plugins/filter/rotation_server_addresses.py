# -*- coding: utf-8 -*-
# Copyright: zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where the balancers reach each server: the ``rotation_server_addresses``
filter."""

from __future__ import annotations

import ipaddress

DOCUMENTATION = r'''
name: rotation_server_addresses
short_description: The addresses the balancers reach each server at
version_added: 0.2.0
description:
  - Reads the results of a looped M(zerodowntime.deploy.haproxy_info) task (one item per balancer) and returns,
    for each server name, the addresses HAProxy resolved it to (the C(address) of each server), over every
    balancer and every backend read, unique and in the order first seen.
  - Leaves out an address HAProxy has not resolved (C(-), C(0.0.0.0), C(::)) and anything that is not an IP
    address, and skips a balancer whose reading failed.
  - The filter C(zerodowntime.deploy.rotation_balancer_problems), given the servers as its option C(require_address),
    reports a balancer that has one of them but no resolved address for it.
options:
  _input:
    description: C(results) of the looped M(zerodowntime.deploy.haproxy_info) task; C(item) is the balancer.
    type: list
    elements: dict
    required: true
'''

EXAMPLES = r'''
- name: Publish where the balancers reach each app host
  ansible.builtin.set_fact:
    app_addresses: "{{ __info.results | zerodowntime.deploy.rotation_server_addresses }}"
'''

RETURN = r'''
_value:
  description: Server name -> list of addresses (str, IPv4 or IPv6 without brackets); a server with none is left out.
  type: dict
  sample: {app1: [10.0.0.11], app2: [10.0.0.12, "fd00::12"]}
'''


def resolved(address):
    """The address as an IP string, or None when HAProxy has not resolved it.

    :arg address: str from haproxy_info (``srv_addr``), or None.
    :returns: str or None.
    """
    try:
        ip = ipaddress.ip_address(str(address).strip())
    except ValueError:
        return None  # "-", "", None, a name
    return None if ip.is_unspecified else str(ip)


def servers_and_addresses(reading):
    """(server name, address) of every server of every backend of one reading.

    :arg reading: dict, one item of a looped haproxy_info's results.
    :returns: iterator of (str, str or None).
    """
    for backend in (reading.get("backends") or {}).values():
        for name, server in ((backend or {}).get("servers") or {}).items():
            yield name, (server or {}).get("address")


def _readable(readings):
    return [r for r in readings or [] if not r.get("failed") and not r.get("skipped") and "backends" in r]


def rotation_server_addresses(readings):
    """The ``rotation_server_addresses`` filter.

    :arg readings: list of dicts (haproxy_info results, one per balancer).
    :returns: dict server name -> list of str addresses, unique, in order.
    """
    addresses = {}
    for reading in _readable(readings):
        for name, address in servers_and_addresses(reading):
            ip = resolved(address)
            if ip is not None and ip not in addresses.setdefault(name, []):
                addresses[name].append(ip)
    return {name: found for name, found in addresses.items() if found}


class FilterModule(object):
    """The filter of the balancers' server addresses."""

    def filters(self):
        """Return {name: function} of this module's filters."""
        return {"rotation_server_addresses": rotation_server_addresses}
