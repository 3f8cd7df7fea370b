#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the zerodowntime.deploy collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
from __future__ import annotations

__metaclass__ = type

DOCUMENTATION = r'''
---
module: haproxy_info
short_description: Read the state and counters of HAProxy backends and servers
version_added: 0.1.0
description:
  - Reads the HAProxy Runtime API (C(show info), C(show servers state), C(show stat)) and returns the
    version, pid and uptime of HAProxy and, for each backend, its servers with their administrative and
    operational state, status, last check, weight, sessions, queue, response counters and times.
  - With O(master_socket), also reads the master CLI (C(show proc)) and returns RV(master), which says how many
    times HAProxy was reloaded since its master started, and since when the current worker serves.
  - Changes nothing; works with a socket of any level (C(user), C(operator) or C(admin)).
options:
  backend:
    description:
      - Only return this backend. The task fails if HAProxy has no backend of this name.
      - All backends when omitted.
    type: str
  master_socket:
    version_added: 0.2.0
    description:
      - Unix path (or C(tcp://host:port)) of HAProxy's master CLI (master-worker mode, C(haproxy -W -S <path>);
        Debian's C(haproxy.service) starts it with V(/run/haproxy-master.sock)).
      - When set, the task also returns RV(master), and fails when the master CLI cannot be read.
    type: str
extends_documentation_fragment:
  - zerodowntime.deploy.haproxy_socket
attributes:
  check_mode:
    description: Runs normally in check mode; it only reads.
    support: full
  diff_mode:
    description: Reports no diff; it changes nothing.
    support: none
seealso:
  - module: zerodowntime.deploy.haproxy_server
author:
  - zerodowntime.deploy maintainers (@zerodowntime)
'''

EXAMPLES = r'''
- name: Read the web backend of the balancer
  zerodowntime.deploy.haproxy_info:
    backend: web
  register: __lb_web
  delegate_to: lb1

- name: Assert that app1 is back in rotation and answering without server errors
  ansible.builtin.assert:
    that:
      - __lb_web.backends.web.servers.app1.admin_state == 'ready'
      - __lb_web.backends.web.servers.app1.operational_state == 'up'
      - __lb_web.backends.web.servers.app1.hrsp_5xx == 0

- name: Read every backend through a TCP stats socket
  zerodowntime.deploy.haproxy_info:
    socket: tcp://127.0.0.1:9999
  register: __lb_all

- name: Read since when the current HAProxy worker serves, and how many reloads the master went through
  zerodowntime.deploy.haproxy_info:
    backend: web
    master_socket: /run/haproxy-master.sock
  register: __lb_processes
'''

