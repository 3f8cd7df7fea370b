# SPDX-License-Identifier: GPL-3.0-or-later
"""The HAProxy modules, run by `ansible`, against a real HAProxy process.

Every test starts its own HAProxy (see conftest.py) and asserts what HAProxy
itself reports afterwards, and what happened to real HTTP requests.
"""

import os

FMAINT, FDRAIN = 0x01, 0x08
CHK_ENABLED = 0x04


def server_args(lab, **kwargs):
    args = dict(socket=lab.admin, server="web1")
    args.update(kwargs)
    return args


def test_drain_waits_for_a_request_in_flight_which_completes_with_200(lab, run_module):
    request = lab.request("/solo/hold/3")
    lab.wait_sessions("solo", "web1", 1)

    result = run_module("haproxy_server", server_args(lab, backend="solo", state="drain",
                                                      drain_timeout=30))

    assert not result.get("failed"), result["msg"]
    assert result["changed"] is True
    assert result["waited"] > 0
    request.join(10)
    assert request.status == 200
    after = lab.server("solo", "web1")
    assert after["admin"] & FDRAIN and after["scur"] == 0
    assert result["state"]["solo"]["admin_state"] == "drain"
    assert result["sessions"] == {"solo": 0}
    assert result["previous_state"]["solo"]["sessions"] == 1


def test_drain_timeout_with_policy_fail_fails_and_leaves_the_server_drained(lab, run_module):
    lab.request("/solo/hold/8")
    lab.wait_sessions("solo", "web1", 1)

    result = run_module("haproxy_server", server_args(lab, backend="solo", state="drain",
                                                      drain_timeout=0.6,
                                                      drain_timeout_policy="fail"))

    assert result["failed"] is True
    assert "still has sessions" in result["msg"] and "left drained" in result["msg"]
    assert lab.admin in result["msg"]
    after = lab.server("solo", "web1")
    assert after["admin"] & FDRAIN
    assert after["scur"] == 1


def test_drain_timeout_with_policy_restore_fails_and_puts_the_server_back_in_rotation(lab, run_module):
    lab.request("/solo/hold/8")
    lab.wait_sessions("solo", "web1", 1)

    result = run_module("haproxy_server", server_args(lab, backend="solo", state="drain",
                                                      drain_timeout=0.6,
                                                      drain_timeout_policy="restore"))

    assert result["failed"] is True
    assert "restored" in result["msg"]
    after = lab.server("solo", "web1")
    assert after["admin"] == 0
    assert after["status"] == "UP"
    assert lab.get("/solo/") == 200


def test_drain_timeout_with_policy_shutdown_sessions_kills_the_request_and_succeeds(lab, run_module):
    request = lab.request("/solo/hold/8")
    lab.wait_sessions("solo", "web1", 1)

    result = run_module("haproxy_server", server_args(lab, backend="solo", state="drain",
                                                      drain_timeout=0.6,
                                                      drain_timeout_policy="shutdown_sessions"))

    assert not result.get("failed"), result["msg"]
    assert result["changed"] is True
    assert result["sessions_shutdown"] == ["solo"]
    assert result["sessions"] == {"solo": 0}
    request.join(10)
    assert request.status != 200
    after = lab.server("solo", "web1")
    assert after["admin"] & FDRAIN and after["scur"] == 0


def test_without_backend_every_backend_holding_the_server_is_drained_and_a_rerun_changes_nothing(
        lab, run_module):
    first = run_module("haproxy_server", server_args(lab, state="drain"))
    second = run_module("haproxy_server", server_args(lab, state="drain"))

    assert first["changed"] is True
    assert first["backends"] == ["app", "solo", "api"]
    for backend in ("app", "solo", "api"):
        assert lab.server(backend, "web1")["admin"] & FDRAIN
    assert second["changed"] is False
    assert all(second["previous_state"][b]["admin_state"] == "drain" for b in second["backends"])

    ready = run_module("haproxy_server", server_args(lab, state="ready"))
    ready_again = run_module("haproxy_server", server_args(lab, state="ready"))
    assert ready["changed"] is True and ready_again["changed"] is False
    assert all(lab.server(b, "web1")["admin"] == 0 for b in ("app", "solo", "api"))


