# SPDX-License-Identifier: GPL-3.0-or-later
"""A drained server receives no new request from any HAProxy process between
the drain and the enable, under the load probe, across a reload.

A real HAProxy in master-worker mode balances three recording backend
servers on 127.0.0.1 while tests/load_probe.py sends a constant rate of
requests through it. web1 is drained with the module; HAProxy is reloaded
in the middle of the drain, with a request held open through the old worker
so that two HAProxy processes serve at the same time; web1 is enabled again.
Each backend records when it received every request and which HAProxy
process (X-HAProxy-PID) sent it. Only the order of events is asserted.
"""

import asyncio
import os
import pathlib
import shutil
import sys
import tempfile
import threading
import time

import pytest

from ha_helpers import (
    FDRAIN,
    HAPROXY,
    BackgroundGet,
    MasterWorkerHAProxy,
    RecordingWebServer,
    free_port,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
import load_probe  # noqa: E402  (tests/load_probe.py, the probe the deploys run under)

PROBE_RATE = 100.0  # requests/s, about 33/s per backend server


class ProbeThread(threading.Thread):
    """tests/load_probe.py in a thread, until the stop file exists."""

    def __init__(self, url, tmp):
        super().__init__(daemon=True)
        self.ready_file = os.path.join(tmp, "probe-ready")
        self.stop_file = os.path.join(tmp, "probe-stop")
        self.config = load_probe.ProbeConfig(url=url, rate=PROBE_RATE, duration=120.0, timeout=5.0,
                                             connections=8, stop_file=self.stop_file,
                                             ready_file=self.ready_file)
        self.result = None
        self.start()

    def run(self):
        self.result, _records = asyncio.run(load_probe.run_probe(self.config))

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.ready_file):
            assert self.is_alive() and time.monotonic() < deadline, "the probe got no answer"
            time.sleep(0.05)

    def stop(self):
        with open(self.stop_file, "w"):
            pass
        self.join(30)
        return self.result


@pytest.fixture
def reloadable():
    """(haproxy, {name: RecordingWebServer}, frontend port, tmp dir)."""
    if not os.path.exists(HAPROXY):
        pytest.skip("%s is not installed" % HAPROXY)
    tmp = tempfile.mkdtemp(prefix="zdt-haproxy-reload-")
    release = threading.Event()
    webs = {name: RecordingWebServer(name, release) for name in ("web1", "web2", "web3")}
    port = free_port()
    servers = "\n".join("    server %s 127.0.0.1:%d check inter 200ms rise 2 fall 2" % (name, web.port)
                        for name, web in webs.items())
    haproxy = None
    try:
        haproxy = MasterWorkerHAProxy(tmp, f"""
frontend fe
    bind 127.0.0.1:{port}
    default_backend app

backend app
    balance roundrobin
    option httpchk GET /health
    # Tells each backend which HAProxy process sent the request.
    http-request set-header X-HAProxy-PID %pid
{servers}
""")
        haproxy.wait_status("app", list(webs), "UP")
        yield haproxy, webs, port, tmp
    finally:
        release.set()
        if haproxy is not None:
            haproxy.stop()
        for web in webs.values():
            web.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_a_drained_server_gets_no_new_request_from_any_haproxy_process_until_enabled(
        reloadable, run_module):
    haproxy, webs, port, tmp = reloadable
    web1 = webs["web1"]
    args = dict(socket=haproxy.admin, backend="app", server="web1", poll_interval=0.05)

    probe = ProbeThread("http://127.0.0.1:%d/" % port, tmp)
    try:
        probe.wait_ready()
        time.sleep(1.0)
        assert web1.received(), "web1 got no traffic before the drain"

        drain = run_module("haproxy_server", dict(args, state="drain", drain_timeout=30))
        drained = time.monotonic()
        assert not drain.get("failed"), drain["msg"]
        assert drain["changed"] is True

        time.sleep(1.0)
        # A request held open through the current worker keeps it alive
        # after the reload: two HAProxy processes serve side by side.
        held = BackgroundGet(port, "/block")
        assert any(web.blocked.wait(0.2) for _ in range(50) for web in (webs["web2"], webs["web3"]))
        old_pid, new_pid = haproxy.reload()
        both_alive = haproxy.alive(old_pid)
        new_worker_web1 = haproxy.server("app", "web1")
        time.sleep(1.5)
        web1.release.set()  # shared by every server: ends the held request
        held.join(30)
        haproxy.wait_gone(old_pid)
        time.sleep(0.5)

        enabling = time.monotonic()
        enable = run_module("haproxy_server", dict(args, state="ready", wait_timeout=30))
        assert not enable.get("failed"), enable["msg"]
        time.sleep(1.0)
    finally:
        result = probe.stop()

    during = web1.received(after=drained, before=enabling)
    assert during == [], "web1 received requests while drained: %r" % during[:10]

    assert old_pid != new_pid and both_alive, "the reload did not run two HAProxy processes at once"
    assert int(new_worker_web1["srv_admin_state"]) & FDRAIN, \
        "the new HAProxy process did not take over the drain: %r" % new_worker_web1
    assert held.status == 200, held.error

    others = [r for name in ("web2", "web3") for r in webs[name].received(after=drained, before=enabling)]
    assert {str(old_pid), str(new_pid)} <= {pid for _, _, pid in others}, \
        "both HAProxy processes should have served the others while web1 was drained"
    assert [r for r in web1.received(after=enabling) if r[2] == str(new_pid)], \
        "web1 got no traffic from the new process after the enable"

    assert result is not None and result["requests_total"] > 0
    assert result["requests_failed"] == 0, result["outcomes"]
