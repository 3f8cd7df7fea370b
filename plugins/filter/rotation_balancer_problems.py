# -*- coding: utf-8 -*-
# Copyright: zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What stops a deploy on its balancers, found before anything changes: the
``rotation_balancer_problems`` filter."""

from __future__ import annotations

import datetime
import re

from ansible_collections.zerodowntime.deploy.plugins.filter.rotation_server_addresses import (
    resolved,
    servers_and_addresses,
)

DOCUMENTATION = r'''
name: rotation_balancer_problems
short_description: List what is wrong with the balancers of a deploy, one message per problem
version_added: 0.2.0
description:
  - Reads the results of a looped M(zerodowntime.deploy.haproxy_info) task (one item per balancer, run with
    C(failed_when=false)) and, optionally, of a looped C(grep) of each balancer's HAProxy configuration.
  - Reports a balancer that could not be read (the module's message names the socket), a socket below the
    C(admin) level (C(show cli level)), an app host that is not a server of the backend, and, with
    O(require_state_persistence), a balancer without C(server-state-file) or C(load-server-state-from-file)
    in its configuration, whose reload would put a drained server straight back into rotation.
  - Also with O(require_state_persistence), a balancer whose reload does not save the state (O(state_files)),
    that is one whose HAProxy master went through a reload (C(master.reloads) of a
    M(zerodowntime.deploy.haproxy_info) run with C(master_socket)) and whose server-state-file is missing, or was
    last written more than 30 seconds before the current worker started, which is when the last reload happened.
    A reload command that saves the state writes the file right before it signals HAProxy; a balancer never
    reloaded since it started is not reported.
  - With O(require_address), a balancer that has one of those servers in a backend read but no address for it
    (HAProxy did not resolve its name), so the address the server must listen on is unknown.
positional: backend, expected
options:
  _input:
    description: C(results) of the looped M(zerodowntime.deploy.haproxy_info) task; C(item) is the balancer.
    type: list
    elements: dict
    required: true
  backend:
    description: The backend the app hosts are servers of.
    type: str
    required: true
  expected:
    description: Server names that must be in O(backend) on every balancer (the app hosts).
    type: list
    elements: str
    required: true
  config_reads:
    description:
      - C(results) of a looped C(grep -hE '^\s*(server-state-file|load-server-state-from-file)\s' <config>),
        one item per balancer; C(stdout) holds the matching lines.
    type: list
    elements: dict
    default: []
  require_state_persistence:
    description: Report balancers whose configuration lacks either directive.
    type: bool
    default: true
  state_files:
    description:
      - C(results) of a looped M(ansible.builtin.stat) of each balancer's server-state-file (C(item) is the balancer;
        skipped items are not checked), read with the O(_input) results that hold C(master).
    type: list
    elements: dict
    default: []
  master_sockets:
    description:
      - C(results) of a looped M(ansible.builtin.stat) of each balancer's master CLI socket; a balancer whose
        socket does not exist is reported (its old workers could not be drained). Skipped items are not.
    type: list
    elements: dict
    default: []
  require_address:
    description:
      - Server names that must have a resolved address (C(address) of M(zerodowntime.deploy.haproxy_info)) in every
        backend read that holds them, because the address they listen on is derived from it
        (C(zerodowntime.deploy.rotation_server_addresses)). A balancer that does not have the server at all is not
        reported here.
    type: list
    elements: str
    default: []
'''

EXAMPLES = r'''
- name: Fail naming every balancer problem
  ansible.builtin.fail:
    msg: "{{ problems | join(' ') }}"
  vars:
    problems: "{{ __info.results | zerodowntime.deploy.rotation_balancer_problems('app', groups['app']) }}"
  when: problems | length > 0
'''

RETURN = r'''
_value:
  description: One sentence per problem, naming the balancer and what would fix it; empty when there is none.
  type: list
  elements: str
'''

_STATE_FILE = re.compile(r"^\s*server-state-file\s+\S", re.M)
_LOAD_STATE = re.compile(r"^\s*load-server-state-from-file\s+(global|local)\b", re.M)


def reading_problems(reading, backend, expected):
    """Problems of one balancer's haproxy_info result.

    :arg reading: dict, one item of a looped haproxy_info's results.
    :arg backend: str, the backend name.
    :arg expected: list of str, server names that must be in the backend.
    :returns: list of str messages.
    """
    balancer = reading.get("item", "?")
    if reading.get("failed") or "backends" not in reading:
        return ["Balancer %s cannot be read: %s." % (balancer, str(reading.get("msg", "no answer")).rstrip("."))]
    problems = []
    level = reading.get("cli_level")
    if level not in (None, "admin"):
        problems.append("Balancer %s: the Runtime API socket has level '%s'; draining needs a socket declared "
                        "with 'level admin' (set haproxy_admin_socket for the balancer)." % (balancer, level))
    servers = (reading["backends"].get(backend) or {}).get("servers") or {}
    missing = [name for name in expected if name not in servers]
    if missing:
        problems.append("Balancer %s: backend '%s' has no server named %s (its servers: %s); the server names "
                        "must be the app hosts' inventory names." % (
                            balancer, backend, ", ".join(missing), ", ".join(sorted(servers)) or "none"))
    return problems


def persistence_problems(read):
    """Problems of one balancer's configuration read (a looped grep item).

    :arg read: dict with ``item`` (balancer) and ``stdout`` (matching lines).
    :returns: list of str messages.
    """
    if read.get("skipped"):
        return []
    text = read.get("stdout") or ""
    directives = (("server-state-file", _STATE_FILE), ("load-server-state-from-file", _LOAD_STATE))
    lacking = [directive for directive, pattern in directives if not pattern.search(text)]
    if not lacking:
        return []
    return ["Balancer %s: its HAProxy configuration has no %s, so a reload would put a drained server back "
            "into rotation while its application restarts. Add 'server-state-file' (global) and "
            "'load-server-state-from-file global' (defaults), and save the state before each reload "
            "(zerodowntime.deploy.haproxy does both), or accept the risk with "
            "deploy_require_state_persistence: false." % (read.get("item", "?"), " or ".join(lacking))]


# Seconds a state file may be older than the worker that a reload started
# after saving it: the reload command saves the state, then signals the
# master, which re-reads its configuration before it starts the new worker;
# show proc counts the worker's uptime in whole seconds.
SAVE_GRACE_S = 30


def _socat_address(socket):
    """socat's address of a Runtime API socket (a path or tcp://host:port)."""
    return "TCP:" + socket[len("tcp://"):] if socket.startswith("tcp://") else socket


