# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of the lab tests that deploy again after the main job: read what
the app hosts run, and keep the load probe running around a deploy.

The lab (molecule/default): lb1 publishes its frontend on 127.0.0.1:8080;
app1-app3 run gunicorn under systemd; after the main job every app host
runs 1.1.0 with 1.0.0 as its previous release.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventories" / "lab" / "hosts.yml"
APP_HOSTS = ["app1", "app2", "app3"]
APP = "demoapp"
# The main job's releases: the lab ends on MAIN_RELEASE with PREVIOUS_RELEASE
# as each host's previous one (tests/lab/test_lab_hosts.py checks it).
PREVIOUS_RELEASE, MAIN_RELEASE = "1.0.0", "1.1.0"
# /version names the release and touches no database. The main job's probe
# (60 requests/s on /, tests/lab/test_demo_report.py) proves the throughput;
# these deploys prove that the AWX and installed-collection paths fail no
# request, and a cheaper request at a lower rate keeps a machine shared with
# other labs from timing requests out on CPU starvation alone.
PROBE_URL = "http://127.0.0.1:8080/version"
PROBE_RATE = 30.0
VENV_BIN = pathlib.Path(sys.executable).parent


def tool(name):
    """Path of an Ansible command-line tool beside this Python (the project's virtualenv)."""
    path = VENV_BIN / name
    return str(path) if path.exists() else name


def clean_env(**extra):
    """os.environ without any ANSIBLE_* setting or ZERODOWNTIME_ROOT (molecule
    exports both for its own runs), the virtualenv first on PATH, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k != "ZERODOWNTIME_ROOT"}
    env["PATH"] = "%s%s%s" % (VENV_BIN, os.pathsep, env.get("PATH", ""))
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0")
    env.update(extra)
    return env


def plain(text):
    """Ansible's output as one line of words: without the colours molecule
    forces (ANSIBLE_FORCE_COLOR, which wins over ANSIBLE_NOCOLOR; each line
    that the YAML result format wraps is coloured on its own), and with the
    whitespace collapsed."""
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", text).split())


def docker(host, *argv):
    """Run argv in a lab container; returns stdout, fails the test on error."""
    proc = subprocess.run(["docker", "exec", host, *argv], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, "docker exec %s %s: %s" % (host, " ".join(argv), proc.stderr)
    return proc.stdout


def linked_release(host, link):
    """The release that /srv/demoapp/<link> (current, previous) names."""
    return docker(host, "readlink", "/srv/%s/%s" % (APP, link)).strip().rsplit("/", 1)[-1]


def served_release(host):
    """What the host answers on /version, asked on the host itself."""
    code = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8000/version', timeout=5).read().decode())"
    return docker(host, "python3", "-c", code).strip()


def lab_releases():
    """{host: (current, previous, served)} of every app host."""
    return {h: (linked_release(h, "current"), linked_release(h, "previous"), served_release(h)) for h in APP_HOSTS}


def other_release():
    """The main job's release the lab does not run now, so that deploying it
    really drains and switches every host: PREVIOUS_RELEASE when every host
    serves MAIN_RELEASE, else MAIN_RELEASE."""
    served = {served_release(h) for h in APP_HOSTS}
    return PREVIOUS_RELEASE if served == {MAIN_RELEASE} else MAIN_RELEASE


class Probe:
    """tests/load_probe.py through lb1 (or ``url``) for the length of a `with` block.

    Entering starts it and waits until traffic flows plus `settle` seconds;
    leaving waits `settle` seconds, stops it and loads `result`, the probe's
    document (requests_total, requests_failed, outcomes, releases_seen...).
    """

    def __init__(self, workdir, rate=PROBE_RATE, settle=3.0, url=PROBE_URL):
        self.dir = pathlib.Path(workdir)
        self.url = url
        self.rate = rate
        self.settle = settle
        self.proc = None
        self.result = None

    def __enter__(self):
        ready = self.dir / "probe-ready"
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "load_probe.py"), "--url", self.url, "--rate", str(self.rate),
             "--duration", "900", "--output", str(self.dir / "probe.json"), "--ready-file", str(ready)])
        deadline = time.monotonic() + 60
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait(timeout=30)
                raise AssertionError("the load probe got no answer from %s" % self.url)
            time.sleep(0.1)
        time.sleep(self.settle)
        return self

    def __exit__(self, *exc):
        time.sleep(self.settle)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.result = json.loads((self.dir / "probe.json").read_text())
        return False


def install_collection(tarball, dest):
    """`ansible-galaxy collection install --offline` of the built tarball into
    the collections path dest (dest/ansible_collections/zerodowntime/deploy)."""
    dest.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([tool("ansible-galaxy"), "collection", "install", "--offline", "--force",
                           "-p", str(dest), str(tarball)],
                          cwd=str(dest.parent), env=clean_env(), capture_output=True, text=True,
                          check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dest
