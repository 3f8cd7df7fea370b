#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the zerodowntime.deploy collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
from __future__ import annotations

__metaclass__ = type

DOCUMENTATION = r'''
---
module: deploy_lock
short_description: Take or release the deploy lock of an application, naming its holder
version_added: 0.2.0
description:
  - One deploy of an application at a time. The lock is the directory C(<dir>/<name>.lock) holding C(holder.json),
    the record of the run that holds it.
  - O(state=present) writes the record into a directory of this run's own beside the lock
    (C(<dir>/.<name>.<run_id>.new)) and renames that directory to the lock's name. rename(2) of a directory onto a
    non-empty one fails, so two runs that start at the same moment cannot both take the lock, and the lock never
    exists without its holder.
  - When another run holds the lock, the task fails with a message naming that run's holder, purpose, start time and
    run ID, and returns its record in RV(holder), unless O(break) is set, or O(takeover) names that run.
  - The lock of the run O(run_id) is this run's own already; taking it again changes nothing.
  - O(state=absent) releases the lock only when O(run_id) holds it; the lock of another run is left alone and the
    task succeeds. The lock is renamed away before it is removed, so that no empty directory stands under its name
    for another run's rename to replace.
options:
  state:
    description:
      - V(present) takes the lock for O(run_id); V(absent) releases it if O(run_id) holds it.
    type: str
    choices: [present, absent]
    default: present
  dir:
    description:
      - Directory of the locks. Created (mode C(0700)) if missing when the lock is taken.
    type: path
    required: true
  name:
    description:
      - Name of what is locked, one lock per application. Letters, digits, C(.), C(_) and C(-), not starting with C(.).
    type: str
    default: app
  run_id:
    description:
      - Identifier of this run, recorded in C(holder.json); only the run with this identifier releases the lock.
      - Letters, digits, C(.), C(_) and C(-), not starting with C(.).
    type: str
    required: true
  holder:
    description:
      - The record of this run, written to C(holder.json) as JSON, shown to whoever finds the lock held.
      - The keys C(holder) (who), C(purpose) (what for) and C(since) (when) are those the failure message names.
      - C(run_id) is set to O(run_id); C(since) is set to the time the lock is taken (UTC, C(%Y-%m-%dT%H:%M:%SZ))
        unless given.
    type: dict
    default: {}
  break:
    description:
      - Take the lock even when another run holds it, discarding that run's record (returned in RV(taken_over)).
      - For a lock left by an interrupted run, once no deploy of the application is running. Never by default.
      - The held lock is renamed away, then this run's directory renamed into place; a third run that takes the
        lock in between keeps it, and this task fails naming it.
    type: bool
    default: false
  takeover:
    description:
      - Run ID of a run known to have ended. Its lock is taken over as with O(break), and only its lock is.
        A lock held by any other run fails the task as without O(break).
      - The deploy_lock role passes the run ID of a holder whose C(ansible-playbook) process has ended on this
        controller (P(zerodowntime.deploy.lock_holder_gone#filter)), which only the controller can tell.
    type: str
attributes:
  check_mode:
    description: Reads the lock and reports whether it would be taken or released; fails as the task would when
      another run holds it. Writes, renames and removes nothing.
    support: full
  diff_mode:
    description: Shows the holder's record before and after.
    support: full
notes:
  - Runs on the host that keeps the lock; use C(delegate_to) and C(run_once) from a play of many hosts.
  - The lock directory and the run's own directory must be on one filesystem (they are beside each other).
  - Runs that remove a held lock (O(break), O(takeover), O(state=absent)) read its holder and rename it away under
    flock(2) on O(dir), so that the lock they remove is the one they read. A local filesystem is assumed.
seealso:
  - module: zerodowntime.deploy.haproxy_server
  - name: rename(2)
    description: The atomic rename the lock relies on (C(ENOTEMPTY) when the target is a non-empty directory).
    link: https://man7.org/linux/man-pages/man2/rename.2.html
author:
  - zerodowntime.deploy maintainers (@zerodowntime)
'''

