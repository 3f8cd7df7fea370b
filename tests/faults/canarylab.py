# SPDX-License-Identifier: GPL-3.0-or-later
"""Drive the fault lab of molecule/faults from the controller, for the canary cases.

Helpers for tests/faults/test_progressive_delivery.py: run ansible-playbook with the deploy
report callback, run the load probe around a deploy with every request
recorded, read HAProxy's view of the servers on f-lb1 (state, weight,
response counters), read what each app host runs. Every helper talks to the
lab with ``docker`` and to the balancer through 127.0.0.1:8090, nothing else.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORK = ROOT / "build" / "canary"
INVENTORY = ROOT / "inventories" / "faults" / "hosts.yml"
DEPLOY = ROOT / "playbooks" / "deploy.yml"
# "/" and not /version: the faulty release fails and the slow one waits on
# "/" only (a Django view that writes a row), as a real regression would
# hit the application's pages and not its probes.
URL = "http://127.0.0.1:8090/"

BALANCER = "f-lb1"
APP_HOSTS = ("f-app1", "f-app2", "f-app3", "f-app4")
BACKEND = "app"
ADMIN_SOCKET = "/run/haproxy/admin.sock"
BASE_DIR = "/srv/demoapp"
SERVICE = "demoapp"

# Probe rate (requests/s), connections and per-request timeout. The canary
# at deploy_canary_weight=50% of 100 beside three servers at 100 takes 1/7 of
# the traffic: about 70 requests in a 25 s soak at this rate, enough for
# deploy_canary_min_requests=30 on a machine that lags.
PROBE_RATE = 20.0
PROBE_CONNECTIONS = 16
PROBE_TIMEOUT = 15.0
PROBE_SETTLE = 2.0

ADMIN_MAINT = 0x01 | 0x02 | 0x04 | 0x20 | 0x40
ADMIN_DRAIN = 0x08 | 0x10
OP_UP = 2


def _venv_bin(name: str) -> str:
    """The project's virtualenv binary ``name``, else the one beside this Python."""
    for candidate in (ROOT / ".venv" / "bin" / name, pathlib.Path(sys.executable).parent / name):
        if candidate.exists():
            return str(candidate)
    return name


def epoch(iso: str) -> float:
    """ISO 8601 (as the probe and the deploy report write it) -> seconds since the epoch."""
    return datetime.datetime.fromisoformat(iso).timestamp()


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
    """One finished ansible-playbook run: ``rc``, ``output``, ``report`` (the
    deploy report, {} when none was written). Output and report are kept in
    build/canary/<name>.log and .json."""

    def __init__(self, name: str, playbook: pathlib.Path, *extra: str, inventories=(INVENTORY,)) -> None:
        WORK.mkdir(parents=True, exist_ok=True)
        report = WORK / f"{name}.json"
        report.unlink(missing_ok=True)
        cmd = [_venv_bin("ansible-playbook")]
        for inventory in inventories:
            cmd += ["-i", str(inventory)]
        cmd += [str(playbook), *extra]
        proc = subprocess.run(cmd, cwd=ROOT, env=ansible_env(report), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=1500, check=False)
        (WORK / f"{name}.log").write_text("$ " + " ".join(cmd) + "\n" + proc.stdout)
        self.name = name
        self.rc = proc.returncode
        self.output = proc.stdout
        self.report = json.loads(report.read_text()) if report.exists() else {}

    def host(self, host: str) -> dict:
        return self.report.get("hosts", {}).get(host, {})

    def window(self, host: str, phase: str) -> tuple[float, float]:
        """(start, end) of ``host``'s ``phase``, epoch seconds."""
        entry = self.host(host)["phases"][phase]
        return epoch(entry["start"]), epoch(entry["end"])


