"""Safe rollouts under faults (issue 4), proven on a lab with four app hosts.

molecule/faults converges f-lb1, f-app1..f-app4 and f-db1 to release 1.0.0;
these tests then run on the controller (``local://``) and drive
ansible-playbook and docker themselves. They share the lab and run in the
order written, each starting from the state the one above left:

    1.0.0 ─ 1.1.0 (expand), killed after f-app2's drain, run again ........ chain + interrupted run
          ─ 1.1.1-unhealthy: rollback, then leave_drained ................... health gate
          ─ leftover lock blocks the restore of 1.1.0 until it is broken .... deploy lock
          ─ 1.2.0 twice at once (reads the column, backfill post-deploy) .... chain + deploy lock
          ─ 1.2.9-unsafe (drops a column 1.2.0 reads) ........................ linter
          ─ rollback to 1.1.0 and forward to 1.2.0, release_keep=1 .......... rollback playbook
          ─ forced 1.2.0 with f-app2..4 in MAINT ............................ capacity guard
          ─ 1.2.0 again, f-app2's Python broken: fails in preflight ........ deploy lock
          ─ forced 1.2.0, f-app2 paused once drained, then run again ........ unreachable host
          ─ 1.3.0 (contract), balancer reloaded while f-app2 is drained ..... chain + reload

Every run that reaches an app host runs under the load probe
(tests/load_probe.py against 127.0.0.1:8090) and must fail no request. Runs write their output and
report to build/faults/<name>.log and .json. The canary cases of
test_progressive_delivery.py follow on the 1.3.0 this chain leaves.
"""

import re
import subprocess
import time

from faultlab import (
    APP_HOSTS, BALANCER, DELEGATED_TO_BALANCER, DEPLOY, ROLLBACK, Run, applied_migrations, assert_fleet_on,
    assert_in_rotation, assert_migrations_once, assert_no_failed_request, columns, current_release, docker,
    haproxy_pid, host_failure, load_probe, lock_entries, main_pid, pg_log_since, pg_log_size, previous_release,
    psql, read_lock, releases_on_disk, rollout_phases, run_playbook, served_release, servers, set_server_state,
    timestamp, wait_in_rotation, write_lock,
)

testinfra_hosts = ["local://"]

MIGRATIONS_1_0_0 = ["0001_initial"]
MIGRATIONS_1_1_0 = MIGRATIONS_1_0_0 + ["0002_visit_user_agent"]
MIGRATIONS_1_2_0 = MIGRATIONS_1_1_0 + ["0003_alter_visit_path_null", "0004_backfill_user_agent_postdeploy"]
MIGRATIONS_1_3_0 = MIGRATIONS_1_2_0 + ["0005_remove_visit_path_postdeploy"]
BACKFILL = "0004_backfill_user_agent_postdeploy"
# Give up on an unhealthy release after 30 s instead of 60, asking every 3 s
# instead of every second (fewer attempts in the log). The rollback's own
# health check of the release the host goes back to uses them too: 30 s
# leaves that restart room on a machine the four staged hosts keep busy.
FAST_HEALTH_GATE = ["-e", "health_check_timeout=30", "-e", "health_check_interval=3"]
# Seconds a deploy may still run after an app host stopped answering: a
# bound on a hang, not a speed (SSH gives the host up in about 30 s).
LOST_HOST_GIVEN_UP_S = 300

# Runs and probe results that a later test reads (the tests share the lab).
SHARED = {}


def deploy_args(release, *extra):
    return ("-e", f"deploy_release={release}", *extra)


def phases(report, host):
    """The phases ``host`` went through in a run (none if no play of the run reached it)."""
    return report["hosts"].get(host, {}).get("phases", {})


def out_of_rotation(state):
    """Whether a server's state (from ``servers()``) is drained: DRAIN, or MAINT once its sessions ended."""
    return state["drain"] or state["maint"]


def assert_lock_free():
    assert lock_entries() == [], read_lock()


