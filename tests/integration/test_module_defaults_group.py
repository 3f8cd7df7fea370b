# SPDX-License-Identifier: GPL-3.0-or-later
"""The action group of meta/runtime.yml: a play sets the Runtime API socket
once, with `module_defaults: {group/zerodowntime.deploy.haproxy: ...}`, and
every module of the group talks to it.

No task below names a socket, so each would try the modules' default
(/run/haproxy/admin.sock, absent here) if the group did not reach it.
"""

import json
import subprocess

import yaml

from conftest import ROOT, clean_env, tool

FDRAIN = 0x08


def run_play(tmp_path, lab, tasks):
    """ansible-playbook of one play on localhost with the group's defaults;
    the json callback's result of each task, by task name."""
    play = [{
        "name": "Use the HAProxy modules with the socket set once for the group",
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/zerodowntime.deploy.haproxy": {"socket": lab.admin, "read_timeout": 5}},
        "tasks": tasks,
    }]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    proc = subprocess.run([tool("ansible-playbook"), "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=%s" % tool("python"), str(playbook)],
                          cwd=str(ROOT), capture_output=True, text=True, check=False, timeout=120,
                          env=clean_env(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
                                        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
                                        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json"))
    try:
        tasks_out = json.loads(proc.stdout)["plays"][0]["tasks"]
    except (ValueError, KeyError, IndexError):
        raise AssertionError("unexpected ansible-playbook output (rc %s):\n%s\n%s"
                             % (proc.returncode, proc.stdout, proc.stderr))
    return {t["task"]["name"]: t["hosts"]["localhost"] for t in tasks_out}


def test_group_defaults_reach_haproxy_server_and_haproxy_info(tmp_path, lab):
    results = run_play(tmp_path, lab, [
        {"name": "Drain web2 in app", "zerodowntime.deploy.haproxy_server":
            {"backend": "app", "server": "web2", "state": "drain", "drain_timeout": 10}},
        {"name": "Read the app backend", "zerodowntime.deploy.haproxy_info": {"backend": "app"}},
    ])

    drain = results["Drain web2 in app"]
    assert not drain.get("failed"), drain.get("msg")
    assert drain["changed"] is True
    assert lab.server("app", "web2")["admin"] & FDRAIN
    info = results["Read the app backend"]
    assert not info.get("failed"), info.get("msg")
    assert info["backends"]["app"]["servers"]["web2"]["admin_state"] == "drain"
    assert info["cli_level"] == "admin"


def test_group_defaults_reach_haproxy_map(tmp_path, lab):
    # The lab's HAProxy loads no map: the module reaches the socket of the
    # group's defaults, and HAProxy's answer names that socket.
    results = run_play(tmp_path, lab, [
        {"name": "Set a key of a map HAProxy does not have",
         "zerodowntime.deploy.haproxy_map": {"map": "/nonexistent.map", "key": "pool", "value": "blue"}},
    ])

    result = results["Set a key of a map HAProxy does not have"]
    assert result["failed"] is True
    assert lab.admin in result["msg"], result["msg"]
    assert "/run/haproxy/admin.sock" not in result["msg"], result["msg"]
