# SPDX-License-Identifier: GPL-3.0-or-later
"""The rotation preflight reports a balancer whose reload does not save the
servers' state (issue 15), against a real HAProxy 2.6 in master-worker mode.

Each balancer is a HAProxy on the controller (local connection) whose
configuration has server-state-file and load-server-state-from-file, as a
user's balancer may have while its reload command (Debian's own ExecReload:
check, then kill -USR2) never writes the file. The master CLI's show proc
counts the reloads, and the current worker's uptime restarts at each one;
a state file missing, or older than the current worker, after a reload
means that reload did not save the state. A reload through the haproxy
role's own save script (roles/haproxy/templates/haproxy-save-server-state.j2,
rendered here as the role renders it) must not be reported, nor a HAProxy
never reloaded since it started.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading

import jinja2
import pytest

from ha_helpers import HAPROXY, MasterWorkerHAProxy, RecordingWebServer, free_port, run_playbook

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAVE_SCRIPT = ROOT / "roles" / "haproxy" / "templates" / "haproxy-save-server-state.j2"

PLAYBOOK = """
- name: Read every balancer before anything changes
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Run the rotation role's preflight entry point
      ansible.builtin.include_role:
        name: zerodowntime.deploy.rotation
        tasks_from: preflight
"""


@pytest.fixture(name="balancer")
def fixture_balancer():
    """(MasterWorkerHAProxy in front of web1, tmp dir), never reloaded."""
    if not os.path.exists(HAPROXY):
        pytest.skip("%s is not installed" % HAPROXY)
    tmp = tempfile.mkdtemp(prefix="zdt-state-saved-")
    web1 = RecordingWebServer("web1", threading.Event())
    haproxy = None
    try:
        haproxy = MasterWorkerHAProxy(tmp, """
frontend fe
    bind 127.0.0.1:%d
    default_backend app

backend app
    option httpchk GET /health
    server web1 127.0.0.1:%d check inter 200ms rise 1 fall 2
""" % (free_port(), web1.port))
        haproxy.wait_status("app", ["web1"], "UP")
        yield haproxy, tmp
    finally:
        if haproxy is not None:
            haproxy.stop()
        web1.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def preflight(haproxy, tmp):
    """Run the rotation preflight for balancer lb1 (this HAProxy); returns
    (exit status, the failure message or None)."""
    inventory = {"all": {
        "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
        "children": {"balancers": {"hosts": {"lb1": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "haproxy_admin_socket": haproxy.admin, "haproxy_master_socket": haproxy.master_cli}}}},
    }}
    rc, tasks = run_playbook(ROOT, tmp, "preflight", PLAYBOOK, inventory,
                             {"rotation_backend": "app", "rotation_expected_servers": ["web1"],
                              "rotation_haproxy_config": haproxy.config_file})
    failures = [r["msg"] for t in tasks for r in t["hosts"].values() if r.get("failed")]
    return rc, failures[-1] if failures else None


def save_script(tmp, admin_socket, state_file):
    """The haproxy role's save script, rendered as the role renders it for
    these paths; returns its path."""
    env = jinja2.Environment(keep_trailing_newline=True)
    env.filters["comment"] = lambda text: "# " + text
    env.filters["to_json"] = json.dumps
    text = env.from_string(SAVE_SCRIPT.read_text()).render(
        ansible_managed="Ansible managed", haproxy_admin_socket=admin_socket, haproxy_server_state_file=state_file)
    path = os.path.join(tmp, "haproxy-save-server-state")
    with open(path, "w") as handle:
        handle.write(text)
    return path


def reload_as_the_haproxy_role_does(haproxy, script):
    """ExecReload of the role's drop-in: save the state, then USR2 to the
    master (the configuration check before them changes nothing here)."""
    saved = subprocess.run([sys.executable, script], capture_output=True, text=True, check=False, timeout=30)
    assert saved.returncode == 0, saved.stderr
    haproxy.reload(save=False)


def test_a_balancer_never_reloaded_since_it_started_is_not_reported(balancer):
    haproxy, tmp = balancer
    assert not os.path.exists(haproxy.state_file)
    rc, failure = preflight(haproxy, tmp)
    assert rc == 0, failure


def test_a_balancer_reloaded_without_saving_the_state_is_reported_with_the_fix(balancer):
    haproxy, tmp = balancer
    haproxy.ask("set server app/web1 state drain")
    haproxy.reload(save=False)
    # What the check is about: the reload put the drained server back.
    assert haproxy.server("app", "web1")["srv_admin_state"] == "0"

    rc, failure = preflight(haproxy, tmp)

    assert rc != 0
    assert failure.startswith("Balancer lb1 was reloaded without saving the servers' state (1 reload since "
                              "HAProxy started): its server-state-file %s does not exist." % haproxy.state_file)
    assert "echo \"show servers state\" | socat stdio %s > %s" % (haproxy.admin, haproxy.state_file) in failure
    assert "deploy_require_state_persistence: false" in failure


def test_a_balancer_reloaded_by_the_haproxy_roles_reload_command_is_not_reported(balancer):
    haproxy, tmp = balancer
    haproxy.ask("set server app/web1 state drain")
    reload_as_the_haproxy_role_does(haproxy, save_script(tmp, haproxy.admin, haproxy.state_file))
    assert int(haproxy.server("app", "web1")["srv_admin_state"]) == 8, "the role's reload lost the drain"
    rc, failure = preflight(haproxy, tmp)
    assert rc == 0, failure

    # The first reload after the admin socket's path changed in haproxy.cfg:
    # nothing listens on the new path yet, so there is no state to carry;
    # the script saves an empty one, which HAProxy reads back without fault.
    reload_as_the_haproxy_role_does(haproxy, save_script(tmp, os.path.join(tmp, "new-admin.sock"),
                                                         haproxy.state_file))
    with open(haproxy.state_file) as handle:
        assert handle.read() == "1\n"
    assert haproxy.server("app", "web1")["srv_admin_state"] == "0"
    rc, failure = preflight(haproxy, tmp)
    assert rc == 0, failure