RETURN = r'''
haproxy_version:
  description: Version of the HAProxy process that answered.
  returned: success
  type: str
  sample: 2.6.12-1+deb12u4
haproxy_pid:
  description: Its process id.
  returned: success
  type: int
  sample: 1234
haproxy_uptime:
  description: Its uptime, in seconds.
  returned: success
  type: int
  sample: 86400
cli_level:
  version_added: 0.2.0
  description:
    - Access level of the socket (C(show cli level)); V(admin) is needed to change servers. Null when HAProxy
      does not know the command (before 2.0).
  returned: success
  type: str
  sample: admin
master:
  version_added: 0.2.0
  description:
    - The master-worker processes, from the master CLI's C(show proc).
    - C(pid), C(reloads) and C(uptime) of the master. C(reloads) counts the reloads since the master started
      (a restart starts again from 0), failed ones included.
    - C(current_worker) is the worker that serves (the one that answered O(socket)), with its C(pid), C(uptime)
      and C(started). A reload starts a new worker, so C(started) is the time of the last reload, or of the start
      when C(reloads) is 0; null without a worker.
    - C(old_workers) lists the pids of the workers a reload left running until their connections end.
    - Uptimes are in seconds; C(started) is in seconds since the epoch by the clock of the host the module runs
      on, to within about a second (HAProxy prints uptimes in whole seconds).
  returned: success, with O(master_socket)
  type: dict
  sample:
    pid: 1201
    reloads: 2
    uptime: 86400
    current_worker:
      pid: 4711
      uptime: 3600
      started: 1767225600
    old_workers: []
backends:
  description:
    - One entry per backend, keyed by backend name.
    - C(status), C(sessions), C(queue), C(hrsp_*), C(rtime) and C(ttime) of the backend as a whole.
    - C(servers) holds one entry per server, keyed by server name.
    - C(admin_state) is V(ready), V(drain) or V(maint); C(admin_reasons) says why (forced, inherited from a
      tracked server, from the configuration, address not resolved).
    - C(operational_state) is V(up), V(down), V(starting) (slowstart) or V(stopping) (NOLB).
    - C(status) is HAProxy's status string, such as C(UP), C(UP 1/3), C(DOWN 2/3), C(NOLB), C(DRAIN),
      C(MAINT (via web/app1)), C(no check).
    - C(check_status) is the result of the last health check, such as C(L7OK) or C(L4CON); null without checks.
    - C(health_check) and C(agent_check) are V(enabled), V(disabled) or V(not configured).
    - C(weight) is the current weight, C(initial_weight) the configured one.
    - C(sessions) are current sessions, C(queue) requests queued on the server.
    - C(hrsp_1xx) to C(hrsp_5xx) and C(hrsp_other) count HTTP responses by class since HAProxy started
      (null in TCP mode).
    - C(rtime) and C(ttime) are the average response and total times of the last 1024 requests, in
      milliseconds, as HAProxy reports them.
    - C(address) is the server's address as HAProxy resolved it (C(srv_addr) of C(show servers state)), the
      address it connects to; C(-) or C(0.0.0.0) when its name has not resolved (C(init-addr none)). Added in
      version 0.2.0.
  returned: success
  type: dict
  sample:
    web:
      status: UP
      sessions: 1
      queue: 0
      hrsp_1xx: 0
      hrsp_2xx: 41
      hrsp_3xx: 0
      hrsp_4xx: 2
      hrsp_5xx: 0
      hrsp_other: 0
      rtime: 3
      ttime: 4
      servers:
        app1:
          address: 10.0.0.11
          admin_state: ready
          admin_reasons: []
          operational_state: up
          status: UP
          check_status: L7OK
          health_check: enabled
          agent_check: not configured
          weight: 100
          initial_weight: 100
          sessions: 1
          queue: 0
          hrsp_1xx: 0
          hrsp_2xx: 20
          hrsp_3xx: 0
          hrsp_4xx: 1
          hrsp_5xx: 0
          hrsp_other: 0
          rtime: 3
          ttime: 4
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zerodowntime.deploy.plugins.module_utils.haproxy_common import (
    haproxy_argument_spec,
    master_from_params,
    master_summary,
    runtime_from_params,
    server_summary,
)
from ansible_collections.zerodowntime.deploy.plugins.module_utils.haproxy_runtime import (
    HAProxyCommandError,
    HAProxyRuntimeError,
    ServerStats,
    validate_name,
)

_BACKEND_FIELDS = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other",
                   "rtime", "ttime")


def read_backends(client, backend=None):
    """Join ``show stat`` and ``show servers state`` into the returned dict.

    Args: client (HAProxyRuntime); backend (str or None for all).
    Returns: dict backend name -> dict (see RETURN).
    Raises: HAProxyCommandError (unknown backend), HAProxyConnectionError.
    """
    # Types 2|4: the backend's own row and its servers' rows.
    rows = client.show_stat(backend, types=6) if backend else client.show_stat()
    states = {(s.backend, s.server): s for s in client.show_servers_state(backend)}
    backends = {}
    for row in rows:
        name, kind = row.get("pxname"), row.get("svname")
        if kind == "FRONTEND" or (backend and name != backend):
            continue
        stats = ServerStats.from_row(row)
        if kind == "BACKEND":
            entry = backends.setdefault(name, dict(servers={}))
            entry.update(status=stats.status.text, sessions=stats.scur, queue=stats.qcur)
            entry.update({f: getattr(stats, f) for f in _BACKEND_FIELDS})
            continue
        state = states.get((name, kind))
        if state is None:
            continue  # a proxy without servers state: not a backend server
        entry = backends.setdefault(name, dict(servers={}))
        entry["servers"][kind] = dict(server_summary(state, stats), address=state.address)
    return backends


def main():
    argument_spec = haproxy_argument_spec()
    argument_spec.update(backend=dict(type="str"), master_socket=dict(type="str"))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    backend = module.params["backend"]
    try:
        if backend is not None:
            validate_name(backend, "backend")
        client = runtime_from_params(module.params)
        info = client.show_info()
        level = client.cli_level()
        try:
            backends = read_backends(client, backend)
        except HAProxyCommandError as exc:
            if backend and exc.answer and exc.answer.startswith(("Can't find backend", "No such proxy")):
                module.fail_json(msg="backend '%s' does not exist on HAProxy socket %s"
                                 % (backend, client.socket))
            raise
        master = None
        if module.params["master_socket"]:
            master = master_summary(master_from_params(module.params).processes(), serving_pid=info.pid)
    except HAProxyRuntimeError as exc:
        module.fail_json(msg=str(exc))
    if backend is not None and backend not in backends:
        module.fail_json(msg="backend '%s' does not exist on HAProxy socket %s (it may be a frontend)"
                         % (backend, client.socket))
    result = dict(changed=False, haproxy_version=info.version, haproxy_pid=info.pid,
                  haproxy_uptime=info.uptime, cli_level=level, backends=backends)
    if master is not None:
        result["master"] = master
    module.exit_json(**result)


if __name__ == "__main__":
    main()