def assert_post_deploy_after_last_enable(report):
    """The post-deploy migrations started only once every app host was back in rotation."""
    post_start = timestamp(report["hosts"]["f-app1"]["phases"]["post_migrate"]["start"])
    last_enable = max(timestamp(report["hosts"][h]["phases"]["enable"]["end"]) for h in APP_HOSTS)
    assert post_start >= last_enable, (post_start, last_enable)


def assert_one_host_at_a_time(report):
    """No host was drained before the one before it was back in rotation."""
    windows = sorted(
        (timestamp(entry["phases"]["drain"]["start"]), timestamp(entry["phases"]["enable"]["end"]), host)
        for host, entry in report["hosts"].items()
        if host in APP_HOSTS and "drain" in entry["phases"]
    )
    for (_, previous_end, previous), (next_start, _, following) in zip(windows, windows[1:]):
        assert next_start >= previous_end, (previous, following)


def test_the_lab_starts_on_1_0_0_with_every_server_in_rotation_and_no_lock():
    assert_fleet_on("1.0.0")
    assert_in_rotation()
    assert_lock_free()
    assert_migrations_once(MIGRATIONS_1_0_0)


# ---- 1.1.0: expand, interrupted in the middle of f-app2, run again --------------------------

def test_a_deploy_of_1_1_0_killed_after_draining_f_app2_converges_when_run_again_without_applying_migrations_twice():
    with load_probe("chain-1.1.0") as probe:
        first = Run("chain-1.1.0-killed", DEPLOY, *deploy_args("1.1.0"))
        first.wait_until_drained("f-app2")
        first.kill()
        # What the killed run left behind, read before anything else runs.
        left = {
            "current": {host: current_release(host) for host in APP_HOSTS},
            "servers": servers(),
            "migrations": applied_migrations(),
            "lock": read_lock(),
        }
        # No deploy_lock_break: the killed run's process is gone from this
        # controller, so the rerun takes its lock over by itself.
        rerun = run_playbook("chain-1.1.0-rerun", DEPLOY, *deploy_args("1.1.0"))

    # The killed run had switched f-app1, drained f-app2 without switching
    # it, applied the expand migration and held the lock.
    assert left["current"] == {"f-app1": "1.1.0", "f-app2": "1.0.0", "f-app3": "1.0.0", "f-app4": "1.0.0"}
    assert out_of_rotation(left["servers"]["f-app2"]), left["servers"]
    assert left["migrations"] == MIGRATIONS_1_1_0
    assert left["lock"] is not None and left["lock"]["purpose"] == "deploy 1.1.0", left["lock"]

    assert rerun.rc == 0, rerun.output[-3000:]
    # The result's YAML wraps long lines, and molecule's ANSIBLE_FORCE_COLOR
    # colours each line: compare without colours, whitespace collapsed.
    said = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", rerun.output).split())
    assert f"was held by run {left['lock']['run_id']}" in said and "has ended: this run takes it over" in said, \
        rerun.output[-3000:]
    assert_no_failed_request(probe)
    assert probe["releases_seen"] == ["1.0.0", "1.1.0"]
    assert_fleet_on("1.1.0")
    states = servers()
    for host in APP_HOSTS:
        assert not states[host]["drain"] and not states[host]["maint"], (host, states[host])
    wait_in_rotation()
    # Migrations: applied once, by the killed run; the rerun applied none.
    assert_migrations_once(MIGRATIONS_1_1_0)
    app1 = rerun.report["hosts"]["f-app1"]
    assert app1["migrations_applied"] == [] and app1["post_migrations_applied"] == [], app1
    # The rerun finished f-app2 and the hosts after it and left f-app1 alone.
    assert "deploy" not in phases(rerun.report, "f-app1")
    for host in ["f-app2", "f-app3", "f-app4"]:
        assert {"deploy", "health", "enable"} <= rollout_phases(rerun.report, host), host
    assert_lock_free()


# ---- 1.1.1-unhealthy on a 1.1.0 fleet: the health gate -------------------------------------

