# SPDX-License-Identifier: GPL-3.0-or-later
"""An AWX job of the deploy job template deploys to the lab for real.

AWX runs a job with ansible-runner on a private data directory:

    <pdd>/project/                   the project's checkout (files git knows:
                                     no build/, no .venv)
    <pdd>/requirements_collections/  the collection, installed from the
                                     tarball `ansible-galaxy collection build` makes
    <pdd>/inventory/hosts            the inventory AWX imported from the
                                     project's inventories/lab/hosts.yml,
                                     as a script printing JSON
    <pdd>/env/extravars              the survey's answers
    <pdd>/env/envvars                the job's environment

This test builds that and calls ansible_runner.run() as AWX's task runner
does, on playbooks/deploy.yml, while the load probe sends requests through
lb1. The release is the one of the main job that the lab does not run (1.0.0
after the main job), so every host is drained and switched; the session ends
with the lab back on 1.1.0 (conftest.py).
"""

import json
import os
import shutil
import stat
import subprocess
import sys

import ansible_runner
import pytest
import yaml

import lab_helpers as lab

testinfra_hosts = ["local://"]
REDEPLOYS_LAB = True

JOB_TEMPLATE = "deploy"


def survey(name):
    """The survey spec of a job template in playbooks/awx/surveys.yml (what awx_setup.yml creates)."""
    templates = yaml.safe_load((lab.ROOT / "playbooks" / "awx" / "surveys.yml").read_text())["awx_job_templates"]
    (template,) = [t for t in templates if t["name"] == name]
    return template


def survey_extravars(template, answers):
    """The extra variables AWX passes for a survey: each answered question,
    and the default of each required question left unanswered."""
    extravars = {}
    for question in template["survey"]["spec"]:
        variable = question["variable"]
        if variable in answers:
            extravars[variable] = answers[variable]
        elif "default" in question:
            extravars[variable] = question["default"]
    assert set(answers) <= set(extravars), "not survey questions: %s" % (set(answers) - set(extravars))
    return extravars


def copy_project(dest):
    """Copy what a git checkout of the work tree would hold (tracked files and
    new files not ignored), as AWX's project update does."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=str(lab.ROOT), capture_output=True, check=True).stdout.decode()
    for rel in sorted(set(filter(None, listed.split("\0")))):
        src = lab.ROOT / rel
        if not (src.exists() or src.is_symlink()):
            continue  # deleted in the work tree
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(str(src), str(target), follow_symlinks=False)


def imported_inventory(project, source_path):
    """What an AWX inventory sync of source_path (in the project) imports:
    `ansible-inventory --list --export`, group variables left as written."""
    proc = subprocess.run([lab.tool("ansible-inventory"), "-i", str(project / source_path), "--list", "--export"],
                          cwd=str(project), env=lab.clean_env(), capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(name="pdd")
def fixture_pdd(tmp_path, collection_tarball, monkeypatch):
    """A private data directory for one deploy job, minus env/extravars."""
    root = tmp_path / "pdd"
    project = root / "project"
    copy_project(project)
    assert not (project / "build").exists()
    lab.install_collection(collection_tarball, root / "requirements_collections")

    # awx_setup.yml's default inventory source: inventories/lab/hosts.yml.
    inventory = imported_inventory(project, "inventories/lab/hosts.yml")
    (root / "inventory").mkdir()
    script = root / "inventory" / "hosts"
    script.write_text("#!%s\nimport json\nprint(json.dumps(%r))\n" % (sys.executable, inventory))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)

    (root / "env").mkdir()
    (root / "env" / "envvars").write_text(json.dumps({
        # As AWX: the project sync's collections first; only those here, so
        # neither build/collections nor ~/.ansible can stand in.
        "ANSIBLE_COLLECTIONS_PATH": str(root / "requirements_collections"),
        # Where the lab inventory finds its release artifacts: the lab's
        # checkout. Releases are immutable (an artifact rebuilt in the job's
        # own checkout would not match what the hosts installed), so an AWX
        # job must read the artifacts every deploy reads.
        "ZERODOWNTIME_ROOT": str(lab.ROOT),
    }))
    # ansible-runner starts ansible-playbook with this process's environment
    # under env/envvars: drop what molecule exported for its own runs.
    for name in list(os.environ):
        if name.startswith("ANSIBLE_") or name == "ZERODOWNTIME_ROOT":
            monkeypatch.delenv(name)
    monkeypatch.setenv("PATH", lab.clean_env()["PATH"])
    return root


def test_the_deploy_job_template_deploys_a_release_under_load_without_a_failed_request(pdd, lab_restored, tmp_path):
    before = lab.lab_releases()
    release = lab.other_release()
    template = survey(JOB_TEMPLATE)
    extravars = survey_extravars(template, {"deploy_release": release})
    (pdd / "env" / "extravars").write_text(json.dumps(extravars))

    with lab.Probe(tmp_path) as probe:
        runner = ansible_runner.run(private_data_dir=str(pdd), playbook=template["playbook"],
                                    ident="deploy", quiet=True)

    events = list(runner.events)
    failed = [e["event_data"].get("res", {}).get("msg") for e in events
              if e.get("event") in ("runner_on_failed", "runner_on_unreachable")
              and not e["event_data"].get("ignore_errors")]
    assert runner.status == "successful", (runner.status, failed, runner.stdout.read()[-4000:])
    assert runner.rc == 0
    # The job ran the project's playbook and the installed collection's roles.
    paths = {e["event_data"]["task_path"].split(":")[0] for e in events
             if e.get("event") == "runner_on_ok" and e["event_data"].get("task_path")}
    assert str(pdd.resolve() / "project" / "playbooks" / "deploy.yml") in paths, paths
    assert not [p for p in paths if p.startswith(str(lab.ROOT) + "/")], paths
    assert [p for p in paths if p.startswith(str((pdd / "requirements_collections").resolve()))], paths

    after = lab.lab_releases()
    assert {h: served for h, (_current, _previous, served) in after.items()} == {h: release for h in lab.APP_HOSTS}
    assert {h: current for h, (current, _previous, _served) in after.items()} == {h: release for h in lab.APP_HOSTS}
    # Every host was switched, from the release it ran.
    assert {h: previous for h, (_current, previous, _served) in after.items()} == {
        h: current for h, (current, _previous, _served) in before.items()}

    result = probe.result
    assert result["requests_total"] > 0
    assert result["requests_failed"] == 0, result["outcomes"]
    # Clients saw the old release, then the new one: the switch happened under the probe.
    assert result["releases_seen"] == [before["app1"][2], release], result["releases_seen"]