def test_weight_in_percent_is_applied_once_and_read_back(lab, run_module):
    first = run_module("haproxy_server", server_args(lab, backend="app", weight="50%"))
    second = run_module("haproxy_server", server_args(lab, backend="app", weight="50%"))

    assert first["changed"] is True and first["state"]["app"]["weight"] == 50
    assert second["changed"] is False
    assert lab.server("app", "web1")["weight"] == 50


def test_check_mode_reports_the_change_with_a_diff_and_changes_nothing(lab, run_module):
    result = run_module("haproxy_server", server_args(lab, backend="app", state="maint"),
                        check=True, diff=True)

    assert result["changed"] is True
    assert result["diff"]["before"]["app"]["admin_state"] == "ready"
    assert result["diff"]["after"]["app"]["admin_state"] == "maint"
    after = lab.server("app", "web1")
    assert after["admin"] == 0 and after["status"] == "UP"


def test_unknown_backend_fails_clearly_and_changes_nothing(lab, run_module):
    before = lab.admin_snapshot()
    result = run_module("haproxy_server", server_args(lab, backend="nosuch", state="maint"))

    assert result["failed"] is True
    assert "backend 'nosuch' does not exist" in result["msg"] and lab.admin in result["msg"]
    assert lab.admin_snapshot() == before


def test_unknown_server_fails_clearly_and_changes_nothing(lab, run_module):
    before = lab.admin_snapshot()
    in_backend = run_module("haproxy_server", server_args(lab, backend="app", server="nosuch",
                                                          state="maint"))
    anywhere = run_module("haproxy_server", server_args(lab, server="nosuch", state="maint"))

    assert in_backend["failed"] is True and "has no server 'nosuch'" in in_backend["msg"]
    assert anywhere["failed"] is True
    assert "no backend contains a server named 'nosuch'" in anywhere["msg"]
    assert lab.admin_snapshot() == before


def test_missing_socket_fails_naming_the_socket(lab, run_module):
    missing = os.path.join(lab.tmp, "missing.sock")
    result = run_module("haproxy_server", dict(socket=missing, server="web1", state="drain"))

    assert result["failed"] is True
    assert missing in result["msg"] and "does not exist" in result["msg"]


def test_operator_socket_can_read_but_a_change_is_refused_naming_its_level(lab, run_module):
    before = lab.admin_snapshot()
    result = run_module("haproxy_server", server_args(lab, socket=lab.operator, backend="app",
                                                      state="drain"))
    info = run_module("haproxy_info", dict(socket=lab.operator, backend="app"))

    assert result["failed"] is True
    assert "level 'operator'" in result["msg"] and lab.operator in result["msg"]
    assert "level admin" in result["msg"]
    assert lab.admin_snapshot() == before
    assert not info.get("failed")
    assert info["backends"]["app"]["servers"]["web1"]["admin_state"] == "ready"


def test_ready_waits_until_the_server_passes_its_checks(lab, run_module):
    lab.ask("set server app/web2 state maint")
    lab.web2.healthy = False
    run = run_module.start("haproxy_server", server_args(lab, backend="app", server="web2",
                                                         state="ready", wait_timeout=30))
    # Let HAProxy find web2 failing (it takes a server leaving maint as UP
    # until its checks say otherwise), then let the application recover.
    lab.wait_status("app", "web2", "DOWN")
    lab.web2.healthy = True
    result = run.result()

    assert not result.get("failed"), result["msg"]
    assert result["changed"] is True
    assert result["waited"] > 0
    assert result["state"]["app"]["operational_state"] == "up"
    assert result["state"]["app"]["status"] == "UP"
    after = lab.server("app", "web2")
    assert after["admin"] == 0 and after["status"] == "UP"


def test_ready_fails_after_wait_timeout_when_checks_keep_failing(lab, run_module):
    lab.ask("set server app/web2 state maint")
    lab.web2.healthy = False

    result = run_module("haproxy_server", server_args(lab, backend="app", server="web2",
                                                      state="ready", wait_timeout=1.5))

    # checked_before_traffic (the default): the server waits for its check
    # in DRAIN and is never set ready while failing.
    assert result["failed"] is True
    assert "did not pass its health check" in result["msg"] and "stays in DRAIN" in result["msg"]
    assert lab.server("app", "web2")["admin"] == FDRAIN


