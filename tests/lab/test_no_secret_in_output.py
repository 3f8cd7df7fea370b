# SPDX-License-Identifier: GPL-3.0-or-later
"""No secret of the inventory in anything a deploy prints or writes (issue 14).

A deploy of the release the lab runs (it changes nothing, but lints and
runs the migration commands, reads every host's unit and environment) at
-vvvv: neither the database password nor the secret key of the lab
inventory may appear in its output or in its report. At -vvv and above
Ansible prints the shell command of every module it runs, so this also
proves that no secret travels on a command line (where `ps` on the host
would show it).
"""

import json
import subprocess

import yaml

import lab_helpers as lab

testinfra_hosts = ["local://"]


def lab_secrets():
    """The secret values of the lab inventory (str)."""
    variables = yaml.safe_load((lab.INVENTORY.parent / "group_vars" / "all.yml").read_text())
    return [variables["demoapp_db_password"], variables["deploy_app_environment"]["DJANGO_SECRET_KEY"]]


def test_a_deploy_at_vvvv_prints_and_reports_no_secret(tmp_path):
    report = tmp_path / "report.json"
    env = lab.clean_env(ANSIBLE_CONFIG=str(lab.ROOT / "ansible.cfg"),
                        ANSIBLE_CALLBACKS_ENABLED="zerodowntime.deploy.deploy_report",
                        ZERODOWNTIME_REPORT_PATH=str(report))
    proc = subprocess.run([lab.tool("ansible-playbook"), "-vvvv", "-i", str(lab.INVENTORY),
                           str(lab.ROOT / "playbooks" / "deploy.yml"), "-e", "deploy_release=%s" % lab.MAIN_RELEASE],
                          cwd=str(lab.ROOT), env=env, capture_output=True, text=True, timeout=900, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    # The migration commands ran, so their environment was in play.
    assert "Lint the release's pending pre-deploy migrations" in output
    assert "zerodowntime_env_exec.py" in output
    written = report.read_text()
    assert json.loads(written)["result"] == "ok"
    for secret in lab_secrets():
        assert len(secret) >= 8
        assert secret not in output
        assert secret not in written
    # The environment file of the migration commands is gone again.
    for host in lab.APP_HOSTS:
        leftover = lab.docker(host, "find", "/srv/%s/releases" % lab.APP, "-name", ".zerodowntime-migrations.env")
        assert leftover.strip() == "", host
