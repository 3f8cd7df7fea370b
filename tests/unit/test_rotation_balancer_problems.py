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
