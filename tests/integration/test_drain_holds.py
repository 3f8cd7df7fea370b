# SPDX-License-Identifier: GPL-3.0-or-later
"""A drained server stays out of rotation until haproxy_server lifts it, and
gets no request before a passing health check (issue 15).

Against a real HAProxy (the one on the controller: Debian 12's 2.6), in
front of recording backend servers on 127.0.0.1, with a steady stream of
requests through its frontend:

- an agent check answering "ready up" would set a drained (or MAINT)
  server back to READY within one agent-inter; the module must keep it out
  and the server must receive no request after the module returned;
- a server set ready from MAINT whose health check fails must receive no
  request at all: HAProxy takes a server leaving MAINT as UP before
  checking it, unless its health was forced down first.

Only the order of events is asserted (requests counted by each server
after a moment), never a duration.
"""

import http.client
import os
import shutil
import socketserver
import tempfile
import threading
import time

import pytest

from ha_helpers import FDRAIN, FMAINT, HAPROXY, MasterWorkerHAProxy, RecordingWebServer, free_port

# How long traffic keeps flowing after a module returned: several agent
# intervals (200 ms) and health-check intervals (200 ms).
OBSERVE_S = 2.0


class _AgentHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(self.server.answer.encode() + b"\n")


class Agent(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A HAProxy agent on 127.0.0.1 answering `answer` to every check."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, answer):
        super().__init__(("127.0.0.1", 0), _AgentHandler)
        self.answer = answer
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True).start()

    def stop(self):
        self.shutdown()
        self.server_close()


def http_get(port, path):
    """GET through the balancer; the status code."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


class Traffic(threading.Thread):
    """GET / through the balancer about every 20 ms until stopped."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.statuses = []
        self.stopped = threading.Event()
        self.start()

    def run(self):
        while not self.stopped.is_set():
            try:
                self.statuses.append(http_get(self.port, "/"))
            except OSError:
                self.statuses.append(None)
            time.sleep(0.02)

    def stop(self):
        self.stopped.set()
        self.join(10)


@pytest.fixture(name="balancer")
def fixture_balancer():
    """(MasterWorkerHAProxy, web1, web2, agent, frontend port)."""
    if not os.path.exists(HAPROXY):
        pytest.skip("%s is not installed" % HAPROXY)
    tmp = tempfile.mkdtemp(prefix="zdt-hold-")
    release = threading.Event()
    web1, web2 = RecordingWebServer("web1", release), RecordingWebServer("web2", release)
    agent = Agent("ready up")
    port = free_port()
    haproxy = MasterWorkerHAProxy(tmp, f"""
frontend fe
    bind 127.0.0.1:{port}
    default_backend app
backend app
    balance roundrobin
    option httpchk GET /health
    server web1 127.0.0.1:{web1.port} check inter 200ms rise 1 fall 1 agent-check agent-port {agent.port} agent-inter 200ms
    server web2 127.0.0.1:{web2.port} check inter 200ms rise 1 fall 1
""")
    try:
        haproxy.wait_status("app", ["web1", "web2"], "UP")
        yield haproxy, web1, web2, agent, port
    finally:
        release.set()
        haproxy.stop()
        for server in (web1, web2, agent):
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def server_args(haproxy, **kwargs):
    args = dict(socket=haproxy.admin, backend="app", server="web1", drain_timeout=10, wait_timeout=10)
    args.update(kwargs)
    return args


@pytest.mark.parametrize(("state", "flag"), [("drain", FDRAIN), ("maint", FMAINT)])
def test_an_agent_answering_ready_does_not_undo_the_drain(balancer, run_module, state, flag):
    haproxy, web1, _web2, _agent, port = balancer
    traffic = Traffic(port)
    try:
        result = run_module("haproxy_server", server_args(haproxy, state=state))
        returned = time.monotonic()
        assert not result.get("failed"), result.get("msg")
        time.sleep(OBSERVE_S)
        after = haproxy.server("app", "web1")
    finally:
        traffic.stop()
    assert int(after["srv_admin_state"]) & flag, after
    assert web1.received(after=returned) == []
    assert result["state"]["app"]["agent_check"] == "disabled"
    assert set(traffic.statuses) == {200}


def test_ready_gives_back_the_agent_check(balancer, run_module):
    haproxy, web1, _web2, _agent, port = balancer
    assert not run_module("haproxy_server", server_args(haproxy, state="maint")).get("failed")
    result = run_module("haproxy_server", server_args(haproxy, state="ready"))
    assert not result.get("failed"), result.get("msg")
    assert result["state"]["app"]["agent_check"] == "enabled"
    assert result["state"]["app"]["admin_state"] == "ready"
    before = time.monotonic()
    traffic = Traffic(port)
    try:
        time.sleep(OBSERVE_S)
    finally:
        traffic.stop()
    assert web1.received(after=before), "web1 is back in rotation"


def test_a_server_leaving_maint_gets_no_request_before_a_passing_check(balancer, run_module):
    """web2 (no agent: an agent answering "up" may bring a server up by
    itself). Its check fails when it is set ready: the task fails, and the
    server, in DRAIN, is sent nothing; once healthy, ready succeeds."""
    haproxy, _web1, web2, _agent, port = balancer
    assert not run_module("haproxy_server", server_args(haproxy, server="web2", state="maint")).get("failed")
    web2.healthy = False
    traffic = Traffic(port)
    try:
        enabled = time.monotonic()
        failing = run_module("haproxy_server", server_args(haproxy, server="web2", state="ready", wait_timeout=1.5))
        time.sleep(OBSERVE_S)
        sent_while_failing = web2.received(after=enabled)
        held = haproxy.server("app", "web2")
        web2.healthy = True
        passing = run_module("haproxy_server", server_args(haproxy, server="web2", state="ready"))
        healthy = time.monotonic()
        time.sleep(0.5)
    finally:
        traffic.stop()
    assert failing.get("failed") is True
    assert "did not pass its health check" in failing["msg"] and "stays in DRAIN" in failing["msg"]
    assert int(held["srv_admin_state"]) & FDRAIN, held
    assert sent_while_failing == []
    assert not passing.get("failed"), passing.get("msg")
    assert passing["state"]["app"]["admin_state"] == "ready"
    assert web2.received(after=healthy), "web2 takes traffic once its check passes"
    assert set(traffic.statuses) == {200}


def test_a_server_that_comes_back_on_its_own_fails_the_drain_naming_the_cause(balancer, run_module):
    """With the agent left on (hold_agent_check: false) the agent undoes the
    drain: the module reads the server again before it returns and fails."""
    haproxy, _web1, _web2, _agent, _port = balancer
    result = run_module("haproxy_server", server_args(haproxy, state="drain", hold_agent_check=False,
                                                      confirm_interval=1.0))
    assert result.get("failed") is True
    assert "back to ready on its own" in result["msg"]
    assert "agent check" in result["msg"]
