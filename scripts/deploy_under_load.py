#!/usr/bin/env python3
"""Run ``playbooks/deploy.yml`` while the load probe hammers the balancer.

This is the demo's and the lab tests' proof that a rolling deploy fails no
request: the probe (tests/load_probe.py) sends constant-rate GETs through
HAProxy for the whole play; the deploy report callback records what each
host went through. The two are merged into one JSON report.

Usage::

    scripts/deploy_under_load.py --release 1.1.0 --output build/demo-report.json

Exit status: ansible-playbook's status if it failed, else 3 if any request
failed, else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
PHASES = ("migrate", "drain", "deploy", "health", "enable", "post_migrate", "rollback")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line; returns the namespace of options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", required=True, help="release to deploy, e.g. 1.1.0")
    parser.add_argument("--output", required=True, type=pathlib.Path, help="merged JSON report")
    parser.add_argument("--inventory", default=str(ROOT / "inventories" / "lab" / "hosts.yml"))
    parser.add_argument("--url", default="http://127.0.0.1:8080/", help="URL the probe requests")
    parser.add_argument("--rate", type=float, default=60.0, help="probe requests per second")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds the probe runs before and after the play")
    parser.add_argument("--playbook", default=str(ROOT / "playbooks" / "deploy.yml"))
    parser.add_argument("ansible_args", nargs="*", help="extra ansible-playbook arguments (after --)")
    return parser.parse_args(argv)


def wait_for_file(path: pathlib.Path, timeout_s: float, proc: subprocess.Popen) -> None:
    """Wait until ``path`` exists; raises RuntimeError after ``timeout_s`` seconds
    or if ``proc`` exits first."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"load probe exited with status {proc.returncode} before its first answer")
        if time.monotonic() > deadline:
            raise RuntimeError(f"load probe got no successful answer within {timeout_s} s")
        time.sleep(0.1)


def merge(probe: dict, deploy: dict, release: str, ansible_rc: int) -> dict:
    """Merge the probe's result and the deploy report into the demo report.

    Returns a dict with requests_total, requests_failed, outcomes,
    releases_seen, release_by_host, phases_by_host (host -> phase -> seconds),
    and both source reports under ``probe`` and ``deploy``.
    """
    hosts = deploy.get("hosts", {})
    phases_by_host = {}
    release_by_host = {}
    for host, entry in sorted(hosts.items()):
        phases = entry.get("phases", {})
        # What the host answered after its turn, or, for a host the rolling
        # play gave no turn, what the stage read it runs.
        answered = entry.get("release_served") or entry.get("release_running")
        if not any(p in phases for p in PHASES) and not answered:
            continue  # the controller's preflight, not an app host
        phases_by_host[host] = {p: round(phases[p]["seconds"], 3) for p in PHASES if p in phases}
        if answered:
            release_by_host[host] = answered
    return {
        "release": release,
        "ansible_rc": ansible_rc,
        "deploy_result": deploy.get("result"),
        "requests_total": probe["requests_total"],
        "requests_failed": probe["requests_failed"],
        "outcomes": probe["outcomes"],
        "releases_seen": probe["releases_seen"],
        "release_by_host": release_by_host,
        "phases_by_host": phases_by_host,
        "deploy_duration_s": deploy.get("duration_s"),
        "probe": probe,
        "deploy": deploy,
    }


def summary(report: dict) -> str:
    """Render the merged report as a few human lines."""
    lines = [
        f"release {report['release']}: ansible-playbook exit {report['ansible_rc']}, "
        f"deploy {report['deploy_result']}, {report['deploy_duration_s']} s",
        f"requests: {report['requests_total']} sent, {report['requests_failed']} failed; "
        f"outcomes {report['outcomes']}; releases seen {report['releases_seen']}",
        f"{'host':8} {'release':8} " + " ".join(f"{p:>8}" for p in PHASES),
    ]
    for host, phases in report["phases_by_host"].items():
        cells = " ".join(f"{phases[p]:8.2f}" if p in phases else f"{'-':>8}" for p in PHASES)
        lines.append(f"{host:8} {report['release_by_host'].get(host, '?'):8} {cells}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run probe and playbook; returns the exit status described in the module docstring."""
    args = parse_args(argv)
    work = args.output.parent
    work.mkdir(parents=True, exist_ok=True)
    stem = args.output.stem
    probe_out = work / f"{stem}.probe.json"
    deploy_out = work / f"{stem}.deploy.json"
    ready = work / f"{stem}.probe-ready"
    for path in (probe_out, deploy_out, ready):
        path.unlink(missing_ok=True)

    probe = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "load_probe.py"), "--url", args.url,
         "--rate", str(args.rate), "--output", str(probe_out), "--ready-file", str(ready),
         "--duration", "1800"],
    )
    try:
        wait_for_file(ready, 60.0, probe)
        time.sleep(args.settle)
        env = dict(os.environ)
        env.update({
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_CALLBACKS_ENABLED": "zerodowntime.deploy.deploy_report",
            "ZERODOWNTIME_REPORT_PATH": str(deploy_out),
        })
        # The ansible-playbook beside this Python (the project's virtualenv).
        playbook_bin = pathlib.Path(sys.executable).parent / "ansible-playbook"
        cmd = [str(playbook_bin) if playbook_bin.exists() else "ansible-playbook", "-i", args.inventory, args.playbook,
               "-e", f"deploy_release={args.release}", *args.ansible_args]
        ansible_rc = subprocess.run(cmd, env=env, cwd=ROOT, check=False).returncode
        time.sleep(args.settle)
    finally:
        if probe.poll() is None:
            probe.send_signal(signal.SIGTERM)
        probe.wait(timeout=60)

    probe_result = json.loads(probe_out.read_text())
    deploy_result = json.loads(deploy_out.read_text()) if deploy_out.exists() else {}
    report = merge(probe_result, deploy_result, args.release, ansible_rc)
    tmp = args.output.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    tmp.replace(args.output)
    print(summary(report))
    print(f"report: {args.output}")
    if ansible_rc != 0:
        return ansible_rc
    return 3 if report["requests_failed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
