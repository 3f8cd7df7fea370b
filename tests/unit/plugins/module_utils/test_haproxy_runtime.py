# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the HAProxy Runtime API client (plugins/module_utils/haproxy_runtime.py).

The answers come from fixtures/haproxy-<version>/ beside this file, recorded
from the real HAProxy 2.6 and 3.0 binaries by fixtures/record_haproxy_answers.py,
and are served by FakeHAProxy (haproxy_fake.py), a socket server that answers
one command per connection as HAProxy does and remembers the commands it
received.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

import pytest

from ansible_collections.zerodowntime.deploy.plugins.module_utils import haproxy_runtime as hr
from ansible_collections.zerodowntime.deploy.plugins.module_utils.haproxy_runtime import (
    HAProxyArgumentError,
    HAProxyCommandError,
    HAProxyConnectionError,
    HAProxyPermissionError,
    HAProxyRuntime,
    HAProxyRuntimeError,
    HAProxyTimeoutError,
)
from ansible_collections.zerodowntime.deploy.tests.unit.plugins.module_utils.haproxy_fake import (
    FIXTURES,
    VERSIONS,
    FakeHAProxy,
    load_fixture,
    servers_state_line,
    stat_line,
)


def fixture_names(version, prefix=""):
    return sorted(p.name for p in (FIXTURES / version).glob(prefix + "*.txt"))


def command_of(name):
    """The command a fixture file answers (inverse of the recorder's naming)."""
    stem = name[:-len(".txt")].split("--")[0]
    return stem.replace("pct", "%").replace("-", "/").replace("_", " ").replace(" /1", " -1")


@pytest.fixture
def fake():
    servers = []

    def make(answers, **kwargs):
        server = FakeHAProxy(answers, **kwargs)
        servers.append(server)
        return server
    yield make
    for server in servers:
        server.close()


class FakeClock(object):
    """A monotonic clock that only moves when slept on."""

    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


# -- parsing recorded answers -------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_show_info_gives_version_pid_and_uptime_in_seconds(version):
    info = hr.parse_show_info(load_fixture(version, "show_info--steady.txt"))

    assert info.version.startswith(version.split("-")[1] + ".")
    assert isinstance(info.pid, int) and info.pid > 0
    assert info.uptime == int(info.fields["Uptime_sec"])
    assert info.fields["Name"] == "HAProxy"


def test_show_info_without_uptime_sec_reads_the_uptime_text():
    text = load_fixture("haproxy-2.6", "show_info--steady.txt")
    text = "\n".join(l for l in text.splitlines() if not l.startswith("Uptime_sec"))
    text = text.replace("Uptime: 0d 0h00m01s", "Uptime: 1d 2h03m04s")

    assert hr.parse_show_info(text).uptime == 93784


@pytest.mark.parametrize("version", VERSIONS)
def test_servers_state_reads_admin_and_operational_state_by_header_name(version):
    servers = {(s.backend, s.server): s for s in
               hr.parse_servers_state(load_fixture(version, "show_servers_state.txt"))}

    web1 = servers[("app", "web1")]
    assert (web1.admin, web1.operational, web1.in_rotation) == ("ready", "up", True)
    assert web1.health_check_configured and web1.health_check_enabled
    maint = servers[("app", "web2")]
    assert maint.admin == "maint" and maint.admin_state & hr.ADMF_FMAINT
    assert maint.uweight == 7 and not maint.in_rotation
    assert maint.check_state & hr.CHK_ST_PAUSED  # HAProxy pauses checks in maint
    tracked = servers[("api", "tracked")]
    assert tracked.admin == "maint"
    assert tracked.admin_reasons == ["maintenance inherited from a tracked server"]
    unresolved = servers[("api", "unresolved")]
    assert unresolved.admin == "maint" and unresolved.admin_state == hr.ADMF_RMAINT
    assert servers[("api", "web1")].admin == "drain"
    agent = servers[("api", "agentdrain")]
    assert agent.admin == "drain" and agent.agent_check_enabled and not agent.health_check_configured
    assert servers[("api", "dead")].operational == "down"
    assert servers[("transit", "nolb")].operational == "stopping"
    nocheck = servers[("app", "web3")]
    assert nocheck.in_rotation and not nocheck.health_check_configured


