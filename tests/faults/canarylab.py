# SPDX-License-Identifier: GPL-3.0-or-later
"""Drive the fault lab of molecule/faults from the controller, for the canary cases.

Helpers for tests/faults/test_progressive_delivery.py, beside faultlab's
(the same lab: constants, docker, the Runtime API, what a host runs): run
ansible-playbook to its end with the deploy report callback, with more than
one inventory; run the load probe around a deploy with every request
recorded; read HAProxy's response counters per server. Every helper talks to
the lab with ``docker`` and to the balancer through 127.0.0.1:8090, nothing
else.
"""

from __future__ import annotations

import json
import pathlib
import signal
import subprocess
import time

from faultlab import (APP_HOSTS, BACKEND, INVENTORY, PROBE_CONNECTIONS, PROBE_RATE, PROBE_SETTLE, PROBE_TIMEOUT, ROOT,
                      URL, _venv_bin, ansible_env, current_release, haproxy, main_pid, served_release, timestamp)

WORK = ROOT / "build" / "canary"

# The probe asks for "/" (faultlab.URL), not /version: the faulty release
# fails and the slow one waits on "/" only (a Django view that writes a
# row), as a real regression would hit the application's pages and not its
# probes. At PROBE_RATE, the canary at deploy_canary_weight=50% of 100
# beside three servers at 100 takes 1/7 of the traffic: about 70 requests in
# a 25 s soak, enough for deploy_canary_min_requests=30 on a machine that
# lags.


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
        return timestamp(entry["start"]), timestamp(entry["end"])


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
        self.started = timestamp(self.result["started"])
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


def snapshot(hosts=tuple(APP_HOSTS)) -> dict[str, dict]:
    """{host: {current, served, pid}}."""
    return {h: {"current": current_release(h), "served": served_release(h), "pid": main_pid(h)} for h in hosts}
