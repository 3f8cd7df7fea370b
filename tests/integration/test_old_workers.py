# SPDX-License-Identifier: GPL-3.0-or-later
"""A drain reaches the old HAProxy worker a reload left running (issue 15).

HAProxy 2.6 in master-worker mode (the controller's own), `balance first`
so that every request goes to web1 while it is in rotation. A request held
open on web1 keeps the first worker alive after a reload: that old worker
still has web1 UP with one session, which the admin socket (the new worker)
does not see. With the master CLI, haproxy_server drains web1 in the old
worker too and waits for that session; without it, it returns at once.

The tests only use the `reloaded` fixture's interface (OldWorkerCase), so
test_haproxy_30_container.py runs the same tests against HAProxy 3.0 with a
fixture of its own.
"""

import os
import shutil
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
    ask,
    free_port,
    parse_servers_state,
)

# The frontend and backend of the case: web1 first, web2 only when web1 is
# out of rotation.
CONFIG_BODY = """
frontend fe
    bind 127.0.0.1:{port}
    default_backend app
backend app
    balance first
    option httpchk GET /health
    server web1 127.0.0.1:{web1} check inter 200ms rise 1 fall 1
    server web2 127.0.0.1:{web2} check inter 200ms rise 1 fall 1
"""


class OldWorkerCase(object):
    """What the tests use of a HAProxy reloaded while a request is held on
    web1 through its first worker; LocalOldWorkerCase is the one here.

    Attributes: admin, master_cli (socket paths as the modules see them),
    old_pid (int, the worker the reload left running).
    """

    def __init__(self, admin, master_cli, old_pid=None):
        self.admin, self.master_cli, self.old_pid = admin, master_cli, old_pid

    def master(self, command):
        """One command to the master CLI (sent with ";quit"); the raw answer."""
        raise NotImplementedError

    def admin_state(self, backend, server, pid=None):
        """srv_admin_state (int) of the server in worker `pid`, through the
        master CLI; subclasses read the current worker (pid None)."""
        rows = parse_servers_state(self.master("@!%d show servers state %s" % (pid, backend)))
        return int(next(row for row in rows if row["srv_name"] == server)["srv_admin_state"])

    def run(self, module, args):
        """Run a module where HAProxy is; returns its result."""
        raise NotImplementedError

    def start(self, module, args):
        """Start a module in the background; .proc is the process, .result() waits."""
        raise NotImplementedError

    def release(self):
        """Let the held request end."""
        raise NotImplementedError

    def held_status(self, timeout=30.0):
        """The HTTP status of the held request, once it ended."""
        raise NotImplementedError


class LocalOldWorkerCase(OldWorkerCase):
    """The case with the controller's HAProxy 2.6 (MasterWorkerHAProxy),
    its modules run by run_module."""

    def __init__(self, haproxy, web1, held, old_pid, modules):
        super().__init__(haproxy.admin, haproxy.master_cli, old_pid)
        self.haproxy, self.web1, self.held, self.modules = haproxy, web1, held, modules

    def master(self, command):
        # The master CLI keeps the connection open unless told to quit, and
        # refuses connections for a moment after a reload.
        deadline = time.monotonic() + 5
        while True:
            try:
                return ask(self.master_cli, command + ";quit")
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def admin_state(self, backend, server, pid=None):
        if pid is None:
            return int(self.haproxy.server(backend, server)["srv_admin_state"])
        return super().admin_state(backend, server, pid)

    def run(self, module, args):
        return self.modules(module, args)

    def start(self, module, args):
        return self.modules.start(module, args)

    def release(self):
        self.web1.release.set()

    def held_status(self, timeout=30.0):
        self.held.join(timeout)
        return self.held.status


@pytest.fixture(name="reloaded")
def fixture_reloaded(run_module):
    """LocalOldWorkerCase after a reload with a request held on web1."""
    if not os.path.exists(HAPROXY):
        pytest.skip("%s is not installed" % HAPROXY)
    tmp = tempfile.mkdtemp(prefix="zdt-oldworker-")
    release = threading.Event()
    web1, web2 = RecordingWebServer("web1", release), RecordingWebServer("web2", release)
    port = free_port()
    haproxy = MasterWorkerHAProxy(tmp, CONFIG_BODY.format(port=port, web1=web1.port, web2=web2.port))
    held = None
    try:
        haproxy.wait_status("app", ["web1", "web2"], "UP")
        held = BackgroundGet(port, "/block")
        assert web1.blocked.wait(10), "the held request did not reach web1"
        try:
            old_pid, _new_pid = haproxy.reload()
        except RuntimeError:
            # Seen now and then on 2.6 right after start-up: the master took
            # no SIGUSR2; a second one reloads it.
            old_pid, _new_pid = haproxy.reload()
        assert haproxy.alive(old_pid)
        yield LocalOldWorkerCase(haproxy, web1, held, old_pid, run_module)
    finally:
        release.set()
        if held is not None:
            held.join(10)
        haproxy.stop()
        web1.stop()
        web2.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_the_old_worker_refuses_changes_and_still_has_the_session(reloaded):
    """Why the module only waits: HAProxy stopped the old worker's proxies."""
    assert "Proxy is disabled" in reloaded.master("@!%d set server app/web1 state drain" % reloaded.old_pid)
    assert "%d" % reloaded.old_pid in reloaded.master("show proc").split("# old workers", 1)[1]


def test_a_drain_with_the_master_socket_waits_for_the_old_workers_session(reloaded):
    args = dict(socket=reloaded.admin, master_socket=reloaded.master_cli, backend="app", server="web1",
                state="drain", drain_timeout=30, poll_interval=0.1)
    run = reloaded.start("haproxy_server", args)
    # The current worker drains at once; the task still waits for the old
    # worker's session.
    deadline = time.monotonic() + 30
    while not reloaded.admin_state("app", "web1") & FDRAIN:
        assert run.proc.poll() is None and time.monotonic() < deadline, "the current worker was not drained"
        time.sleep(0.1)
    time.sleep(2.0)
    assert run.proc.poll() is None, "the drain returned while the old worker still served web1"
    reloaded.release()
    result = run.result(timeout=60)

    assert not result.get("failed"), result.get("msg")
    assert reloaded.held_status() == 200
    # 0 sessions, or None: the old worker ended with its last connection.
    assert list(result["old_workers"]) == [str(reloaded.old_pid)]
    assert result["old_workers"][str(reloaded.old_pid)]["app"] in (0, None)
    assert result["waited"] >= 1.0


def test_old_worker_sessions_past_the_timeout_fail_naming_the_worker_and_hard_stop_after(reloaded):
    result = reloaded.run("haproxy_server", dict(socket=reloaded.admin, master_socket=reloaded.master_cli,
                                                 backend="app", server="web1", state="drain", drain_timeout=0.5))
    assert result.get("failed") is True
    assert "old HAProxy worker %d" % reloaded.old_pid in result["msg"]
    assert "hard-stop-after" in result["msg"]
    assert reloaded.admin_state("app", "web1") & FDRAIN


def test_without_the_master_socket_only_the_current_worker_is_drained(reloaded):
    """What the issue saw: the module returns at once, the old worker still has web1 ready."""
    result = reloaded.run("haproxy_server", dict(socket=reloaded.admin, backend="app", server="web1", state="drain"))
    assert not result.get("failed"), result.get("msg")
    assert result["sessions"] == {"app": 0}
    assert reloaded.admin_state("app", "web1", pid=reloaded.old_pid) == 0
