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
module: haproxy_server
short_description: Put a HAProxy server in ready, drain or maint state and wait for the outcome
version_added: 0.1.0
description:
  - Sets the administrative state and the weight of one server through the HAProxy Runtime API,
    in one backend or in every backend that contains it.
  - Reads the server before changing anything, writes only what differs, and reads it back after
    every write; the task fails if HAProxy does not report what was asked.
  - With O(wait=true), O(state=drain) waits until the server carries no session and no queued
    request, and O(state=ready) waits until HAProxy reports the server UP and in rotation.
  - A server that is already DOWN (its health check fails) or in maintenance goes straight to the
    requested state without waiting for its sessions.
options:
  backend:
    description:
      - Name of the backend.
      - If omitted, the module acts on every backend that contains a server named O(server),
        and fails if none does.
    type: str
  server:
    description:
      - Name of the server, as in the HAProxy configuration.
    type: str
    required: true
  state:
    description:
      - V(ready) puts the server in rotation.
      - V(drain) stops sending it new requests; requests in flight and persistent sessions continue.
      - V(maint) stops all traffic to it and pauses its health checks. With O(wait=true), a server that
        is in rotation is drained first and put in maintenance once its sessions are over
        (O(drain_timeout), O(drain_timeout_policy) apply).
      - Required unless O(weight) is given; when omitted, the administrative state is left as it is.
    type: str
    choices: [ready, drain, maint]
  weight:
    description:
      - Weight of the server, an absolute integer V(0) to V(256), or a percentage of the weight
        of its configuration such as V(50%).
      - Compared with the current weight as HAProxy computes it (percentages round down), so that a
        second run changes nothing.
      - Backends using a static algorithm (C(static-rr), C(first), hashes without C(hash-type consistent))
        only accept V(0%) and V(100%); HAProxy's refusal fails the task.
    type: raw
  wait:
    description:
      - Wait for the outcome of O(state) (see the description).
      - When V(false), the module returns right after HAProxy has accepted and reported the change.
    type: bool
    default: true
  drain_timeout:
    description:
      - Seconds to wait for the sessions of a draining server to end (O(state=drain), or O(state=maint)
        with O(wait=true)).
      - The server is read every O(poll_interval) seconds and one last time at the deadline.
    type: float
    default: 60.0
  wait_timeout:
    description:
      - Seconds to wait, after O(state=ready), for HAProxy to report the server UP and in rotation.
      - HAProxy takes a server leaving maintenance as UP before checking it, showing C(UP 1/3); the module
        waits for a settled C(UP), which needs passing checks (unless the server has C(fall 1)).
      - A server without health checks (status C(no check)) is up as soon as it is ready.
      - On expiry the task fails and the server stays ready.
      - With O(checked_before_traffic) (the default) the same timeout first bounds the wait for a passing
        health check in DRAIN, before the server is set ready.
    type: float
    default: 30.0
  poll_interval:
    description:
      - Seconds between two reads of the server while waiting.
    type: float
    default: 0.2
  drain_timeout_policy:
    description:
      - What to do when sessions remain after O(drain_timeout).
      - V(fail) fails the task and leaves the server drained.
      - V(restore) fails the task after putting the server back in the state it had before the task
        (administrative state, weight and checks), so that it takes traffic again.
      - V(shutdown_sessions) kills the remaining sessions (C(shutdown sessions server)) and carries on.
    type: str
    choices: [fail, restore, shutdown_sessions]
    default: fail
  disable_checks_in_maint:
    description:
      - When V(true), the health and agent checks of the server are disabled while it is in maintenance
        (C(disable health), C(disable agent)) and enabled again when it leaves maintenance, so that an agent
        cannot put it back in rotation and no check alerts are raised while it is deployed.
      - Checks are enabled before the server is set ready, so it is never taken as UP unchecked.
      - Only the checks that the configuration declares are touched.
    type: bool
    default: false
  hold_agent_check:
    version_added: 0.2.0
    description:
      - When V(true), a configured agent check of the server is disabled (C(disable agent)) before the server
        is set to V(drain) or V(maint), and enabled again (C(enable agent)) before it is set V(ready).
      - An agent answering C(ready) would otherwise set a drained or MAINT server back to READY within one
        C(agent-inter), and HAProxy would send it new requests while the deploy stops its application.
      - Health checks cannot change the administrative state and are left alone (see O(disable_checks_in_maint)).
    type: bool
    default: true
  confirm_interval:
    version_added: 0.2.0
    description:
      - After a server is set to V(drain) or V(maint) (and its sessions ended), seconds to wait before the
        server is read once more; the task fails, naming the likely cause, when it is no longer out of
        rotation (an agent check, another client of the Runtime API, a reload without server state).
      - V(0) reads it again at once.
    type: float
    default: 0.0
  checked_before_traffic:
    version_added: 0.2.0
    description:
      - When V(true), a server with an enabled health check that is set V(ready) from V(maint) or V(drain) is
        first put in DRAIN (no new request), its health forced down (C(set server <backend>/<server> health down))
        and the task waits, within O(wait_timeout), until its health check has passed; only then is it set
        V(ready). When the check does not pass in time the task fails and the server stays in DRAIN.
      - Without it, HAProxy takes a server leaving MAINT whose last check was good as UP at once, and sends it
        requests before checking it again. C(set server ... health down) has no effect while in MAINT.
      - Clients with persistence (a stick table or a cookie) may still reach a server in DRAIN.
      - A server without an enabled health check is UP as soon as it is ready either way.
    type: bool
    default: true
  master_socket:
    version_added: 0.2.0
    description:
      - Unix path (or C(tcp://host:port)) of HAProxy's master CLI (master-worker mode, C(haproxy -W -S <path>)).
      - When set, O(state=drain) and O(state=maint) also reach the old workers a reload left running until their
        connections end (C(show proc), C(@!<pid>)), and the task waits, within the same O(drain_timeout), until none
        of them has a session on the server. (An old worker's proxies are stopped, so it refuses C(set server) with
        "Proxy is disabled", takes no new connection and closes its kept-alive ones after their current request.) O(drain_timeout_policy)
        applies to their sessions as to the current worker's (V(restore) fails like V(fail)).
      - Without it only the worker answering O(socket) is drained; a connection kept alive through an old
        worker can still reach the server. Bound old workers with C(hard-stop-after) in HAProxy's configuration.
    type: str
extends_documentation_fragment:
  - zerodowntime.deploy.haproxy_socket
attributes:
  check_mode:
    description: Reads the server and reports what would change; sends no command that changes anything.
    support: full
  diff_mode:
    description: Shows C(admin_state), C(operational_state), C(weight) and checks of the server per backend.
    support: full
notes:
  - Runs on the host where the socket is; use C(delegate_to) to act on a balancer from the play of an
    application host.
  - A socket of level C(operator) or C(user) can read but not change a server; the task then fails
    naming the socket and its level, before sending any change.
seealso:
  - module: zerodowntime.deploy.haproxy_info
  - name: HAProxy management guide, Unix Socket commands
    description: The Runtime API commands this module sends.
    link: https://docs.haproxy.org/2.6/management.html#9.3
author:
  - zerodowntime.deploy maintainers (@zerodowntime)
'''

EXAMPLES = r'''
- name: Drain app1 on every backend of the balancer and wait for its sessions to end
  zerodowntime.deploy.haproxy_server:
    server: app1
    state: drain
    drain_timeout: 120
  delegate_to: lb1

- name: Put app1 in maintenance in the web backend, with its checks off while it is deployed
  zerodowntime.deploy.haproxy_server:
    socket: /run/haproxy/admin.sock
    backend: web
    server: app1
    state: maint
    disable_checks_in_maint: true
  delegate_to: lb1

- name: Give app1 back to the web backend and wait until HAProxy sees it UP
  zerodowntime.deploy.haproxy_server:
    backend: web
    server: app1
    state: ready
    wait_timeout: 60
  delegate_to: lb1

- name: Send app2 half of its configured traffic, through the TCP admin socket
  zerodowntime.deploy.haproxy_server:
    socket: tcp://127.0.0.1:9999
    backend: web
    server: app2
    weight: 50%

- name: Drain app1, killing sessions still open after 30 seconds
  zerodowntime.deploy.haproxy_server:
    backend: web
    server: app1
    state: drain
    drain_timeout: 30
    drain_timeout_policy: shutdown_sessions
'''

RETURN = r'''
backends:
  description: Backends acted on.
  returned: success
  type: list
  elements: str
  sample: [web, api]
previous_state:
  description: The server in each backend before the task.
  returned: success
  type: dict
  sample:
    web:
      admin_state: ready
      admin_reasons: []
      operational_state: up
      status: UP
      check_status: L7OK
      weight: 100
      initial_weight: 100
      health_check: enabled
      agent_check: not configured
      sessions: 2
      queue: 0
state:
  description:
    - The server in each backend at the end of the task (in check mode, what it would be).
    - Same keys as RV(previous_state).
  returned: success
  type: dict
  sample:
    web:
      admin_state: drain
      admin_reasons: [forced drain]
      operational_state: up
      status: DRAIN
      check_status: L7OK
      weight: 100
      initial_weight: 100
      health_check: enabled
      agent_check: not configured
      sessions: 0
      queue: 0
sessions:
  description: Current sessions of the server in each backend at the end of the task.
  returned: success
  type: dict
  sample: {web: 0}
waited:
  description: Seconds spent waiting for sessions to end or for the server to come up.
  returned: success
  type: float
  sample: 3.41
old_workers:
  version_added: 0.2.0
  description:
    - With O(master_socket), for each old worker (pid) the server's sessions in each backend at the end of the
      task (V(null) where the worker ended, or has no such server).
  returned: success, with O(master_socket) and O(state=drain) or O(state=maint)
  type: dict
  sample: {"4711": {"web": 0}}
sessions_shutdown:
  description: Backends in which remaining sessions were killed (O(drain_timeout_policy=shutdown_sessions)).
  returned: success
  type: list
  elements: str
  sample: []
haproxy_pid:
  description: Process id of the HAProxy process that answered.
  returned: success
  type: int
  sample: 1234
haproxy_uptime:
  description: Uptime of that HAProxy process, in seconds.
  returned: success
  type: int
  sample: 86400
haproxy_version:
  description: Version of that HAProxy process.
  returned: success
  type: str
  sample: 2.6.12-1+deb12u4
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zerodowntime.deploy.plugins.module_utils.haproxy_common import (
    haproxy_argument_spec,
    master_from_params,
    runtime_from_params,
    server_summary,
)
from ansible_collections.zerodowntime.deploy.plugins.module_utils.haproxy_runtime import (
    HAProxyArgumentError,
    HAProxyCommandError,
    HAProxyPermissionError,
    HAProxyRuntimeError,
    HAProxyTimeoutError,
    expected_weight,
    validate_name,
)

# After "shutdown sessions server", sessions end within milliseconds; this
# only bounds the read that confirms it.
SHUTDOWN_GRACE_S = 5.0

# The fields of a server this module manages; `changed` compares these.
MANAGED = ("admin_state", "weight", "health_check", "agent_check")
DIFFED = ("admin_state", "operational_state", "weight", "health_check", "agent_check")


class TaskFailed(Exception):
    """Raised inside the task to fail it with a message; result is kept."""


class ServerTask(object):
    """Drive one haproxy_server task: read, plan, write, read back, wait."""

    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.server = self.params["server"]
        self.result = dict(changed=False, backends=[], previous_state={}, state={},
                           sessions={}, waited=0.0, sessions_shutdown=[])
        self.before_states = {}

    # -- reading -------------------------------------------------------

    def where(self, backend):
        """Name the server, backend and socket in messages."""
        return "server '%s' in backend '%s' (HAProxy socket %s)" % (
            self.server, backend, self.client.socket)

    def read(self, backend):
        """(ServerState, ServerStats) of the server in one backend."""
        state = self.client.server_state(backend, self.server)
        stats = self.client.server_stats(backend, self.server)
        return state, stats

    def summary(self, backend):
        """The server in one backend as returned to the user (dict)."""
        state, stats = self.read(backend)
        return server_summary(state, stats)

    def resolve_backends(self):
        """The backends to act on; TaskFailed when there are none."""
        backend = self.params["backend"]
        if backend is not None:
            try:
                states = self.client.show_servers_state(backend)
            except HAProxyCommandError as exc:
                if exc.answer and exc.answer.startswith("Can't find backend"):
                    raise TaskFailed("backend '%s' does not exist on HAProxy socket %s"
                                     % (backend, self.client.socket))
                raise
            if not any(s.server == self.server for s in states):
                raise TaskFailed("backend '%s' has no server '%s' (HAProxy socket %s); its servers: %s"
                                 % (backend, self.server, self.client.socket,
                                    ", ".join(s.server for s in states) or "none"))
            return [backend]
        backends = self.client.find_backends(self.server)
        if not backends:
            raise TaskFailed("no backend contains a server named '%s' (HAProxy socket %s)"
                             % (self.server, self.client.socket))
        return backends

    # -- planning ------------------------------------------------------

    def desired(self, state):
        """The managed fields as they must be at the end, for one backend."""
        params = self.params
        admin = params["state"] or state.admin
        weight = state.uweight
        if params["weight"] is not None:
            weight = expected_weight(params["weight"], state.iweight)
        health = server_summary(state)["health_check"]
        agent = server_summary(state)["agent_check"]
        if params["disable_checks_in_maint"]:
            wanted = "disabled" if admin == "maint" else "enabled"
            if state.health_check_configured:
                health = wanted
            if state.agent_check_configured:
                agent = wanted
        if params["hold_agent_check"] and params["state"] and state.agent_check_configured:
            agent = "enabled" if admin == "ready" else "disabled"
        return dict(admin_state=admin, weight=weight, health_check=health, agent_check=agent)

    # -- writing -------------------------------------------------------

    def check_level(self):
        """Fail before any change when the socket cannot change servers."""
        level = self.client.cli_level()
        if level is not None and level != "admin":
            raise TaskFailed(self.level_message(level))

    def level_message(self, level):
        """Why a socket of this level cannot change the server."""
        return ("cannot change server '%s' in backend(s) %s: HAProxy socket %s has level '%s', "
                "which can read but not change servers; changes need a socket declared with "
                "'level admin' (stats socket ... level admin)"
                % (self.server, ", ".join(self.result["backends"]) or "-", self.client.socket,
                   level or "below admin"))

    def verify(self, backend, command, field, expected):
        """Read back after a write; TaskFailed unless HAProxy reports it."""
        state = self.read(backend)[0]
        summary = server_summary(state)
        if summary[field] != expected:
            detail = ""
            if field == "admin_state" and state.admin_reasons:
                detail = " (%s)" % ", ".join(state.admin_reasons)
            raise TaskFailed("HAProxy accepted '%s' but reports %s %s%s instead of %s for %s"
                             % (command, field, summary[field], detail, expected, self.where(backend)))
        return state

    def set_admin(self, backend, admin):
        """set server <be>/<srv> state <admin>, then read it back."""
        self.client.set_server_state(backend, self.server, admin)
        self.verify(backend, "set server %s/%s state %s" % (backend, self.server, admin),
                    "admin_state", admin)

    def set_weight(self, backend, weight):
        """set server <be>/<srv> weight <weight>, then read it back."""
        self.client.set_server_weight(backend, self.server, weight)
        self.verify(backend, "set server %s/%s weight %s" % (backend, self.server, weight),
                    "weight", weight)

    def set_checks(self, backend, want):
        """Bring the health/agent checks of one backend's server to `want`."""
        current = self.read(backend)[0]
        summary = server_summary(current)
        for field, setter, verb in (("health_check", self.client.set_health_check, "health"),
                                    ("agent_check", self.client.set_agent_check, "agent")):
            if want[field] != summary[field] and want[field] in ("enabled", "disabled"):
                enabled = want[field] == "enabled"
                setter(backend, self.server, enabled)
                self.verify(backend, "%s %s %s/%s" % ("enable" if enabled else "disable", verb,
                                                      backend, self.server), field, want[field])

    def restore(self, backend):
        """Put back the managed fields the server had before the task."""
        before = self.before_states[backend]
        previous = server_summary(before)
        now = server_summary(self.read(backend)[0])
        if now["weight"] != previous["weight"]:
            self.set_weight(backend, previous["weight"])
        # Checks first when the restored state takes traffic, as for ready.
        if previous["admin_state"] != "maint":
            self.set_checks(backend, previous)
        if now["admin_state"] != previous["admin_state"]:
            self.set_admin(backend, previous["admin_state"])
        if previous["admin_state"] == "maint":
            self.set_checks(backend, previous)

    def set_agent_off(self, backend):
        """disable agent <be>/<srv>, then read it back."""
        if server_summary(self.read(backend)[0])["agent_check"] == "enabled":
            self.client.set_agent_check(backend, self.server, False)
            self.verify(backend, "disable agent %s/%s" % (backend, self.server), "agent_check", "disabled")

    def pass_check_in_drain(self, backend):
        """Before a server out of rotation is set ready: put it in DRAIN,
        force its health down and wait (within wait_timeout) until its
        health check has passed, so that it is sent no request unchecked.

        HAProxy takes a server leaving MAINT whose last check was good as UP
        at once, and ``set server ... health down`` has no effect in MAINT
        (both seen on 2.6); in DRAIN the check runs and no new request is
        sent. A server without an enabled health check is left alone.
        Raises TaskFailed, leaving the server in DRAIN, when the check does
        not pass in time.
        """
        state = self.read(backend)[0]
        if not state.health_check_enabled:
            return
        if state.admin == "maint":
            self.set_admin(backend, "drain")
        self.client.set_server_health(backend, self.server, "down")
        try:
            self.result["waited"] += self.client.wait_for_checked(
                backend, self.server, self.params["wait_timeout"], self.params["poll_interval"])
        except HAProxyTimeoutError as exc:
            self.result["waited"] += exc.waited
            stats = self.client.server_stats(backend, self.server)
            raise TaskFailed("%s did not pass its health check within wait_timeout %.1fs (status %s, last "
                             "check %s): it stays in DRAIN and was sent no request"
                             % (self.where(backend), self.params["wait_timeout"], stats.status.text,
                                stats.check_status or "none"))

    def drain_old_workers(self, backends, start):
        """Drain the server in every old worker (master CLI) and wait, within
        drain_timeout from `start`, until none has a session on it."""
        params = self.params
        master = master_from_params(params)
        deadline = start + params["drain_timeout"]
        self.result["old_workers"] = {}
        for pid in master.old_workers():
            worker = master.worker(pid)
            seen = self.result["old_workers"].setdefault(str(pid), {})
            for backend in backends:
                try:
                    state = worker.server_state(backend, self.server)
                except HAProxyCommandError:
                    seen[backend] = None  # gone, or its configuration had no such server
                    continue
                # An old worker's proxies are stopped ("Proxy is disabled" to
                # any change): it takes no new connection and closes its kept-
                # alive ones after their current request, so its sessions on
                # the server only end; waiting for them is what is left.
                if state.admin == "ready":
                    try:
                        worker.set_server_state(backend, self.server, "drain")
                    except HAProxyCommandError as exc:
                        if "Proxy is disabled" not in (exc.answer or ""):
                            raise
                if not params["wait"]:
                    seen[backend] = worker.server_stats(backend, self.server).sessions
                    continue
                began = self.client.now()
                try:
                    worker.wait_for_drain(backend, self.server, max(0.0, deadline - began), params["poll_interval"])
                    seen[backend] = 0
                except HAProxyTimeoutError as exc:
                    seen[backend] = exc.last_state.sessions
                    if params["drain_timeout_policy"] != "shutdown_sessions":
                        self.result["waited"] += self.client.now() - began
                        raise TaskFailed(
                            "old HAProxy worker %d (left running by a reload) still has %d sessions on %s after "
                            "drain_timeout %.1fs; the server is left drained. Wait for them, use "
                            "drain_timeout_policy=shutdown_sessions, or bound old workers with 'hard-stop-after' "
                            "in HAProxy's global section"
                            % (pid, exc.last_state.sessions, self.where(backend), params["drain_timeout"]))
                    worker.shutdown_sessions(backend, self.server)
                    self.result["sessions_shutdown"].append("%s (worker %d)" % (backend, pid))
                except HAProxyCommandError:
                    seen[backend] = None  # the old worker ended meanwhile: nothing left to wait for
                self.result["waited"] += self.client.now() - began

    def confirm_out(self, backends, target):
        """Read the server again (after confirm_interval seconds) and fail
        when it is no longer in the state the task set."""
        if self.params["confirm_interval"] > 0:
            self.client.sleep(self.params["confirm_interval"])
        for backend in backends:
            state = self.read(backend)[0]
            wanted = ("drain", "maint") if target == "drain" else ("maint",)
            if state.admin in wanted:
                continue
            causes = []
            if state.agent_check_enabled:
                causes.append("its agent check is enabled and an agent answer such as 'ready' sets the "
                              "administrative state (hold_agent_check keeps it off while out of rotation)")
            causes.append("another client of the Runtime API, or a reload of HAProxy without a "
                          "server-state-file, may have changed it")
            raise TaskFailed("%s went back to %s on its own after it was set to %s: %s"
                             % (self.where(backend), state.admin, target, "; ".join(causes)))

    # -- waiting -------------------------------------------------------

    def drain_all(self, backends, deadline):
        """Wait for sessions to end on every backend within one deadline.

        Returns the backends still carrying sessions at the deadline.
        """
        interval = self.params["poll_interval"]
        left = []
        for backend in backends:
            remaining = max(0.0, deadline - self.client.now())
            try:
                self.result["waited"] += self.client.wait_for_drain(
                    backend, self.server, remaining, interval)
            except HAProxyTimeoutError as exc:
                self.result["waited"] += exc.waited
                left.append((backend, exc.last_state))
        return left

    def handle_drain_timeout(self, left):
        """Apply drain_timeout_policy to [(backend, ServerStats)] still busy."""
        policy = self.params["drain_timeout_policy"]
        details = ", ".join("backend '%s': %d sessions, %d queued" % (b, s.scur, s.qcur) for b, s in left)
        message = ("server '%s' still has sessions after drain_timeout %.1fs (HAProxy socket %s): %s"
                   % (self.server, self.params["drain_timeout"], self.client.socket, details))
        if policy == "shutdown_sessions":
            busy = [backend for backend, stats in left]
            for backend in busy:
                self.client.shutdown_sessions(backend, self.server)
                self.result["sessions_shutdown"].append(backend)
            for backend in busy:
                try:
                    self.client.wait_for_drain(backend, self.server, SHUTDOWN_GRACE_S,
                                               self.params["poll_interval"])
                except HAProxyTimeoutError as exc:
                    raise TaskFailed("%s; 'shutdown sessions server' left %d sessions on %s"
                                     % (message, exc.last_state.sessions, self.where(backend)))
            return
        if policy == "restore":
            for backend in self.result["backends"]:
                self.restore(backend)
            raise TaskFailed(message + "; restored the state the server had before the task")
        raise TaskFailed(message + "; the server is left drained")

    def wait_up(self, backends):
        """Wait, within one wait_timeout, for the server to be UP everywhere."""
        deadline = self.client.now() + self.params["wait_timeout"]
        for backend in backends:
            remaining = max(0.0, deadline - self.client.now())
            try:
                self.result["waited"] += self.client.wait_for_up(
                    backend, self.server, remaining, self.params["poll_interval"])
            except HAProxyTimeoutError as exc:
                self.result["waited"] += exc.waited
                raise TaskFailed("%s is ready but not UP after wait_timeout %.1fs: operational state %s, "
                                 "status %s, last check %s; it stays ready"
                                 % (self.where(backend), self.params["wait_timeout"],
                                    exc.last_state.operational, exc.last_stats.status.text,
                                    exc.last_stats.check_status or "none"))

    # -- the task ------------------------------------------------------

    def run(self):
        """Read, plan, and (unless in check mode) write, verify and wait."""
        params = self.params
        info = self.client.show_info()
        self.result.update(haproxy_pid=info.pid, haproxy_uptime=info.uptime,
                           haproxy_version=info.version)
        backends = self.resolve_backends()
        self.result["backends"] = backends

        plans = {}
        for backend in backends:
            state, stats = self.read(backend)
            self.before_states[backend] = state
            self.result["previous_state"][backend] = server_summary(state, stats)
            plans[backend] = self.desired(state)

        before = self.result["previous_state"]
        to_change = [b for b in backends
                     if any(plans[b][f] != before[b][f] for f in MANAGED)]
        if to_change:
            self.check_level()

        if self.module.check_mode:
            for backend in backends:
                predicted = dict(before[backend])
                predicted.update(plans[backend])
                self.result["state"][backend] = predicted
                self.result["sessions"][backend] = before[backend]["sessions"]
            self.result["changed"] = bool(to_change)
            return

        target = params["state"]
        wait = params["wait"]
        # maint with wait: drain first so that requests in flight finish
        # before the server leaves; maint alone lets them run on unobserved.
        via_drain = [b for b in backends
                     if target == "maint" and wait and before[b]["admin_state"] == "ready"
                     and before[b]["operational_state"] != "down"]

        for backend in backends:
            plan, now = plans[backend], before[backend]
            if plan["weight"] != now["weight"]:
                self.set_weight(backend, plan["weight"])
            if target in ("drain", "maint") and plan["agent_check"] == "disabled":
                # Before the drain: an agent answering "ready" would undo it.
                self.set_agent_off(backend)
            # The agent comes back only once the server is ready: an agent
            # answering "ready" would otherwise lift the DRAIN in which the
            # server waits for its health check.
            agent_after = target == "ready" and params["hold_agent_check"]
            if plan["admin_state"] != "maint":
                # Enable checks before the server may take traffic, so it is
                # never considered UP without being checked.
                self.set_checks(backend, dict(plan, agent_check=now["agent_check"]) if agent_after else plan)
            first = "drain" if backend in via_drain else plan["admin_state"]
            if first == "ready" and now["admin_state"] != "ready" and params["checked_before_traffic"]:
                self.pass_check_in_drain(backend)
            if first != now["admin_state"]:
                self.set_admin(backend, first)
            if agent_after:
                self.set_checks(backend, plan)

        deadline_start = self.client.now()
        if wait and target in ("drain", "maint"):
            waiting = [b for b in backends
                       if target == "drain" or b in via_drain or before[b]["admin_state"] == "drain"]
            left = self.drain_all(waiting, self.client.now() + params["drain_timeout"])
            if left:
                self.handle_drain_timeout(left)

        for backend in backends:
            plan = plans[backend]
            if plan["admin_state"] == "maint":
                if server_summary(self.read(backend)[0])["admin_state"] != "maint":
                    self.set_admin(backend, "maint")
                self.set_checks(backend, plan)

        if target in ("drain", "maint") and params["master_socket"]:
            self.drain_old_workers(backends, deadline_start)

        if target in ("drain", "maint"):
            self.confirm_out(backends, target)

        if wait and target == "ready":
            self.wait_up(backends)

    def finish(self):
        """Read the final state (not in check mode) and compute changed/diff."""
        before = self.result["previous_state"]
        if not self.module.check_mode:
            for backend in self.result["backends"]:
                if backend in before:
                    after = self.summary(backend)
                    self.result["state"][backend] = after
                    self.result["sessions"][backend] = after["sessions"]
        after = self.result["state"]
        common = [b for b in self.result["backends"] if b in before and b in after]
        self.result["changed"] = bool(self.result["sessions_shutdown"]) or any(
            before[b][f] != after[b][f] for b in common for f in MANAGED)
        self.result["waited"] = round(self.result["waited"], 3)
        if self.module._diff:
            self.result["diff"] = dict(
                before={b: {f: before[b][f] for f in DIFFED} for b in common},
                after={b: {f: after[b][f] for f in DIFFED} for b in common},
            )


def main():
    argument_spec = haproxy_argument_spec()
    argument_spec.update(
        backend=dict(type="str"),
        server=dict(type="str", required=True),
        state=dict(type="str", choices=["ready", "drain", "maint"]),
        weight=dict(type="raw"),
        wait=dict(type="bool", default=True),
        drain_timeout=dict(type="float", default=60.0),
        wait_timeout=dict(type="float", default=30.0),
        poll_interval=dict(type="float", default=0.2),
        drain_timeout_policy=dict(type="str", default="fail",
                                  choices=["fail", "restore", "shutdown_sessions"]),
        disable_checks_in_maint=dict(type="bool", default=False),
        hold_agent_check=dict(type="bool", default=True),
        confirm_interval=dict(type="float", default=0.0),
        checked_before_traffic=dict(type="bool", default=True),
        master_socket=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_one_of=[("state", "weight")])
    params = module.params

    for name in ("drain_timeout", "wait_timeout", "confirm_interval"):
        if params[name] < 0:
            module.fail_json(msg="%s must be >= 0 seconds, got %s" % (name, params[name]))
    if params["poll_interval"] <= 0:
        module.fail_json(msg="poll_interval must be > 0 seconds, got %s" % params["poll_interval"])
    try:
        validate_name(params["server"], "server")
        if params["backend"] is not None:
            validate_name(params["backend"], "backend")
        if params["weight"] is not None:
            expected_weight(params["weight"], 0)
        client = runtime_from_params(params)
    except HAProxyArgumentError as exc:
        module.fail_json(msg=str(exc))

    task = ServerTask(module, client)
    error = None
    try:
        task.run()
    except TaskFailed as exc:
        error = str(exc)
    except HAProxyPermissionError as exc:
        error = "%s. %s" % (exc, task.level_message(_safe_level(client)))
    except HAProxyRuntimeError as exc:
        error = "%s (server '%s', backend %s)" % (
            exc, params["server"], "'%s'" % params["backend"] if params["backend"] else
            "any of %s" % (", ".join(task.result["backends"]) or "none found"))
    try:
        task.finish()
    except HAProxyRuntimeError as exc:
        error = error or str(exc)
    if error:
        module.fail_json(msg=error, **task.result)
    module.exit_json(**task.result)


def _safe_level(client):
    try:
        return client.cli_level()
    except HAProxyRuntimeError:
        return None


if __name__ == "__main__":
    main()
