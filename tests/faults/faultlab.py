"""Drive the fault lab of molecule/faults from the controller.

Helpers for tests/faults/test_faults.py: run ansible-playbook with the deploy
report callback and stream its output, run the load probe around a deploy,
read HAProxy's view of the servers on f-lb1, read what each app host runs,
query PostgreSQL on f-db1. Every helper talks to the lab with ``docker`` and
to the balancer through 127.0.0.1:8090, nothing else.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORK = ROOT / "build" / "faults"
INVENTORY = ROOT / "inventories" / "faults" / "hosts.yml"
DEPLOY = ROOT / "playbooks" / "deploy.yml"
ROLLBACK = ROOT / "playbooks" / "rollback.yml"
URL = "http://127.0.0.1:8090/"

BALANCER = "f-lb1"
# How the default callback names a task delegated to the balancer: the host,
# then the address Ansible reaches it at (ansible_host) in parentheses.
DELEGATED_TO_BALANCER = rf"{BALANCER}(\([^)]*\))?"
DB = "f-db1"
APP_HOSTS = ["f-app1", "f-app2", "f-app3", "f-app4"]
BACKEND = "app"
ADMIN_SOCKET = "/run/haproxy/admin.sock"
BASE_DIR = "/srv/demoapp"
SERVICE = "demoapp"
LOCK_DIR = "/var/lib/zerodowntime/locks"
LOCK_PATH = f"{LOCK_DIR}/demoapp.lock"  # roles/deploy_lock/vars/main.yml
PG_LOG = "/var/log/postgresql/postgresql-15-main.log"

# Probe rate (requests/s), its keep-alive connections, the seconds one
# request may take, and the seconds it runs before and after a play. Each
# request is a Django view writing a row. The lab's six containers share two
# cores with whatever else runs on the machine, and staging a release (venv,
# pip) on four hosts at once starves them: answers then take seconds
# (HAProxy logged Tr=5161 ms for a 200). What these tests assert is that no
# request fails, not latency; a request left on a stopped or paused server
# still fails, at HAProxy's 30 s server timeout or this one.
PROBE_RATE = 20.0
PROBE_CONNECTIONS = 16
PROBE_TIMEOUT = 15.0
PROBE_SETTLE = 2.0

# HAProxy's srv_admin_state bits ("show servers state", server.h):
# forced, inherited, configured, resolver and hostname maintenance; forced
# and inherited drain.
ADMIN_MAINT = 0x01 | 0x02 | 0x04 | 0x20 | 0x40
ADMIN_DRAIN = 0x08 | 0x10
OP_UP = 2


def _venv_bin(name: str) -> str:
    """The project's virtualenv binary ``name``, else the one beside this Python."""
    for candidate in (ROOT / ".venv" / "bin" / name, pathlib.Path(sys.executable).parent / name):
        if candidate.exists():
            return str(candidate)
    return name


