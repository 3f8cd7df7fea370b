# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the map commands of the Runtime API client (show_maps,
show_map, map_values, set_map, add_map, del_map) and of the haproxy_map
module.

The answers come from tests/unit/plugins/module_utils/fixtures/haproxy-2.6-map/,
recorded from the real HAProxy 2.6 binary by fixtures/record_haproxy_map_answers.py with the
blue/green frontend the haproxy role renders; commands.json names the
command behind each answer. FakeMapHAProxy keeps a map as HAProxy does and
answers with those recorded texts, so the module is driven through what
HAProxy really prints.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.zerodowntime.deploy.plugins.module_utils import haproxy_runtime as hr
from ansible_collections.zerodowntime.deploy.plugins.module_utils.haproxy_runtime import (
    HAProxyArgumentError,
    HAProxyCommandError,
    HAProxyRuntime,
)
from ansible_collections.zerodowntime.deploy.plugins.modules import haproxy_map
from ansible_collections.zerodowntime.deploy.tests.unit.plugins.module_utils.haproxy_fake import (
    FIXTURES as ANSWERS,
    FakeHAProxy,
    load_fixture,
)
from ansible_collections.zerodowntime.deploy.tests.unit.plugins.modules.module_args import patch_module_args

FIXTURES = ANSWERS / "haproxy-2.6-map"
RECORDED = json.loads((FIXTURES / "commands.json").read_text())
MAP = RECORDED["map"]


def answer(slug):
    """A recorded answer, byte for byte."""
    return (FIXTURES / (slug + ".txt")).read_text()


def command(slug):
    return RECORDED["commands"][slug]["command"]


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


# -- what was recorded ----------------------------------------------------------

def test_the_fixtures_come_from_haproxy_2_6():
    assert RECORDED["haproxy"].startswith("HAProxy version 2.6.")


def test_every_recorded_answer_has_its_command():
    slugs = {p.stem for p in FIXTURES.glob("*.txt")}
    assert slugs == set(RECORDED["commands"])


# -- parsing --------------------------------------------------------------------

def test_show_map_without_argument_lists_the_loaded_maps_with_id_file_and_count():
    maps = hr.parse_show_maps(answer("show_map--list"))

    by_name = {m.name: m for m in maps}
    assert set(by_name) == {MAP, RECORDED["empty_map"]}
    assert by_name[MAP].entries == 1 and by_name[RECORDED["empty_map"]].entries == 0
    assert "#%d" % by_name[MAP].id in command("show_map_by_id--blue")


def test_show_map_parses_reference_key_and_value():
    (entry,) = hr.parse_show_map(answer("show_map--blue"))

    assert entry.key == "live" and entry.value == "app_blue"
    assert entry.ref.startswith("0x")


def test_an_empty_map_answers_an_empty_line_and_parses_to_no_entry():
    assert answer("show_map--empty").strip() == ""
    assert hr.parse_show_map(answer("show_map--empty")) == []


def test_a_key_added_twice_is_listed_twice_in_haproxy_order():
    entries = hr.parse_show_map(answer("show_map--duplicate"))

    assert [(e.key, e.value) for e in entries] == [("live", "app_green"), ("live", "app_blue")]


def test_set_map_on_a_key_held_twice_changes_every_entry():
    entries = hr.parse_show_map(answer("show_map--duplicate_set"))

    assert [e.value for e in entries] == ["app_green", "app_green"]


@pytest.mark.parametrize("slug", ["show_map--unknown_map", "set_map--absent"])
def test_an_error_text_is_not_a_map_entry(slug):
    with pytest.raises(ValueError):
        hr.parse_show_map(answer(slug))


def test_the_unknown_map_answer_is_recognised_as_an_error():
    assert hr.is_error_answer(answer("show_map--unknown_map"))


# -- client ---------------------------------------------------------------------

@pytest.mark.parametrize("slug", ["set_map--green", "add_map--other", "del_map--other",
                                  "set_map--operator", "set_map--user"])
def test_a_recorded_successful_map_write_answers_an_empty_line_and_passes(fake, slug):
    assert answer(slug) == "\n"
    server = fake({command(slug): answer(slug)})

    assert HAProxyRuntime(server.address).run(command(slug)) is None