def test_servers_state_follows_the_header_when_columns_differ():
    # Older HAProxy versions print fewer columns; a future one may reorder.
    text = "1\n# be_name srv_name srv_admin_state srv_op_state be_id srv_id srv_uweight srv_iweight\n" \
           "app web1 8 2 3 1 50 100\n"
    (state,) = hr.parse_servers_state(text)

    assert (state.backend, state.server, state.admin, state.operational) == ("app", "web1", "drain", "up")
    assert (state.uweight, state.iweight) == (50, 100)
    assert state.check_state == 0 and state.address is None


def test_servers_state_of_a_backend_without_servers_is_empty():
    header = load_fixture("haproxy-3.0", "show_servers_state_app--steady.txt").splitlines()[:2]
    assert hr.parse_servers_state("\n".join(header) + "\n\n") == []


@pytest.mark.parametrize("text", ["", "Can't find backend.\n", "garbage line\n",
                                  "1\n# be_id be_name\n3 app\n"])
def test_servers_state_refuses_what_is_not_its_answer(text):
    with pytest.raises(ValueError):
        hr.parse_servers_state(text)


STATUSES = {
    # status text: (state, progress, reason, via)
    "UP": ("UP", None, None, None),
    "UP 1/3": ("UP", (1, 3), None, None),
    "UP 2/3": ("UP", (2, 3), None, None),
    "DOWN": ("DOWN", None, None, None),
    "DOWN 1/3": ("DOWN", (1, 3), None, None),
    "DOWN 2/3": ("DOWN", (2, 3), None, None),
    "NOLB": ("NOLB", None, None, None),
    "NOLB 1/3": ("NOLB", (1, 3), None, None),
    "NOLB 2/3": ("NOLB", (2, 3), None, None),
    "MAINT": ("MAINT", None, None, None),
    "MAINT (via app/web2)": ("MAINT", None, "via app/web2", "app/web2"),
    "MAINT (resolution)": ("MAINT", None, "resolution", None),
    "DRAIN": ("DRAIN", None, None, None),
    "DRAIN (agent)": ("DRAIN", None, "agent", None),
    "no check": ("no check", None, None, None),
}


@pytest.mark.parametrize("version", VERSIONS)
def test_every_recorded_status_string_parses_including_composite_ones(version):
    seen = set()
    for name in fixture_names(version, "show_stat"):
        text = load_fixture(version, name)
        if not text.startswith("# pxname"):
            continue
        for row in hr.parse_stat_csv(text):
            if row["svname"] in ("FRONTEND", "BACKEND"):
                continue
            stats = hr.ServerStats.from_row(row)
            seen.add(stats.status.text)
            expected = STATUSES[stats.status.text]
            status = stats.status
            assert (status.state, status.progress, status.reason, status.via) == expected
    # The recordings hold every form the client must understand.
    assert seen == set(STATUSES)


@pytest.mark.parametrize("text, going_down, going_up, checked", [
    ("UP 1/3", True, False, True), ("NOLB 1/2", True, False, True),
    ("DRAIN 2/3", True, False, True), ("DOWN 2/3", False, True, True),
    ("UP", False, False, True), ("no check", False, False, False),
    ("DOWN (agent)", False, False, True),
])
def test_status_transitions(text, going_down, going_up, checked):
    status = hr.parse_status(text)
    assert (status.going_down, status.going_up, status.checked) == (going_down, going_up, checked)


def test_unknown_status_is_kept_not_fatal():
    assert hr.parse_status("SOMETHING NEW").state == "SOMETHING NEW"


