# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_hba in every lab admits the app hosts only (issue 14).

Each lab inventory's group_vars, under a stand-in inventory whose database
host is this machine (local connection) and whose app host is `localhost`,
so that the names resolve here as they do on db1: playbooks/lab.yml runs
with the postgresql role's own tasks skipped (nothing is installed), and the
pg_hba entries the role would get are read back. They must be one entry per
app host address (/32), for the app's database and user only, and nothing
that admits a network (samenet, 0.0.0.0/0, all); the samenet entry of
earlier labs is listed for removal.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
LABS = {"lab": ("demoapp", "demoapp"), "wagtail": ("mysite", "mysite"), "bluegreen": ("demoapp", "demoapp"),
        "ha_pair": ("demoapp", "demoapp"), "faults": ("demoapp", "demoapp")}
ROLE_TAGS = "postgresql_install,postgresql_configure,postgresql_run,postgresql_objects"

DUMP = """
- name: Write the pg_hba entries the postgresql role got
  hosts: db
  gather_facts: false
  tasks:
    - name: Write them as JSON
      ansible.builtin.copy:
        content: "{{ postgresql_hba_entries | to_json }}"
        dest: "%s"
        mode: "0644"
"""


def run_lab_playbook(tmp_path, lab, app_hosts):
    """playbooks/lab.yml on a stand-in db host with the lab's group_vars; returns (rc, output, entries)."""
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "group_vars").symlink_to(ROOT / "inventories" / lab / "group_vars")
    (inventory / "hosts.json").write_text(json.dumps({"all": {"children": {
        "app": {"hosts": {name: {} for name in app_hosts}},
        "db": {"hosts": {"db-stand-in": {"ansible_connection": "local",
                                         "ansible_python_interpreter": sys.executable}}}}}}))
    out = tmp_path / "entries.json"
    dump = tmp_path / "dump.yml"
    dump.write_text(DUMP % out)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "ZERODOWNTIME_"))}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory / "hosts.json"),
         str(ROOT / "playbooks" / "lab.yml"), str(dump), "--limit", "db-stand-in", "--skip-tags", ROLE_TAGS,
         # This machine is the stand-in: no sudo here, nothing to become.
         "-e", "ansible_become=false"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    entries = json.loads(out.read_text()) if out.exists() else None
    return proc.returncode, proc.stdout + proc.stderr, entries


@pytest.mark.parametrize("lab", sorted(LABS))
def test_pg_hba_admits_the_app_from_each_app_host_only(tmp_path, lab):
    rc, output, entries = run_lab_playbook(tmp_path, lab, ["localhost"])

    assert rc == 0, output[-3000:]
    present = [e for e in entries if e.get("state", "present") == "present"]
    database, user = LABS[lab]
    expected = {"type": "host", "database": database, "user": user, "address": "127.0.0.1/32",
                "method": "scram-sha-256"}
    assert present == [expected]
    assert [e["address"] for e in entries if e.get("state") == "absent"] == ["samenet"]


def test_an_app_host_whose_name_does_not_resolve_on_the_database_host_stops_the_lab(tmp_path):
    rc, output, entries = run_lab_playbook(tmp_path, "lab", ["localhost", "nosuch-app.invalid"])

    assert rc != 0
    assert "nosuch-app.invalid: no IPv4 address on db-stand-in (getent ahostsv4)" in output, output[-3000:]
    assert entries is None


def test_the_role_admits_no_remote_client_by_default():
    defaults = yaml.safe_load((ROOT / "roles" / "postgresql" / "defaults" / "main.yml").read_text())
    assert defaults["postgresql_hba_entries"] == []


def test_the_blue_green_lab_admits_its_app_hosts_before_the_role_runs():
    # molecule/bluegreen sets up the database without playbooks/lab.yml.
    play = yaml.safe_load((ROOT / "molecule" / "bluegreen" / "converge.yml").read_text())[0]
    steps = [task.get("ansible.builtin.include_tasks") or task.get("ansible.builtin.include_role", {}).get("name")
             for task in play["tasks"]]
    assert steps.index("../../playbooks/tasks/lab_db_clients.yml") < steps.index("zerodowntime.deploy.postgresql")