def _utc(seconds):
    """A time in seconds since the epoch, as text in UTC."""
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def reload_problems(reading, read):
    """Problems of one balancer's last reload: was the servers' state saved?

    :arg reading: dict, the balancer's haproxy_info result; with
        ``master`` (run with master_socket): ``reloads`` (int, since the
        master started) and ``current_worker.started`` (int, seconds since
        the epoch on the balancer).
    :arg read: dict, the balancer's looped stat of its server-state-file:
        ``stat.exists``, ``stat.mtime`` (float seconds since the epoch on the
        balancer) and the path in ``invocation.module_args.path``.
    :returns: list of str messages; empty when the balancer was not reloaded
        since it started, when the state file was written at most
        SAVE_GRACE_S seconds before the current worker started, or when
        either read is missing, failed or skipped.
    """
    master = reading.get("master") or {}
    started = (master.get("current_worker") or {}).get("started")
    reloads = master.get("reloads") or 0
    if read.get("skipped") or read.get("failed") or reloads < 1 or started is None:
        return []
    stat = read.get("stat") or {}
    path = ((read.get("invocation") or {}).get("module_args") or {}).get("path", "?")
    if not stat.get("exists"):
        found = "its server-state-file %s does not exist" % path
    elif stat.get("mtime", 0) < started - SAVE_GRACE_S:
        found = "its server-state-file %s was last written at %s, before the last reload (at %s, when its " \
                "current worker started)" % (path, _utc(stat["mtime"]), _utc(started))
    else:
        return []
    socket = ((reading.get("invocation") or {}).get("module_args") or {}).get("socket") or "/run/haproxy/admin.sock"
    return ["Balancer %s was reloaded without saving the servers' state (%d reload%s since HAProxy started): %s. "
            "Such a reload puts a drained server back into rotation, possibly while its application restarts. "
            "Save the state right before each reload, e.g. in haproxy.service before the kill -USR2: "
            "ExecReload=/bin/sh -c 'echo \"show servers state\" | socat stdio %s > %s' "
            "(zerodowntime.deploy.haproxy does this), or accept the risk with "
            "deploy_require_state_persistence: false." % (
                reading.get("item", "?"), reloads, "" if reloads == 1 else "s", found,
                _socat_address(socket), path)]


