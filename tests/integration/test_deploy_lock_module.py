# SPDX-License-Identifier: GPL-3.0-or-later
"""The deploy_lock module, and the deploy_lock role's acquire and release
entry points built on it, run by ansible-playbook against this machine with
the lock directory in a temporary directory."""

import json
import os

import pytest

from local_role import run_role, run_tasks
from test_deploy_lock_role import lock_vars


@pytest.fixture
def locks(tmp_path):
    return tmp_path / "locks"


def _holder(locks):
    return json.loads((locks / "app.lock" / "holder.json").read_text())


def _module(tmp_path, task, check=False, **args):
    """Run the module with ``args`` in a task named ``task``: (RoleRun, its result)."""
    tasks = (f"    - name: {task}\n"
             f"      zerodowntime.deploy.deploy_lock: {json.dumps(args)}\n")
    run = run_tasks(tmp_path, task.replace(" ", "-"), tasks, {}, check=check)
    results = run.results(task)
    assert len(results) == 1, run.output
    return run, results[0]


def test_the_module_takes_refuses_naming_the_holder_and_releases_only_for_the_holder(tmp_path, locks):
    holder = {"holder": "ops@jumpbox", "purpose": "deploy 1.1.0", "since": "2026-11-29T06:00:00Z"}
    run, taken = _module(tmp_path, "take", dir=str(locks), name="app", run_id="first", holder=holder)
    assert run.rc == 0 and taken["acquired"] is True and taken["changed"] is True, run.output
    assert _holder(locks) == dict(holder, run_id="first")

    run, refused = _module(tmp_path, "take too", dir=str(locks), run_id="second", holder={"holder": "dev@laptop"})
    assert run.rc != 0 and refused["failed"] is True and refused["acquired"] is False
    assert refused["holder"] == dict(holder, run_id="first")
    assert "ops@jumpbox, deploy 1.1.0, since 2026-11-29T06:00:00Z (run first)" in refused["msg"], refused["msg"]

    run, other = _module(tmp_path, "release other", state="absent", dir=str(locks), run_id="second")
    assert run.rc == 0 and other["released"] is False and other["changed"] is False, run.output
    assert _holder(locks)["run_id"] == "first"

    run, broken = _module(tmp_path, "break", dir=str(locks), run_id="second", holder={"holder": "dev@laptop"},
                          **{"break": True})
    assert run.rc == 0 and broken["taken_over"]["run_id"] == "first", run.output
    assert _holder(locks)["run_id"] == "second"

    run, released = _module(tmp_path, "release", state="absent", dir=str(locks), run_id="second")
    assert run.rc == 0 and released["released"] is True and released["holder"] is None, run.output
    assert os.listdir(locks) == []


def test_the_module_in_check_mode_reads_fails_on_a_holder_and_writes_nothing(tmp_path, locks):
    run, free = _module(tmp_path, "dry take", check=True, dir=str(locks), run_id="first")
    assert run.rc == 0 and free["acquired"] is True, run.output
    assert not locks.exists()

    _module(tmp_path, "take", dir=str(locks), run_id="first", holder={"holder": "ops@jumpbox"})
    before = (locks / "app.lock" / "holder.json").read_bytes()
    run, held = _module(tmp_path, "dry take too", check=True, dir=str(locks), run_id="second")
    assert run.rc != 0 and held["holder"]["holder"] == "ops@jumpbox", run.output
    run, dry_release = _module(tmp_path, "dry release", check=True, state="absent", dir=str(locks), run_id="first")
    assert run.rc == 0 and dry_release["released"] is True, run.output
    assert (locks / "app.lock" / "holder.json").read_bytes() == before
    assert sorted(os.listdir(locks)) == ["app.lock"]


def _report(run, name):
    """The deploy_lock entry of zerodowntime_report that the task ``name`` published."""
    results = run.results(name)
    assert len(results) == 1, run.output
    return results[0]["ansible_facts"]["zerodowntime_report"]["deploy_lock"]


def test_the_role_publishes_the_lock_it_holds_and_releases(tmp_path, locks):
    run = run_role(tmp_path, "deploy_lock", "acquire", lock_vars(locks, "firstrun00000001"))
    assert run.rc == 0, run.output
    assert _report(run, "Publish that this run holds the lock") == {
        "name": "app", "host": "localhost", "run_id": "firstrun00000001", "held": True}
    record = _holder(locks)
    assert record["holder"] == "tester@firstrun00000001" and record["purpose"] == "deploy 9.9.9"
    assert record["run_id"] == "firstrun00000001" and record["since"].endswith("Z")
    assert record["controller"]["pid"] > 1
    assert not any(result.get("changed") for _name, result in run.tasks), run.output

    run = run_role(tmp_path, "deploy_lock", "release", lock_vars(locks, "firstrun00000001"))
    assert run.rc == 0, run.output
    assert _report(run, "Publish that this run no longer holds the lock")["held"] is False
    assert os.listdir(locks) == []


def test_the_role_in_a_dry_run_takes_nothing_and_fails_as_the_deploy_would(tmp_path, locks):
    locks.mkdir(mode=0o700)
    dry = run_role(tmp_path, "deploy_lock", "acquire", lock_vars(locks, "dryrun0000000001"), check=True)
    assert dry.rc == 0, dry.output
    assert _report(dry, "Publish that this run holds the lock")["held"] is False
    assert os.listdir(locks) == []

    # A lock held from another controller: the dry run fails naming it.
    (locks / "app.lock").mkdir()
    held = {"holder": "ops@jumpbox", "purpose": "deploy 1.0.0", "since": "2026-11-29T06:00:00Z", "run_id": "byhand"}
    (locks / "app.lock" / "holder.json").write_text(json.dumps(held))
    dry = run_role(tmp_path, "deploy_lock", "acquire", lock_vars(locks, "dryrun0000000001"), check=True)
    assert dry.rc != 0
    msg = dry.failure()
    assert msg.startswith("Another run holds the deploy lock app on localhost: ops@jumpbox, deploy 1.0.0, "
                          "since 2026-11-29T06:00:00Z (run byhand). If that run was interrupted"), msg
    assert "-e deploy_lock_break=true" in msg, msg
    assert _holder(locks) == held


def test_the_role_in_a_dry_run_says_it_would_take_over_the_lock_of_an_ended_run(tmp_path, locks):
    # The first run ends holding the lock, as a killed run does.
    assert run_role(tmp_path, "deploy_lock", "acquire", lock_vars(locks, "firstrun00000001")).rc == 0
    before = (locks / "app.lock" / "holder.json").read_bytes()

    dry = run_role(tmp_path, "deploy_lock", "acquire", lock_vars(locks, "dryrun0000000001"), check=True)
    assert dry.rc == 0, dry.output
    said = " ".join(r.get("msg", "") for r in dry.results("Say that the lock of a run that has ended is taken over"))
    assert "held by run firstrun00000001" in said and "has ended: this run takes it over" in said, said
    assert (locks / "app.lock" / "holder.json").read_bytes() == before
    assert sorted(os.listdir(locks)) == ["app.lock"]


def test_the_role_refuses_a_lock_it_cannot_write_without_taking_it_for_held(tmp_path, locks):
    # A file where the directory of the locks should be: an error, not a holder.
    locks.write_text("")
    run = run_role(tmp_path, "deploy_lock", "acquire", lock_vars(locks, "firstrun00000001"))
    assert run.rc != 0
    msg = run.failure()
    assert "Another run holds" not in msg and str(locks) in msg, msg
    assert run.results("Fail fast when another run holds the lock") == []