@pytest.mark.parametrize("version", VERSIONS)
def test_show_stat_counters_of_servers(version):
    rows = hr.parse_stat_csv(load_fixture(version, "show_stat--steady.txt"))
    servers = {(r["pxname"], r["svname"]): hr.ServerStats.from_row(r) for r in rows}

    web1 = servers[("app", "web1")]
    assert web1.status.text == "UP" and web1.check_status == "L7OK"
    assert web1.uweight == 1 and web1.pid == 1
    app = [servers[("app", s)] for s in ("web1", "web2", "web3")]
    # The recorder sent 3 x 200, one 404, one 503 and one 302 through app.
    assert sum(s.hrsp_2xx for s in app) == 3
    assert sum(s.hrsp_4xx for s in app) == 1
    assert sum(s.hrsp_5xx for s in app) == 1
    assert sum(s.hrsp_3xx for s in app) == 1
    assert all(isinstance(s.rtime, int) and isinstance(s.ttime, int) for s in app)
    assert servers[("app", "web3")].check_status is None
    assert servers[("api", "dead")].check_status == "L4CON"


@pytest.mark.parametrize("version", VERSIONS)
def test_show_stat_counts_sessions_in_flight_and_queued(version):
    (row,) = hr.parse_stat_csv(load_fixture(version, "show_stat_hashed_4_-1--inflight.txt"))
    stats = hr.ServerStats.from_row(row)

    assert (stats.scur, stats.qcur, stats.sessions) == (1, 2, 3)


def test_check_status_in_progress_is_recognised():
    text = load_fixture("haproxy-2.6", "show_stat--steady.txt").replace(",L7OK,", ",* L7OK,", 1)
    row = [r for r in hr.parse_stat_csv(text) if r["svname"] == "web1"][0]
    stats = hr.ServerStats.from_row(row)

    assert (stats.check_status, stats.check_in_progress) == ("L7OK", True)


@pytest.mark.parametrize("text", ["", "No such proxy.\n", "Name: HAProxy\n"])
def test_show_stat_refuses_what_is_not_its_answer(text):
    with pytest.raises(ValueError):
        hr.parse_stat_csv(text)


# -- error answers ----------------------------------------------------------

