# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the tests that drive the HAProxy modules against a real HAProxy.

Each test gets its own HAProxy process (from /usr/sbin/haproxy) in a
temporary directory, in front of small HTTP servers on 127.0.0.1, with three
Runtime API sockets: a unix admin socket, a unix operator socket and a TCP
admin socket on 127.0.0.1. The modules are run through the real `ansible`
command against localhost, and the results are read from its JSON callback.

State is asserted by reading HAProxy with the few lines of raw socket code
below, not with the client under test.
"""

import http.server
import json
import os
import pathlib
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

import pytest

HAPROXY = "/usr/sbin/haproxy"
ROOT = pathlib.Path(__file__).resolve().parents[2]


class _Handler(http.server.BaseHTTPRequestHandler):
    """GET /health answers 200 or 500 (the server's `healthy`); a path with
    /hold/S holds the request S seconds; /status/N answers N."""

    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = self.path.split("/")
        code = 200
        if self.path == "/health":
            code = 200 if self.server.healthy else 500
        elif "status" in parts:
            code = int(parts[parts.index("status") + 1])
        elif "hold" in parts:
            time.sleep(float(parts[parts.index("hold") + 1]))
        body = b"%d %s\n" % (code, self.server.name.encode())
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class WebServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """A backend application server on 127.0.0.1, on a free port."""

    daemon_threads = True

    def __init__(self, name):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.name = name
        self.healthy = True
        self.port = self.server_address[1]
        self._thread = threading.Thread(target=self.serve_forever, kwargs=dict(poll_interval=0.05),
                                        daemon=True)
        self._thread.start()

    def handle_error(self, request, client_address):
        pass  # health checks and killed sessions hang up early; expected

    def stop(self):
        self.shutdown()
        self.server_close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ask(address, command, timeout=5.0):
    """Send one Runtime API command, return the answer (raw, for asserts)."""
    if isinstance(address, tuple):
        sock = socket.create_connection(address, timeout=timeout)
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(address)
    with sock:
        sock.sendall(command.encode() + b"\n")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.decode()


class Request(threading.Thread):
    """One HTTP GET through the balancer, in the background."""

    def __init__(self, port, path, timeout=30.0):
        super().__init__(daemon=True)
        self.port, self.path, self.timeout = port, path, timeout
        self.status = None
        self.error = None
        self.start()

    def run(self):
        try:
            self.status = http_get(self.port, self.path, self.timeout)
        except OSError as exc:
            self.error = exc


def http_get(port, path, timeout=10.0):
    """GET through the balancer; returns the status code, or None when the
    connection was closed without an answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(("GET %s HTTP/1.0\r\nHost: test\r\n\r\n" % path).encode())
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    if not data.startswith(b"HTTP/"):
        return None
    return int(data.split(b" ", 2)[1])


class HAProxyLab(object):
    """A real HAProxy and its backends for one test."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.web1, self.web2, self.web3 = WebServer("web1"), WebServer("web2"), WebServer("web3")
        self.admin = os.path.join(tmp, "admin.sock")
        self.operator = os.path.join(tmp, "operator.sock")
        self.tcp_port = free_port()
        self.fe_port = free_port()
        closed = free_port()
        self.config = f"""
global
    stats socket {self.admin} level admin
    stats socket {self.operator} level operator
    stats socket ipv4@127.0.0.1:{self.tcp_port} level admin

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout queue 30s

frontend fe
    bind 127.0.0.1:{self.fe_port}
    use_backend solo if {{ path_beg /solo/ }}
    default_backend app

backend app
    balance roundrobin
    option httpchk GET /health
    server web1 127.0.0.1:{self.web1.port} check inter 200ms rise 1 fall 2 weight 100
    server web2 127.0.0.1:{self.web2.port} check inter 200ms rise 2 fall 2 weight 100
    server nocheck 127.0.0.1:{self.web3.port} weight 100

# One server only, so that a request sent to /solo/ is known to be on web1.
backend solo
    option httpchk GET /health
    server web1 127.0.0.1:{self.web1.port} check inter 200ms rise 1 fall 2

backend api
    option httpchk GET /health
    server web1 127.0.0.1:{self.web1.port} check inter 200ms rise 1 fall 2
    server dead 127.0.0.1:{closed} check inter 200ms rise 1 fall 1
"""
        cfg = os.path.join(tmp, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(self.config)
        check = subprocess.run([HAPROXY, "-c", "-f", cfg], capture_output=True, text=True,
                               check=False)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", cfg],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_started()

    def _wait_started(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("haproxy exited: %s" % self.proc.stderr.read().decode())
            try:
                states = {(s["be_name"], s["srv_name"]): s for s in self.servers_state()}
                if (states[("app", "web1")]["srv_op_state"] == "2"
                        and states[("app", "web2")]["srv_op_state"] == "2"
                        and states[("api", "dead")]["srv_op_state"] == "0"):
                    return
            except (OSError, KeyError):
                pass
            time.sleep(0.05)
        raise RuntimeError("haproxy did not reach its initial state")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        for web in (self.web1, self.web2, self.web3):
            web.stop()

    # -- traffic -----------------------------------------------------------

    def request(self, path, timeout=30.0):
        """Start a GET through the balancer in the background (Request)."""
        return Request(self.fe_port, path, timeout)

    def get(self, path, timeout=10.0):
        """GET through the balancer; the status code, or None if cut."""
        return http_get(self.fe_port, path, timeout)

    # -- raw reads, independent of the code under test --------------------

    def ask(self, command):
        return ask(self.admin, command)

    def servers_state(self):
        lines = [l for l in self.ask("show servers state").splitlines() if l.strip()]
        header = lines[1].lstrip("# ").split()
        return [dict(zip(header, l.split())) for l in lines[2:]]

    def admin_snapshot(self):
        """What a module may change, for every server: (admin state, weight,
        check state, agent state) by (backend, server). The checks' in-progress
        bit (0x01) is left out: it flips with every check, at 200 ms here."""
        return {(s["be_name"], s["srv_name"]):
                (s["srv_admin_state"], s["srv_uweight"], int(s["srv_check_state"]) & ~0x01,
                 int(s["srv_agent_state"]) & ~0x01)
                for s in self.servers_state()}

    def server(self, backend, server):
        """Raw state of one server: admin (int bitmask), op (int),
        weight (int), check_state (int), plus scur/qcur/status from show stat."""
        for s in self.servers_state():
            if s["be_name"] == backend and s["srv_name"] == server:
                result = dict(admin=int(s["srv_admin_state"]), op=int(s["srv_op_state"]),
                              weight=int(s["srv_uweight"]),
                              check_state=int(s["srv_check_state"]))
                break
        else:
            raise KeyError((backend, server))
        stat = self.ask("show stat %s 4 -1" % backend).splitlines()
        header = stat[0][2:].split(",")
        for line in stat[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("svname") == server:
                result.update(scur=int(row["scur"]), qcur=int(row["qcur"]), status=row["status"])
        return result

    def wait_sessions(self, backend, server, count, timeout=10.0):
        """Block until HAProxy counts `count` current sessions on the server."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server(backend, server)["scur"] == count:
                return
            time.sleep(0.02)
        raise AssertionError("%s/%s never had %d sessions: %r"
                             % (backend, server, count, self.server(backend, server)))

    def wait_status(self, backend, server, status, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server(backend, server)["status"] == status:
                return
            time.sleep(0.02)
        raise AssertionError("%s/%s never reached %s: %r"
                             % (backend, server, status, self.server(backend, server)))


@pytest.fixture
def lab():
    """A running HAProxy lab (see HAProxyLab); skipped without haproxy."""
    if not os.path.exists(HAPROXY):
        pytest.skip("%s is not installed" % HAPROXY)
    tmp = tempfile.mkdtemp(prefix="zdt-haproxy-")
    lab = HAProxyLab(tmp)
    try:
        yield lab
    finally:
        lab.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _ansible_command(module, args, check=False, diff=False):
    venv_bin = os.path.dirname(sys.executable)
    ansible = os.path.join(venv_bin, "ansible")
    if not os.path.exists(ansible):
        ansible = shutil.which("ansible") or "ansible"
    command = [ansible, "localhost", "-i", "localhost,", "-c", "local",
               "-e", "ansible_python_interpreter=%s" % sys.executable,
               "-m", "zerodowntime.deploy.%s" % module, "-a", json.dumps(args)]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    env = dict(os.environ,
               ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_DEPRECATION_WARNINGS="0",
               ANSIBLE_NOCOLOR="1")
    return command, env


def _parse(proc):
    try:
        out = json.loads(proc.stdout)
        return out["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError):
        raise AssertionError("unexpected ansible output (rc %s):\n%s\n%s"
                             % (proc.returncode, proc.stdout, proc.stderr))


class AnsibleRun(object):
    """A module run started in the background; result() waits for it."""

    def __init__(self, module, args, **kwargs):
        command, env = _ansible_command(module, args, **kwargs)
        self.proc = subprocess.Popen(command, env=env, cwd=str(ROOT), text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def result(self, timeout=60):
        stdout, stderr = self.proc.communicate(timeout=timeout)
        return _parse(subprocess.CompletedProcess(self.proc.args, self.proc.returncode,
                                                  stdout, stderr))


class ModuleRunner(object):
    """Runs `ansible localhost -m zerodowntime.deploy.<name> -a <json args>`."""

    def __call__(self, module, args, check=False, diff=False):
        """Run and return the host's result dict."""
        command, env = _ansible_command(module, args, check=check, diff=diff)
        proc = subprocess.run(command, env=env, cwd=str(ROOT), capture_output=True, check=False,
                              text=True, timeout=120)
        return _parse(proc)

    def start(self, module, args, check=False, diff=False):
        """Start in the background; returns an AnsibleRun (.result())."""
        return AnsibleRun(module, args, check=check, diff=diff)


@pytest.fixture
def run_module():
    """run_module(name, args, check=False, diff=False) -> result dict;
    run_module.start(...) -> AnsibleRun for a run in the background."""
    return ModuleRunner()


# -- the collection as users get it: built, then installed -------------------

VENV_BIN = pathlib.Path(sys.executable).parent


def tool(name):
    """Path of an Ansible command-line tool of the test's virtualenv."""
    path = VENV_BIN / name
    return str(path) if path.exists() else (shutil.which(name) or name)


def clean_env(**extra):
    """The environment without any ANSIBLE_* setting of the caller (the
    Makefile exports ANSIBLE_CONFIG, which points at the work tree), with the
    virtualenv first on PATH, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["PATH"] = "%s%s%s" % (VENV_BIN, os.pathsep, env.get("PATH", ""))
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_HOST_KEY_CHECKING="0")
    env.update(extra)
    return env


def install_collection(tarball, dest):
    """`ansible-galaxy collection install --offline` of a built tarball into
    dest (a collections path: dest/ansible_collections/...)."""
    proc = subprocess.run([tool("ansible-galaxy"), "collection", "install", "--offline", "--force",
                           "-p", str(dest), str(tarball)],
                          cwd=str(dest.parent), env=clean_env(), capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dest


@pytest.fixture(scope="session")
def collection_tarball(tmp_path_factory):
    """The collection built by `ansible-galaxy collection build` from the
    work tree, as galaxy.yml's build_ignore shapes it."""
    out = tmp_path_factory.mktemp("galaxy-build")
    proc = subprocess.run([tool("ansible-galaxy"), "collection", "build", "--output-path", str(out), str(ROOT)],
                          cwd=str(out), env=clean_env(), capture_output=True, text=True, check=False,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tarballs = list(out.glob("*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    return tarballs[0]
