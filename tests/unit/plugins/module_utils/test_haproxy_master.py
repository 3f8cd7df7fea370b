# SPDX-License-Identifier: GPL-3.0-or-later
"""The master CLI client: show proc and commands to one worker, on answers
recorded from HAProxy 2.6 and 3.0 by fixtures/record_haproxy_master_answers.py
(tests/unit/fixtures/haproxy-<version>-master/)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import pathlib
import re
import time

import pytest

from ansible_collections.zerodowntime.deploy.plugins.module_utils.haproxy_common import master_summary
from ansible_collections.zerodowntime.deploy.plugins.module_utils.haproxy_runtime import (
    HAProxyCommandError, HAProxyMaster, HAProxyProcess, HAProxyWorkerGoneError, parse_show_proc, parse_uptime)
from ansible_collections.zerodowntime.deploy.tests.unit.plugins.module_utils.haproxy_fake import FakeHAProxy

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
VERSIONS = ["2.6", "3.0"]

# HAProxy 2.6.12 (Debian 12), master CLI, one reload with a connection
# still open through the first worker.
SHOW_PROC_2_6 = (
    "#<PID>          <type>          <reloads>       <uptime>        <version>      \n"
    "21330           master          1 [failed: 0]   0d00h00m02s     2.6.12-1+deb12u4\n"
    "# workers\n"
    "21338           worker          0               0d00h00m00s     2.6.12-1+deb12u4\n"
    "# old workers\n"
    "21332           worker          1               0d00h00m02s     2.6.12-1+deb12u4\n"
    "# programs\n\n")


def recorded(version, slug):
    """(answer, what HAProxy did with the connection: closed or left_open)."""
    directory = FIXTURES / ("haproxy-%s-master" % version)
    connection = json.loads((directory / "commands.json").read_text())["commands"][slug]["connection"]
    return (directory / (slug + ".txt")).read_text(), connection


def test_show_proc_names_the_master_the_worker_and_the_old_worker():
    assert parse_show_proc(SHOW_PROC_2_6) == [
        HAProxyProcess(pid=21330, kind="master", reloads=1, old=False, uptime=2),
        HAProxyProcess(pid=21338, kind="worker", reloads=0, old=False, uptime=0),
        HAProxyProcess(pid=21332, kind="worker", reloads=1, old=True, uptime=2),
    ]


def test_without_a_reload_there_is_no_old_worker():
    text = SHOW_PROC_2_6.split("# old workers", maxsplit=1)[0] + "# programs\n\n"
    assert [p.pid for p in parse_show_proc(text) if p.old] == []


def test_an_answer_that_is_not_show_proc_is_an_error():
    with pytest.raises(HAProxyCommandError, match="not an answer of the master CLI"):
        parse_show_proc("Unknown command. Please enter one of the following commands only :\n")


@pytest.mark.parametrize("text, seconds", [("0d00h00m02s", 2), ("0d01h02m03s", 3723), ("2d00h00m00s", 172800),
                                           ("12h00m01s", 43201), ("2.6.12", None), ("[failed:", None)])
def test_an_uptime_of_show_proc_is_read_in_seconds(text, seconds):
    assert parse_uptime(text) == seconds


@pytest.mark.parametrize("version", VERSIONS)
def test_a_started_master_has_no_reload_and_its_worker_is_as_old_as_it(version):
    master, worker = parse_show_proc(recorded(version, "show_proc--started")[0])
    assert (master.kind, master.reloads, worker.kind, worker.old) == ("master", 0, "worker", False)
    assert master.uptime >= 2 and abs(master.uptime - worker.uptime) <= 1


@pytest.mark.parametrize("version", VERSIONS)
def test_a_reload_counts_on_the_master_and_restarts_the_current_workers_uptime(version):
    master, current, old = parse_show_proc(recorded(version, "show_proc--reloaded_old_worker")[0])
    assert (master.kind, master.reloads) == ("master", 1)
    assert (current.old, current.reloads, old.old, old.reloads) == (False, 0, True, 1)
    # The recorder waited 1.2 s after the reload and 2.2 s before it.
    assert current.uptime <= 2 < master.uptime == old.uptime

    master, current = parse_show_proc(recorded(version, "show_proc--reloaded_twice")[0])
    assert (master.reloads, current.old, current.reloads) == (2, False, 0)
    assert current.uptime <= 2 < master.uptime


@pytest.mark.parametrize("version", VERSIONS)
def test_an_old_worker_refuses_a_change_with_proxy_is_disabled(version):
    assert recorded(version, "at-old_set_server_app-web1_state_drain")[0].startswith("Proxy is disabled")


@pytest.mark.parametrize("version", VERSIONS)
def test_a_command_to_a_worker_that_exited_fails_at_once_naming_it(version):
    """3.0 leaves the connection open after this answer (2.6 closes it): the
    client must not wait read_timeout for a close that does not come."""
    answer, connection = recorded(version, "at-gone_show_info")
    pid = int(re.search(r"'@!(\d+)'", answer).group(1))
    command = "@!%d show info;quit" % pid
    fake = FakeHAProxy({command: answer}, left_open=[command] if connection == "left_open" else [])
    try:
        worker = HAProxyMaster(fake.address, read_timeout=3.0).worker(pid)
        started = time.monotonic()
        with pytest.raises(HAProxyWorkerGoneError) as failure:
            worker.show_info()
        assert time.monotonic() - started < 1.0
    finally:
        fake.close()
    assert failure.value.pid == pid
    assert "HAProxy worker %d is gone" % pid in str(failure.value)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_summary_dates_the_current_worker_from_its_uptime(version):
    processes = parse_show_proc(recorded(version, "show_proc--reloaded_old_worker")[0])
    master, current, old = processes
    summary = master_summary(processes, serving_pid=current.pid, now=1767225600.7)
    assert summary == dict(pid=master.pid, reloads=1, uptime=master.uptime, old_workers=[old.pid],
                           current_worker=dict(pid=current.pid, uptime=current.uptime,
                                               started=1767225600 - current.uptime))
    # The stats socket answered from a pid show proc does not list as a
    # current worker: the youngest current worker is taken.
    assert master_summary(processes, serving_pid=old.pid, now=0)["current_worker"]["pid"] == current.pid
    assert master_summary(processes[:1])["current_worker"] is None
