# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/status.yml on the lab, over SSH: what runs where (issue 18).

Compares what the playbook prints and writes with what the hosts hold,
read directly with docker exec.
"""

import json
import subprocess

import lab_helpers as lab

testinfra_hosts = ["local://"]

LOCK_DIR = "/var/lib/zerodowntime/locks"


def run_status(tmp_path):
    path = tmp_path / "status.json"
    env = lab.clean_env(ANSIBLE_CONFIG=str(lab.ROOT / "ansible.cfg"))
    proc = subprocess.run(
        [lab.tool("ansible-playbook"), "-i", str(lab.INVENTORY), str(lab.ROOT / "playbooks" / "status.yml"),
         "-e", "status_json_path=%s" % path],
        cwd=str(lab.ROOT), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc.stdout, json.loads(path.read_text())


def on_disk(host):
    return set(lab.docker(host, "ls", "/srv/%s/releases" % lab.APP).split())


def test_the_status_names_each_hosts_releases_what_it_answers_and_its_balancer_state(tmp_path):
    out, status = run_status(tmp_path)
    said = " ".join(out.split())
    assert set(status["hosts"]) == set(lab.APP_HOSTS)
    for host in lab.APP_HOSTS:
        entry = status["hosts"][host]
        current, previous = lab.linked_release(host, "current"), lab.linked_release(host, "previous")
        assert entry["reached"] is True
        assert (entry["current"], entry["previous"]) == (current, previous), entry
        assert entry["answers"] == lab.served_release(host) == current, entry
        assert set(entry["releases"]) == on_disk(host), entry
        assert {current, previous} <= set(entry["kept"]) <= set(entry["releases"]), entry
        assert entry["balancers"] == {"lb1": "UP"}, entry
        assert "%s: runs %s (answers %s), previous %s; on disk %s" % (
            host, current, current, previous, ", ".join(entry["releases"])) in said, out[-4000:]
    assert status["deploy_lock"] is None
    assert "The deploy lock %s on lb1 is free." % lab.APP in said


def test_the_status_names_the_holder_of_a_held_deploy_lock(tmp_path):
    holder = {"holder": "ops@jumpbox", "purpose": "deploy 9.9.9", "since": "2026-12-01T10:00:00Z", "run_id": "statusprobe0001"}
    lock = "%s/%s.lock" % (LOCK_DIR, lab.APP)
    lab.docker("lb1", "mkdir", "-p", lock)
    try:
        subprocess.run(["docker", "exec", "-i", "lb1", "sh", "-c", "cat > %s/holder.json" % lock],
                       input=json.dumps(holder), text=True, check=True, timeout=60)
        out, status = run_status(tmp_path)
    finally:
        lab.docker("lb1", "rm", "-rf", lock)
    assert status["deploy_lock"] == holder
    assert ("The deploy lock %s on lb1 is held by ops@jumpbox, deploy 9.9.9, since 2026-12-01T10:00:00Z "
            "(run statusprobe0001)." % lab.APP) in " ".join(out.split()), out[-3000:]