def test_a_release_failing_its_health_gate_stops_on_the_first_host_which_goes_back_to_1_1_0_in_rotation():
    untouched = {host: main_pid(host) for host in APP_HOSTS[1:]}
    with load_probe("unhealthy-rollback") as probe:
        run = run_playbook("unhealthy-rollback", DEPLOY, *deploy_args("1.1.1-unhealthy", *FAST_HEALTH_GATE))

    assert run.rc != 0
    assert_no_failed_request(probe)
    report = run.report
    msg = host_failure(report, "f-app1")["msg"]
    assert "f-app1 failed in phase health" in msg, msg
    assert "503" in msg, msg  # the cause: /healthz answered 503
    assert "rolled back to 1.1.0 and is back in rotation" in msg, msg
    assert "No further host was touched" in msg, msg
    # f-app1 is back on what it ran, and serving.
    assert current_release("f-app1") == "1.1.0"
    assert served_release("f-app1") == "1.1.0"
    assert_in_rotation(["f-app1"])
    assert "rollback" in phases(report, "f-app1")
    # The hosts after it were not touched at all.
    for host, pid in untouched.items():
        assert report["hosts"][host]["result"] == "not_run", host
        assert rollout_phases(report, host) == set(), host
        assert current_release(host) == "1.1.0", host
        assert main_pid(host) == pid, host
    assert_in_rotation()
    assert_lock_free()


def test_a_release_failing_its_health_gate_with_leave_drained_leaves_the_first_host_drained():
    untouched = {host: main_pid(host) for host in APP_HOSTS[1:]}
    with load_probe("unhealthy-leave-drained") as probe:
        run = run_playbook("unhealthy-leave-drained", DEPLOY,
                           *deploy_args("1.1.1-unhealthy", "-e", "deploy_on_failure=leave_drained", *FAST_HEALTH_GATE))

    assert run.rc != 0
    assert_no_failed_request(probe)
    report = run.report
    msg = host_failure(report, "f-app1")["msg"]
    assert "f-app1 failed in phase health" in msg and "503" in msg, msg
    assert "left out of rotation (drained)" in msg, msg
    assert report["hosts"]["f-app1"]["left_out_of_rotation"] is True
    assert "rollback" not in phases(report, "f-app1")
    # Left as it failed, for inspection: drained, on the failed release.
    assert out_of_rotation(servers()["f-app1"])
    assert current_release("f-app1") == "1.1.1-unhealthy"
    for host, pid in untouched.items():
        assert report["hosts"][host]["result"] == "not_run", host
        assert current_release(host) == "1.1.0", host
        assert main_pid(host) == pid, host
    assert_in_rotation(APP_HOSTS[1:])
    assert_lock_free()


# ---- the deploy lock: a leftover lock, then two deploys of 1.2.0 at once ---------------------

def test_a_leftover_deploy_lock_blocks_the_deploy_until_it_is_broken_and_the_drained_host_is_restored():
    holder = {"holder": "ops@jumpbox", "purpose": "deploy 1.1.0", "since": "2026-11-29T06:00:00Z",
              "run_id": "leftoverbyhand00"}
    write_lock(holder)

    blocked = run_playbook("leftover-lock", DEPLOY, *deploy_args("1.1.0"))
    assert blocked.rc != 0
    failure = host_failure(blocked.report, "localhost")
    assert failure["phase"] == "preflight", failure
    for expected in ("ops@jumpbox", "since 2026-11-29T06:00:00Z", "leftoverbyhand00", "deploy_lock_break=true"):
        assert expected in failure["msg"], failure["msg"]
    for host in APP_HOSTS:
        assert phases(blocked.report, host) == {}, host
    # Not this run's lock: it is left alone; the drained host too.
    assert read_lock() == holder
    assert out_of_rotation(servers()["f-app1"])

    with load_probe("leftover-lock-broken") as probe:
        restore = run_playbook("leftover-lock-broken", DEPLOY, *deploy_args("1.1.0", "-e", "deploy_lock_break=true"))
    assert restore.rc == 0, restore.output[-3000:]
    assert_no_failed_request(probe)
    assert_fleet_on("1.1.0")
    assert_in_rotation()
    assert {"drain", "deploy", "health", "enable"} <= rollout_phases(restore.report, "f-app1")
    for host in APP_HOSTS[1:]:
        assert "deploy" not in phases(restore.report, host), host
    assert_lock_free()


