# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of the blue/green verifier: run a playbook against the blue/green
lab while the load probe sends requests through its balancer, and read what
the hosts and the balancer really do.

The lab (molecule/bluegreen): bg-lb1 publishes its frontend on
127.0.0.1:8095; pools blue (bg-blue1, bg-blue2) and green (bg-green1,
bg-green2) run gunicorn under systemd; the converge leaves blue live and
both pools on 1.0.0.
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
INVENTORY = ROOT / "inventories" / "bluegreen" / "hosts.yml"
# /version names the release in its body and X-Release and touches no
# database: what a switch changes is which release answers, and a request
# that costs little keeps the probe measuring that on a busy machine.
URL = "http://127.0.0.1:8095/version"
BALANCER = "bg-lb1"
BLUE = ["bg-blue1", "bg-blue2"]
GREEN = ["bg-green1", "bg-green2"]
MAP = "/etc/haproxy/bluegreen.map"
ADMIN_SOCKET = "/run/haproxy/admin.sock"
APP = "demoapp"


def epoch(iso):
    """ISO 8601 (as the probe and the deploy report write it) -> seconds since the epoch."""
    return datetime.datetime.fromisoformat(iso).timestamp()


def docker(host, *argv, check=True):
    """Run argv in a lab container; returns stdout (str)."""
    proc = subprocess.run(["docker", "exec", host, *argv], capture_output=True, text=True,
                          timeout=60, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("docker exec %s %s: %s" % (host, " ".join(argv), proc.stderr))
    return proc.stdout


def haproxy(command):
    """One Runtime API command on bg-lb1's admin socket; returns the answer."""
    code = ("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(%r); "
            "s.sendall(sys.argv[1].encode()+b'\\n'); "
            "sys.stdout.write(b''.join(iter(lambda: s.recv(65536), b'')).decode())" % ADMIN_SOCKET)
    return docker(BALANCER, "python3", "-c", code, command)


def live_backend():
    """The value of key 'live' in the running map (show map)."""
    values = [line.split()[2] for line in haproxy("show map " + MAP).splitlines()
              if len(line.split()) == 3 and line.split()[1] == "live"]
    assert len(values) == 1, values
    return values[0]


def file_backend():
    """The value of key 'live' in the map file on disk."""
    lines = [line.split() for line in docker(BALANCER, "cat", MAP).splitlines()
             if line.strip() and not line.startswith("#")]
    return dict(lines)["live"]


def servers(backend):
    """{server: (admin_state, op_state)} of a backend (show servers state)."""
    lines = haproxy("show servers state " + backend).splitlines()
    header = lines[1].lstrip("# ").split()
    rows = [dict(zip(header, line.split())) for line in lines[2:] if line.strip()]
    return {r["srv_name"]: (r["srv_admin_state"], r["srv_op_state"]) for r in rows}


def wait_all_up(backend, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        state = servers(backend)
        if state and all(v == ("0", "2") for v in state.values()):
            return state
        if time.monotonic() > deadline:
            raise AssertionError("backend %s not all UP: %s" % (backend, state))
        time.sleep(0.5)


def current(host):
    """The release the current symlink names."""
    return docker(host, "readlink", "/srv/%s/current" % APP).strip().rsplit("/", 1)[-1]


def main_pid(host):
    return int(docker(host, "systemctl", "show", "--property=MainPID", "--value", APP).strip())


def version(host):
    """What the host answers on /version, asked on the host itself."""
    code = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8000/version', timeout=5).read().decode())"
    return docker(host, "python3", "-c", code).strip()


def snapshot(hosts):
    """{host: {current, pid, version}}."""
    return {h: {"current": current(h), "pid": main_pid(h), "version": version(h)} for h in hosts}


def ansible_env(report):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_CALLBACKS_ENABLED": "zerodowntime.deploy.deploy_report",
        "ZERODOWNTIME_REPORT_PATH": str(report),
        "ANSIBLE_NOCOLOR": "1",
    })
    env.pop("ZERODOWNTIME_ROOT", None)
    return env


def start_playbook(playbook, report, *extra):
    """Start ansible-playbook on the blue/green inventory; returns the Popen."""
    binary = pathlib.Path(sys.executable).parent / "ansible-playbook"
    return subprocess.Popen(
        [str(binary), "-i", str(INVENTORY), str(ROOT / playbook), *extra],
        env=ansible_env(report), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_playbook(proc, report, timeout=600):
    """Wait for a started playbook; returns {rc, output, report}."""
    output, _ = proc.communicate(timeout=timeout)
    report = pathlib.Path(report)
    return {"rc": proc.returncode, "output": output,
            "report": json.loads(report.read_text()) if report.exists() else {}}


def run_playbook(playbook, report, *extra, timeout=600):
    return finish_playbook(start_playbook(playbook, report, *extra), report, timeout)


class Probe:
    """tests/load_probe.py against the balancer, with every request recorded.

    `timeout` is the seconds one request may take before it counts as
    failed (the probe's default, 5). Use as a context manager: entering
    starts the probe and waits until
    traffic flows plus `settle` seconds; leaving waits `settle` seconds,
    stops it and loads `result` (the probe's document) and `records`
    (every request: t, outcome, failed, latency_ms, release), with `started`,
    the wall-clock time (epoch seconds) no later than its t = 0.
    """

    def __init__(self, workdir, rate=60.0, settle=3.0, timeout=5.0):
        self.dir = pathlib.Path(workdir)
        self.rate = rate
        self.settle = settle
        self.timeout = timeout
        self.proc = None
        self.result = None
        self.records = None

    def __enter__(self):
        ready = self.dir / "probe-ready"
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "load_probe.py"), "--url", URL, "--rate", str(self.rate),
             "--duration", "900", "--timeout", str(self.timeout), "--output", str(self.dir / "probe.json"),
             "--requests-output", str(self.dir / "requests.jsonl"), "--ready-file", str(ready)])
        deadline = time.monotonic() + 60
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError("the load probe got no answer from %s" % URL)
            time.sleep(0.1)
        time.sleep(self.settle)
        return self

    def __exit__(self, *exc):
        time.sleep(self.settle)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.result = json.loads((self.dir / "probe.json").read_text())
        self.records = [json.loads(line) for line in (self.dir / "requests.jsonl").read_text().splitlines()]
        self.started = epoch(self.result["started"])
        return False

    def sent_after(self, when):
        """Requests scheduled after the wall-clock time `when`."""
        return [r for r in self.records if self.started + r["t"] > when]

    def answered_before(self, when):
        """Requests whose answer came before the wall-clock time `when`."""
        return [r for r in self.records if self.started + r["t"] + r["latency_ms"] / 1000.0 < when]


def phase_window(report, host, phase):
    """(start, end) of a host's phase in a deploy report, epoch seconds."""
    entry = report["hosts"][host]["phases"][phase]
    return epoch(entry["start"]), epoch(entry["end"])
