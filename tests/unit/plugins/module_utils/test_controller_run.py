"""plugins/module_utils/controller_run.py: whether the run a lock records has
ended, read from this machine's /proc (real processes, no mocks)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys

import pytest

from ansible_collections.zerodowntime.deploy.plugins.filter.lock_holder_gone import lock_holder_gone
from ansible_collections.zerodowntime.deploy.plugins.module_utils import controller_run


def identity_of(pid):
    here = controller_run.this_run()
    return dict(here, pid=pid, start=controller_run.process_start(pid))


def test_this_process_is_named_with_its_start_time_and_is_not_gone():
    here = controller_run.this_run()
    assert here["pid"] == os.getpid()
    assert here["start"] is not None and here["start"].isdigit()
    assert here["pid_namespace"].startswith("pid:[")
    assert controller_run.run_is_gone(here) is False


def test_a_process_that_has_exited_is_gone():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    record = identity_of(child.pid)
    assert controller_run.run_is_gone(record) is False
    child.kill()
    child.wait()
    assert controller_run.run_is_gone(record) is True


def test_a_process_id_taken_by_a_later_process_is_gone():
    record = dict(controller_run.this_run(), start="1")
    assert controller_run.run_is_gone(record) is True


def test_a_reboot_since_the_record_is_gone():
    record = dict(controller_run.this_run(), boot_id="00000000-0000-0000-0000-000000000000")
    assert controller_run.run_is_gone(record) is True


@pytest.mark.parametrize("change", [
    {"host": "another-controller"},
    {"pid_namespace": "pid:[1]"},
])
def test_a_run_on_another_controller_is_never_judged_gone(change):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    record = dict(identity_of(os.getpid()), pid=child.pid, start="1", **change)
    assert controller_run.run_is_gone(record) is False


@pytest.mark.parametrize("record", [None, {}, "text", {"pid": 12, "host": "x"}, {"pid": "x", "start": "1"}])
def test_a_record_that_cannot_be_judged_is_not_gone(record):
    assert controller_run.run_is_gone(record) is False


def test_the_filter_reads_the_controller_entry_of_a_holder_record():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    record = identity_of(child.pid)
    child.wait()
    assert lock_holder_gone({"holder": "ops@here", "controller": record}) is True
    assert lock_holder_gone({"holder": "ops@jumpbox"}) is False
    assert lock_holder_gone(None) is False
