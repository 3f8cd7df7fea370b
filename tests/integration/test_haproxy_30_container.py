# SPDX-License-Identifier: GPL-3.0-or-later
"""The HAProxy modules, run by `ansible` through the community.docker.docker
connection, against HAProxy 3.0 (Debian 13) in a container.

One container (image zerodowntime/haproxy-fixtures:trixie, built by
scripts/build-haproxy-fixtures-image.sh when absent) runs HAProxy in front of
two small HTTP servers inside it; the tests drive the modules as a deploy
does, on the host where the socket is, and read HAProxy back with raw socket
commands sent through `docker exec`. Skipped only when Docker is unavailable.

The old-worker case of test_old_workers.py runs here too, on the same
servers: two of its tests, with a `reloaded` fixture that starts HAProxy 3.0
in master-worker mode in the container for each of them.
"""

import json
import os
import pathlib
import shutil
import subprocess
import time

import pytest

import test_old_workers as old_worker_case
from ha_helpers import FDRAIN, FMAINT, ContainerModuleRun, master_worker_config, parse_info, parse_servers_state, parse_stat

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMAGE = "zerodowntime/haproxy-fixtures:trixie"
CONTAINER = "ha-haproxy30-%d" % os.getpid()
CHK_ENABLED = 0x04

# Two application servers: /health answers 200 or 500 (POSTless control:
# /control/healthy/0|1 on the server's own port), /hold/S holds S seconds,
# /block holds until the next /release on the same server.
WEB = r'''
import http.server, socketserver, sys, threading, time

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def log_message(self, *args):
        pass
    def do_GET(self):
        parts = self.path.split("/")
        code = 200
        if self.path == "/health":
            code = 200 if self.server.healthy else 500
        elif self.path == "/release":
            with self.server.released:
                self.server.releases += 1
                self.server.released.notify_all()
        elif self.path == "/block":
            with self.server.released:
                seen = self.server.releases
                self.server.released.wait_for(lambda: self.server.releases != seen, timeout=60)
        elif "control" in parts:
            self.server.healthy = parts[-1] == "1"
        elif "hold" in parts:
            time.sleep(float(parts[parts.index("hold") + 1]))
        body = ("%d %s\n" % (code, self.server.name)).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

for spec in sys.argv[1:]:
    name, port = spec.split(":")
    server = Server(("127.0.0.1", int(port)), Handler)
    server.name, server.healthy = name, True
    server.released, server.releases = threading.Condition(), 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
threading.Event().wait()
'''

CONFIG = """
global
    stats socket /run/haproxy/admin.sock mode 600 level admin
    stats timeout 30s

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s

frontend fe
    bind 127.0.0.1:80
    use_backend solo if { path_beg /solo/ }
    default_backend app

backend app
    balance roundrobin
    option httpchk GET /health
    server web1 127.0.0.1:8001 check inter 200ms rise 2 fall 2
    server web2 127.0.0.1:8002 check inter 200ms rise 2 fall 2

# One server only, so that a request sent to /solo/ is known to be on web1.
backend solo
    option httpchk GET /health
    server web1 127.0.0.1:8001 check inter 200ms rise 1 fall 2
"""

ADMIN = "/run/haproxy/admin.sock"

# Runs inside the container: Runtime API commands to the socket argv[1],
# their raw answers as a JSON list. A master CLI refuses connections for a
# moment after a reload: tried again for up to 5 s.
ASK = ("import json, socket, sys, time\n"
       "def ask(command):\n"
       "    for attempt in range(50):\n"
       "        s = socket.socket(socket.AF_UNIX)\n"
       "        try:\n"
       "            s.connect(sys.argv[1]); break\n"
       "        except (ConnectionRefusedError, FileNotFoundError):\n"
       "            s.close(); time.sleep(0.1)\n"
       "    s.sendall(command.encode() + b'\\n')\n"
       "    return b''.join(iter(lambda: s.recv(65536), b'')).decode()\n"
       "print(json.dumps([ask(c) for c in sys.argv[2:]]))\n")

