# SPDX-License-Identifier: GPL-3.0-or-later
"""The deploy_lock role on this machine: the lock only ever exists complete.

The role runs against localhost with its lock directory in a temporary
directory. How the lock directory comes to exist is read from the kernel
(inotify on the directory of the locks), not from timing: a lock made with
``mkdir`` appears empty (IN_CREATE) and gets its holder.json afterwards; a
lock renamed into place (IN_MOVED_TO) already holds it.
"""

import ctypes
import ctypes.util
import json
import os
import struct

import pytest

import subprocess
import time

from local_role import role_command, run_role

IN_CREATE = 0x100
IN_MOVED_TO = 0x80
IN_NONBLOCK = 0o4000
EVENT_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (struct inotify_event)


class DirectoryEvents:
    """inotify events (name, mask) of the entries of one directory."""

    def __init__(self, path):
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._fd = self._libc.inotify_init1(IN_NONBLOCK)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if self._libc.inotify_add_watch(self._fd, os.fsencode(path), IN_CREATE | IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {path}")

    def read(self):
        events = []
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return events
            offset = 0
            while offset < len(data):
                _wd, mask, _cookie, length = EVENT_HEADER.unpack_from(data, offset)
                offset += EVENT_HEADER.size
                name = data[offset:offset + length].rstrip(b"\0").decode()
                offset += length
                events.append((name, mask))

    def close(self):
        os.close(self._fd)


def lock_vars(locks, run_id, **extra):
    return {
        "deploy_lock_host": "localhost",
        "deploy_lock_dir": str(locks),
        "deploy_lock_name": "app",
        "deploy_lock_run_id": run_id,
        "deploy_lock_holder": f"tester@{run_id}",
        "deploy_lock_purpose": "deploy 9.9.9",
        **extra,
    }


@pytest.fixture
def locks(tmp_path):
    path = tmp_path / "locks"
    path.mkdir(mode=0o700)
    return path


def _holder(locks):
    return json.loads((locks / "app.lock" / "holder.json").read_text())


def test_the_lock_directory_appears_by_a_rename_already_holding_its_holder(tmp_path, locks):
    events = DirectoryEvents(locks)
    try:
        run = run_role(tmp_path, "deploy_lock", "acquire", lock_vars(locks, "firstrun00000001"))
        seen = [(mask, name) for name, mask in events.read() if name == "app.lock"]
    finally:
        events.close()
    assert run.rc == 0, run.output
    # Never created empty under its name: it arrived by rename, complete.
    assert [mask & (IN_CREATE | IN_MOVED_TO) for mask, _name in seen] == [IN_MOVED_TO], seen
    assert _holder(locks)["run_id"] == "firstrun00000001"
    assert sorted(os.listdir(locks)) == ["app.lock"]


def _held_elsewhere(locks, run_id):
    """Make the lock held by ``run_id`` of a run on another controller: its
    holder.json names a host that is not this one."""
    path = locks / "app.lock" / "holder.json"
    held = json.loads(path.read_text())
    held["controller"]["host"] = "jumpbox-" + held["controller"]["host"]
    path.write_text(json.dumps(held))
    return held


def test_a_second_run_fails_at_once_naming_the_holder_and_leaves_the_lock_as_it_was(tmp_path, locks):
    first = run_role(tmp_path, "deploy_lock", "acquire", lock_vars(locks, "firstrun00000001"))
    assert first.rc == 0, first.output
    held = _held_elsewhere(locks, "firstrun00000001")

    second = run_role(tmp_path, "deploy_lock", "acquire", lock_vars(locks, "secondrun0000002"))
    assert second.rc != 0
    msg = second.failure()
    for expected in ("tester@firstrun00000001", "deploy 9.9.9", f"since {held['since']}",
                     "(run firstrun00000001)", "-e deploy_lock_break=true"):
        assert expected in msg, msg
    assert _holder(locks) == held
    # The loser's own record is gone too.
    assert sorted(os.listdir(locks)) == ["app.lock"]


def test_only_the_holder_releases_the_lock_and_breaking_it_takes_it_over(tmp_path, locks):
    assert run_role(tmp_path, "deploy_lock", "acquire", lock_vars(locks, "firstrun00000001")).rc == 0
    _held_elsewhere(locks, "firstrun00000001")

    other = run_role(tmp_path, "deploy_lock", "release", lock_vars(locks, "secondrun0000002"))
    assert other.rc == 0, other.output
    assert _holder(locks)["run_id"] == "firstrun00000001"

    broken = run_role(tmp_path, "deploy_lock", "acquire",
                      lock_vars(locks, "secondrun0000002", deploy_lock_break=True))
    assert broken.rc == 0, broken.output
    assert _holder(locks)["run_id"] == "secondrun0000002"
    assert sorted(os.listdir(locks)) == ["app.lock"]

    released = run_role(tmp_path, "deploy_lock", "release", lock_vars(locks, "secondrun0000002"))
    assert released.rc == 0, released.output
    assert os.listdir(locks) == []


def test_the_lock_of_a_run_that_ended_on_this_controller_is_taken_over_without_breaking_it(tmp_path, locks):
    # The first run takes the lock and ends without releasing it, as a run
    # killed on the controller or stopped by an unreachable host does.
    first = run_role(tmp_path, "deploy_lock", "acquire", lock_vars(locks, "firstrun00000001"))
    assert first.rc == 0, first.output
    assert _holder(locks)["controller"]["pid"] > 1

    second = run_role(tmp_path, "deploy_lock", "acquire", lock_vars(locks, "secondrun0000002"))
    assert second.rc == 0, second.output
    said = " ".join(r.get("msg", "") for r in second.results("Say that the lock of a run that has ended is taken over"))
    assert "held by run firstrun00000001" in said and "has ended" in said, said
    assert _holder(locks)["run_id"] == "secondrun0000002"
    assert sorted(os.listdir(locks)) == ["app.lock"]


def test_the_lock_of_a_run_still_going_on_this_controller_is_refused_naming_its_process(tmp_path, locks):
    holder_dir = tmp_path / "holder"
    holder_dir.mkdir()
    cmd, env = role_command(holder_dir, "deploy_lock", "acquire", lock_vars(locks, "firstrun00000001"),
                            then="    - ansible.builtin.pause:\n        seconds: 120\n")
    first = subprocess.Popen(cmd, env=env, cwd=holder_dir, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (locks / "app.lock" / "holder.json").exists():
            assert first.poll() is None and time.monotonic() < deadline, "the first run did not take the lock"
            time.sleep(0.2)
        # The record names the ansible-playbook process itself.
        assert _holder(locks)["controller"]["pid"] == first.pid

        second = run_role(tmp_path, "deploy_lock", "acquire", lock_vars(locks, "secondrun0000002"))
        assert second.rc != 0
        msg = second.failure()
        assert "(run firstrun00000001)" in msg, msg
        assert f"That run is still going on this controller (process {first.pid})." in msg, msg
        assert _holder(locks)["run_id"] == "firstrun00000001"
    finally:
        first.kill()
        first.wait(timeout=60)

    # Killed (-9): the next run takes its lock over.
    third = run_role(tmp_path, "deploy_lock", "acquire", lock_vars(locks, "thirdrun00000003"))
    assert third.rc == 0, third.output
    assert _holder(locks)["run_id"] == "thirdrun00000003"


def test_a_lock_without_a_controller_record_is_refused_as_held_elsewhere(tmp_path, locks):
    # A lock taken by an older version of the role, or written by hand.
    (locks / "app.lock").mkdir()
    (locks / "app.lock" / "holder.json").write_text(json.dumps(
        {"holder": "ops@jumpbox", "purpose": "deploy 1.0.0", "since": "2026-11-29T06:00:00Z", "run_id": "byhand"}))
    second = run_role(tmp_path, "deploy_lock", "acquire", lock_vars(locks, "secondrun0000002"))
    assert second.rc != 0
    msg = second.failure()
    assert "ops@jumpbox, deploy 1.0.0, since 2026-11-29T06:00:00Z (run byhand)" in msg, msg
    assert "-e deploy_lock_break=true" in msg, msg
