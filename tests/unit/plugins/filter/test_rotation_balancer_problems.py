# SPDX-License-Identifier: GPL-3.0-or-later
"""The rotation_balancer_problems filter, on haproxy_info results shaped as the module returns them."""

from ansible_collections.zerodowntime.deploy.plugins.filter.rotation_balancer_problems import (
    rotation_balancer_problems)

SERVERS = {"app1": {}, "app2": {}, "app3": {}}


def reading(balancer="lb1", level="admin", servers=None, backend="app"):
    servers = SERVERS if servers is None else servers
    return {"item": balancer, "changed": False, "cli_level": level, "backends": {backend: {"servers": servers}}}


GOOD_CONFIG = {"item": "lb1", "stdout": "    server-state-file /var/lib/haproxy/server-state\n"
                                        "    load-server-state-from-file global"}


def test_a_fit_balancer_has_no_problem():
    assert rotation_balancer_problems([reading()], "app", ["app1", "app2", "app3"], [GOOD_CONFIG]) == []


def test_an_unreadable_balancer_is_named_with_the_modules_message():
    failed = {"item": "lb2", "failed": True, "msg": "cannot connect to HAProxy socket /run/x.sock: No such file"}
    (problem,) = rotation_balancer_problems([reading(), failed], "app", ["app1"])
    assert problem == "Balancer lb2 cannot be read: cannot connect to HAProxy socket /run/x.sock: No such file."


def test_an_operator_socket_is_refused():
    (problem,) = rotation_balancer_problems([reading(level="operator")], "app", ["app1"])
    assert "level 'operator'" in problem and "level admin" in problem


def test_an_unknown_level_before_haproxy_2_0_is_not_a_problem():
    assert rotation_balancer_problems([reading(level=None)], "app", ["app1"]) == []


def test_app_hosts_missing_from_the_backend_are_named_with_its_servers():
    (problem,) = rotation_balancer_problems([reading(servers={"web1": {}})], "app", ["app1", "app2"])
    assert "backend 'app' has no server named app1, app2 (its servers: web1)" in problem


def test_each_missing_directive_is_reported_unless_the_risk_is_accepted():
    bare = {"item": "lb1", "stdout": ""}
    half = {"item": "lb2", "stdout": "server-state-file /x"}
    problems = rotation_balancer_problems([reading()], "app", ["app1"], [bare, half])
    assert len(problems) == 2
    assert "lb1: its HAProxy configuration has no server-state-file or load-server-state-from-file" in problems[0]
    assert "lb2: its HAProxy configuration has no load-server-state-from-file," in problems[1]
    assert rotation_balancer_problems([reading()], "app", ["app1"], [bare], require_state_persistence=False) == []


def test_a_skipped_configuration_read_is_not_a_problem():
    assert rotation_balancer_problems([reading()], "app", ["app1"], [{"item": "lb1", "skipped": True}]) == []


def master_stat(balancer, exists=True, issock=True, path="/run/haproxy-master.sock"):
    return {"item": balancer, "stat": {"exists": exists, "issock": issock} if exists else {"exists": False},
            "invocation": {"module_args": {"path": path}}}


def test_a_balancer_without_a_master_cli_is_reported_with_the_way_out():
    problems = rotation_balancer_problems([reading()], "app", ["app1"],
                                          master_sockets=[master_stat("lb1"), master_stat("lb2", exists=False),
                                                          {"item": "lb3", "skipped": True}])
    assert len(problems) == 1
    assert problems[0].startswith("Balancer lb2 has no HAProxy master CLI at /run/haproxy-master.sock")
    assert "rotation_haproxy_master_socket: ''" in problems[0]


def test_a_regular_file_is_not_a_master_cli():
    (problem,) = rotation_balancer_problems([reading()], "app", ["app1"],
                                            master_sockets=[master_stat("lb1", issock=False)])
    assert "lb1 has no HAProxy master CLI" in problem


# -- a reload that does not save the state ------------------------------------
# The worker serving now started at STARTED (seconds since the epoch on the
# balancer); the haproxy_info result holds it with the master's reloads.
STARTED = 1767225600


