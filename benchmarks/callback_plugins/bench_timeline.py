# Copyright: (c) 2026, zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Callback for benchmarks/run.py: one JSON line per play batch and per task result."""

from __future__ import annotations

DOCUMENTATION = r"""
name: bench_timeline
type: aggregate
short_description: Write the timeline of a playbook run as JSON lines, for benchmarks/run.py
description:
  - One line per play start (every serial batch of a play starts again), per task result of each
    host (start and end in epoch seconds, action, the C(state) argument (as the module got it when the result says, else raw), the raw C(delegate_to),
    loop item counts) and one at the end of the playbook.
  - Writes nothing unless BENCH_TIMELINE_PATH is set.
options:
  path:
    description: File to append the JSON lines to.
    type: path
    env:
      - name: BENCH_TIMELINE_PATH
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    """Record plays, batches and task results with their times."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timeline"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self._path = os.environ.get("BENCH_TIMELINE_PATH")
        self._batches = {}
        self._play = None
        self._batch = 0
        self._started = {}

    def _write(self, record):
        if not self._path:
            return
        with open(self._path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")

    def v2_playbook_on_play_start(self, play):
        # Called again for every serial batch of the same play.
        self._batch = self._batches[play._uuid] = self._batches.get(play._uuid, 0) + 1
        self._play = play.get_name()
        self._write({"ev": "play", "t": time.time(), "play": self._play, "batch": self._batch})

    def v2_runner_on_start(self, host, task):
        self._started[(host.get_name(), task._uuid)] = time.time()

    def _result(self, result, status):
        now = time.time()
        host = result._host.get_name()
        task = result._task
        data = result._result if isinstance(result._result, dict) else {}
        items = data.get("results") if isinstance(data.get("results"), list) else None
        state = task.args.get("state") if isinstance(task.args, dict) else None
        # The module's own arguments, templated ("{{ rotation_drained_state }}" -> "maint").
        for source in [data] + (items or []):
            args = source.get("invocation", {}).get("module_args", {}) if isinstance(source, dict) else {}
            if isinstance(args, dict) and isinstance(args.get("state"), str):
                state = args["state"]
                break
        self._write({
            "ev": "task",
            "t0": self._started.pop((host, task._uuid), now),
            "t1": now,
            "host": host,
            "task": task.get_name(),
            "action": task.action,
            "state": state if isinstance(state, str) else None,
            "delegate": task.delegate_to if isinstance(task.delegate_to, str) else None,
            "play": self._play,
            "batch": self._batch,
            "status": status,
            "items": len(items) if items is not None else None,
            "items_skipped": sum(1 for i in items if isinstance(i, dict) and i.get("skipped")) if items else 0,
            "attempts": data.get("attempts"),
        })

    def v2_runner_on_ok(self, result):
        self._result(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._result(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._result(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        self._write({"ev": "end", "t": time.time()})
