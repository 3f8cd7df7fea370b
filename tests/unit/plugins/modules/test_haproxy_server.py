# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the haproxy_server and haproxy_info modules, run in-process
against FakeHAProxy serving answers recorded from HAProxy 3.0.

They cover what a real HAProxy will not do on demand: accept a change and
not apply it, refuse a write on a HAProxy too old to tell its socket level.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

import pytest

from ansible_collections.zerodowntime.deploy.plugins.modules import haproxy_info, haproxy_server
from ansible_collections.zerodowntime.deploy.tests.unit.plugins.module_utils.haproxy_fake import (
    FIXTURES,
    FakeHAProxy,
    load_fixture,
    servers_state_line,
    stat_line,
)
from ansible_collections.zerodowntime.deploy.tests.unit.plugins.modules.module_args import patch_module_args

V = "haproxy-3.0"
ADMIN_BITS = {"ready": 0, "drain": 8, "maint": 1}
STATUS = {"ready": "UP", "drain": "DRAIN", "maint": "MAINT"}


class AppBackend(object):
    """Answers for backend `app` whose web1 changes state as HAProxy would,
    unless `apply` is False (HAProxy accepts and ignores the change)."""

    def __init__(self, apply=True, level="admin"):
        self.admin = "ready"
        self.apply = apply
        self.level = level

    def servers_state(self, command):
        text = load_fixture(V, "show_servers_state_app--steady.txt")
        return servers_state_line(text, "app", "web1", srv_admin_state=ADMIN_BITS[self.admin],
                                  srv_op_state=0 if self.admin == "maint" else 2)

    def stat(self, command):
        return stat_line(load_fixture(V, "show_stat_app_4_-1--steady.txt"), "web1",
                         STATUS[self.admin])

    def set_state(self, command):
        if self.level != "admin":
            return "Permission denied\n"
        if self.apply:
            self.admin = command.rsplit(" ", 1)[1]
        return "\n"

    def answers(self):
        answers = {
            "show info": load_fixture(V, "show_info--steady.txt"),
            "show servers state": load_fixture(V, "show_servers_state--steady.txt"),
            "show servers state app": self.servers_state,
            "show stat app 4 -1": self.stat,
            "show servers state static": load_fixture(V, "show_servers_state--steady.txt"),
            "show stat static 4 -1": load_fixture(V, "show_stat--steady.txt"),
            "set server static/s1 weight 5": load_fixture(V, "set_server_static-s1_weight_5.txt"),
        }
        if self.level is not None:
            answers["show cli level"] = self.level + "\n"
        for state in ADMIN_BITS:
            answers["set server app/web1 state %s" % state] = self.set_state
        return answers


@pytest.fixture
def haproxy():
    servers = []

    def make(**kwargs):
        backend = AppBackend(**kwargs)
        server = FakeHAProxy(backend.answers())
        servers.append(server)
        return server
    yield make
    for server in servers:
        server.close()


def run(module, args, capsys, check=False, diff=False):
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def test_check_mode_reads_reports_the_change_and_sends_no_write(haproxy, capsys):
    server = haproxy()
    result = run(haproxy_server, dict(socket=server.address, backend="app", server="web1",
                                      state="drain"), capsys, check=True, diff=True)

    assert result["changed"] is True
    assert result["diff"]["before"]["app"]["admin_state"] == "ready"
    assert result["diff"]["after"]["app"]["admin_state"] == "drain"
    assert result["haproxy_version"].startswith("3.0")
    assert server.writes() == []


def test_drain_writes_once_reads_back_and_a_rerun_writes_nothing(haproxy, capsys):
    server = haproxy()
    args = dict(socket=server.address, backend="app", server="web1", state="drain")
    first = run(haproxy_server, args, capsys)
    writes_after_first = list(server.writes())
    second = run(haproxy_server, args, capsys)

    assert first["changed"] is True and first["state"]["app"]["admin_state"] == "drain"
    assert writes_after_first == ["set server app/web1 state drain"]
    assert second["changed"] is False
    assert server.writes() == writes_after_first


def test_a_change_haproxy_accepts_but_does_not_report_fails_the_task(haproxy, capsys):
    server = haproxy(apply=False)
    result = run(haproxy_server, dict(socket=server.address, backend="app", server="web1",
                                      state="maint", wait=False), capsys)

    assert result["failed"] is True
    assert "HAProxy accepted 'set server app/web1 state maint'" in result["msg"]
    assert "admin_state ready" in result["msg"] and "instead of maint" in result["msg"]
    assert server.address in result["msg"]
    assert result["changed"] is False


