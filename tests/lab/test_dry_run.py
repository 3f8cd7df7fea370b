# SPDX-License-Identifier: GPL-3.0-or-later
"""The dry run: ``deploy.yml --check --diff`` exits 0 on the lab, changes
nothing on any host or balancer, and says per host what its turn would do.

Runs after the main job, with every app host on 1.1.0 (1.0.0 previous).
"""

import re
import subprocess

from lab_helpers import APP, APP_HOSTS, ROOT, docker, plain
from test_bad_input import balancer_states, deploy, deploy_command

testinfra_hosts = ["local://"]


def snapshot():
    """What a deploy would change: per app host its releases, links, unit,
    environment file and gunicorn master; the balancer's server states; the
    deploy locks on lb1; the migrations applied in the database."""
    state = {}
    for host in APP_HOSTS:
        state[host] = (
            # Entries and link targets; not directory times: the migration
            # plan's root-only environment file is created and removed in the
            # release's directory on the first app host.
            docker(host, "find", "/srv/%s" % APP, "-maxdepth", "3", "-printf", r"%p %y %l\n"),
            docker(host, "sha1sum", "/etc/systemd/system/%s.service" % APP, "/etc/%s/environment" % APP),
            docker(host, "systemctl", "show", "--property", "MainPID", APP),
        )
    state["lb1"] = (balancer_states(),
                    docker("lb1", "find", "/var/lib/zerodowntime/locks", "-mindepth", "1", "-printf", r"%p\n"))
    state["db1"] = docker("db1", "su", "postgres", "-c",
                          "psql -At -d demoapp -c 'select app, name from django_migrations order by id'")
    return state


def test_a_dry_run_of_an_installed_release_says_what_each_host_would_do_and_changes_nothing(tmp_path):
    before = snapshot()
    rc, out, report = deploy(tmp_path, "--check", "--diff", "-e", "deploy_release=1.0.0")
    assert rc == 0, out[-3000:]
    out = plain(out)
    assert snapshot() == before
    assert report["result"] == "ok"
    for position, host in enumerate(APP_HOSTS, start=1):
        line = ("[%d/3] %s: 1.1.0 -> 1.0.0 (installed already): drain on lb1 to MAINT, switch current, "
                "restart (unit unchanged, environment unchanged), health check, enable on lb1" % (position, host))
        assert line in out, out[-3000:]
    # Read from the release's own code: 1.0.0 has no migration the database lacks.
    assert ("Pre-deploy (expand) migrations that would be applied before any host is drained: none. "
            "Post-deploy (contract) migrations that would be applied once every host runs 1.0.0: none.") in out


def test_a_dry_run_of_the_running_release_plans_no_drain(tmp_path):
    before = snapshot()
    rc, out, _report = deploy(tmp_path, "--check", "-e", "deploy_release=1.1.0")
    assert rc == 0, out[-3000:]
    out = plain(out)
    assert snapshot() == before
    for position, host in enumerate(APP_HOSTS, start=1):
        assert ("[%d/3] %s: 1.1.0 -> 1.1.0 (unchanged): runs and answers 1.1.0, unit unchanged, environment "
                "unchanged; health check and confirm in rotation only" % (position, host)) in out


def test_a_dry_run_of_a_release_not_installed_builds_and_installs_nothing(tmp_path):
    # 1.3.0: no lab test installs it (test_bad_input stages 1.2.0 on every app host).
    before = snapshot()
    rc, out, _report = deploy(tmp_path, "--check", "-e", "deploy_release=1.3.0", "-e", '{"deploy_serial": [1, 2]}')
    assert rc == 0, out[-3000:]
    out = plain(out)
    assert snapshot() == before
    assert "Release 1.3.0 is not installed on app1 yet" in out, out[-3000:]
    assert len(re.findall(r"\[\d/3\] app\d: 1\.1\.0 -> 1\.3\.0 \(installed at stage\): drain on lb1", out)) == 3
    for host in APP_HOSTS:
        assert docker(host, "find", "/srv/%s/releases" % APP, "-maxdepth", "1", "-name", "*1.3.0*") == ""


def test_a_dry_run_of_a_rollback_says_where_each_host_would_go_and_changes_nothing(tmp_path):
    before = snapshot()
    argv, env = deploy_command(tmp_path, "--check", "--diff")
    argv = [str(ROOT / "playbooks" / "rollback.yml") if arg.endswith("deploy.yml") else arg for arg in argv]
    proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    out = plain(proc.stdout + proc.stderr)
    assert proc.returncode == 0, out[-3000:]
    assert snapshot() == before
    for position, host in enumerate(APP_HOSTS, start=1):
        assert ("[%d/3] %s: 1.1.0 -> 1.0.0 (installed already): drain on lb1 to MAINT, switch current, restart"
                % (position, host)) in out, out[-3000:]
