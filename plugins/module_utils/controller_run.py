# -*- coding: utf-8 -*-
# Copyright: zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Who runs this play on the controller, and whether a recorded run still does.

The deploy lock records the ansible-playbook process that holds it (issue
14: a run killed on the controller, or ended by an unreachable host, keeps
its lock). A later run on the same controller can then tell that the holder
has ended and take the lock over without ``deploy_lock_break``. "The same
controller" means the same host name, boot (``/proc/sys/kernel/random/boot_id``)
and PID namespace (``/proc/self/ns/pid``), so that a process ID is never
compared across machines or containers; a process ID reused since is told
apart by its start time (field 22 of ``/proc/<pid>/stat``, proc(5)).
Linux only: elsewhere nothing is ever found gone.
"""

from __future__ import absolute_import, division, print_function
from __future__ import annotations

__metaclass__ = type

import multiprocessing
import os
import socket


def _read(path):
    """The stripped text of ``path``, or None when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return None


def process_start(pid):
    """Start time of process ``pid`` in clock ticks since boot, as a string.

    Args:
        pid: process ID (int).

    Returns:
        str, field 22 (starttime) of ``/proc/<pid>/stat``, or None when no
        such process runs (or /proc cannot be read).
    """
    stat = _read("/proc/%d/stat" % int(pid))
    if not stat or ")" not in stat:
        return None
    # The command name (field 2) is in parentheses and may hold spaces.
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] if len(fields) > 19 else None


def _pid_namespace():
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def this_run():
    """Identity of the ansible-playbook process that runs the current play.

    Called in one of Ansible's worker processes (a lookup or a filter in a
    task), it names the worker's parent, the ansible-playbook process; called
    anywhere else, the calling process.

    Returns:
        dict with ``host`` (str, the controller's host name), ``boot_id``
        (str or None), ``pid_namespace`` (str or None), ``pid`` (int) and
        ``start`` (str or None, see process_start).
    """
    pid = os.getppid() if multiprocessing.parent_process() is not None else os.getpid()
    return {
        "host": socket.gethostname(),
        "boot_id": _read("/proc/sys/kernel/random/boot_id"),
        "pid_namespace": _pid_namespace(),
        "pid": pid,
        "start": process_start(pid),
    }


def run_is_gone(record):
    """Whether the run that ``record`` names has certainly ended.

    Args:
        record: a dict as returned by this_run() (or None, or a dict
            without these keys: a lock taken by an older version).

    Returns:
        True only when the record names this controller (same host name,
        PID namespace and, unless it rebooted since, boot) and its process
        no longer runs: gone, or its ID taken by a process started later,
        or the controller rebooted since. False when it runs, or when the
        record names another controller or cannot be judged.
    """
    if not isinstance(record, dict) or not record.get("pid") or not record.get("start"):
        return False
    here = this_run()
    if record.get("host") != here["host"] or record.get("pid_namespace") != here["pid_namespace"] \
            or here["pid_namespace"] is None:
        return False
    if record.get("boot_id") and here["boot_id"] and record["boot_id"] != here["boot_id"]:
        return True
    try:
        pid = int(record["pid"])
    except (TypeError, ValueError):
        return False
    return process_start(pid) != str(record["start"])
