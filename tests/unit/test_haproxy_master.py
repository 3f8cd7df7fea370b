# SPDX-License-Identifier: GPL-3.0-or-later
"""The master CLI client: show proc parsed from a recorded HAProxy 2.6 answer."""

import pytest

from ansible_collections.zerodowntime.deploy.plugins.module_utils.haproxy_runtime import (
    HAProxyCommandError, HAProxyProcess, parse_show_proc)

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


def test_show_proc_names_the_master_the_worker_and_the_old_worker():
    assert parse_show_proc(SHOW_PROC_2_6) == [
        HAProxyProcess(pid=21330, kind="master", reloads=1, old=False),
        HAProxyProcess(pid=21338, kind="worker", reloads=0, old=False),
        HAProxyProcess(pid=21332, kind="worker", reloads=1, old=True),
    ]


def test_without_a_reload_there_is_no_old_worker():
    text = SHOW_PROC_2_6.split("# old workers", maxsplit=1)[0] + "# programs\n\n"
    assert [p.pid for p in parse_show_proc(text) if p.old] == []


def test_an_answer_that_is_not_show_proc_is_an_error():
    with pytest.raises(HAProxyCommandError, match="not an answer of the master CLI"):
        parse_show_proc("Unknown command. Please enter one of the following commands only :\n")