def test_two_deploys_of_1_2_0_started_together_one_migrates_and_the_other_fails_fast_naming_the_holder():
    log_offset = pg_log_size()
    with load_probe("chain-1.2.0") as probe:
        first = Run("chain-1.2.0-a", DEPLOY, *deploy_args("1.2.0"))
        time.sleep(0.5)
        second = Run("chain-1.2.0-b", DEPLOY, *deploy_args("1.2.0"))
        first.wait()
        second.wait()
    SHARED["chain-1.2.0"] = probe

    assert sorted([first.rc == 0, second.rc == 0]) == [False, True], (first.rc, second.rc)
    winner, loser = (first, second) if first.rc == 0 else (second, first)
    SHARED["chain-1.2.0-winner"] = winner

    failure = host_failure(loser.report, "localhost")
    assert failure["phase"] == "preflight", failure
    match = re.search(r"Another run holds the deploy lock demoapp on f-lb1: (\S+), deploy 1\.2\.0, "
                      r"since (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) \(run ([a-z0-9]{16})\)", failure["msg"])
    assert match, failure["msg"]
    # The winner's process runs on this controller: the loser says so
    # rather than suggesting to break the lock.
    assert "That run is still going on this controller (process " in failure["msg"], failure["msg"]
    assert "deploy_lock_break" not in failure["msg"], failure["msg"]
    # It did not wait for the lock: it had ended before the winner took its
    # first host out of rotation, and it touched no app host.
    assert timestamp(loser.report["ended"]) < timestamp(winner.report["hosts"]["f-app1"]["phases"]["drain"]["start"])
    for host in APP_HOSTS:
        assert phases(loser.report, host) == {}, host

    app1 = winner.report["hosts"]["f-app1"]
    assert app1["migrations_applied"] == ["visits.0003_alter_visit_path_null"], app1
    assert app1["post_migrations_applied"] == [f"visits.{BACKFILL}"], app1
    assert_migrations_once(MIGRATIONS_1_2_0)
    errors = [line for line in pg_log_since(log_offset) if "ERROR" in line]
    assert errors == []
    assert_lock_free()


def test_the_1_2_0_deploy_fails_no_request_and_its_post_deploy_backfill_ran_exactly_once_after_the_last_host():
    probe, winner = SHARED["chain-1.2.0"], SHARED["chain-1.2.0-winner"]
    assert_no_failed_request(probe)
    assert probe["releases_seen"] == ["1.1.0", "1.2.0"]
    assert_fleet_on("1.2.0")
    assert_in_rotation()
    assert psql(f"SELECT value FROM visits_deploycounter WHERE name = '{BACKFILL}'") == ["1"]
    assert psql("SELECT count(*) FROM visits_visit WHERE user_agent IS NULL") == ["0"]
    assert_post_deploy_after_last_enable(winner.report)
    assert_one_host_at_a_time(winner.report)
    for host in APP_HOSTS:
        assert {"drain", "deploy", "health", "enable"} <= rollout_phases(winner.report, host), host


# ---- 1.2.9-unsafe on a 1.2.0 fleet: the migration linter ------------------------------------

def test_a_release_whose_pre_deploy_migration_drops_a_column_the_fleet_reads_stops_in_migrate_before_any_drain():
    with load_probe("unsafe") as probe:
        run = run_playbook("unsafe", DEPLOY, *deploy_args("1.2.9-unsafe"))

    assert run.rc != 0
    assert_no_failed_request(probe)
    failure = host_failure(run.report, "f-app1")
    assert failure["phase"] == "migrate", failure
    assert "django-migration-linter" in failure["msg"], failure["msg"]
    assert "0005_remove_visit_user_agent" in failure["msg"], failure["msg"]
    assert "before any host was drained" in failure["msg"], failure["msg"]
    for host in APP_HOSTS:
        assert rollout_phases(run.report, host) == set(), host
    assert_fleet_on("1.2.0")
    assert_in_rotation()
    assert "user_agent" in columns("visits_visit")
    assert_migrations_once(MIGRATIONS_1_2_0)
    assert_lock_free()


