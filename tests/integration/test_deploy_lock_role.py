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

from local_role import run_role

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


def _lock_vars(locks, run_id, **extra):
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
        run = run_role(tmp_path, "deploy_lock", "acquire", _lock_vars(locks, "firstrun00000001"))
        seen = [(mask, name) for name, mask in events.read() if name == "app.lock"]
    finally:
        events.close()
    assert run.rc == 0, run.output
    # Never created empty under its name: it arrived by rename, complete.
    assert [mask & (IN_CREATE | IN_MOVED_TO) for mask, _name in seen] == [IN_MOVED_TO], seen
    assert _holder(locks)["run_id"] == "firstrun00000001"
    assert sorted(os.listdir(locks)) == ["app.lock"]


def test_a_second_run_fails_at_once_naming_the_holder_and_leaves_the_lock_as_it_was(tmp_path, locks):
    first = run_role(tmp_path, "deploy_lock", "acquire", _lock_vars(locks, "firstrun00000001"))
    assert first.rc == 0, first.output
    held = _holder(locks)

    second = run_role(tmp_path, "deploy_lock", "acquire", _lock_vars(locks, "secondrun0000002"))
    assert second.rc != 0
    msg = second.failure()
    for expected in ("tester@firstrun00000001", "deploy 9.9.9", f"since {held['since']}",
                     "(run firstrun00000001)", "-e deploy_lock_break=true"):
        assert expected in msg, msg
    assert _holder(locks) == held
    # The loser's own record is gone too.
    assert sorted(os.listdir(locks)) == ["app.lock"]


def test_only_the_holder_releases_the_lock_and_breaking_it_takes_it_over(tmp_path, locks):
    assert run_role(tmp_path, "deploy_lock", "acquire", _lock_vars(locks, "firstrun00000001")).rc == 0

    other = run_role(tmp_path, "deploy_lock", "release", _lock_vars(locks, "secondrun0000002"))
    assert other.rc == 0, other.output
    assert _holder(locks)["run_id"] == "firstrun00000001"

    broken = run_role(tmp_path, "deploy_lock", "acquire",
                      _lock_vars(locks, "secondrun0000002", deploy_lock_break=True))
    assert broken.rc == 0, broken.output
    assert _holder(locks)["run_id"] == "secondrun0000002"
    assert sorted(os.listdir(locks)) == ["app.lock"]

    released = run_role(tmp_path, "deploy_lock", "release", _lock_vars(locks, "secondrun0000002"))
    assert released.rc == 0, released.output
    assert os.listdir(locks) == []