# Runs inside the container after each test: both servers healthy, every
# server ready with its checks on, and UP again.
RESET = r'''
import socket, time, urllib.request
SERVERS = ("app/web1", "app/web2", "solo/web1")
def ask(command):
    s = socket.socket(socket.AF_UNIX); s.connect("/run/haproxy/admin.sock")
    s.sendall(command.encode() + b"\n")
    return b"".join(iter(lambda: s.recv(65536), b"")).decode()
for port in (8001, 8002):
    urllib.request.urlopen("http://127.0.0.1:%d/control/healthy/1" % port, timeout=5).read()
for server in SERVERS:
    ask("enable health " + server)
    ask("set server %s state ready" % server)
deadline = time.monotonic() + 15
while True:
    lines = ask("show stat").splitlines()
    header = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
    status = {"%s/%s" % (r["pxname"], r["svname"]): r["status"] for r in rows}
    if all(status.get(s) == "UP" for s in SERVERS):
        break
    assert time.monotonic() < deadline, status
    time.sleep(0.1)
'''

GET = ("import sys, urllib.request, urllib.error\n"
       "try:\n    print(urllib.request.urlopen(sys.argv[1], timeout=30).status)\n"
       "except urllib.error.HTTPError as exc:\n    print(exc.code)\n")


def docker(*args, stdin=None, check=True, timeout=120):
    proc = subprocess.run(["docker", *args], input=stdin, capture_output=True, text=True,
                          check=False, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError("docker %s failed: %s" % (" ".join(args[:3]), proc.stderr))
    return proc


def docker_available():
    if shutil.which("docker") is None:
        return False
    try:
        return docker("info", check=False, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class Container(object):
    """The HAProxy 3.0 container and raw reads of its HAProxy."""

    name = CONTAINER

    def ask(self, *commands, socket=ADMIN):
        """Send each command to `socket` (the admin socket by default);
        returns the list of raw answers (one docker exec)."""
        return json.loads(docker("exec", self.name, "python3", "-c", ASK, socket, *commands).stdout)

    def server(self, backend, server, socket=ADMIN):
        """admin/op/check_state (ints) of "show servers state", scur/status of "show stat"."""
        states, stats = self.ask("show servers state %s" % backend, "show stat %s 4 -1" % backend, socket=socket)
        for row in parse_servers_state(states):
            if row["srv_name"] == server:
                result = dict(admin=int(row["srv_admin_state"]), op=int(row["srv_op_state"]),
                              check_state=int(row["srv_check_state"]))
                break
        else:
            raise KeyError((backend, server))
        for row in parse_stat(stats):
            if row["svname"] == server:
                result.update(scur=int(row["scur"]), status=row["status"])
        return result

    def snapshot(self):
        """What a module may change, for every server (the check's
        in-progress bit, 0x01, left out: it flips with every check)."""
        return sorted((r["be_name"], r["srv_name"], r["srv_admin_state"], r["srv_uweight"],
                       int(r["srv_check_state"]) & ~0x01)
                      for r in parse_servers_state(self.ask("show servers state")[0]))

    def wait(self, backend, server, predicate, what, timeout=15.0, socket=ADMIN):
        deadline = time.monotonic() + timeout
        while True:
            state = self.server(backend, server, socket=socket)
            if predicate(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError("%s/%s never %s: %r" % (backend, server, what, state))
            time.sleep(0.1)

    def get(self, path, port=80):
        """GET through HAProxy inside the container, in the background;
        .communicate()[0] is the status code."""
        return subprocess.Popen(["docker", "exec", self.name, "python3", "-c", GET,
                                 "http://127.0.0.1:%d%s" % (port, path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def set_healthy(self, port, healthy):
        docker("exec", self.name, "python3", "-c", GET,
               "http://127.0.0.1:%d/control/healthy/%d" % (port, int(healthy)))

    def module(self, module, args, check=False, diff=False):
        """Start the module through Ansible; .result() waits for it."""
        return ContainerModuleRun(ROOT, self.name, module, args, check=check, diff=diff)

    def run(self, module, args, check=False, diff=False):
        return self.module(module, args, check=check, diff=diff).result()


@pytest.fixture(scope="module")
def haproxy30():
    """HAProxy 3.0 in a container, its two servers UP (Container)."""
    if not docker_available():
        pytest.skip("docker is not available")
    if docker("image", "inspect", IMAGE, check=False).returncode != 0:
        build = subprocess.run([str(ROOT / "scripts" / "build-haproxy-fixtures-image.sh"), IMAGE],
                               capture_output=True, text=True, check=False, timeout=900)
        assert build.returncode == 0, build.stdout + build.stderr
    docker("rm", "-f", CONTAINER, check=False)
    docker("run", "-d", "--name", CONTAINER, "--tmpfs", "/run", "--tmpfs", "/tmp",
           "--entrypoint", "sleep", IMAGE, "infinity")
    container = Container()
    try:
        docker("exec", "-i", CONTAINER, "sh", "-c", "cat > /tmp/web.py", stdin=WEB)
        docker("exec", "-i", CONTAINER, "sh", "-c", "mkdir -p /run/haproxy && cat > /tmp/haproxy.cfg",
               stdin=CONFIG)
        docker("exec", CONTAINER, "haproxy", "-c", "-q", "-f", "/tmp/haproxy.cfg")
        docker("exec", "-d", CONTAINER, "python3", "/tmp/web.py", "web1:8001", "web2:8002")
        docker("exec", "-d", CONTAINER, "haproxy", "-db", "-f", "/tmp/haproxy.cfg")
        deadline = time.monotonic() + 20
        while True:
            try:
                if all(container.server(b, s)["status"] == "UP"
                       for b, s in (("app", "web1"), ("app", "web2"), ("solo", "web1"))):
                    break
            except (AssertionError, KeyError, IndexError):
                pass
            assert time.monotonic() < deadline, "HAProxy 3.0 did not come up in %s" % CONTAINER
            time.sleep(0.2)
        yield container
    finally:
        docker("rm", "-f", CONTAINER, check=False)


@pytest.fixture
def ha30(haproxy30):
    """The container with every server ready, healthy and UP again."""
    yield haproxy30
    servers = (("app", "web1"), ("app", "web2"), ("solo", "web1"))
    haproxy30.ask(*["%s %s/%s%s" % (verb, backend, server, suffix) for backend, server in servers
                    for verb, suffix in (("enable health", ""), ("set server", " state ready"))])
    for backend, server in servers:
        haproxy30.wait(backend, server, lambda s: s["admin"] == 0 and s["status"] == "UP", "UP")


def test_drain_on_haproxy_30_waits_for_a_request_in_flight_which_completes_with_200(ha30):
    request = ha30.get("/solo/hold/6")
    ha30.wait("solo", "web1", lambda s: s["scur"] == 1, "busy")

    result = ha30.run("haproxy_server", dict(backend="solo", server="web1", state="drain",
                                             drain_timeout=30))

    assert not result.get("failed"), result["msg"]
    assert result["haproxy_version"].startswith("3.0")
    assert result["changed"] is True
    assert result["previous_state"]["solo"]["sessions"] == 1
    assert result["waited"] > 0
    assert result["sessions"] == {"solo": 0}
    assert request.communicate(timeout=30)[0].strip() == "200"
    after = ha30.server("solo", "web1")
    assert after["admin"] & FDRAIN and after["scur"] == 0 and after["status"] == "DRAIN"


def test_ready_on_haproxy_30_waits_until_the_server_passes_its_checks(ha30):
    ha30.ask("set server app/web2 state maint")
    ha30.set_healthy(8002, False)
    run = ha30.module("haproxy_server", dict(backend="app", server="web2", state="ready",
                                             wait_timeout=30))
    # HAProxy takes a server leaving maintenance as UP until its checks say
    # otherwise; checked_before_traffic (the default) keeps it in DRAIN, its
    # health forced down, until a check passed: let them fail (it must stay
    # in DRAIN, taking no request), then let the application recover.
    ha30.wait("app", "web2", lambda s: s["admin"] == 8 and s["status"] == "DOWN", "DOWN in DRAIN")
    time.sleep(1.0)
    assert ha30.server("app", "web2")["admin"] == 8
    ha30.set_healthy(8002, True)
    result = run.result()

    assert not result.get("failed"), result["msg"]
    assert result["changed"] is True
    assert result["waited"] > 0
    assert result["state"]["app"]["status"] == "UP"
    after = ha30.server("app", "web2")
    assert after["admin"] == 0 and after["op"] == 2 and after["status"] == "UP"


def test_maint_on_haproxy_30_turns_checks_off_and_ready_turns_them_back_on(ha30):
    maint = ha30.run("haproxy_server", dict(backend="app", server="web1", state="maint",
                                            disable_checks_in_maint=True))
    in_maint = ha30.server("app", "web1")
    ready = ha30.run("haproxy_server", dict(backend="app", server="web1", state="ready",
                                            disable_checks_in_maint=True))

    assert not maint.get("failed"), maint["msg"]
    assert maint["state"]["app"]["admin_state"] == "maint"
    assert maint["state"]["app"]["health_check"] == "disabled"
    assert in_maint["admin"] & FMAINT and not in_maint["check_state"] & CHK_ENABLED
    assert in_maint["status"] == "MAINT"
    assert not ready.get("failed"), ready["msg"]
    after = ha30.server("app", "web1")
    assert after["admin"] == 0 and after["check_state"] & CHK_ENABLED and after["status"] == "UP"


def test_check_mode_on_haproxy_30_reports_the_change_with_a_diff_and_changes_nothing(ha30):
    before = ha30.snapshot()
    result = ha30.run("haproxy_server", dict(backend="app", server="web1", state="drain"),
                      check=True, diff=True)

    assert not result.get("failed"), result["msg"]
    assert result["changed"] is True
    assert result["diff"]["before"]["app"]["admin_state"] == "ready"
    assert result["diff"]["after"]["app"]["admin_state"] == "drain"
    assert ha30.snapshot() == before


def test_unknown_server_on_haproxy_30_fails_clearly_and_changes_nothing(ha30):
    before = ha30.snapshot()
    in_backend = ha30.module("haproxy_server", dict(backend="app", server="nosuch", state="drain"))
    anywhere = ha30.module("haproxy_server", dict(server="nosuch", state="drain"))
    in_backend, anywhere = in_backend.result(), anywhere.result()

    assert in_backend["failed"] is True
    assert "backend 'app' has no server 'nosuch'" in in_backend["msg"]
    assert "/run/haproxy/admin.sock" in in_backend["msg"]
    assert anywhere["failed"] is True
    assert "no backend contains a server named 'nosuch'" in anywhere["msg"]
    assert ha30.snapshot() == before


def test_info_on_haproxy_30_reads_version_and_servers(ha30):
    result = ha30.run("haproxy_info", dict(backend="app"))

    assert not result.get("failed"), result["msg"]
    assert result["changed"] is False
    assert result["haproxy_version"].startswith("3.0")
    servers = result["backends"]["app"]["servers"]
    assert set(servers) == {"web1", "web2"}
    for server in servers.values():
        assert (server["admin_state"], server["operational_state"], server["status"]) == ("ready", "up", "UP")
        assert server["check_status"] == "L7OK"
        assert server["health_check"] == "enabled"


# -- the old-worker case of test_old_workers.py, on HAProxy 3.0 ---------------

MW = "/run/mw"  # the master-worker HAProxy's directory in the container
MW_PORT = 81


class ContainerOldWorkerCase(old_worker_case.OldWorkerCase):
    """test_old_workers' case with HAProxy 3.0 in the container: `haproxy -W
    -S` with test_old_workers' configuration in front of the container's two
    servers, reloaded (USR2 to the master) while a request is held on web1."""

    def __init__(self, container):
        super().__init__(MW + "/admin.sock", MW + "/master.sock")
        self.container = container
        self.master_pid = None
        self.held = None

    def begin(self):
        """Start HAProxy, hold a request on web1, reload; sets old_pid."""
        config = master_worker_config(MW, old_worker_case.CONFIG_BODY.format(port=MW_PORT, web1=8001, web2=8002))
        docker("exec", "-i", self.container.name, "sh", "-c", "mkdir -p %s && cat > %s/haproxy.cfg" % (MW, MW),
               stdin=config)
        docker("exec", "-d", self.container.name, "haproxy", "-W", "-db", "-f", MW + "/haproxy.cfg",
               "-S", self.master_cli)
        self.master_pid = int(self.master("show proc").splitlines()[1].split()[0])
        for server in ("web1", "web2"):
            self.container.wait("app", server, lambda s: s["status"] == "UP", "UP", socket=self.admin)
        self.held = self.container.get("/block", port=MW_PORT)
        self.container.wait("app", "web1", lambda s: s["scur"] == 1, "holding the request", socket=self.admin)
        self.old_pid = self.worker_pid()
        docker("exec", self.container.name, "kill", "-USR2", str(self.master_pid))
        deadline = time.monotonic() + 10
        while self.worker_pid() == self.old_pid:
            assert time.monotonic() < deadline, "HAProxy 3.0 did not reload"
            time.sleep(0.1)

    def worker_pid(self):
        """Pid of the worker that answers on the admin socket."""
        return int(parse_info(self.container.ask("show info", socket=self.admin)[0])["Pid"])

    def master(self, command):
        return self.container.ask(command + ";quit", socket=self.master_cli)[0]

    def admin_state(self, backend, server, pid=None):
        if pid is None:
            return self.container.server(backend, server, socket=self.admin)["admin"]
        return super().admin_state(backend, server, pid)

    def run(self, module, args):
        return self.container.run(module, args)

    def start(self, module, args):
        return self.container.module(module, args)

    def release(self):
        docker("exec", self.container.name, "python3", "-c", GET, "http://127.0.0.1:8001/release")

    def held_status(self, timeout=30.0):
        return int(self.held.communicate(timeout=timeout)[0].strip())

    def end(self):
        """End the held request and this HAProxy, so that the next case can
        bind the same port and sockets."""
        self.release()
        if self.held is not None:
            self.held.communicate(timeout=30)
        if self.master_pid is not None:
            docker("exec", self.container.name, "kill", str(self.master_pid))
            deadline = time.monotonic() + 10
            while docker("exec", self.container.name, "kill", "-0", str(self.master_pid), check=False).returncode == 0:
                assert time.monotonic() < deadline, "HAProxy 3.0's master did not stop"
                time.sleep(0.1)


@pytest.fixture(name="reloaded")
def fixture_reloaded(haproxy30):
    """ContainerOldWorkerCase after the reload, ended after the test."""
    case = ContainerOldWorkerCase(haproxy30)
    try:
        case.begin()
        yield case
    finally:
        case.end()


# The case itself, and what happens without the master CLI. The old worker's
# "Proxy is disabled" answer on 3.0 is in the unit fixtures
# (haproxy-3.0-master); the timeout path is the same code as the wait.
test_a_drain_with_the_master_socket_waits_for_the_old_workers_session = \
    old_worker_case.test_a_drain_with_the_master_socket_waits_for_the_old_workers_session
test_without_the_master_socket_only_the_current_worker_is_drained = \
    old_worker_case.test_without_the_master_socket_only_the_current_worker_is_drained