# ---- the rollback playbook on 1.2.0 -----------------------------------------------------------

def test_the_rollback_playbook_returns_every_host_to_1_1_0_one_at_a_time_and_goes_forward_again():
    with load_probe("rollback") as probe:
        back = run_playbook("rollback", ROLLBACK, "-e", "release_keep=1")
    assert back.rc == 0, back.output[-3000:]
    assert_no_failed_request(probe)
    assert probe["releases_seen"] == ["1.2.0", "1.1.0"]
    assert_fleet_on("1.1.0")
    assert_in_rotation()
    assert_one_host_at_a_time(back.report)
    for host in APP_HOSTS:
        assert {"drain", "deploy", "health", "enable"} <= rollout_phases(back.report, host), host
        assert previous_release(host) == "1.2.0", host
        # release_keep=1 removed 1.0.0, 1.1.1-unhealthy and 1.2.9-unsafe, never current or previous.
        assert releases_on_disk(host) == {"1.1.0", "1.2.0"}, host
    assert_lock_free()

    with load_probe("rollback-forward") as probe:
        forward = run_playbook("rollback-forward", ROLLBACK, "-e", "rollback_release=1.2.0", "-e", "release_keep=1")
    assert forward.rc == 0, forward.output[-3000:]
    assert_no_failed_request(probe)
    assert probe["releases_seen"] == ["1.1.0", "1.2.0"]
    assert_fleet_on("1.2.0")
    assert_in_rotation()
    assert_one_host_at_a_time(forward.report)
    for host in APP_HOSTS:
        assert previous_release(host) == "1.1.0", host
        assert releases_on_disk(host) == {"1.1.0", "1.2.0"}, host
    assert_migrations_once(MIGRATIONS_1_2_0)
    assert_lock_free()


# ---- capacity guard -------------------------------------------------------------------------

def test_a_forced_deploy_refuses_to_drain_f_app1_while_every_other_server_is_in_maintenance():
    others = ["f-app2", "f-app3", "f-app4"]
    pid = main_pid("f-app1")
    try:
        for host in others:
            set_server_state(host, "maint")
        with load_probe("capacity") as probe:
            run = run_playbook("capacity", DEPLOY, *deploy_args("1.2.0", "-e", "deploy_force=true"))
        states = servers()
    finally:
        for host in others:
            set_server_state(host, "ready")
    wait_in_rotation()

    assert run.rc != 0
    assert_no_failed_request(probe)
    msg = host_failure(run.report, "f-app1")["msg"]
    assert "Refusing to drain f-app1: on f-lb1 only 0 other server(s)" in msg, msg
    assert "f-app1 failed in phase drain" in msg, msg
    for host in others:
        assert states[host]["maint"], (host, states[host])
        assert run.report["hosts"][host]["result"] == "not_run", host
    # f-app1 was never drained nor restarted.
    assert states["f-app1"]["ready"] and states["f-app1"]["up"], states["f-app1"]
    assert main_pid("f-app1") == pid
    assert "deploy" not in phases(run.report, "f-app1")
    assert not run.report["hosts"]["f-app1"]["left_out_of_rotation"]
    assert_fleet_on("1.2.0")
    assert_lock_free()


# ---- a failure while staging the release on an app host ---------------------------------------

# The release role's step that prepares a host for a release it does not
# have yet (roles/release/tasks/install_steps.yml includes prepare.yml), and
# the tasks of prepare.yml.
RELEASE_PREPARE_STEP = "Prepare the host for a release it does not have yet"
RELEASE_PREPARE_TASKS = [
    "Ensure Python can create virtualenvs",
    "Ensure the application's service group exists",
    "Ensure the application's unprivileged service user exists",
    "Ensure the base and releases directories exist, owned by root",
]