class Probe:
    """tests/load_probe.py against the balancer for the body of a with,
    every request recorded.

    Entering starts it and waits until traffic flows plus PROBE_SETTLE
    seconds; leaving waits PROBE_SETTLE seconds, stops it and loads
    ``result`` (the probe's document) and ``records`` (every request: t,
    outcome, failed, latency_ms, release), ``started`` being the wall-clock
    time of t = 0.
    """

    def __init__(self, name: str, rate: float = PROBE_RATE) -> None:
        self.name = name
        self.rate = rate
        self.result: dict = {}
        self.records: list[dict] = []
        self.started = 0.0

    def __enter__(self):
        WORK.mkdir(parents=True, exist_ok=True)
        self.output = WORK / f"{self.name}.probe.json"
        self.requests = WORK / f"{self.name}.requests.jsonl"
        ready = WORK / f"{self.name}.probe-ready"
        for path in (self.output, self.requests, ready):
            path.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [_venv_bin("python"), str(ROOT / "tests" / "load_probe.py"), "--url", URL, "--rate", str(self.rate),
             "--connections", str(PROBE_CONNECTIONS), "--timeout", str(PROBE_TIMEOUT), "--duration", "1200",
             "--output", str(self.output), "--requests-output", str(self.requests), "--ready-file", str(ready)],
            cwd=ROOT)
        deadline = time.monotonic() + 60
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait(timeout=30)
                raise AssertionError(f"the load probe got no answer from {URL}")
            time.sleep(0.1)
        time.sleep(PROBE_SETTLE)
        return self

    def __exit__(self, *exc):
        time.sleep(PROBE_SETTLE)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.result = json.loads(self.output.read_text())
        self.records = [json.loads(line) for line in self.requests.read_text().splitlines() if line.strip()]
        self.started = epoch(self.result["started"])
        return False

    def sent_between(self, start: float, end: float) -> list[dict]:
        """Requests scheduled between the wall-clock times ``start`` and ``end``."""
        return [r for r in self.records if start <= self.started + r["t"] <= end]

    def releases(self) -> dict[str, int]:
        """Answers per release (X-Release), over the whole run."""
        counts: dict[str, int] = {}
        for record in self.records:
            if record.get("release"):
                counts[record["release"]] = counts.get(record["release"], 0) + 1
        return counts


def docker(*args: str, check: bool = True, stdin: str | None = None) -> str:
    """Run ``docker ARGS``; returns stdout."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, input=stdin, timeout=120, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
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
    """f-lb1's view of the backend: server -> {ready, up, drain, maint, weight, initial_weight}."""
    lines = haproxy(f"show servers state {BACKEND}").splitlines()
    header = lines[1].lstrip("# ").split()
    states = {}
    for line in lines[2:]:
        if not line.strip():
            continue
        row = dict(zip(header, line.split()))
        admin, op = int(row["srv_admin_state"]), int(row["srv_op_state"])
        states[row["srv_name"]] = {
            "ready": admin == 0, "up": op == OP_UP, "drain": bool(admin & ADMIN_DRAIN),
            "maint": bool(admin & ADMIN_MAINT),
            "weight": int(row["srv_uweight"]), "initial_weight": int(row["srv_iweight"]),
        }
    return states


def served_counts() -> dict[str, int]:
    """HTTP responses each server of the backend has given since HAProxy started (show stat)."""
    lines = haproxy(f"show stat {BACKEND} 4 -1").splitlines()
    header = lines[0].lstrip("# ").split(",")
    counts = {}
    for line in lines[1:]:
        if not line.strip():
            continue
        row = dict(zip(header, line.split(",")))
        counts[row["svname"]] = sum(int(row[k] or 0) for k in
                                    ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other"))
    return counts


def wait_in_rotation(hosts=APP_HOSTS, timeout: float = 90.0) -> None:
    """Wait until every one of ``hosts`` is READY and UP on f-lb1."""
    deadline = time.monotonic() + timeout
    while True:
        states = servers()
        if all(states[h]["ready"] and states[h]["up"] for h in hosts):
            return
        assert time.monotonic() < deadline, states
        time.sleep(0.5)


def current_release(host: str) -> str:
    """The release ``current`` points at on ``host``."""
    return pathlib.PurePosixPath(docker("exec", host, "readlink", f"{BASE_DIR}/current").strip()).name


def served_release(host: str) -> str:
    """What ``host`` answers on /version, straight from gunicorn on the host."""
    code = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8000/version', timeout=5).read().decode())"
    return docker("exec", host, "python3", "-c", code).strip()


def main_pid(host: str) -> int:
    """systemd's MainPID of the app service on ``host`` (0 when it does not run)."""
    return int(docker("exec", host, "systemctl", "show", SERVICE, "-p", "MainPID", "--value").strip())


def snapshot(hosts=APP_HOSTS) -> dict[str, dict]:
    """{host: {current, served, pid}}."""
    return {h: {"current": current_release(h), "served": served_release(h), "pid": main_pid(h)} for h in hosts}
