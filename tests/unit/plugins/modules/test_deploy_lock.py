# SPDX-License-Identifier: GPL-3.0-or-later
"""plugins/modules/deploy_lock.py on a temporary directory: the lock's
functions called directly, and main() in-process for what the task returns
(check mode, the failure naming the holder)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import multiprocessing
import os
import threading

import pytest

from ansible_collections.zerodowntime.deploy.plugins.modules import deploy_lock
from ansible_collections.zerodowntime.deploy.tests.unit.plugins.modules.module_args import patch_module_args

HOLDER = {"holder": "ops@jumpbox", "purpose": "deploy 1.1.0"}


def holder_of(locks, name="app"):
    return json.loads((locks / (name + ".lock") / "holder.json").read_text())


def run(args, capsys, check=False, diff=False):
    """main() with ``args``; (failed, result)."""
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exit_info:
            deploy_lock.main()
    result = json.loads(capsys.readouterr().out)
    assert bool(result.get("failed")) == (exit_info.value.code != 0), result
    return bool(result.get("failed")), result


@pytest.fixture
def locks(tmp_path):
    return tmp_path / "locks"


def test_take_creates_the_directory_and_renames_a_complete_lock_into_place(locks):
    result = deploy_lock.take(str(locks), "app", "run1", HOLDER)

    assert result["acquired"] is True and result["changed"] is True and result["taken_over"] is None
    record = holder_of(locks)
    assert record == result["holder"]
    assert record["run_id"] == "run1" and record["holder"] == "ops@jumpbox" and record["purpose"] == "deploy 1.1.0"
    assert len(record["since"]) == 20 and record["since"].endswith("Z")
    # Nothing of the run's own directories is left beside it.
    assert sorted(os.listdir(locks)) == ["app.lock"]
    assert oct(os.stat(locks).st_mode & 0o777) == "0o700"
    assert oct(os.stat(locks / "app.lock" / "holder.json").st_mode & 0o777) == "0o600"


def test_a_lock_held_by_another_run_fails_naming_its_holder_and_stays_as_it_was(locks):
    deploy_lock.take(str(locks), "app", "run1", dict(HOLDER, since="2026-11-29T06:00:00Z"))
    before = (locks / "app.lock" / "holder.json").read_bytes()

    with pytest.raises(deploy_lock.LockHeld) as held:
        deploy_lock.take(str(locks), "app", "run2", {"holder": "dev@laptop", "purpose": "deploy 1.2.0"})

    assert held.value.holder["run_id"] == "run1"
    assert "ops@jumpbox, deploy 1.1.0, since 2026-11-29T06:00:00Z (run run1)" in str(held.value)
    assert (locks / "app.lock" / "holder.json").read_bytes() == before
    assert sorted(os.listdir(locks)) == ["app.lock"]


def test_the_module_fails_with_the_holder_s_record_when_another_run_holds_the_lock(locks, capsys):
    deploy_lock.take(str(locks), "app", "run1", dict(HOLDER, since="2026-11-29T06:00:00Z"))

    failed, result = run(dict(dir=str(locks), run_id="run2", holder={"holder": "dev@laptop"}), capsys)

    assert failed
    assert result["acquired"] is False and result["changed"] is False
    assert result["holder"]["run_id"] == "run1" and result["holder"]["holder"] == "ops@jumpbox"
    assert result["msg"].startswith("Another run holds the deploy lock %s/app.lock: ops@jumpbox, deploy 1.1.0, "
                                    "since 2026-11-29T06:00:00Z (run run1)." % locks), result["msg"]


def test_the_same_run_taking_its_lock_again_changes_nothing(locks):
    first = deploy_lock.take(str(locks), "app", "run1", HOLDER)
    again = deploy_lock.take(str(locks), "app", "run1", dict(HOLDER, purpose="something else"))

    assert again["acquired"] is True and again["changed"] is False
    assert again["holder"] == first["holder"] == holder_of(locks)


def test_break_takes_over_a_held_lock_and_returns_the_displaced_record(locks):
    deploy_lock.take(str(locks), "app", "run1", HOLDER)
    displaced = holder_of(locks)

    result = deploy_lock.take(str(locks), "app", "run2", {"holder": "dev@laptop"}, break_lock=True)

    assert result["acquired"] is True and result["changed"] is True
    assert result["taken_over"] == displaced
    assert holder_of(locks)["run_id"] == "run2"
    assert sorted(os.listdir(locks)) == ["app.lock"]


def test_takeover_displaces_only_the_run_it_names(locks):
    deploy_lock.take(str(locks), "app", "run1", HOLDER)

    with pytest.raises(deploy_lock.LockHeld):
        deploy_lock.take(str(locks), "app", "run3", HOLDER, takeover="run2")
    assert holder_of(locks)["run_id"] == "run1"

    result = deploy_lock.take(str(locks), "app", "run3", HOLDER, takeover="run1")
    assert result["taken_over"]["run_id"] == "run1"
    assert holder_of(locks)["run_id"] == "run3"
    assert sorted(os.listdir(locks)) == ["app.lock"]


def test_only_the_holder_releases_the_lock(locks):
    deploy_lock.take(str(locks), "app", "run1", HOLDER)

    other = deploy_lock.release(str(locks), "app", "run2")
    assert other["released"] is False and other["changed"] is False
    assert other["holder"]["run_id"] == "run1"
    assert holder_of(locks)["run_id"] == "run1"

    own = deploy_lock.release(str(locks), "app", "run1")
    assert own["released"] is True and own["changed"] is True and own["holder"] is None
    assert os.listdir(locks) == []

    # Released already, or never taken: nothing to do.
    assert deploy_lock.release(str(locks), "app", "run1")["released"] is False
    assert deploy_lock.release(str(locks / "none"), "app", "run1")["released"] is False


def test_check_mode_reads_fails_on_a_holder_and_writes_nothing(locks, capsys):
    args = dict(dir=str(locks), name="demoapp", run_id="run1", holder=HOLDER)

    failed, result = run(args, capsys, check=True, diff=True)
    assert not failed and result["acquired"] is True and result["changed"] is True
    assert result["diff"]["before"] == {} and result["diff"]["after"]["run_id"] == "run1"
    assert not locks.exists()

    deploy_lock.take(str(locks), "demoapp", "run0", HOLDER)
    before = holder_of(locks, "demoapp")
    failed, result = run(args, capsys, check=True)
    assert failed and result["acquired"] is False and result["holder"] == before
    failed, result = run(dict(args, takeover="run0"), capsys, check=True)
    assert not failed and result["acquired"] is True and result["taken_over"] == before
    failed, result = run(dict(args, state="absent", run_id="run0"), capsys, check=True)
    assert not failed and result["released"] is True and result["changed"] is True
    assert holder_of(locks, "demoapp") == before
    assert sorted(os.listdir(locks)) == ["demoapp.lock"]


def test_an_empty_directory_under_the_lock_s_name_is_no_lock(locks):
    (locks / "app.lock").mkdir(parents=True)
    assert deploy_lock.read_holder(str(locks / "app.lock")) is None

    assert deploy_lock.take(str(locks), "app", "run1", HOLDER)["acquired"] is True
    assert holder_of(locks)["run_id"] == "run1"


def test_a_lock_without_a_readable_record_is_held_by_an_unknown_holder(locks, capsys):
    (locks / "app.lock").mkdir(parents=True)
    (locks / "app.lock" / "holder.json").write_text("not json")

    failed, result = run(dict(dir=str(locks), run_id="run2"), capsys)
    assert failed and result["holder"] == {}
    assert "unknown holder, ?, since an unknown time (run ?)" in result["msg"]


def test_a_failure_other_than_a_holder_returns_no_holder(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    failed, result = run(dict(dir=str(tmp_path / "file"), run_id="run1"), capsys)
    assert failed and "holder" not in result, result

    failed, result = run(dict(dir=str(tmp_path), run_id="../run1"), capsys)
    assert failed and "holder" not in result and "run_id must be" in result["msg"], result


def race(locks, count, **take_args):
    """``count`` threads take the lock at once (``take_args`` go to take);
    asserts that exactly one got it, that every other names it, and that
    nothing but the lock is left. Returns the winner's run ID."""
    start = threading.Barrier(count)
    outcomes = {}

    def taker(run_id):
        start.wait()
        try:
            deploy_lock.take(str(locks), "app", run_id, HOLDER, **take_args)
            outcomes[run_id] = "acquired"
        except deploy_lock.LockHeld as exc:
            outcomes[run_id] = "held by " + exc.holder.get("run_id", "?")

    threads = [threading.Thread(target=taker, args=("run%d" % i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    winners = [run_id for run_id, outcome in outcomes.items() if outcome == "acquired"]
    assert len(outcomes) == count and len(winners) == 1, outcomes
    assert holder_of(locks)["run_id"] == winners[0]
    assert set(outcomes.values()) == {"acquired", "held by " + winners[0]}, outcomes
    assert sorted(os.listdir(locks)) == ["app.lock"]
    return winners[0]


@pytest.mark.parametrize("round_", range(5))
def test_of_many_runs_taking_the_lock_at_once_exactly_one_gets_it(locks, round_):
    race(locks, 8)


def _take_in_process(locks, run_id, start, queue):
    start.wait()
    try:
        deploy_lock.take(locks, "app", run_id, HOLDER)
        queue.put((run_id, True))
    except deploy_lock.LockHeld:
        queue.put((run_id, False))


def test_of_processes_taking_the_lock_at_once_exactly_one_gets_it(locks):
    context = multiprocessing.get_context("fork")
    start = context.Barrier(4)
    queue = context.Queue()
    processes = [context.Process(target=_take_in_process, args=(str(locks), "proc%d" % i, start, queue))
                 for i in range(4)]
    for process in processes:
        process.start()
    outcomes = dict(queue.get(timeout=60) for _process in processes)
    for process in processes:
        process.join(timeout=30)

    winners = [run_id for run_id, won in outcomes.items() if won]
    assert len(winners) == 1, outcomes
    assert holder_of(locks)["run_id"] == winners[0]


@pytest.mark.parametrize("round_", range(5))
def test_of_runs_taking_over_the_same_ended_run_at_once_exactly_one_gets_it(locks, round_):
    deploy_lock.take(str(locks), "app", "ended", HOLDER)
    race(locks, 4, takeover="ended")