ERROR_FIXTURES = [
    "bogus_command.txt", "disable_health_app-nosuch.txt", "enable_agent_app-web3.txt",
    "enable_health_app-web3.txt", "set_server.txt", "set_server_app-nosuch_state_drain.txt",
    "set_server_app-web1_state_bogus.txt", "set_server_app-web1_weight_-1pct.txt",
    "set_server_app-web1_weight_300.txt", "set_server_app-web1_weight_abc.txt",
    "set_server_app_state_drain.txt", "set_server_nosuch-web1_state_drain.txt",
    "set_server_static-s1_weight_5.txt", "show_servers_state_nosuch.txt",
    "show_stat_nosuch_4_-1.txt", "shutdown_sessions_server_nosuch-web1.txt",
    "set_server_app-web1_state_drain--operator.txt", "disable_health_app-web1--operator.txt",
    "set_server_app-web1_weight_10--operator.txt", "shutdown_sessions_server_app-web1--operator.txt",
]
SUCCESS_FIXTURES = [
    "set_server_api-web1_state_drain.txt", "set_server_app-web2_state_maint.txt",
    "set_server_app-web1_weight_50pct.txt", "set_server_app-web2_weight_7.txt",
    "disable_health_app-web1.txt", "enable_health_app-web1.txt",
    "disable_agent_api-agentdrain.txt", "enable_agent_api-agentdrain.txt",
    "shutdown_sessions_server_app-web3.txt",
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", ERROR_FIXTURES)
def test_every_recorded_error_answer_is_recognised(version, name):
    assert hr.is_error_answer(load_fixture(version, name))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", ERROR_FIXTURES)
def test_a_recorded_error_answer_fails_the_command_naming_socket_command_and_answer(
        fake, version, name):
    command = command_of(name)
    answer = load_fixture(version, name)
    server = fake({command: answer})
    client = HAProxyRuntime(server.address)

    with pytest.raises(HAProxyCommandError) as info:
        if command.startswith("show "):
            client._read(command, lambda text: text)
        else:
            client.run(command)

    message = str(info.value)
    assert server.address in message and command in message
    assert answer.strip().splitlines()[0] in message
    assert info.value.answer == answer.strip()
    assert isinstance(info.value, HAProxyPermissionError) == ("--operator" in name)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", SUCCESS_FIXTURES)
def test_a_recorded_successful_write_answers_nothing_and_passes(fake, version, name):
    command = command_of(name)
    server = fake({command: load_fixture(version, name)})

    assert HAProxyRuntime(server.address).run(command) is None
    assert server.commands == [command]


@pytest.mark.parametrize("answer", ["[3]: No such server.\n", "[err]: No such server.\n",
                                    "Something HAProxy never printed before\n"])
def test_any_text_after_a_write_is_an_error_with_or_without_severity(fake, answer):
    server = fake({"set server app/web1 state drain": answer})

    with pytest.raises(HAProxyCommandError) as info:
        HAProxyRuntime(server.address).set_server_state("app", "web1", "drain")
    assert "app/web1" in str(info.value)


@pytest.mark.parametrize("version", VERSIONS)
def test_reads_recognise_unknown_backend_errors(fake, version):
    server = fake({"show servers state nosuch": load_fixture(version, "show_servers_state_nosuch.txt"),
                   "show stat nosuch 4 -1": load_fixture(version, "show_stat_nosuch_4_-1.txt")})
    client = HAProxyRuntime(server.address)

    with pytest.raises(HAProxyCommandError, match="Can't find backend"):
        client.show_servers_state("nosuch")
    with pytest.raises(HAProxyCommandError, match="No such proxy"):
        client.server_stats("nosuch", "web1")


def test_a_read_answered_by_the_help_text_is_an_error(fake):
    server = fake({})  # every command gets "Unknown command..."
    with pytest.raises(HAProxyCommandError, match="Unknown command"):
        HAProxyRuntime(server.address).show_servers_state()


# -- commands sent ------------------------------------------------------------

@pytest.fixture
def recorded26(fake):
    v = "haproxy-2.6"
    answers = {
        "show info": load_fixture(v, "show_info--steady.txt"),
        "show servers state": load_fixture(v, "show_servers_state.txt"),
        "show servers state app": load_fixture(v, "show_servers_state_app--steady.txt"),
        "show stat app 4 -1": load_fixture(v, "show_stat_app_4_-1--steady.txt"),
        "show cli level": load_fixture(v, "show_cli_level--steady.txt"),
    }
    for command in ("set server app/web1 state drain", "set server app/web1 state ready",
                    "set server app/web1 state maint", "set server app/web1 weight 50%",
                    "set server app/web1 weight 7", "enable health app/web1",
                    "disable health app/web1", "enable agent app/web1", "disable agent app/web1",
                    "shutdown sessions server app/web1"):
        answers[command] = "\n"
    return fake(answers)


def test_writes_send_haproxy_commands(recorded26):
    client = HAProxyRuntime(recorded26.address)
    client.set_server_state("app", "web1", "drain")
    client.set_server_state("app", "web1", "ready")
    client.set_server_state("app", "web1", "maint")
    client.set_server_weight("app", "web1", "50%")
    client.set_server_weight("app", "web1", 7)
    client.set_health_check("app", "web1", False)
    client.set_health_check("app", "web1", True)
    client.set_agent_check("app", "web1", False)
    client.set_agent_check("app", "web1", True)
    client.shutdown_sessions("app", "web1")

    assert recorded26.commands == [
        "set server app/web1 state drain", "set server app/web1 state ready",
        "set server app/web1 state maint", "set server app/web1 weight 50%",
        "set server app/web1 weight 7", "disable health app/web1", "enable health app/web1",
        "disable agent app/web1", "enable agent app/web1", "shutdown sessions server app/web1"]


def test_reads_of_one_server(recorded26):
    client = HAProxyRuntime(recorded26.address)

    assert client.server_state("app", "web1").admin == "ready"
    assert client.server_stats("app", "web3").status.text == "no check"
    assert client.show_info().version.startswith("2.6")
    assert client.cli_level() == "admin"
    with pytest.raises(HAProxyCommandError, match="backend 'app' has no server 'nosuch'"):
        client.server_state("app", "nosuch")


def test_find_backends_lists_every_backend_holding_the_server(recorded26):
    client = HAProxyRuntime(recorded26.address)

    assert client.find_backends("web1") == ["app", "api"]
    assert client.find_backends("web3") == ["app", "hashed"]
    assert client.find_backends("nosuch") == []
    assert client.backends() == ["app", "api", "transit", "hashed", "static"]


def test_cli_level_of_an_operator_socket_and_of_an_old_haproxy(fake):
    operator = fake({"show cli level": load_fixture("haproxy-3.0", "show_cli_level--operator.txt")})
    old = fake({})

    assert HAProxyRuntime(operator.address).cli_level() == "operator"
    assert HAProxyRuntime(old.address).cli_level() is None


@pytest.mark.parametrize("call", [
    lambda c: c.set_server_state("app", "web1; shutdown sessions server app/web2", "maint"),
    lambda c: c.set_server_state("app", "web1\nshow info", "maint"),
    lambda c: c.set_server_state("app/x", "web1", "maint"),
    lambda c: c.set_server_state("app", "web1", "down"),
    lambda c: c.set_server_weight("app", "web1", 257),
    lambda c: c.set_server_weight("app", "web1", "-1"),
    lambda c: c.set_server_weight("app", "web1", "5 0"),
    lambda c: c.set_server_weight("app", "web1", True),
    lambda c: c.show_servers_state(""),
    lambda c: c.execute("show info\nshow stat"),
])
def test_bad_arguments_are_refused_before_anything_is_sent(recorded26, call):
    with pytest.raises(HAProxyArgumentError):
        call(HAProxyRuntime(recorded26.address))
    assert recorded26.commands == []


@pytest.mark.parametrize("weight, iweight, expected", [
    (0, 100, 0), ("256", 1, 256), ("50%", 100, 50), ("50%", 1, 0), ("33%", 10, 3),
    ("1000%", 100, 256), ("100%", 7, 7), (" 12 ", 1, 12),
])
def test_expected_weight_computes_as_haproxy(weight, iweight, expected):
    assert hr.expected_weight(weight, iweight) == expected


@pytest.mark.parametrize("version", VERSIONS)
def test_expected_weight_matches_what_haproxy_recorded(version):
    # The recorder sent "weight 50%" to app/web1 (initial weight 1) and
    # "weight 7" to app/web2.
    servers = {s.server: s for s in
               hr.parse_servers_state(load_fixture(version, "show_servers_state.txt"))
               if s.backend == "app"}
    assert servers["web1"].uweight == hr.expected_weight("50%", servers["web1"].iweight)
    assert servers["web2"].uweight == hr.expected_weight("7", servers["web2"].iweight)


# -- addresses, connections, timeouts -------------------------------------------

@pytest.mark.parametrize("address, expected", [
    ("/run/haproxy/admin.sock", ("unix", "/run/haproxy/admin.sock")),
    ("unix:///run/haproxy/admin.sock", ("unix", "/run/haproxy/admin.sock")),
    ("tcp://127.0.0.1:9999", ("tcp", ("127.0.0.1", 9999))),
    ("tcp://[::1]:9999", ("tcp", ("::1", 9999))),
    ("tcp://lb1.example.org:9999", ("tcp", ("lb1.example.org", 9999))),
])
def test_parse_address(address, expected):
    assert hr.parse_address(address) == expected


@pytest.mark.parametrize("address", ["", "tcp://127.0.0.1", "tcp://::1:9999", "tcp://host:0",
                                     "tcp://host:70000", "http://127.0.0.1:80", "unix://"])
def test_parse_address_refuses_malformed_addresses(address):
    with pytest.raises(HAProxyArgumentError):
        hr.parse_address(address)


@pytest.mark.parametrize("kwargs", [dict(connect_timeout=0), dict(read_timeout=-1),
                                    dict(read_timeout="5")])
def test_timeouts_must_be_positive_seconds(kwargs):
    with pytest.raises(HAProxyArgumentError):
        HAProxyRuntime("/run/haproxy/admin.sock", **kwargs)


@pytest.mark.parametrize("family", ["tcp", "tcp6"])
def test_tcp_sockets_ipv4_and_ipv6(fake, family):
    if family == "tcp6" and not socket.has_ipv6:
        pytest.skip("no IPv6")
    server = fake({"show info": load_fixture("haproxy-3.0", "show_info--tcp.txt")}, family=family)

    assert HAProxyRuntime(server.address).show_info().version.startswith("3.0")


def test_missing_unix_socket_names_it(tmp_path):
    path = str(tmp_path / "admin.sock")
    with pytest.raises(HAProxyConnectionError, match="does not exist") as info:
        HAProxyRuntime(path).show_info()
    assert path in str(info.value)


def test_refused_unix_socket_names_it(tmp_path):
    path = str(tmp_path / "admin.sock")
    bound = socket.socket(socket.AF_UNIX)
    bound.bind(path)  # bound, not listening: what a dead HAProxy leaves behind
    try:
        with pytest.raises(HAProxyConnectionError, match="refused") as info:
            HAProxyRuntime(path).show_info()
        assert path in str(info.value)
    finally:
        bound.close()


def test_refused_tcp_socket_names_it():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = "tcp://127.0.0.1:%d" % port
    with pytest.raises(HAProxyConnectionError, match="refused") as info:
        HAProxyRuntime(address).show_info()
    assert address in str(info.value)


def test_connect_timeout_applies():
    # A listener whose accept queue is full leaves the next SYN unanswered.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=1)
    try:
        client = HAProxyRuntime("tcp://127.0.0.1:%d" % port, connect_timeout=0.2)
        with pytest.raises(HAProxyConnectionError, match="timed out after 0.2s connecting"):
            client.show_info()
    finally:
        filler.close()
        listener.close()


def test_read_timeout_applies_when_haproxy_does_not_answer(fake):
    server = fake({}, silent=True)
    client = HAProxyRuntime(server.address, read_timeout=0.2)

    with pytest.raises(HAProxyConnectionError, match="read_timeout") as info:
        client.show_info()
    assert server.address in str(info.value) and "show info" in str(info.value)


def test_errors_share_one_base_class():
    for kind in (HAProxyConnectionError, HAProxyCommandError, HAProxyPermissionError,
                 HAProxyTimeoutError, HAProxyArgumentError):
        assert issubclass(kind, HAProxyRuntimeError)


# -- waits --------------------------------------------------------------------

def stat_answers(version, *names):
    return [load_fixture(version, n) for n in names]


@pytest.fixture
def hashed_fake(fake):
    """hashed/web3 busy (1 in flight, 2 queued) twice, then drained."""
    def make(version, busy=2):
        answers = stat_answers(version, *(["show_stat_hashed_4_-1--inflight.txt"] * busy
                                          + ["show_stat_hashed_4_-1--drained.txt"]))
        return fake({"show stat hashed 4 -1": answers})
    return make


@pytest.mark.parametrize("version", VERSIONS)
def test_wait_for_drain_polls_until_sessions_and_queue_are_zero(hashed_fake, version):
    server = hashed_fake(version, busy=2)
    clock = FakeClock()
    client = HAProxyRuntime(server.address, clock=clock, sleep=clock.sleep)

    waited = client.wait_for_drain("hashed", "web3", timeout_s=10, interval_s=0.2)

    assert waited == pytest.approx(0.4)
    assert server.commands == ["show stat hashed 4 -1"] * 3


@pytest.mark.parametrize("timeout_s, interval_s, polls", [
    (1.0, 0.2, 6), (2.1, 0.7, 4), (1.0, 0.3, 5), (0.0, 0.2, 1), (0.5, 1.0, 2),
])
def test_wait_for_drain_does_every_poll_it_promises_the_last_at_the_deadline(
        hashed_fake, timeout_s, interval_s, polls):
    server = hashed_fake("haproxy-2.6", busy=1000)
    clock = FakeClock()
    start = clock.now
    client = HAProxyRuntime(server.address, clock=clock, sleep=clock.sleep)

    with pytest.raises(HAProxyTimeoutError) as info:
        client.wait_for_drain("hashed", "web3", timeout_s=timeout_s, interval_s=interval_s)

    assert info.value.polls == polls == len(server.commands)
    assert clock.now == pytest.approx(start + timeout_s)  # last poll at the deadline
    assert info.value.waited == pytest.approx(timeout_s)
    assert (info.value.last_state.scur, info.value.last_state.qcur) == (1, 2)
    assert "hashed/web3" in str(info.value) and server.address in str(info.value)


@pytest.mark.parametrize("status_fixture, server_name", [
    ("show_stat.txt", "dead"),            # DOWN
    ("show_stat.txt", "unresolved"),      # MAINT (resolution)
    ("show_stat.txt", "tracked"),         # MAINT (via app/web2)
])
def test_wait_for_drain_does_not_wait_for_a_down_or_maint_server(fake, status_fixture, server_name):
    text = load_fixture("haproxy-3.0", status_fixture)
    header, rows = text.splitlines()[0], text.splitlines()[1:]
    # Pretend the server still counts a session: DOWN/MAINT must win.
    api = [header] + [r.replace(",0,0,0,0,", ",0,0,1,1,", 1) if r.startswith("api,") else r
                      for r in rows if r.startswith("api,")]
    server = fake({"show stat api 4 -1": "\n".join(api) + "\n\n"})
    clock = FakeClock()
    client = HAProxyRuntime(server.address, clock=clock, sleep=clock.sleep)

    assert client.server_stats("api", server_name).scur == 1
    assert client.wait_for_drain("api", server_name, timeout_s=30) == 0.0
    assert clock.sleeps == []


@pytest.mark.parametrize("version", VERSIONS)
def test_wait_for_up_waits_past_the_optimistic_up_after_maint(fake, version):
    state = load_fixture(version, "show_servers_state_app--steady.txt")
    stat = load_fixture(version, "show_stat_app_4_-1--steady.txt")
    server = fake({
        "show servers state app": [servers_state_line(state, "app", "web1", srv_op_state=0),
                                   state, state, state],
        "show stat app 4 -1": [stat_line(stat, "web1", "DOWN 1/2"), stat_line(stat, "web1", "UP 1/3"),
                               stat_line(stat, "web1", "UP 2/3"), stat],
    })
    clock = FakeClock()
    client = HAProxyRuntime(server.address, clock=clock, sleep=clock.sleep)

    assert client.wait_for_up("app", "web1", timeout_s=10, interval_s=0.5) == pytest.approx(1.5)


@pytest.mark.parametrize("version", VERSIONS)
def test_wait_for_up_of_a_server_without_checks_returns_at_once(fake, version):
    server = fake({"show servers state app": load_fixture(version, "show_servers_state_app--steady.txt"),
                   "show stat app 4 -1": load_fixture(version, "show_stat_app_4_-1--steady.txt")})
    clock = FakeClock()
    client = HAProxyRuntime(server.address, clock=clock, sleep=clock.sleep)

    assert client.wait_for_up("app", "web3", timeout_s=30) == 0.0
    assert clock.sleeps == []


def test_wait_for_up_times_out_on_a_drained_server_with_its_last_state(fake):
    v = "haproxy-2.6"
    state = servers_state_line(load_fixture(v, "show_servers_state_app--steady.txt"), "app", "web1",
                               srv_admin_state=8)
    server = fake({"show servers state app": state,
                   "show stat app 4 -1": stat_line(load_fixture(v, "show_stat_app_4_-1--steady.txt"),
                                                   "web1", "DRAIN")})
    clock = FakeClock()
    client = HAProxyRuntime(server.address, clock=clock, sleep=clock.sleep)

    with pytest.raises(HAProxyTimeoutError) as info:
        client.wait_for_up("app", "web1", timeout_s=1.0, interval_s=0.5)
    assert info.value.polls == 3
    assert info.value.last_state.admin == "drain"
    assert info.value.last_stats.status.text == "DRAIN"


@pytest.mark.parametrize("timeout_s, interval_s", [(-1, 0.2), (1, 0), (1, -0.1), (True, 0.2)])
def test_waits_refuse_bad_durations(recorded26, timeout_s, interval_s):
    with pytest.raises(HAProxyArgumentError):
        HAProxyRuntime(recorded26.address).wait_for_drain("app", "web1", timeout_s, interval_s)
