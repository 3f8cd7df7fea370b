# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the tests of the balancer guarantees that need more than
conftest.py's single HAProxy: a HAProxy in master-worker mode that can be
reloaded while traffic flows, backend servers that record every request they
receive, and a module runner that reaches a Docker container through the
community.docker.docker connection.

State is read with the raw socket code below, not with the client under test.
"""

import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time

HAPROXY = "/usr/sbin/haproxy"

# srv_admin_state bits, as HAProxy prints them in "show servers state".
FMAINT, FDRAIN = 0x01, 0x08


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ask(path, command, timeout=5.0):
    """Send one Runtime API command to a unix socket; return the raw answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(command.encode() + b"\n")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.decode()


def parse_servers_state(text):
    """Rows of "show servers state" as dicts keyed by its header's names."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[1].lstrip("# ").split()
    return [dict(zip(header, line.split())) for line in lines[2:]]


def parse_stat(text):
    """Rows of "show stat" (CSV) as dicts."""
    lines = text.splitlines()
    header = lines[0].lstrip("# ").split(",")
    return [dict(zip(header, line.split(","))) for line in lines[1:] if line.strip()]


def parse_info(text):
    """"show info" as a dict of strings."""
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


# -- backend servers that record what they receive ----------------------------

class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    """GET /health: 200 (or 500 when the server is unhealthy), not recorded.
    GET /block: answers only once the server's `release` event is set.
    Anything else: 200 with the server's name. Every request but /health is
    recorded as (monotonic time of receipt, path, X-HAProxy-PID header)."""

    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def do_GET(self):
        received = time.monotonic()
        if self.path == "/health":
            self._answer(200 if self.server.healthy else 500)
            return
        with self.server.lock:
            self.server.requests.append((received, self.path, self.headers.get("X-HAProxy-PID")))
        if self.path == "/block":
            self.server.blocked.set()
            self.server.release.wait(60)
        self._answer(200)

    def _answer(self, code):
        body = b"%d %s\n" % (code, self.server.name.encode())
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class RecordingWebServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """A backend server on 127.0.0.1 (free port) recording every request."""

    daemon_threads = True

    def __init__(self, name, release):
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.name = name
        self.port = self.server_address[1]
        self.healthy = True
        self.lock = threading.Lock()
        self.requests = []
        self.release = release
        self.blocked = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, kwargs=dict(poll_interval=0.05),
                                        daemon=True)
        self._thread.start()

    def handle_error(self, request, client_address):
        pass  # health checks and closing balancers hang up early; expected

    def received(self, after=None, before=None):
        """Recorded requests (time, path, pid) received strictly between
        `after` and `before` (monotonic seconds; None: unbounded)."""
        with self.lock:
            return [r for r in self.requests
                    if (after is None or r[0] > after) and (before is None or r[0] < before)]

    def stop(self):
        self.shutdown()
        self.server_close()


class BackgroundGet(threading.Thread):
    """One HTTP GET to 127.0.0.1:port in the background; .status when done."""

    def __init__(self, port, path, timeout=60.0):
        super().__init__(daemon=True)
        self.port, self.path, self.timeout = port, path, timeout
        self.status = None
        self.error = None
        self.start()

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            conn.request("GET", self.path)
            response = conn.getresponse()
            response.read()
            self.status = response.status
        except OSError as exc:
            self.error = exc
        finally:
            conn.close()


# -- HAProxy in master-worker mode --------------------------------------------

def master_worker_config(directory, config_body):
    """The configuration of MasterWorkerHAProxy: its admin (expose-fd
    listeners) and operator sockets and its server-state-file in
    `directory`, then `config_body` (the frontends and backends)."""
    return f"""