def test_permission_denied_on_a_haproxy_without_show_cli_level(haproxy, capsys):
    server = haproxy(level=None)
    server.answers["set server app/web1 state drain"] = "Permission denied\n"
    result = run(haproxy_server, dict(socket=server.address, backend="app", server="web1",
                                      state="drain"), capsys)

    assert result["failed"] is True
    assert "Permission denied" in result["msg"] and "level admin" in result["msg"]
    assert server.address in result["msg"]


def test_operator_level_is_refused_before_any_write(haproxy, capsys):
    server = haproxy(level="operator")
    result = run(haproxy_server, dict(socket=server.address, backend="app", server="web1",
                                      state="drain"), capsys)

    assert result["failed"] is True and "level 'operator'" in result["msg"]
    assert server.writes() == []


def test_haproxy_error_text_fails_naming_socket_backend_and_server(haproxy, capsys):
    server = haproxy()
    result = run(haproxy_server, dict(socket=server.address, backend="static", server="s1",
                                      weight=5), capsys)

    assert result["failed"] is True
    assert "static LB algorithm" in result["msg"]
    assert server.address in result["msg"] and "static/s1" in result["msg"]
    assert "backend 'static'" in result["msg"] and "server 's1'" in result["msg"]


@pytest.mark.parametrize("args, message", [
    (dict(server="web1;shutdown", state="drain"), "invalid server"),
    (dict(server="web1", weight="300"), "absolute weights are 0-256"),
    (dict(server="web1", state="drain", poll_interval=0), "poll_interval"),
    (dict(server="web1", state="drain", socket="http://x"), "invalid socket address"),
])
def test_bad_input_fails_before_contacting_haproxy(capsys, args, message):
    result = run(haproxy_server, args, capsys)
    assert result["failed"] is True and message in result["msg"]


def test_info_joins_state_and_counters_per_server(haproxy, capsys):
    server = haproxy()
    server.answers["show stat app 6 -1"] = load_fixture(V, "show_stat--steady.txt")
    result = run(haproxy_info, dict(socket=server.address, backend="app"), capsys, check=True)

    app = result["backends"]["app"]
    assert set(app["servers"]) == {"web1", "web2", "web3"}
    assert app["status"] == "UP"
    web3 = app["servers"]["web3"]
    assert (web3["status"], web3["health_check"], web3["operational_state"]) == (
        "no check", "not configured", "up")
    assert server.writes() == []


def test_info_with_the_master_socket_returns_the_reloads_and_the_current_workers_start(haproxy, capsys):
    server = haproxy()
    server.answers["show stat app 6 -1"] = load_fixture(V, "show_stat--steady.txt")
    show_proc = (FIXTURES / "haproxy-3.0-master" / "show_proc--reloaded_old_worker.txt").read_text()
    master = FakeHAProxy({"show proc;quit": show_proc})
    try:
        before = int(time.time())
        result = run(haproxy_info, dict(socket=server.address, master_socket=master.address, backend="app"),
                     capsys, check=True)
    finally:
        master.close()

    assert not result.get("failed"), result.get("msg")
    # Recorded: master 14 after one reload, current worker 22 up 1 s, old worker 16.
    assert (result["master"]["pid"], result["master"]["reloads"], result["master"]["old_workers"]) == (14, 1, [16])
    worker = result["master"]["current_worker"]
    assert (worker["pid"], worker["uptime"]) == (22, 1)
    assert before - 1 <= worker["started"] <= int(time.time()) - 1
    assert master.commands == ["show proc;quit"]


def test_info_fails_naming_a_master_socket_it_cannot_read(haproxy, capsys, tmp_path):
    server = haproxy()
    server.answers["show stat app 6 -1"] = load_fixture(V, "show_stat--steady.txt")
    missing = str(tmp_path / "master.sock")
    result = run(haproxy_info, dict(socket=server.address, master_socket=missing, backend="app"), capsys)
    assert result["failed"] is True and missing in result["msg"]


def test_info_returns_each_servers_address_as_haproxy_resolved_it(haproxy, capsys):
    server = haproxy()
    server.answers["show stat"] = load_fixture(V, "show_stat--steady.txt")
    result = run(haproxy_info, dict(socket=server.address), capsys, check=True)

    servers = result["backends"]["api"]["servers"]
    assert servers["web1"]["address"] == "127.0.0.1"
    # init-addr none, name not resolved: HAProxy prints "-".
    assert servers["unresolved"]["address"] == "-"
    assert {s["address"] for s in result["backends"]["app"]["servers"].values()} == {"127.0.0.1"}