@pytest.mark.parametrize("slug, call, text", [
    ("set_map--absent", lambda c: c.set_map(MAP, "nosuch", "value"), "entry not found."),
    ("del_map--absent", lambda c: c.del_map(MAP, "other"), "Key not found."),
    ("set_map--unknown_map",
     lambda c: c.set_map(MAP.rsplit("/", 1)[0] + "/nosuch.map", "live", "app_blue"),
     "Unknown map identifier"),
    ("show_map--unknown_map", lambda c: c.show_map(MAP.rsplit("/", 1)[0] + "/nosuch.map"),
     "Unknown map identifier"),
], ids=["set-absent-key", "del-absent-key", "set-unknown-map", "show-unknown-map"])
def test_a_recorded_map_error_fails_naming_socket_command_and_answer(fake, slug, call, text):
    server = fake({command(slug): answer(slug)})

    with pytest.raises(HAProxyCommandError) as info:
        call(HAProxyRuntime(server.address))
    assert server.commands == [command(slug)]
    assert server.address in str(info.value) and command(slug) in str(info.value)
    assert info.value.answer.startswith(text)


def test_client_sends_the_commands_haproxy_recorded(fake):
    names = ("show_map--blue", "set_map--green", "add_map--other", "del_map--other", "show_map--list")
    server = fake({command(s): answer(s) for s in names})
    client = HAProxyRuntime(server.address)

    assert client.map_values(MAP, "live") == ["app_blue"]
    assert client.map_values(MAP, "other") == []
    client.set_map(MAP, "live", "app_green")
    client.add_map(MAP, "other", "value")
    client.del_map(MAP, "other")
    assert MAP in [m.name for m in client.show_maps()]
    assert server.commands == [command("show_map--blue"), command("show_map--blue"),
                               command("set_map--green"), command("add_map--other"),
                               command("del_map--other"), "show map"]


def test_show_map_of_an_empty_map_is_an_empty_list_not_an_error(fake):
    server = fake({command("show_map--empty"): answer("show_map--empty")})

    assert HAProxyRuntime(server.address).show_map(RECORDED["empty_map"]) == []


@pytest.mark.parametrize("call", [
    lambda c: c.set_map(MAP, "live", "app green"),
    lambda c: c.set_map(MAP, "live", "app_green;shutdown sessions server app/web1"),
    lambda c: c.set_map(MAP, "live", ""),
    lambda c: c.set_map(MAP, "li\\ve", "x"),
    lambda c: c.add_map("bluegreen map", "live", "x"),
    lambda c: c.show_map(""),
    lambda c: c.del_map("#", "live"),
], ids=["blank-value", "second-command", "empty-value", "backslash", "blank-map", "empty-map",
        "bare-hash"])
def test_map_names_keys_and_values_the_cli_would_split_are_refused_before_sending(fake, call):
    server = fake({})
    with pytest.raises(HAProxyArgumentError):
        call(HAProxyRuntime(server.address))
    assert server.commands == []


def test_a_map_is_named_by_file_or_by_id():
    assert hr.validate_map_name("/etc/haproxy/bluegreen.map") == "/etc/haproxy/bluegreen.map"
    assert hr.validate_map_name("#3") == "#3"


# -- the module -----------------------------------------------------------------

class RecordedMap(object):
    """A map that changes as HAProxy 2.6 does and answers with the recorded
    texts (entry lines rebuilt from the recorded format). `apply=False`
    accepts writes without applying them."""

    def __init__(self, values=("app_blue",), apply=True):
        self.values = list(values)
        self.apply = apply
        self.refs = ["0x5586c1e0d2f0", "0x7ff76804ad80", "0x5586c1fe07a0"]

    def show(self, cmd):
        lines = "".join("%s live %s\n" % (self.refs[i], v) for i, v in enumerate(self.values))
        return lines + "\n"

    def set(self, cmd):
        if not self.values:
            return answer("set_map--absent")
        if self.apply:
            self.values = [cmd.rsplit(" ", 1)[1]] * len(self.values)
        return answer("set_map--green")

    def add(self, cmd):
        if self.apply:
            self.values.append(cmd.rsplit(" ", 1)[1])
        return answer("add_map--live")

    def delete(self, cmd):
        if not self.values:
            return answer("del_map--absent")
        if self.apply:
            self.values = []
        return answer("del_map--live")

    def answers(self, name=MAP):
        answers = {"show info": load_fixture("haproxy-2.6", "show_info--steady.txt"),
                   "show map": answer("show_map--list"),
                   "show map %s" % name: self.show,
                   "del map %s live" % name: self.delete}
        for backend in ("app_blue", "app_green"):
            answers["set map %s live %s" % (name, backend)] = self.set
            answers["add map %s live %s" % (name, backend)] = self.add
        return answers