global
    stats socket {directory}/admin.sock level admin expose-fd listeners
    stats socket {directory}/operator.sock level operator
    server-state-file {directory}/server-state
    # The old worker of a reload leaves once its connections are done, at
    # the latest after this.
    hard-stop-after 30s

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    # As roles/haproxy: keep-alive on both sides, runtime state read back
    # from the file at a reload.
    load-server-state-from-file global
{config_body}
"""


class MasterWorkerHAProxy(object):
    """`haproxy -W -db` (master-worker, in the foreground) with an admin
    socket that exposes the listeners and a server-state-file, so a reload
    (USR2 to the master) hands the listening sockets and the servers' runtime
    state to a new worker while the old one finishes its connections.

    `config_body` is everything after the global and defaults sections (the
    frontends and backends). An operator-level socket (read-only) is at
    `.operator`.
    """

    def __init__(self, tmp, config_body):
        self.tmp = tmp
        self.admin = os.path.join(tmp, "admin.sock")
        self.operator = os.path.join(tmp, "operator.sock")
        self.master_cli = os.path.join(tmp, "master.sock")
        self.state_file = os.path.join(tmp, "server-state")
        self.config_file = os.path.join(tmp, "haproxy.cfg")
        with open(self.config_file, "w") as handle:
            handle.write(master_worker_config(tmp, config_body))
        check = subprocess.run([HAPROXY, "-c", "-f", self.config_file], capture_output=True,
                               text=True, check=False)
        if check.returncode != 0:
            raise RuntimeError("haproxy -c failed:\n%s" % check.stderr)
        self.log = open(os.path.join(tmp, "haproxy.log"), "w")
        self.master = subprocess.Popen([HAPROXY, "-W", "-db", "-f", self.config_file,
                                        "-S", self.master_cli],
                                       stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_worker(lambda pid: pid is not None)
        self.wait_master_catches_reload()

    def ask(self, command):
        return ask(self.admin, command)

    def worker_pid(self):
        """Pid of the worker that answers on the admin socket, or None."""
        try:
            return int(parse_info(self.ask("show info"))["Pid"])
        except (OSError, KeyError, ValueError):
            return None

    def wait_worker(self, accept, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.master.poll() is not None:
                raise RuntimeError("haproxy exited with %s, see %s" % (self.master.returncode, self.log.name))
            pid = self.worker_pid()
            if accept(pid):
                return pid
            time.sleep(0.05)
        raise RuntimeError("no HAProxy worker as expected within %.0fs" % timeout)

    def master_catches_reload(self):
        """Whether the master process catches SIGUSR2 (bit 12 of SigCgt in
        /proc/<pid>/status).

        HAProxy ignores SIGUSR2 from its start (`signal_register_fct(SIGUSR2,
        NULL, 0)` in haproxy.c) until the master enters its event loop
        (`mworker_loop`), which may be after its worker already answers: a
        USR2 sent in between is dropped, and no reload happens. The master
        re-executes itself at each reload, so this holds again only once the
        new image reached its loop.
        """
        with open("/proc/%d/status" % self.master.pid) as handle:
            for line in handle:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGUSR2 - 1)))
        return False

    def wait_master_catches_reload(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not self.master_catches_reload():
            if self.master.poll() is not None:
                raise RuntimeError("haproxy exited with %s, see %s" % (self.master.returncode, self.log.name))
            if time.monotonic() > deadline:
                raise RuntimeError("the HAProxy master does not catch SIGUSR2 after %.0fs" % timeout)
            time.sleep(0.02)

    def server(self, backend, server):
        """The server's raw row of "show servers state" plus scur/status of "show stat"."""
        for row in parse_servers_state(self.ask("show servers state %s" % backend)):
            if row["srv_name"] == server:
                break
        else:
            raise KeyError((backend, server))
        for stat in parse_stat(self.ask("show stat %s 4 -1" % backend)):
            if stat["svname"] == server:
                row = dict(row, scur=int(stat["scur"]), status=stat["status"])
        return row

    def wait_status(self, backend, servers, status, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.server(backend, s)["status"] == status for s in servers):
                return
            time.sleep(0.05)
        raise AssertionError("%s never all %s: %r" % (servers, status,
                                                      [self.server(backend, s) for s in servers]))

    def reload(self, save=True):
        """Save the servers' state as the lab's reload command does (unless
        `save` is false, as Debian's own reload command), then USR2 to the
        master; returns (old worker pid, new worker pid) once the new worker
        answers on the admin socket and the master can take the next reload."""
        old = self.worker_pid()
        if save:
            dump = self.ask("show servers state")
            assert dump.startswith("1\n"), dump[:200]
            with open(self.state_file, "w") as handle:
                handle.write(dump)
        os.kill(self.master.pid, signal.SIGUSR2)
        new = self.wait_worker(lambda pid: pid is not None and pid != old)
        self.wait_master_catches_reload()
        return old, new

    @staticmethod
    def alive(pid):
        """Whether a process (an old worker) still exists."""
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        try:
            with open("/proc/%d/stat" % pid) as handle:
                return handle.read().split(") ", 1)[1][0] != "Z"
        except OSError:
            return False

    def wait_gone(self, pid, timeout=35.0):
        deadline = time.monotonic() + timeout
        while self.alive(pid):
            if time.monotonic() > deadline:
                raise AssertionError("HAProxy worker %d still running after %.0fs" % (pid, timeout))
            time.sleep(0.05)

    def stop(self):
        if self.master.poll() is None:
            self.master.terminate()
            try:
                self.master.wait(10)
            except subprocess.TimeoutExpired:
                self.master.kill()
                self.master.wait(5)
        self.log.close()


