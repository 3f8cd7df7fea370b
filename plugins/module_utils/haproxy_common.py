# -*- coding: utf-8 -*-
# Copyright: contributors to the zerodowntime.deploy collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the HAProxy modules share: connection options and result shapes.

The connection options are declared once here and documented once in the
doc fragment zerodowntime.deploy.haproxy_socket; every module starts from
haproxy_argument_spec().
"""

from __future__ import absolute_import, division, print_function
from __future__ import annotations

__metaclass__ = type

import time

from ansible_collections.zerodowntime.deploy.plugins.module_utils.haproxy_runtime import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    HAProxyMaster,
    HAProxyRuntime,
)

DEFAULT_SOCKET = "/run/haproxy/admin.sock"


def haproxy_argument_spec():
    """Argument spec of the connection options (doc fragment haproxy_socket).

    Returns: a new dict, to be updated with the module's own options.
    """
    return dict(
        socket=dict(type="str", default=DEFAULT_SOCKET),
        connect_timeout=dict(type="float", default=DEFAULT_CONNECT_TIMEOUT),
        read_timeout=dict(type="float", default=DEFAULT_READ_TIMEOUT),
    )


def runtime_from_params(params):
    """Build the Runtime API client from a module's parameters.

    Args: params (dict with socket, connect_timeout, read_timeout).
    Returns: HAProxyRuntime.
    Raises: HAProxyArgumentError for a malformed address or timeout.
    """
    return HAProxyRuntime(params["socket"], connect_timeout=params["connect_timeout"],
                          read_timeout=params["read_timeout"])


def master_from_params(params):
    """Build the master CLI client from a module's parameters.

    Args: params (dict with master_socket, connect_timeout, read_timeout).
    Returns: HAProxyMaster.
    Raises: HAProxyArgumentError for a malformed address or timeout.
    """
    return HAProxyMaster(params["master_socket"], connect_timeout=params["connect_timeout"],
                         read_timeout=params["read_timeout"])


def master_summary(processes, serving_pid=None, now=None):
    """The master-worker processes as haproxy_info returns them.

    Args: processes (list of HAProxyProcess, from HAProxyMaster.processes(),
        the master CLI's ``show proc``); serving_pid (int or None: the pid
        that answered ``show info`` on the stats socket, preferred as the
        current worker); now (float seconds since the epoch, default
        time.time(): the clock the file times of this host use).
    Returns: dict with pid, reloads (reloads of the master since it started,
        failed ones included) and uptime (seconds) of the master;
        current_worker: dict with pid, uptime (seconds) and started (int
        seconds since the epoch, now - uptime: within about 1 s of its
        start, which is the last reload's), or None without a current
        worker; old_workers (list of int pids a reload left running).
    """
    now = time.time() if now is None else now
    master = next((p for p in processes if p.kind == "master"), None)
    workers = [p for p in processes if p.kind == "worker" and not p.old]
    current = next((p for p in workers if p.pid == serving_pid), None)
    if current is None and workers:
        current = min(workers, key=lambda p: p.uptime if p.uptime is not None else float("inf"))
    worker = None
    if current is not None:
        worker = dict(pid=current.pid, uptime=current.uptime,
                      started=None if current.uptime is None else int(now) - current.uptime)
    return dict(
        pid=master.pid if master else None,
        reloads=master.reloads if master else None,
        uptime=master.uptime if master else None,
        current_worker=worker,
        old_workers=[p.pid for p in processes if p.kind == "worker" and p.old],
    )


def _check_mode_text(configured, enabled):
    if not configured:
        return "not configured"
    return "enabled" if enabled else "disabled"


def server_summary(state, stats=None):
    """One server as the modules return it.

    Args: state (ServerState from ``show servers state``); stats
        (ServerStats from ``show stat``, or None).
    Returns: dict with admin_state (ready|drain|maint), admin_reasons (list),
        operational_state (up|down|starting|stopping), weight (user weight),
        initial_weight, health_check and agent_check (enabled|disabled|not
        configured); with stats also status (e.g. ``UP 1/3``), check_status,
        sessions (current), queue, hrsp_1xx..hrsp_5xx, hrsp_other, rtime and
        ttime (milliseconds).
    """
    summary = dict(
        admin_state=state.admin,
        admin_reasons=state.admin_reasons,
        operational_state=state.operational,
        weight=state.uweight,
        initial_weight=state.iweight,
        health_check=_check_mode_text(state.health_check_configured, state.health_check_enabled),
        agent_check=_check_mode_text(state.agent_check_configured, state.agent_check_enabled),
    )
    if stats is not None:
        summary.update(
            status=stats.status.text,
            check_status=stats.check_status,
            sessions=stats.scur,
            queue=stats.qcur,
            hrsp_1xx=stats.hrsp_1xx, hrsp_2xx=stats.hrsp_2xx, hrsp_3xx=stats.hrsp_3xx,
            hrsp_4xx=stats.hrsp_4xx, hrsp_5xx=stats.hrsp_5xx, hrsp_other=stats.hrsp_other,
            rtime=stats.rtime, ttime=stats.ttime,
        )
    return summary