@pytest.fixture
def haproxy():
    servers = []

    def make(name=MAP, **kwargs):
        recorded = RecordedMap(**kwargs)
        server = FakeHAProxy(recorded.answers(name))
        server.map = recorded
        servers.append(server)
        return server
    yield make
    for server in servers:
        server.close()


def run(args, capsys, check=False, diff=False):
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            haproxy_map.main()
    return json.loads(capsys.readouterr().out)


def test_switch_sends_one_set_map_reads_it_back_and_a_rerun_changes_nothing(haproxy, capsys):
    server = haproxy()
    args = dict(socket=server.address, map=MAP, key="live", value="app_green")
    first = run(args, capsys)
    writes = list(server.writes())
    second = run(args, capsys)

    assert first["changed"] is True
    assert first["previous_value"] == "app_blue" and first["value"] == "app_green"
    assert first["commands"] == ["set map %s live app_green" % MAP]
    assert writes == ["set map %s live app_green" % MAP]
    assert second["changed"] is False and second["commands"] == []
    assert server.writes() == writes
    assert first["haproxy_version"].startswith("2.6")


def test_check_mode_reports_the_switch_with_a_diff_and_sends_nothing(haproxy, capsys):
    server = haproxy()
    result = run(dict(socket=server.address, map=MAP, key="live", value="app_green"), capsys,
                 check=True, diff=True)

    assert result["changed"] is True and result["value"] == "app_green"
    assert result["diff"][0]["before"] == "live app_blue\n"
    assert result["diff"][0]["after"] == "live app_green\n"
    assert server.writes() == []
    assert server.map.values == ["app_blue"]


def test_state_read_reads_the_key_and_sends_nothing_in_check_mode_or_not(haproxy, capsys):
    server = haproxy(values=("app_green", "app_blue"))
    args = dict(socket=server.address, map=MAP, key="live", state="read")
    results = [run(args, capsys), run(args, capsys, check=True, diff=True)]

    for result in results:
        assert result["changed"] is False and result["commands"] == []
        assert result["value"] == result["previous_value"] == "app_green"
        assert result["current_values"] == result["previous_values"] == ["app_green", "app_blue"]
        assert result["entries"] == [{"key": "live", "value": "app_green"}, {"key": "live", "value": "app_blue"}]
        assert result["file_changed"] is False
    assert results[1]["diff"][0]["before"] == results[1]["diff"][0]["after"]
    assert server.writes() == []
    assert server.map.values == ["app_green", "app_blue"]


def test_state_read_of_an_absent_key_gives_none(haproxy, capsys):
    server = haproxy(values=())
    result = run(dict(socket=server.address, map=MAP, key="live", state="read"), capsys)

    assert result["changed"] is False and result["value"] is None and result["current_values"] == []
    assert server.writes() == []


def test_state_read_of_an_unknown_map_fails_listing_the_maps_haproxy_has(haproxy, capsys):
    server = haproxy()
    other = MAP.rsplit("/", 1)[0] + "/nosuch.map"
    server.answers["show map " + other] = answer("show_map--unknown_map")
    result = run(dict(socket=server.address, map=other, key="live", state="read"), capsys)

    assert result["failed"] is True and "has no map '%s'" % other in result["msg"]


def test_a_missing_key_is_added_and_state_absent_removes_it(haproxy, capsys):
    server = haproxy(values=())
    added = run(dict(socket=server.address, map=MAP, key="live", value="app_green"), capsys)
    removed = run(dict(socket=server.address, map=MAP, key="live", state="absent"), capsys)
    again = run(dict(socket=server.address, map=MAP, key="live", state="absent"), capsys)

    assert added["changed"] and added["commands"] == ["add map %s live app_green" % MAP]
    assert removed["changed"] and removed["current_values"] == [] and removed["value"] is None
    assert again["changed"] is False