def reloaded(balancer="lb1", reloads=1, started=STARTED, socket="/run/haproxy/admin.sock"):
    result = reading(balancer)
    result["invocation"] = {"module_args": {"socket": socket, "master_socket": "/run/haproxy-master.sock"}}
    result["master"] = {"pid": 1201, "reloads": reloads, "uptime": 86400, "old_workers": [],
                        "current_worker": {"pid": 4711, "uptime": 60, "started": started}}
    return result


def state_file(balancer="lb1", mtime=None, path="/var/lib/haproxy/server-state"):
    stat = {"exists": False} if mtime is None else {"exists": True, "isreg": True, "mtime": mtime}
    return {"item": balancer, "stat": stat, "invocation": {"module_args": {"path": path}}}


def reload_problems(readings, files):
    return rotation_balancer_problems(readings, "app", ["app1"], state_files=files)


def test_a_reload_without_a_state_file_is_reported_naming_the_balancer_and_the_fix():
    (problem,) = reload_problems([reloaded("lb1", reloads=3)], [state_file("lb1")])
    assert problem.startswith("Balancer lb1 was reloaded without saving the servers' state (3 reloads since HAProxy "
                              "started): its server-state-file /var/lib/haproxy/server-state does not exist.")
    assert ("ExecReload=/bin/sh -c 'echo \"show servers state\" | socat stdio /run/haproxy/admin.sock > "
            "/var/lib/haproxy/server-state'") in problem
    assert "zerodowntime.deploy.haproxy does this" in problem
    assert problem.endswith("or accept the risk with deploy_require_state_persistence: false.")


def test_a_state_file_older_than_the_last_reload_is_reported_with_both_times():
    (problem,) = reload_problems([reloaded()], [state_file(mtime=STARTED - 3600)])
    assert "(1 reload since HAProxy started)" in problem
    assert ("was last written at 2025-12-31 23:00:00 UTC, before the last reload (at 2026-01-01 00:00:00 UTC, "
            "when its current worker started)") in problem


def test_a_state_file_saved_right_before_the_reload_is_not_reported():
    # The role's reload command saves the state, then signals the master,
    # which reads its configuration before it starts the new worker; show
    # proc counts the worker's uptime in whole seconds.
    files = [state_file(mtime=STARTED - 0.4), state_file(mtime=STARTED + 0.5), state_file(mtime=STARTED - 29)]
    for saved in files:
        assert reload_problems([reloaded()], [saved]) == []
    assert len(reload_problems([reloaded()], [state_file(mtime=STARTED - 31)])) == 1


def test_a_balancer_never_reloaded_is_not_reported_with_or_without_a_state_file():
    # A start begins from the configuration alone (the role's unit removes
    # the state file first), so there is nothing to have saved.
    assert reload_problems([reloaded(reloads=0)], [state_file()]) == []
    assert reload_problems([reloaded(reloads=0)], [state_file(mtime=STARTED - 86400)]) == []


def test_without_the_master_cli_or_a_state_file_path_the_reload_is_not_judged():
    # rotation_haproxy_master_socket: '' (the module was not asked for the
    # master), or a failed read, or no server-state-file to stat.
    assert reload_problems([reading()], [state_file()]) == []
    assert reload_problems([{"item": "lb1", "failed": True, "msg": "x"}], [state_file()]) == [
        "Balancer lb1 cannot be read: x."]
    assert reload_problems([reloaded()], [{"item": "lb1", "skipped": True}]) == []
    assert reload_problems([reloaded()], [dict(state_file(), failed=True, msg="Permission denied")]) == []


def test_each_balancer_is_judged_on_its_own_reads_and_the_risk_can_be_accepted():
    readings = [reloaded("lb1"), reloaded("lb2", socket="tcp://127.0.0.1:9999"), reloaded("lb3")]
    files = [state_file("lb2"), state_file("lb1", mtime=STARTED), state_file("lb3", mtime=STARTED - 600)]
    problems = reload_problems(readings, files)
    assert [p.split()[1] for p in problems] == ["lb2", "lb3"]
    assert "socat stdio TCP:127.0.0.1:9999 >" in problems[0]
    assert rotation_balancer_problems(readings, "app", ["app1"], state_files=files,
                                      require_state_persistence=False) == []
