# SPDX-License-Identifier: GPL-3.0-or-later
"""The project runs under ansible-runner laid out the way AWX lays out a job.

AWX runs a job template with ansible-runner on a private data directory:

    <pdd>/project/                     the project's git checkout
    <pdd>/requirements_collections/    collections the project sync installed
    <pdd>/inventory/hosts              the inventory, as a script printing JSON
    <pdd>/env/extravars                survey answers and extra variables
    <pdd>/env/envvars                  environment (collections path...)
    <pdd>/artifacts/<ident>/           status, rc, job_events/ written back

The tests build exactly that: project/ is a copy of the files git knows (no
.venv, no build/, so no build/collections link either), and the collection
comes from the built tarball installed offline into requirements_collections,
as a project sync of collections/requirements.yml would. Then:

- playbooks/status.yml (read-only) runs against a real HAProxy process on
  this machine and reports the servers' states, read from the job events;
- playbooks/deploy.yml refuses a release name that a survey let through,
  on the controller, before touching any host.
"""

import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

from conftest import ROOT, clean_env, install_collection, tool


def copy_project(dest):
    """Copy what a git checkout of the work tree would hold (tracked files and
    new files not ignored), as AWX's project update does."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=str(ROOT), capture_output=True, check=True).stdout.decode()
    for rel in sorted(set(filter(None, listed.split("\0")))):
        src = ROOT / rel
        if not (src.exists() or src.is_symlink()):
            continue  # deleted in the work tree
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(str(src), str(target), follow_symlinks=False)


def write_inventory_script(path, inventory):
    """AWX hands ansible-runner the inventory as an executable printing JSON."""
    path.write_text("#!%s\nimport json\nprint(json.dumps(%r))\n" % (sys.executable, inventory))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture(scope="module")
def collections_dir(collection_tarball, tmp_path_factory):
    dest = tmp_path_factory.mktemp("awx-project-sync") / "requirements_collections"
    dest.mkdir()
    return install_collection(collection_tarball, dest)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    dest = tmp_path_factory.mktemp("awx-checkout") / "project"
    copy_project(dest)
    return dest


class PrivateDataDir(object):
    """A private data directory for one job, and its results."""

    def __init__(self, root, project, collections):
        self.root = root
        (root / "inventory").mkdir(parents=True)
        (root / "env").mkdir()
        os.symlink(str(project), str(root / "project"))
        shutil.copytree(str(collections), str(root / "requirements_collections"), symlinks=True)

    def write(self, inventory, extravars):
        write_inventory_script(self.root / "inventory" / "hosts", inventory)
        (self.root / "env" / "extravars").write_text(json.dumps(extravars))
        # AWX: ANSIBLE_COLLECTIONS_PATHS=/runner/requirements_collections:...
        # Only the installed copy here, so nothing else can provide the collection.
        (self.root / "env" / "envvars").write_text(json.dumps({
            "ANSIBLE_COLLECTIONS_PATH": str(self.root / "requirements_collections"),
            "ANSIBLE_NOCOLOR": "1",
        }))

    def run(self, playbook, ident):
        proc = subprocess.run([tool("ansible-runner"), "run", str(self.root), "-p", playbook, "--ident", ident],
                              cwd=str(self.root), env=clean_env(), capture_output=True, text=True,
                              check=False, timeout=300)
        artifacts = self.root / "artifacts" / ident
        events = [json.loads(p.read_text()) for p in sorted(
            (artifacts / "job_events").glob("*.json"), key=lambda p: int(p.name.split("-", 1)[0]))]
        status = (artifacts / "status").read_text() if (artifacts / "status").exists() else None
        return proc, status, events


@pytest.fixture
def pdd(tmp_path, project, collections_dir):
    return PrivateDataDir(tmp_path / "pdd", project, collections_dir)


def host_results(events, event, task):
    return {e["event_data"]["host"]: e["event_data"]["res"] for e in events
            if e.get("event") == event and e["event_data"].get("task") == task}


def test_project_copy_has_no_collection_link_of_its_own(project):
    assert not (project / "build").exists()
    assert (project / "playbooks" / "status.yml").exists()
    assert (project / "ansible.cfg").exists()


@pytest.mark.parametrize("backend", ["app", "solo"])
def test_status_playbook_runs_under_ansible_runner_and_reports_the_real_haproxy(pdd, lab, backend):
    lab.ask("set server %s/web1 state drain" % backend)
    pdd.write(
        inventory={
            "balancers": {"hosts": ["lb-local"]},
            "app": {"hosts": ["web1", "web2"]},
            "_meta": {"hostvars": {"lb-local": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "haproxy_admin_socket": lab.operator,  # read-only level is enough
            }}},
        },
        # As a job template's extra variables: which backend to read.
        extravars={"deploy_backend": backend},
    )

    proc, status, events = pdd.run("playbooks/status.yml", "status")

    assert status == "successful", proc.stdout + proc.stderr
    read = host_results(events, "runner_on_ok", "Read the backend's servers through the Runtime API")
    assert list(read) == ["lb-local"]
    servers = read["lb-local"]["backends"][backend]["servers"]
    assert servers["web1"]["admin_state"] == "drain"
    assert set(servers) == ({"web1", "web2", "nocheck"} if backend == "app" else {"web1"})
    assert read["lb-local"]["changed"] is False
    # The play ran the project's copy of the playbook, not the work tree's.
    task_paths = {e["event_data"].get("task_path", "").split(":")[0] for e in events
                  if e.get("event") == "runner_on_ok"}
    assert task_paths == {str((pdd.root / "project").resolve() / "playbooks" / "status.yml")}, task_paths
    # One line per server was shown.
    shown = [e for e in events if e.get("event") == "runner_item_on_ok"
             and e["event_data"].get("task", "").startswith("Show each server's state")]
    assert len(shown) == len(servers)


def test_deploy_refuses_a_bad_release_name_on_the_controller_before_any_host(pdd, lab):
    pdd.write(
        inventory={
            # Hosts that do not exist: the deploy must stop before reaching them.
            "balancers": {"hosts": ["lb-unreachable"]},
            "app": {"hosts": ["app-unreachable"]},
            "_meta": {"hostvars": {h: {"ansible_host": "192.0.2.1", "ansible_connection": "ssh"}
                                   for h in ("lb-unreachable", "app-unreachable")}},
        },
        extravars={"deploy_release": "1.1.0; rm -rf /"},
    )

    proc, status, events = pdd.run("playbooks/deploy.yml", "deploy")

    assert status == "failed", proc.stdout + proc.stderr
    failed = [e["event_data"] for e in events if e.get("event") == "runner_on_failed"]
    assert [f["host"] for f in failed] == ["localhost"], failed
    assert "deploy_release" in failed[0]["res"]["msg"] and "1.1.0; rm -rf /" in failed[0]["res"]["msg"]
    touched = {e["event_data"].get("host") for e in events if e.get("event", "").startswith("runner_on_")}
    assert touched == {"localhost"}, touched
    assert not [e for e in events if e.get("event") == "runner_on_unreachable"]