def test_a_key_held_twice_is_set_everywhere(haproxy, capsys):
    server = haproxy(values=("app_green", "app_blue"))
    result = run(dict(socket=server.address, map=MAP, key="live", value="app_green"), capsys)

    assert result["changed"] is True
    assert result["current_values"] == ["app_green", "app_green"]


def test_a_change_haproxy_accepts_but_does_not_apply_fails_the_task(haproxy, capsys):
    server = haproxy(apply=False)
    result = run(dict(socket=server.address, map=MAP, key="live", value="app_green"), capsys)

    assert result["failed"] is True
    assert "accepted 'set map %s live app_green'" % MAP in result["msg"]
    assert "['app_blue']" in result["msg"]


def test_an_unknown_map_fails_listing_the_maps_haproxy_has(haproxy, capsys):
    server = haproxy()
    other = MAP.rsplit("/", 1)[0] + "/nosuch.map"
    server.answers["show map " + other] = answer("show_map--unknown_map")
    result = run(dict(socket=server.address, map=other, key="live", value="app_green"), capsys)

    assert result["failed"] is True
    assert "has no map '%s'" % other in result["msg"] and MAP in result["msg"]
    assert server.writes() == []


def test_persist_rewrites_the_file_keeping_comments_and_other_keys(haproxy, capsys, tmp_path):
    path = tmp_path / "bluegreen.map"
    path.write_text("# managed\nlive app_blue\nother value\n")
    path.chmod(0o640)
    server = haproxy(name=str(path))
    result = run(dict(socket=server.address, map=str(path), key="live", value="app_green",
                      persist=True), capsys, diff=True)
    again = run(dict(socket=server.address, map=str(path), key="live", value="app_green",
                     persist=True), capsys)

    assert result["changed"] and result["file_changed"]
    assert path.read_text() == "# managed\nlive app_green\nother value\n"
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    assert result["diff"][1]["after"] == "# managed\nlive app_green\nother value\n"
    assert again["changed"] is False and again["file_changed"] is False


def test_persist_repairs_a_file_that_disagrees_with_the_running_map(haproxy, capsys, tmp_path):
    path = tmp_path / "bluegreen.map"
    path.write_text("live app_blue\n")
    server = haproxy(name=str(path), values=("app_green",))
    result = run(dict(socket=server.address, map=str(path), key="live", value="app_green",
                      persist=True), capsys)

    assert result["changed"] is True and result["commands"] == []
    assert path.read_text() == "live app_green\n"
    assert server.writes() == []


def test_persist_puts_the_file_back_when_haproxy_refuses_the_command(haproxy, capsys, tmp_path):
    path = tmp_path / "bluegreen.map"
    path.write_text("live app_blue\n")
    server = haproxy(name=str(path))
    server.answers["set map %s live app_green" % path] = answer("set_map--unknown_map")
    result = run(dict(socket=server.address, map=str(path), key="live", value="app_green",
                      persist=True), capsys)

    assert result["failed"] is True and "Unknown map identifier" in result["msg"]
    assert path.read_text() == "live app_blue\n"
    assert result["file_changed"] is False


@pytest.mark.parametrize("args, message", [
    (dict(map=MAP, key="live"), "value"),
    (dict(map=MAP, key="live", value="app green"), "invalid map value"),
    (dict(map="#3", key="live", value="x", persist=True), "absolute file name"),
    (dict(map=MAP, key="li;ve", value="x"), "invalid map key"),
    (dict(map=MAP, key="live", value="app_blue", state="read"), "takes no value and no persist"),
    (dict(map=MAP, key="live", persist=True, state="read"), "takes no value and no persist"),
], ids=["present-without-value", "blank-value", "persist-by-id", "semicolon-key", "read-with-value",
        "read-with-persist"])
def test_bad_input_fails_before_contacting_haproxy(capsys, args, message):
    result = run(dict(args, socket="/nonexistent/admin.sock"), capsys)

    assert result["failed"] is True and message in result["msg"]