EXAMPLES = r'''
- name: Take the deploy lock of demoapp on lb1, or fail naming who holds it
  zerodowntime.deploy.deploy_lock:
    dir: /var/lib/zerodowntime/locks
    name: demoapp
    run_id: "{{ run_id }}"
    holder:
      holder: "ops@jumpbox"
      purpose: deploy 1.1.0
  delegate_to: lb1
  run_once: true

- name: Take over the lock an interrupted run left, after checking that no deploy is running
  zerodowntime.deploy.deploy_lock:
    dir: /var/lib/zerodowntime/locks
    name: demoapp
    run_id: "{{ run_id }}"
    holder: {holder: "ops@jumpbox", purpose: deploy 1.1.0}
    break: true
  delegate_to: lb1
  run_once: true

- name: Release the deploy lock of demoapp if this run holds it
  zerodowntime.deploy.deploy_lock:
    state: absent
    dir: /var/lib/zerodowntime/locks
    name: demoapp
    run_id: "{{ run_id }}"
  delegate_to: lb1
  run_once: true
'''

RETURN = r'''
holder:
  description:
    - The record of the run that holds the lock at the end of the task (in check mode, that would hold it), as in
      C(holder.json); V(null) when the lock is free.
    - Returned also when the task fails because another run holds the lock, and only then among failures, so that
      a task can tell that case from the others (see the deploy_lock role). C({}) when a lock stands whose
      C(holder.json) cannot be read.
  returned: success, and failure because another run holds the lock
  type: dict
  sample:
    holder: ops@jumpbox
    purpose: deploy 1.1.0
    since: "2026-11-29T06:00:00Z"
    run_id: 3n8q0v2kz1x7m4pa
acquired:
  description: Whether O(run_id) holds the lock at the end of the task (O(state=present); in check mode, would).
  returned: always, unless the arguments are refused
  type: bool
  sample: true
released:
  description: Whether the task released the lock of O(run_id) (O(state=absent); in check mode, would).
  returned: always, unless the arguments are refused
  type: bool
  sample: false
taken_over:
  description: The record of the run whose lock O(break) or O(takeover) displaced; V(null) when none was.
  returned: always, unless the arguments are refused
  type: dict
  sample:
    holder: ops@jumpbox
    purpose: deploy 1.0.0
    since: "2026-11-28T22:00:00Z"
    run_id: leftoverbyhand00
path:
  description: The lock's path, C(<dir>/<name>.lock).
  returned: always, unless the arguments are refused
  type: str
  sample: /var/lib/zerodowntime/locks/demoapp.lock
'''

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import time

from ansible.module_utils.basic import AnsibleModule

HOLDER_FILE = "holder.json"
# A name and a run ID become parts of file names beside the lock.
SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")
# Attempts at the rename when the lock disappears between a failed rename and
# the read of its holder (released or displaced meanwhile).
TAKE_ATTEMPTS = 10


class LockError(Exception):
    """The lock cannot be read or written (permissions, a file where a directory should be)."""


class LockHeld(Exception):
    """Another run holds the lock.

    Attributes:
        path: the lock's path (str).
        holder: that run's record (dict; {} when its holder.json cannot be read).
    """

    def __init__(self, path, holder):
        self.path = path
        self.holder = holder
        super().__init__("Another run holds the deploy lock %s: %s" % (path, describe(holder)))


def describe(holder):
    """``"<holder>, <purpose>, since <since> (run <run_id>)"`` of a record (dict), '?' for what it lacks."""
    return "%s, %s, since %s (run %s)" % (
        holder.get("holder", "unknown holder"), holder.get("purpose", "?"),
        holder.get("since", "an unknown time"), holder.get("run_id", "?"))


def lock_paths(directory, name, run_id):
    """The paths of one lock and of one run's directories beside it.

    Returns:
        dict of str: ``lock`` (<dir>/<name>.lock), ``staging`` (where the run
        writes its record before the rename), ``released`` and ``displaced``
        (where the run moves its own lock, or a lock it breaks, before
        removing it). All in ``directory``, so that renames stay on one
        filesystem.
    """
    own = os.path.join(directory, ".%s.%s" % (name, run_id))
    return {
        "lock": os.path.join(directory, name + ".lock"),
        "staging": own + ".new",
        "released": own + ".released",
        "displaced": own + ".displaced",
    }