def ansible_env(report: pathlib.Path) -> dict:
    """Environment of an ansible-playbook run: the project's ansible.cfg and the
    report callback, nothing inherited from molecule's own ansible settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    env.pop("ZERODOWNTIME_ROOT", None)
    env.update({
        "PATH": f"{pathlib.Path(_venv_bin('ansible-playbook')).parent}:{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_CALLBACKS_ENABLED": "zerodowntime.deploy.deploy_report",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PYTHONUNBUFFERED": "1",
        "ZERODOWNTIME_REPORT_PATH": str(report),
    })
    return env


class Run:
    """One ansible-playbook process against the fault lab.

    Its output (stdout and stderr) is collected line by line, as it comes,
    into ``lines`` and, each line prefixed with the time it arrived, into
    build/faults/<name>.log; the deploy report goes
    to build/faults/<name>.json. The process leads its own session, so
    ``kill()`` ends it and its workers, and nothing else.
    """

    def __init__(self, name: str, playbook: pathlib.Path, *extra: str) -> None:
        WORK.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.report_path = WORK / f"{name}.json"
        self.log_path = WORK / f"{name}.log"
        self.report_path.unlink(missing_ok=True)
        self.lines: list[str] = []
        self.rc: int | None = None
        self._cond = threading.Condition()
        cmd = [_venv_bin("ansible-playbook"), "-i", str(INVENTORY), str(playbook), *extra]
        self._log = self.log_path.open("w", encoding="utf-8")
        self._log.write("$ " + " ".join(cmd) + "\n")
        self.started = time.time()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=ansible_env(self.report_path), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True,
        )
        self._pump = threading.Thread(target=self._read, name=f"pump-{name}", daemon=True)
        self._pump.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
            if not self._log.closed:
                self._log.write(time.strftime("%H:%M:%S ") + line)
                self._log.flush()
        with self._cond:
            self._cond.notify_all()

    def wait_for_line(self, pattern: str, start: int = 0, timeout: float = 900.0) -> int:
        """Index of the first output line at or after ``start`` matching the regex.

        Raises AssertionError if the process ends or ``timeout`` seconds pass first.
        """
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        index = start
        with self._cond:
            while True:
                while index < len(self.lines):
                    if regex.search(self.lines[index]):
                        return index
                    index += 1
                if not self._pump.is_alive():
                    raise AssertionError(f"{self.name}: ended without a line matching {pattern!r}; see {self.log_path}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self.name}: no line matching {pattern!r} within {timeout} s")
                self._cond.wait(min(remaining, 1.0))

    def wait_until_drained(self, host: str) -> int:
        """Wait until the play has drained ``host`` on the balancer (the drain task's
        result line for it); returns the index of that line."""
        header = self.wait_for_line(rf"^TASK \[.*: Drain {re.escape(host)} on every balancer and wait for its sessions to end\]")
        return self.wait_for_line(rf"^(ok|changed): \[{re.escape(host)} -> {DELEGATED_TO_BALANCER}\]", start=header)

    def task_headers(self, task_name: str) -> list[int]:
        """Indexes of the TASK header lines of tasks whose name contains ``task_name``."""
        return [i for i, line in enumerate(self.lines) if line.startswith("TASK [") and task_name in line]

    def wait(self, timeout: float = 1800.0) -> int:
        """Wait for the process to end; returns its exit status."""
        try:
            self.rc = self.proc.wait(timeout=timeout)
        finally:
            self._pump.join(timeout=30)
            if not self._log.closed:
                self._log.close()
        return self.rc

    def kill(self) -> None:
        """SIGKILL ansible-playbook and its workers, as a crashed controller would stop."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.wait(timeout=60)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def report(self) -> dict:
        return json.loads(self.report_path.read_text())


def run_playbook(name: str, playbook: pathlib.Path, *extra: str) -> Run:
    """Run a playbook to its end; returns the finished Run (``rc`` set)."""
    run = Run(name, playbook, *extra)
    run.wait()
    return run


class ProbeResult(dict):
    """The load probe's result document (tests/load_probe.py), filled in on exit."""


@contextlib.contextmanager
def load_probe(name: str):
    """Run tests/load_probe.py against the lab's balancer for the body of the with.

    Waits until the first request succeeded and PROBE_SETTLE seconds more
    before the body, PROBE_SETTLE seconds after it, then stops the probe
    (SIGTERM) and fills the yielded dict with its result document.
    """
    WORK.mkdir(parents=True, exist_ok=True)
    output = WORK / f"{name}.probe.json"
    ready = WORK / f"{name}.probe-ready"
    for path in (output, ready):
        path.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [_venv_bin("python"), str(ROOT / "tests" / "load_probe.py"), "--url", URL, "--rate", str(PROBE_RATE),
         "--connections", str(PROBE_CONNECTIONS), "--timeout", str(PROBE_TIMEOUT),
         "--output", str(output), "--ready-file", str(ready), "--duration", "1800"],
        cwd=ROOT,
    )
    result = ProbeResult()
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, f"load probe exited with {proc.returncode} before its first answer"
            assert time.monotonic() < deadline, "load probe got no successful answer within 60 s"
            time.sleep(0.1)
        time.sleep(PROBE_SETTLE)
        yield result
        time.sleep(PROBE_SETTLE)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    result.update(json.loads(output.read_text()))


