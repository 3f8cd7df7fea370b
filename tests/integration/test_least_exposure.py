# SPDX-License-Identifier: GPL-3.0-or-later
"""Least exposure (issue 14): the gunicorn unit a deploy writes listens on
127.0.0.1 and on the addresses the balancers reach the host at, never on
every interface unless deploy_app_bind_addresses asks for it.

Two real HAProxy processes (lb1, lb2) have app1 and app2 as servers of the
backend app, at loopback addresses of their own (127.0.0.2 and up), which is
what HAProxy resolved for them. A playbook runs what the deploy runs: on the
controller, the rotation role's addresses or preflight entry point with
playbooks/vars/deploy.yml; on each app host (local connection, nothing
installed), the gunicorn role's pending entry point, which renders the unit
on the controller, then the same template written to a file to read.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

from ha_helpers import HAPROXY, MasterWorkerHAProxy, ansible_bin, ansible_env, free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
APP = "zdt-least-exposure"

PLAYBOOK = """
- name: Read where the balancers reach each app host, as the deploy does on the controller
  hosts: localhost
  gather_facts: false
  vars_files: ["{root}/playbooks/vars/deploy.yml"]
  tasks:
    # As the playbooks do in a play that runs no entry point of the deploy
    # role: its defaults give the deploy_* options vars/deploy.yml reads.
    - name: Give this play the deploy role's defaults of the deploy_* options
      ansible.builtin.import_role: {{name: zerodowntime.deploy.deploy, tasks_from: options}}

    - name: Run the rotation role's entry point
      ansible.builtin.include_role:
        name: zerodowntime.deploy.rotation
        tasks_from: "{{{{ entry }}}}"
      vars:
        rotation_expected_servers: "{{{{ groups['app'] }}}}"
      when: entry != 'none'

- name: Render the gunicorn unit of each app host with the deploy's variables
  hosts: app
  gather_facts: false
  vars_files: ["{root}/playbooks/vars/deploy.yml"]
  tasks:
    # As the playbooks do in a play that runs no entry point of the deploy
    # role: its defaults give the deploy_* options vars/deploy.yml reads.
    - name: Give this play the deploy role's defaults of the deploy_* options
      ansible.builtin.import_role: {{name: zerodowntime.deploy.deploy, tasks_from: options}}

    - name: Find out whether the unit would change (rendered on the controller)
      ansible.builtin.include_role:
        name: zerodowntime.deploy.gunicorn
        tasks_from: pending
        public: true

    - name: Write the unit the deploy would install, to read it
      ansible.builtin.template:
        src: "{root}/roles/gunicorn/templates/gunicorn.service.j2"
        dest: "{out}/{{{{ inventory_hostname }}}}.service"
        mode: "0644"

    - name: Check the addresses gunicorn is to listen on, as the stage play does
      ansible.builtin.include_tasks: "{root}/roles/deploy/tasks/check_bind_addresses.yml"
      when: check_bind | default(false) | bool