def read_holder(path):
    """The record in the lock directory ``path``.

    Returns:
        None when no lock stands there (no directory, or an empty one, which a
        rename replaces); the record (dict) from its holder.json; {} when the
        directory holds something but no readable record.

    Raises:
        LockError: ``path`` cannot be listed for another reason than its absence.
    """
    # The lock may be renamed away (and another put in its place) between two
    # reads: a missing holder.json is read again before it counts as none.
    for _attempt in range(3):
        try:
            with open(os.path.join(path, HOLDER_FILE), encoding="utf-8") as handle:
                record = json.load(handle)
            return record if isinstance(record, dict) else {}
        except ValueError:
            return {}
        except OSError:
            pass
        try:
            if not os.listdir(path):
                return None
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise LockError("cannot read the deploy lock %s: %s" % (path, exc.strerror))
    return {}


def utc_now():
    """The time now in UTC, ``%Y-%m-%dT%H:%M:%SZ`` (str)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _fsync_dir(path):
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _remove(path):
    """Remove a directory tree of this run's own, if it exists."""
    shutil.rmtree(path, ignore_errors=True)


def _rename(source, target):
    """rename(2) ``source`` to ``target``: True, or False when ``target`` is a
    non-empty directory (held). LockError for any other failure."""
    try:
        os.rename(source, target)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return False
        raise LockError("cannot rename %s to %s: %s" % (source, target, exc.strerror))
    return True