def test_a_deploy_failing_to_stage_on_f_app2_stops_before_any_drain_releases_the_lock_and_names_host_phase_and_cause():
    pid = main_pid("f-app2")
    python = docker("exec", "f-app2", "readlink", "-f", "/usr/bin/python3").strip()
    try:
        # f-app2's Python cannot run: staging the release there (the play
        # that installs it on every app host before the first drain) fails.
        # The app it serves already runs and is not touched.
        docker("exec", "f-app2", "chmod", "a-x", python)
        with load_probe("stage-failure") as probe:
            run = run_playbook("stage-failure", DEPLOY, *deploy_args("1.2.0"))
    finally:
        docker("exec", "f-app2", "chmod", "a+x", python)

    assert run.rc != 0
    assert_no_failed_request(probe)
    msg = host_failure(run.report, "f-app2")["msg"]
    assert ("Deploy of release 1.2.0 stopped before any host was drained: "
            "f-app2 failed in phase stage (tried twice) at") in msg, msg
    assert "No app host was switched or restarted" in msg, msg
    # The other hosts finished staging; the migrate play then stopped the
    # deploy, before any migration, because f-app2 had not been staged.
    stopped = host_failure(run.report, "f-app1")
    assert stopped["phase"] == "migrate", stopped
    assert "Release 1.2.0 is not staged on f-app2" in stopped["msg"], stopped["msg"]
    assert run.report["hosts"]["f-app1"].get("migrations_applied", []) == [], run.report["hosts"]["f-app1"]
    # No host reached the rolling play.
    for host in APP_HOSTS:
        assert rollout_phases(run.report, host) == set(), host
    assert main_pid("f-app2") == pid
    assert_fleet_on("1.2.0")
    assert_in_rotation()
    # The failure released the lock, and the report says it is not held.
    assert_lock_free()
    assert run.report["deploy_lock"]["held"] is False, run.report["deploy_lock"]
    assert "deploy_lock_break" not in run.output

    # f-app1 had 1.2.0 installed: staging it again did not prepare the host
    # again. The step skipped it (the first try of every host; f-app2's
    # second try follows), and no task of prepare.yml ran on it.
    headers = run.task_headers(RELEASE_PREPARE_STEP)
    assert headers, run.output[-3000:]
    following = run.lines[headers[0] + 1:]
    results = following[:next((i for i, line in enumerate(following) if line.startswith("TASK [")), len(following))]
    assert any(line.startswith("skipping: [f-app1]") for line in results), results
    assert not any(line.startswith("included:") and "f-app1" in line for line in results), results
    for name in RELEASE_PREPARE_TASKS:
        for index in run.task_headers(name):
            following = run.lines[index + 1:]
            results = following[:next((i for i, line in enumerate(following) if line.startswith("TASK [")),
                                      len(following))]
            assert not any(re.match(r"(ok|changed|skipping): \[f-app1", line) for line in results), (name, results)


# ---- an app host lost while drained -----------------------------------------------------------