"""


def balancer_config(servers):
    """The frontend and backend of one balancer: servers is {name: 'address' or None (a name that does
    not resolve)}."""
    lines = []
    for name, address in servers.items():
        if address is None:
            lines.append("    server %s %s.invalid:8000 init-addr none" % (name, name))
        else:
            lines.append("    server %s %s:8000" % (name, address))
    return "\nfrontend fe\n    bind 127.0.0.1:%d\n    default_backend app\n\nbackend app\n%s\n" % (
        free_port(), "\n".join(lines))


@pytest.fixture
def lab():
    """Start balancers on demand: lab.balancers({"lb1": {"app1": "127.0.0.2", ...}, ...});
    lab.run(entry, extra_vars, host_vars) runs the playbook and returns (rc, results, units)."""
    if not os.path.exists(HAPROXY):
        pytest.skip("%s is not installed" % HAPROXY)
    tmp = tempfile.mkdtemp(prefix="zdt-exposure-")
    lbs = {}

    class Lab:
        @staticmethod
        def balancers(configs):
            for name, servers in configs.items():
                os.mkdir(os.path.join(tmp, name))
                lbs[name] = MasterWorkerHAProxy(os.path.join(tmp, name), balancer_config(servers))

        @staticmethod
        def run(entry, extra_vars=None, host_vars=None):
            out = os.path.join(tmp, "units-%s" % entry)
            os.makedirs(out, exist_ok=True)
            inventory = {"all": {
                "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                         "deploy_app_name": APP, "deploy_app_port": 8000},
                "hosts": {"localhost": {}},
                "children": {
                    "balancers": {"hosts": {name: {"haproxy_admin_socket": lb.admin,
                                                   "haproxy_master_socket": lb.master_cli}
                                            for name, lb in lbs.items()}},
                    "app": {"hosts": {"app1": dict((host_vars or {}).get("app1", {})),
                                      "app2": dict((host_vars or {}).get("app2", {}))}},
                },
            }}
            with open(os.path.join(tmp, "hosts.json"), "w") as handle:
                json.dump(inventory, handle)
            playbook = os.path.join(tmp, "render.yml")
            with open(playbook, "w") as handle:
                handle.write(PLAYBOOK.format(root=ROOT, out=out))
            variables = dict(entry=entry, rotation_haproxy_config=next(iter(lbs.values())).config_file,
                             **(extra_vars or {}))
            proc = subprocess.run([ansible_bin("ansible-playbook"), "-i", os.path.join(tmp, "hosts.json"),
                                   "-e", json.dumps(variables), playbook],
                                  env=ansible_env(ROOT), cwd=tmp, capture_output=True, text=True,
                                  check=False, timeout=300)
            try:
                plays = json.loads(proc.stdout)["plays"]
            except (ValueError, KeyError):
                raise AssertionError("unexpected ansible output (rc %s):\n%s\n%s"
                                     % (proc.returncode, proc.stdout, proc.stderr))
            failures = [result.get("msg", "") for play in plays for task in play["tasks"]
                        for result in task["hosts"].values() if result.get("failed")]
            units = {}
            for host in ("app1", "app2"):
                path = os.path.join(out, host + ".service")
                if os.path.exists(path):
                    with open(path) as handle:
                        units[host] = handle.read()
            return proc.returncode, failures, units

    try:
        yield Lab
    finally:
        for lb in lbs.values():
            lb.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def binds(unit):
    """The --bind arguments of a rendered unit, in order."""
    return re.findall(r"--bind (\S+)", unit)


TWO_BALANCERS = {"lb1": {"app1": "127.0.0.2", "app2": "127.0.0.3"},
                 # lb2 reaches app2 at another of its addresses.
                 "lb2": {"app1": "127.0.0.2", "app2": "127.0.0.4"}}


@pytest.mark.parametrize("entry", ["addresses", "preflight"])
def test_the_unit_listens_on_127_0_0_1_and_where_the_balancers_reach_the_host_only(lab, entry):
    lab.balancers(TWO_BALANCERS)
    rc, failures, units = lab.run(entry)

    assert rc == 0, failures
    assert binds(units["app1"]) == ["127.0.0.1:8000", "127.0.0.2:8000"]
    assert binds(units["app2"]) == ["127.0.0.1:8000", "127.0.0.3:8000", "127.0.0.4:8000"]
    for unit in units.values():
        assert "0.0.0.0" not in unit


def test_without_the_balancers_addresses_the_unit_is_not_rendered(lab):
    lab.balancers(TWO_BALANCERS)
    rc, failures, units = lab.run("none")

    assert rc != 0
    assert units == {}
    assert any("No address to bind gunicorn to on app1" in failure for failure in failures), failures


@pytest.mark.parametrize("option, expected", [
    (["0.0.0.0"], ["0.0.0.0:8000"]),
    (["10.1.2.3", "fd00::5", "127.0.0.1"], ["127.0.0.1:8000", "10.1.2.3:8000", "[fd00::5]:8000"]),
    # A comma-separated string, as -e or an AWX survey gives it.
    ("10.1.2.3, [fd00::6]", ["127.0.0.1:8000", "10.1.2.3:8000", "[fd00::6]:8000"]),
])
def test_deploy_app_bind_addresses_replaces_the_balancers_addresses(lab, option, expected):
    lab.balancers(TWO_BALANCERS)
    rc, failures, units = lab.run("addresses", {"deploy_app_bind_addresses": option})

    assert rc == 0, failures
    assert binds(units["app1"]) == expected
    assert binds(units["app2"]) == expected


def test_a_server_haproxy_has_not_resolved_is_named_unless_its_addresses_are_given(lab):
    lab.balancers({"lb1": {"app1": "127.0.0.2", "app2": None}})
    rc, failures, units = lab.run("addresses")

    assert rc != 0
    assert failures[-1] == (
        "Balancer lb1 has no address for server app2 (HAProxy reports '-': its name did not resolve), so the "
        "address app2 must listen on is unknown: make app2 resolve on lb1 and reload HAProxy, or set "
        "deploy_app_bind_addresses for app2.")
    assert units == {}

    rc, failures, units = lab.run("addresses", host_vars={"app2": {"deploy_app_bind_addresses": ["127.0.0.9"]}})
    assert rc == 0, failures
    assert binds(units["app1"]) == ["127.0.0.1:8000", "127.0.0.2:8000"]
    assert binds(units["app2"]) == ["127.0.0.1:8000", "127.0.0.9:8000"]


def test_an_address_the_host_does_not_have_is_refused_before_anything_changes(lab):
    lab.balancers(TWO_BALANCERS)
    # TEST-NET-2: no interface of this machine has it. Loopback addresses are not checked.
    rc, failures, _units = lab.run("addresses", {"check_bind": True},
                                   host_vars={"app2": {"deploy_app_bind_addresses": ["198.51.100.77"]}})

    assert rc != 0
    (failure,) = failures
    assert failure.startswith("gunicorn cannot listen on 198.51.100.77 on app2: no interface of the host has that "
                              "address (from deploy_app_bind_addresses; it has "), failure
    assert "Set deploy_app_bind_addresses for app2" in failure
