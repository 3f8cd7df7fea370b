# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/callback_plugins: the deploy report's summary and JSON for a
playbook beside it, with no callback enabled (real ansible-playbook)."""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

PLAYBOOK = """\
- name: Do one thing in a phase
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.debug:
        msg: hello
      vars:
        zerodowntime_phase: preflight
"""


def run_beside_the_plugins(tmp_path, **env_extra):
    """Run a playbook in tmp_path/project, whose callback_plugins is the
    collection's playbooks/callback_plugins; HOME is tmp_path/home."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "callback_plugins").symlink_to(ROOT / "playbooks" / "callback_plugins")
    (project / "probe.yml").write_text(PLAYBOOK)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "ZERODOWNTIME_"))}
    env.update(HOME=str(home), ANSIBLE_COLLECTIONS_PATH=str(ROOT / "build" / "collections"), ANSIBLE_NOCOLOR="1",
               **env_extra)
    playbook = pathlib.Path(sys.executable).parent / "ansible-playbook"
    proc = subprocess.run([str(playbook), "-i", "localhost,", "-c", "local", "probe.yml"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    return proc, home / ".ansible" / "zerodowntime" / "reports" / "probe.json"


def test_the_summary_is_printed_and_the_report_written_to_the_default_path(tmp_path):
    proc, report = run_beside_the_plugins(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("DEPLOY REPORT [ok in ") == 1, proc.stdout
    assert f"deploy report written to {report}" in proc.stdout
    written = json.loads(report.read_text())
    assert written["result"] == "ok"
    assert "preflight" in written["hosts"]["localhost"]["phases"], written


def test_the_report_path_can_be_set(tmp_path):
    chosen = tmp_path / "elsewhere" / "report.json"
    proc, default = run_beside_the_plugins(tmp_path, ZERODOWNTIME_REPORT_PATH=str(chosen))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(chosen.read_text())["result"] == "ok"
    assert not default.exists()


def test_with_the_callback_enabled_by_name_only_that_one_reports(tmp_path):
    chosen = tmp_path / "report.json"
    proc, default = run_beside_the_plugins(tmp_path, ANSIBLE_CALLBACKS_ENABLED="zerodowntime.deploy.deploy_report",
                                           ZERODOWNTIME_REPORT_PATH=str(chosen))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("DEPLOY REPORT [ok in ") == 1, proc.stdout
    assert chosen.exists() and not default.exists()


def test_the_summary_can_be_turned_off(tmp_path):
    proc, report = run_beside_the_plugins(tmp_path, ZERODOWNTIME_REPORT_SUMMARY="false")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "DEPLOY REPORT" not in proc.stdout
    assert report.exists()


def test_a_json_stdout_stays_one_document_and_the_report_is_still_written(tmp_path):
    proc, report = run_beside_the_plugins(tmp_path, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["stats"]["localhost"]["ok"] == 1
    assert json.loads(report.read_text())["result"] == "ok"