def test_a_host_lost_while_drained_stops_the_deploy_is_reported_out_of_rotation_and_a_rerun_converges():
    with load_probe("unreachable") as probe:
        run = Run("unreachable", DEPLOY, *deploy_args("1.2.0", "-e", "deploy_force=true"))
        try:
            run.wait_until_drained("f-app2")
            docker("pause", "f-app2")
            # SSH gives the host up after its keepalives (ansible.cfg) and a
            # connect timeout, about 30 s; without them the deploy hangs on
            # the kept-open connection for good. 300 s tells the two apart.
            try:
                run.wait(timeout=LOST_HOST_GIVEN_UP_S)
            except subprocess.TimeoutExpired:
                run.kill()
                raise AssertionError(f"the deploy still ran {LOST_HOST_GIVEN_UP_S} s after f-app2 stopped answering: "
                                     "SSH never gave the host up (ServerAliveInterval in ansible.cfg?)") from None
            states = servers()
            lock = read_lock()
        finally:
            docker("unpause", "f-app2", check=False)
        # The failed run has ended: the rerun takes its lock over without
        # deploy_lock_break.
        rerun = run_playbook("unreachable-rerun", DEPLOY, *deploy_args("1.2.0"))

    assert run.rc != 0
    report = run.report
    app2 = report["hosts"]["f-app2"]
    assert app2["result"] == "unreachable", app2
    assert app2["failure"]["kind"] == "unreachable", app2["failure"]
    assert app2["left_out_of_rotation"] is True
    assert out_of_rotation(states["f-app2"]), states["f-app2"]
    for host in ["f-app3", "f-app4"]:
        assert report["hosts"][host]["result"] == "not_run", host
        assert set(phases(report, host)) <= {"stage"}, (host, phases(report, host))
    # The rescue does not run for an unreachable host: the lock stays, and
    # the run says so and how to clear it.
    assert lock is not None and lock["purpose"] == "deploy 1.2.0", lock
    assert report["deploy_lock"]["held"] is True, report["deploy_lock"]
    assert report["deploy_lock"]["run_id"] == lock["run_id"], (report["deploy_lock"], lock)
    hint = [line for line in run.lines if "is still held by this run" in line]
    assert len(hint) == 1 and "The next deploy from this controller takes it over" in hint[0], hint

    assert rerun.rc == 0, rerun.output[-3000:]
    said = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", rerun.output).split())
    assert f"was held by run {lock['run_id']}" in said and "has ended: this run takes it over" in said, \
        rerun.output[-3000:]
    assert_no_failed_request(probe)
    assert_fleet_on("1.2.0")
    wait_in_rotation()
    assert_migrations_once(MIGRATIONS_1_2_0)
    assert_lock_free()


# ---- 1.3.0: contract, with a balancer reload while f-app2 is drained ------------------------

def test_a_balancer_reload_while_f_app2_is_drained_keeps_it_drained_and_the_1_3_0_deploy_succeeds():
    pid_before = haproxy_pid()
    with load_probe("chain-1.3.0") as probe:
        run = Run("chain-1.3.0", DEPLOY, *deploy_args("1.3.0"))
        drained_at = run.wait_until_drained("f-app2")
        subprocess.run(["docker", "exec", BALANCER, "systemctl", "reload", "haproxy"], check=True, timeout=60)
        reloaded_at = len(run.lines)
        after_reload = servers()
        pid_after = haproxy_pid()
        run.wait()
    SHARED["chain-1.3.0"] = (probe, run)

    assert pid_after != pid_before  # a new HAProxy process took over
    assert out_of_rotation(after_reload["f-app2"]), after_reload["f-app2"]
    assert run.rc == 0, run.output[-3000:]
    assert_no_failed_request(probe)
    # The deploy read f-app2's drain back after the reload, before restarting
    # it, without changing it (it was still drained: server-state-file).
    confirm = [i for i in run.task_headers("Read f-app2 on every balancer without changing it") if i > drained_at]
    assert confirm and confirm[0] > reloaded_at, (drained_at, reloaded_at, confirm)
    confirmed = "\n".join(run.lines[confirm[0]:confirm[0] + 5])
    assert re.search(rf"^ok: \[f-app2 -> {DELEGATED_TO_BALANCER}\]", confirmed, re.M), confirmed
    assert_in_rotation()


def test_the_1_3_0_contract_drops_the_path_column_once_every_host_runs_1_3_0():
    probe, run = SHARED["chain-1.3.0"]
    assert probe["releases_seen"] == ["1.2.0", "1.3.0"]
    assert_fleet_on("1.3.0")
    app1 = run.report["hosts"]["f-app1"]
    assert app1["migrations_applied"] == [], app1
    assert app1["post_migrations_applied"] == ["visits.0005_remove_visit_path_postdeploy"], app1
    assert "path" not in columns("visits_visit")
    assert_post_deploy_after_last_enable(run.report)
    assert_one_host_at_a_time(run.report)
    assert_migrations_once(MIGRATIONS_1_3_0)
    assert psql(f"SELECT value FROM visits_deploycounter WHERE name = '{BACKFILL}'") == ["1"]
    assert_lock_free()