def master_problems(read):
    """Problems of one balancer's master CLI stat (a looped stat item).

    :arg read: dict with ``item`` (balancer), ``stat`` and ``invocation``.
    :returns: list of str messages.
    """
    if read.get("skipped"):
        return []
    stat = read.get("stat") or {}
    if stat.get("exists") and stat.get("issock"):
        return []
    path = ((read.get("invocation") or {}).get("module_args") or {}).get("path", "?")
    return ["Balancer %s has no HAProxy master CLI at %s, so the old workers a reload leaves running could keep "
            "serving a drained server: start HAProxy in master-worker mode with -S %s (Debian's haproxy.service "
            "does), set haproxy_master_socket for the balancer, or drain the current worker only with "
            "rotation_haproxy_master_socket: ''." % (read.get("item", "?"), path, path)]


def address_problems(reading, servers):
    """Servers of one balancer's haproxy_info result that HAProxy has without an address.

    :arg reading: dict, one item of a looped haproxy_info's results.
    :arg servers: list of str, the server names that need an address.
    :returns: list of str messages.
    """
    if reading.get("failed") or "backends" not in reading:
        return []  # reported as unreadable
    balancer = reading.get("item", "?")
    seen = {}
    for name, address in servers_and_addresses(reading):
        seen.setdefault(name, []).append(address)
    return ["Balancer %s has no address for server %s (HAProxy reports '%s': its name did not resolve), so the "
            "address %s must listen on is unknown: make %s resolve on %s and reload HAProxy, or set "
            "deploy_app_bind_addresses for %s." % (
                balancer, name, "', '".join(sorted(set(str(a) for a in seen[name]))), name, name, balancer, name)
            for name in servers if name in seen and not any(resolved(a) for a in seen[name])]


def rotation_balancer_problems(readings, backend, expected, config_reads=(), require_state_persistence=True,
                               master_sockets=(), state_files=(), require_address=()):
    """The ``rotation_balancer_problems`` filter.

    :arg readings: list of dicts (haproxy_info results, one per balancer).
    :arg backend: str.
    :arg expected: list of str server names.
    :arg config_reads: list of dicts (grep results, one per balancer).
    :arg require_state_persistence: bool.
    :arg master_sockets: list of dicts (stat results, one per balancer).
    :arg state_files: list of dicts (stat results of the server-state-file,
        one per balancer), matched to `readings` by ``item``.
    :arg require_address: list of str server names that need a resolved address.
    :returns: list of str messages; empty when every balancer is fit.
    """
    problems = []
    for reading in readings:
        problems.extend(reading_problems(reading, backend, expected))
        problems.extend(address_problems(reading, require_address))
    for read in master_sockets:
        problems.extend(master_problems(read))
    if require_state_persistence:
        for read in config_reads:
            problems.extend(persistence_problems(read))
        by_balancer = {reading.get("item"): reading for reading in readings}
        for read in state_files:
            problems.extend(reload_problems(by_balancer.get(read.get("item"), {}), read))
    return problems


class FilterModule(object):
    """The rotation preflight filter."""

    def filters(self):
        """Return {name: function} of this module's filters."""
        return {"rotation_balancer_problems": rotation_balancer_problems}