# -- modules through Ansible, on a container ----------------------------------

def ansible_bin(name):
    """An Ansible command of the test's virtualenv."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    return path if os.path.exists(path) else (shutil.which(name) or name)


def ansible_env(root):
    return dict(os.environ,
                ANSIBLE_CONFIG=str(root / "ansible.cfg"),
                ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
                ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
                ANSIBLE_DEPRECATION_WARNINGS="0",
                ANSIBLE_NOCOLOR="1")


def run_playbook(root, tmp, name, playbook, inventory, extra_vars=None):
    """Write `playbook` (YAML text) and `inventory` (a dict) into `tmp` as
    <name>.yml and <name>-hosts.json, run them with ansible-playbook from
    `root` with `extra_vars` (a dict) and the JSON callback; returns (exit
    status, every task of every play as the callback reports it)."""
    inventory_file = os.path.join(tmp, name + "-hosts.json")
    playbook_file = os.path.join(tmp, name + ".yml")
    with open(inventory_file, "w") as handle:
        json.dump(inventory, handle)
    with open(playbook_file, "w") as handle:
        handle.write(playbook)
    proc = subprocess.run([ansible_bin("ansible-playbook"), "-i", inventory_file,
                           "-e", json.dumps(extra_vars or {}), playbook_file],
                          env=ansible_env(root), cwd=str(root), capture_output=True, text=True,
                          check=False, timeout=120)
    try:
        tasks = [t for play in json.loads(proc.stdout)["plays"] for t in play["tasks"]]
    except (ValueError, KeyError):
        raise AssertionError("unexpected ansible output (rc %s):\n%s\n%s"
                             % (proc.returncode, proc.stdout, proc.stderr))
    return proc.returncode, tasks


class ContainerModuleRun(object):
    """`ansible <container> -c community.docker.docker -m zerodowntime.deploy.<module>`,
    started in the background; .result() waits and returns the host's result."""

    def __init__(self, root, container, module, args, check=False, diff=False):
        self.container = container
        command = [ansible_bin("ansible"), "all", "-i", "%s," % container,
                   "-c", "community.docker.docker",
                   "-e", "ansible_python_interpreter=/usr/bin/python3",
                   "-m", "zerodowntime.deploy.%s" % module, "-a", json.dumps(args)]
        if check:
            command.append("--check")
        if diff:
            command.append("--diff")
        self.proc = subprocess.Popen(command, env=ansible_env(root), cwd=str(root), text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def result(self, timeout=60):
        stdout, stderr = self.proc.communicate(timeout=timeout)
        try:
            return json.loads(stdout)["plays"][0]["tasks"][0]["hosts"][self.container]
        except (ValueError, KeyError, IndexError):
            raise AssertionError("unexpected ansible output (rc %s):\n%s\n%s"
                                 % (self.proc.returncode, stdout, stderr))
