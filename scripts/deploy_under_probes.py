#!/usr/bin/env python3
"""Run a deploy while one load probe per balancer URL sends it traffic.

scripts/deploy_under_load.py with several balancers: one
tests/load_probe.py per ``--url``, all started (and answering) before the
play and stopped after it, so that a failed request through any balancer
shows. The merged report has the shape of deploy_under_load.py's, with the
probes' counts summed, plus ``probes``: the result of each probe by URL::

    scripts/deploy_under_probes.py --release 1.1.0 --output build/ha-pair-report.json \\
        --inventory inventories/ha_pair/hosts.yml \\
        --url http://127.0.0.1:8081/ --url http://127.0.0.1:8082/

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

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from deploy_under_load import ROOT, merge, summary, wait_for_file  # noqa: E402


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line; returns the namespace of options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", required=True, help="release to deploy, e.g. 1.1.0")
    parser.add_argument("--output", required=True, type=pathlib.Path, help="merged JSON report")
    parser.add_argument("--inventory", action="append", required=True,
                        help="inventory source, repeatable (later ones override earlier ones)")
    parser.add_argument("--url", action="append", required=True,
                        help="URL one probe requests, repeatable: one per balancer")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second of each probe")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds the probes run before and after the play")
    parser.add_argument("--playbook", default=str(ROOT / "playbooks" / "deploy.yml"))
    parser.add_argument("ansible_args", nargs="*", help="extra ansible-playbook arguments (after --)")
    return parser.parse_args(argv)


def combine(probes: dict[str, dict]) -> dict:
    """Sum the probes' results: requests_total, requests_failed, outcomes,
    releases_seen (in order of first appearance across the probes)."""
    outcomes: dict[str, int] = {}
    releases: list[str] = []
    for result in probes.values():
        for outcome, count in result["outcomes"].items():
            outcomes[outcome] = outcomes.get(outcome, 0) + count
        releases.extend(r for r in result["releases_seen"] if r not in releases)
    return {
        "urls": list(probes),
        "requests_total": sum(r["requests_total"] for r in probes.values()),
        "requests_failed": sum(r["requests_failed"] for r in probes.values()),
        "outcomes": outcomes,
        "releases_seen": releases,
    }


def main(argv: list[str]) -> int:
    """Run the probes and the playbook; returns the exit status described above."""
    args = parse_args(argv)
    work = args.output.parent
    work.mkdir(parents=True, exist_ok=True)
    stem = args.output.stem
    deploy_out = work / f"{stem}.deploy.json"
    deploy_out.unlink(missing_ok=True)
    probes = []
    for index, url in enumerate(args.url):
        out, ready = work / f"{stem}.probe{index}.json", work / f"{stem}.probe{index}-ready"
        for path in (out, ready):
            path.unlink(missing_ok=True)
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "load_probe.py"), "--url", url,
             "--rate", str(args.rate), "--output", str(out), "--ready-file", str(ready),
             "--duration", "1800"],
        )
        probes.append((url, out, ready, proc))
    try:
        for _url, _out, ready, proc in probes:
            wait_for_file(ready, 60.0, proc)
        time.sleep(args.settle)
        env = dict(os.environ)
        env.update({
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_CALLBACKS_ENABLED": "zerodowntime.deploy.deploy_report",
            "ZERODOWNTIME_REPORT_PATH": str(deploy_out),
        })
        playbook_bin = pathlib.Path(sys.executable).parent / "ansible-playbook"
        inventories = [arg for inventory in args.inventory for arg in ("-i", inventory)]
        cmd = [str(playbook_bin) if playbook_bin.exists() else "ansible-playbook", *inventories,
               args.playbook, "-e", f"deploy_release={args.release}", *args.ansible_args]
        ansible_rc = subprocess.run(cmd, env=env, cwd=ROOT, check=False).returncode
        time.sleep(args.settle)
    finally:
        for _url, _out, _ready, proc in probes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _url, _out, _ready, proc in probes:
            proc.wait(timeout=60)

    by_url = {url: json.loads(out.read_text()) for url, out, _ready, _proc in probes}
    deploy_result = json.loads(deploy_out.read_text()) if deploy_out.exists() else {}
    report = merge(combine(by_url), deploy_result, args.release, ansible_rc)
    report["probes"] = by_url
    tmp = args.output.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    tmp.replace(args.output)
    print(summary(report))
    for url, result in by_url.items():
        print(f"{url}: {result['requests_total']} requests, {result['requests_failed']} failed, "
              f"outcomes {result['outcomes']}")
    print(f"report: {args.output}")
    if ansible_rc != 0:
        return ansible_rc
    return 3 if report["requests_failed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