def test_ready_of_a_server_without_checks_does_not_wait(lab, run_module):
    lab.ask("set server app/nocheck state maint")

    result = run_module("haproxy_server", server_args(lab, backend="app", server="nocheck",
                                                      state="ready", wait_timeout=30))

    assert not result.get("failed"), result["msg"]
    assert result["changed"] is True
    assert result["waited"] == 0.0
    assert result["state"]["app"]["status"] == "no check"
    assert lab.server("app", "nocheck")["op"] == 2


def test_a_server_already_down_is_drained_without_waiting(lab, run_module):
    result = run_module("haproxy_server", server_args(lab, backend="api", server="dead",
                                                      state="drain"))

    assert not result.get("failed"), result["msg"]
    assert result["previous_state"]["api"]["operational_state"] == "down"
    assert result["waited"] == 0.0
    assert lab.server("api", "dead")["admin"] & FDRAIN


def test_maint_drains_first_and_toggles_checks_when_asked(lab, run_module):
    request = lab.request("/solo/hold/3")
    lab.wait_sessions("solo", "web1", 1)

    maint = run_module("haproxy_server", server_args(lab, backend="solo", state="maint",
                                                     disable_checks_in_maint=True))
    request.join(10)
    in_maint = lab.server("solo", "web1")
    ready = run_module("haproxy_server", server_args(lab, backend="solo", state="ready",
                                                     disable_checks_in_maint=True))

    assert not maint.get("failed"), maint["msg"]
    assert maint["waited"] > 0
    assert request.status == 200
    assert in_maint["admin"] & FMAINT and not in_maint["check_state"] & CHK_ENABLED
    assert maint["state"]["solo"]["health_check"] == "disabled"
    assert not ready.get("failed"), ready["msg"]
    after = lab.server("solo", "web1")
    assert after["admin"] == 0 and after["check_state"] & CHK_ENABLED
    assert after["status"] == "UP"


def test_tcp_admin_socket_on_loopback_changes_and_reads(lab, run_module):
    address = "tcp://127.0.0.1:%d" % lab.tcp_port
    result = run_module("haproxy_server", dict(socket=address, backend="app", server="web2",
                                               state="drain"))
    info = run_module("haproxy_info", dict(socket=address, backend="app"))

    assert not result.get("failed"), result["msg"]
    assert lab.server("app", "web2")["admin"] & FDRAIN
    assert info["backends"]["app"]["servers"]["web2"]["admin_state"] == "drain"
    assert info["haproxy_pid"] == lab.proc.pid


def test_info_returns_counters_after_requests(lab, run_module):
    codes = [lab.get(path) for path in ("/", "/", "/", "/status/404", "/status/503")]
    assert codes == [200, 200, 200, 404, 503]

    info = run_module("haproxy_info", dict(socket=lab.admin))
    only_solo = run_module("haproxy_info", dict(socket=lab.admin, backend="solo"))
    unknown = run_module("haproxy_info", dict(socket=lab.admin, backend="nosuch"))

    assert info["changed"] is False
    assert info["haproxy_pid"] == lab.proc.pid
    assert info["haproxy_version"].startswith("2.") or info["haproxy_version"].startswith("3.")
    assert info["haproxy_uptime"] >= 0
    app = info["backends"]["app"]
    servers = app["servers"]
    assert set(servers) == {"web1", "web2", "nocheck"}
    assert sum(s["hrsp_2xx"] for s in servers.values()) == 3
    assert sum(s["hrsp_4xx"] for s in servers.values()) == 1
    assert sum(s["hrsp_5xx"] for s in servers.values()) == 1
    assert app["hrsp_2xx"] == 3
    assert servers["web1"]["status"] == "UP" and servers["web1"]["check_status"] == "L7OK"
    # The address HAProxy connects to, as it resolved it.
    assert {s["address"] for s in servers.values()} == {"127.0.0.1"}
    assert servers["nocheck"]["status"] == "no check" and servers["nocheck"]["check_status"] is None
    assert servers["web1"]["weight"] == 100
    assert all(isinstance(s["rtime"], int) and isinstance(s["ttime"], int) for s in servers.values())
    assert info["backends"]["api"]["servers"]["dead"]["operational_state"] == "down"
    assert list(only_solo["backends"]) == ["solo"]
    assert unknown["failed"] is True and "nosuch" in unknown["msg"]