def assert_no_failed_request(probe: dict, minimum: int = 100) -> None:
    """The probe sent at least ``minimum`` requests and none failed."""
    assert probe["requests_total"] >= minimum, probe["requests_total"]
    assert probe["requests_failed"] == 0, (probe["outcomes"], probe["first_failure"], probe["last_failure"])


# ---- docker ---------------------------------------------------------------

def docker(*args: str, check: bool = True, user: str | None = None, stdin: str | None = None) -> str:
    """Run ``docker ARGS``; returns stdout. ``user`` runs an exec as that user."""
    cmd = ["docker", *args]
    if user is not None and args and args[0] == "exec":
        cmd = ["docker", "exec", "-u", user, *args[1:]]
    proc = subprocess.run(cmd, capture_output=True, text=True, input=stdin, timeout=120, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def haproxy(command: str) -> str:
    """Send one Runtime API command to f-lb1's admin socket; returns the answer."""
    code = (
        "import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(%r);"
        "s.sendall(sys.stdin.read().encode());"
        "sys.stdout.write(b''.join(iter(lambda: s.recv(65536), b'')).decode())" % ADMIN_SOCKET
    )
    return docker("exec", "-i", BALANCER, "python3", "-c", code, stdin=command + "\n")


def servers() -> dict[str, dict]:
    """f-lb1's view of the backend: server -> {admin: int, op: int, ready, up, drain, maint,
    weight, initial_weight} (the weights as HAProxy's srv_uweight and srv_iweight)."""
    lines = haproxy(f"show servers state {BACKEND}").splitlines()
    header = lines[1].lstrip("# ").split()
    states = {}
    for line in lines[2:]:
        if not line.strip():
            continue
        row = dict(zip(header, line.split()))
        admin, op = int(row["srv_admin_state"]), int(row["srv_op_state"])
        states[row["srv_name"]] = {
            "admin": admin, "op": op, "ready": admin == 0, "up": op == OP_UP,
            "drain": bool(admin & ADMIN_DRAIN), "maint": bool(admin & ADMIN_MAINT),
            "weight": int(row["srv_uweight"]), "initial_weight": int(row["srv_iweight"]),
        }
    return states


def assert_in_rotation(hosts=APP_HOSTS) -> None:
    """Every one of ``hosts`` is READY and UP on f-lb1."""
    states = servers()
    for host in hosts:
        assert states[host]["ready"] and states[host]["up"], (host, states[host])


def wait_in_rotation(hosts=APP_HOSTS, timeout: float = 90.0) -> None:
    """Wait until every one of ``hosts`` is READY and UP on f-lb1."""
    deadline = time.monotonic() + timeout
    while True:
        states = servers()
        if all(states[h]["ready"] and states[h]["up"] for h in hosts):
            return
        assert time.monotonic() < deadline, states
        time.sleep(0.5)


def set_server_state(host: str, state: str) -> None:
    """``set server app/HOST state STATE`` on f-lb1 (ready, drain, maint)."""
    answer = haproxy(f"set server {BACKEND}/{host} state {state}").strip()
    assert answer == "", answer


def haproxy_pid() -> str:
    """The Pid line of f-lb1's ``show info``: the worker, which a reload replaces."""
    for line in haproxy("show info").splitlines():
        if line.startswith("Pid:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("show info has no Pid line")


def current_release(host: str) -> str:
    """The release ``current`` points at on ``host``."""
    return pathlib.PurePosixPath(docker("exec", host, "readlink", f"{BASE_DIR}/current").strip()).name


def previous_release(host: str) -> str:
    return pathlib.PurePosixPath(docker("exec", host, "readlink", f"{BASE_DIR}/previous").strip()).name


def releases_on_disk(host: str) -> set[str]:
    return set(docker("exec", host, "ls", f"{BASE_DIR}/releases").split())


def served_release(host: str) -> str:
    """What ``host`` answers on /version, straight from gunicorn on the host."""
    return docker("exec", host, "curl", "-fsS", "--max-time", "5", "http://127.0.0.1:8000/version").strip()


def main_pid(host: str) -> int:
    """systemd's MainPID of the app service on ``host`` (0 when it does not run)."""
    return int(docker("exec", host, "systemctl", "show", SERVICE, "-p", "MainPID", "--value").strip())


def assert_fleet_on(release: str, hosts=APP_HOSTS) -> None:
    """Every host's current is ``release`` and it answers ``release``."""
    for host in hosts:
        assert current_release(host) == release, host
        assert served_release(host) == release, host


def lock_entries() -> list[str]:
    """Names in the deploy lock directory on f-lb1 (one per lock held)."""
    return docker("exec", BALANCER, "ls", "-A", LOCK_DIR).split()


def write_lock(holder: dict) -> None:
    """Leave a deploy lock on f-lb1 by hand, as an interrupted run would."""
    docker("exec", BALANCER, "mkdir", "-p", LOCK_PATH)
    docker("exec", "-i", BALANCER, "sh", "-c", f"cat > {LOCK_PATH}/holder.json", stdin=json.dumps(holder) + "\n")


def read_lock() -> dict | None:
    """holder.json of the deploy lock on f-lb1, or None when no lock is held."""
    out = subprocess.run(["docker", "exec", BALANCER, "cat", f"{LOCK_PATH}/holder.json"],
                         capture_output=True, text=True, check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


# ---- PostgreSQL -------------------------------------------------------------

def psql(sql: str) -> list[str]:
    """Run ``sql`` in the demoapp database on f-db1 as postgres; returns the rows (-At)."""
    return docker("exec", DB, "psql", "-d", "demoapp", "-At", "-c", sql, user="postgres").splitlines()


def applied_migrations() -> list[str]:
    """Every row of django_migrations for app visits, as names, in id order (duplicates kept)."""
    return psql("SELECT name FROM django_migrations WHERE app = 'visits' ORDER BY id")


def assert_migrations_once(expected: list[str]) -> None:
    """django_migrations has no duplicate row and holds exactly ``expected`` for visits."""
    dupes = psql("SELECT app || '.' || name FROM django_migrations GROUP BY app, name HAVING count(*) > 1")
    assert dupes == [], dupes
    assert applied_migrations() == expected


def columns(table: str) -> set[str]:
    return set(psql(f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}'"))


def pg_log_size() -> int:
    return int(docker("exec", DB, "stat", "-c", "%s", PG_LOG).strip())


def pg_log_since(offset: int) -> list[str]:
    """PostgreSQL's log lines written since the log was ``offset`` bytes long."""
    return docker("exec", DB, "tail", "-c", f"+{offset + 1}", PG_LOG).splitlines()


# ---- reports ----------------------------------------------------------------

def host_failure(report: dict, host: str) -> dict:
    failure = report["hosts"][host]["failure"]
    assert failure, (host, report["hosts"][host])
    return failure


def rollout_phases(report: dict, host: str) -> set[str]:
    """The phases of the rolling play that ``host`` went through."""
    return set(report["hosts"].get(host, {}).get("phases", {})) & {"drain", "deploy", "health", "enable", "rollback"}


def timestamp(iso: str) -> float:
    """ISO 8601 (as the probe and the deploy report write it) -> seconds since the epoch."""
    return datetime.datetime.fromisoformat(iso).timestamp()