def _stage(path, record):
    """Write ``record`` as holder.json (mode 0600) in a new directory ``path`` (mode 0700)."""
    _remove(path)  # left by an earlier try of this run that was killed
    try:
        os.mkdir(path, 0o700)
        descriptor = os.open(os.path.join(path, HOLDER_FILE), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise LockError("cannot write this run's record in %s: %s" % (path, exc.strerror))


@contextlib.contextmanager
def _serialized(directory):
    """Hold flock(2) on the directory of the locks for the block.

    The runs that remove a held lock (breaking it, taking it over, releasing
    it) read its holder and rename it away under this flock, so that the
    lock they rename is the one they read: the only others that could change
    it are such runs too. Taking a free lock needs no flock (the rename
    decides). The kernel drops the flock of a killed process.
    """
    try:
        descriptor = os.open(directory, os.O_RDONLY)
        fcntl.flock(descriptor, fcntl.LOCK_EX)
    except OSError as exc:
        raise LockError("cannot lock the directory of the locks %s: %s" % (directory, exc.strerror))
    try:
        yield
    finally:
        os.close(descriptor)


def _move_away(lock, target):
    """Rename the lock directory ``lock`` to ``target`` (removed first if a killed try left it)."""
    _remove(target)
    try:
        os.rename(lock, target)
    except OSError as exc:
        raise LockError("cannot move the deploy lock %s away: %s" % (lock, exc.strerror))


def take(directory, name, run_id, holder=None, break_lock=False, takeover=None, check_mode=False):
    """Take the lock ``<directory>/<name>.lock`` for ``run_id``.

    Args:
        directory, name, run_id: str (see the module's options).
        holder: dict, this run's record; ``run_id`` and ``since`` are added.
        break_lock: bool, displace whichever run holds the lock.
        takeover: str or None, displace the lock only when this run holds it.
        check_mode: bool, read only and say what would happen.

    Returns:
        dict: ``acquired`` (True), ``changed`` (False when ``run_id`` held it
        already), ``holder`` (the record now in place, or that would be),
        ``taken_over`` (the displaced record, or None), ``before`` (the record
        found, or None).

    Raises:
        LockHeld: another run holds the lock (and may not be displaced).
        LockError: the lock cannot be read or written.
    """
    paths = lock_paths(directory, name, run_id)
    lock = paths["lock"]
    record = dict(holder or {})
    record["run_id"] = run_id
    record.setdefault("since", utc_now())

    def displaceable(current):
        return break_lock or (takeover is not None and current.get("run_id") == takeover)

    current = read_holder(lock)
    result = dict(acquired=True, changed=True, holder=record, taken_over=None, before=current)
    if current is not None and current.get("run_id") == run_id:
        return dict(result, changed=False, holder=current)
    if check_mode:
        if current is not None:
            if not displaceable(current):
                raise LockHeld(lock, current)
            result["taken_over"] = current
        return result

    try:
        os.makedirs(directory, 0o700, exist_ok=True)
    except OSError as exc:
        raise LockError("cannot create the directory of the locks %s: %s" % (directory, exc.strerror))
    _stage(paths["staging"], record)
    # One displacement at most: a run that takes the lock after the displaced
    # one keeps it.
    displaced = False
    try:
        for _attempt in range(TAKE_ATTEMPTS):
            if _rename(paths["staging"], lock):
                _fsync_dir(directory)
                return result
            current = read_holder(lock)
            if current is None:
                continue  # released or displaced meanwhile: try again
            if current.get("run_id") == run_id:
                return dict(result, changed=False, holder=current)
            if displaced or not displaceable(current):
                raise LockHeld(lock, current)
            with _serialized(directory):
                current = read_holder(lock)  # again: the lock renamed away is the one judged
                if current is None:
                    continue
                if not displaceable(current):
                    raise LockHeld(lock, current)
                _move_away(lock, paths["displaced"])
            displaced = True
            result["taken_over"] = current
        current = read_holder(lock)
        if current is not None:
            raise LockHeld(lock, current)
        raise LockError("the deploy lock %s changed hands %d times while this run tried to take it; try again"
                        % (lock, TAKE_ATTEMPTS))
    finally:
        _remove(paths["staging"])
        _remove(paths["displaced"])


def release(directory, name, run_id, check_mode=False):
    """Release the lock ``<directory>/<name>.lock`` if ``run_id`` holds it.

    Returns:
        dict: ``released`` (bool), ``changed`` (same), ``holder`` (the record
        of the run that holds the lock afterwards, or None), ``before`` (the
        record found, or None).

    Raises:
        LockError: the lock cannot be read, moved or removed.
    """
    paths = lock_paths(directory, name, run_id)
    lock = paths["lock"]
    current = read_holder(lock)
    result = dict(released=False, changed=False, holder=current, before=current)
    if current is None or current.get("run_id") != run_id:
        return result
    if check_mode:
        return dict(result, released=True, changed=True, holder=None)
    with _serialized(directory):
        current = read_holder(lock)  # again: the lock renamed away is the one judged
        if current is None or current.get("run_id") != run_id:
            return dict(result, holder=current)
        _move_away(lock, paths["released"])
    _remove(paths["released"])
    _fsync_dir(directory)
    return dict(result, released=True, changed=True, holder=None)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="present", choices=["present", "absent"]),
            dir=dict(type="path", required=True),
            name=dict(type="str", default="app"),
            run_id=dict(type="str", required=True),
            holder=dict(type="dict", default={}),
            takeover=dict(type="str"),
            **{"break": dict(type="bool", default=False)}
        ),
        supports_check_mode=True,
    )
    params = module.params
    for option in ("name", "run_id"):
        if not SAFE_NAME.match(params[option]):
            module.fail_json(msg="%s must be letters, digits, '.', '_' and '-', not starting with '.'; got %r"
                             % (option, params[option]))

    directory, name, run_id = params["dir"], params["name"], params["run_id"]
    result = dict(changed=False, acquired=False, released=False, taken_over=None,
                  path=lock_paths(directory, name, run_id)["lock"])
    try:
        if params["state"] == "present":
            outcome = take(directory, name, run_id, params["holder"], break_lock=params["break"],
                           takeover=params["takeover"] or None, check_mode=module.check_mode)
        else:
            outcome = release(directory, name, run_id, check_mode=module.check_mode)
    except LockHeld as exc:
        module.fail_json(msg="%s. Take it over with break=true only once that run has ended." % exc,
                         holder=exc.holder, **result)
    except LockError as exc:
        module.fail_json(msg=str(exc), **result)

    before = outcome.pop("before")
    result.update(outcome)
    if module._diff:
        result["diff"] = dict(before=before or {}, after=result["holder"] or {})
    module.exit_json(**result)


if __name__ == "__main__":
    main()
