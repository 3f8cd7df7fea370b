# Copyright: (c) 2026, zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: deploy_report
type: aggregate
short_description: Write a JSON report of a deploy and print a per-host summary table
version_added: 0.1.0
author:
  - zerodowntime.deploy maintainers (@zerodowntime)
description:
  - Times every task per host and adds the time to the deploy phase the task belongs to
    (preflight, build, migrate, drain, deploy, health, enable, or any other name).
  - The phase of a task is the variable C(zerodowntime_phase) as set with C(vars:) on the task
    or on an enclosing block, C(include_role), C(import_role) or C(include_tasks).
    Failing that, the same variable in the role's own vars (C(roles:) keyword entry or C(vars/main.yml)),
    and failing that a task tag C(phase_<name>). Tasks without a phase are timed nowhere.
    The value must be a literal string; templated values are ignored.
  - Delegated tasks count for the play host, so draining app1 on a balancer is app1's drain time.
  - Roles publish extra report data with C(ansible.builtin.set_fact) of a dict named C(zerodowntime_report)
    (for example C(release_before), C(release_after), balancer states). Each such result is merged
    recursively into the host's report entry. C(no_log) results are censored and publish nothing.
  - The key C(deploy_lock) of C(zerodowntime_report) (published by the C(deploy_lock) role when it takes
    and releases the lock) belongs to the run, not to a host; it goes to the report's top level. A run that
    ends while it still holds the lock prints how to clear it (C(deploy_lock_break=true)).
  - At the end of the playbook it prints one row per host (release before -> after, seconds per phase,
    result) and, when O(report_path) is set, writes the report as JSON (temporary file, then rename).
  - The collection's own playbooks run it without enabling (C(playbooks/callback_plugins)); enable it by name
    for a report path of your own or for playbooks of your own.
requirements:
  - Enable with C(callbacks_enabled = zerodowntime.deploy.deploy_report) in ansible.cfg
    or C(ANSIBLE_CALLBACKS_ENABLED=zerodowntime.deploy.deploy_report).
extends_documentation_fragment:
  - zerodowntime.deploy.deploy_report
notes:
  - "Report shape (times are ISO 8601 UTC, durations are seconds as floats):
    C({playbook, started, ended, duration_s, result: ok|failed,
    deploy_lock: {name, host, run_id, held} | null,
    hosts: {HOST: {result: ok|failed|unreachable|not_run,
    phases: {PHASE: {start, end, seconds, tasks}},
    failure: {task, phase, kind: failed|unreachable, msg, time} | null, rescued_failures: [...],
    stats: {ok, changed, failures, unreachable, skipped, rescued, ignored},
    ...keys published through zerodowntime_report}}})."
  - C(seconds) of a phase is the sum of the durations of that host's tasks in the phase, so time spent
    between tasks or in other phases does not count; C(start)/C(end) are the first task start and last task end.
  - C(not_run) marks a host that did not fail but ran no task at all in some play that targets it,
    such as the hosts after a failed C(serial) batch; it may have run earlier plays.
  - A failure that a C(rescue) section recovered from is listed in C(rescued_failures); C(failure) is the one
    that ended the host. Failures with C(ignore_errors) are not recorded.
"""

EXAMPLES = r"""
# ansible.cfg
# [defaults]
# callbacks_enabled = zerodowntime.deploy.deploy_report
# [callback_deploy_report]
# report_path = reports/deploy.json

# Mark the phase on the block or role include; every task inside inherits it.
- name: Drain the host on every balancer
  ansible.builtin.include_role:
    name: zerodowntime.deploy.balancer
    tasks_from: drain
  vars:
    zerodowntime_phase: drain

# Publish report data from a role; keys merge into the host's entry.
- name: Record the release that served before the deploy
  ansible.builtin.set_fact:
    zerodowntime_report:
      release_before: "{{ __release_current.stat.lnk_target | basename }}"
"""

import datetime
import json
import os
import tempfile
import time

from ansible import constants as C
from ansible.plugins.callback import CallbackBase

PHASE_VAR = "zerodowntime_phase"
PHASE_TAG_PREFIX = "phase_"
REPORT_FACT = "zerodowntime_report"
# Usual order of a deploy; phases not listed here follow in order of first appearance.
KNOWN_PHASES = ("preflight", "build", "stage", "migrate", "drain", "deploy", "reload", "health", "enable", "cleanup")
# The phases of a host's turn in a rolling play: a play in which a host ran
# one of them gets a progress line for it.
ROLLING_PHASES = ("drain", "reload", "deploy", "health", "enable")
# Keys the callback owns in a host entry; published data cannot overwrite them.
OWN_KEYS = frozenset(("result", "phases", "failure", "rescued_failures", "stats", "left_out_of_rotation"))
MSG_MAX_CHARS = 2000
# Published key that describes the run's deploy lock rather than a host.
LOCK_KEY = "deploy_lock"


def release_cell(host):
    """The summary's release column for one host entry of the report.

    Args: host (dict): the host's report entry; ``release_before`` and
        ``release_after`` are published by the switch, ``release_running``
        by the stage (what the host ran when the deploy started).
    Returns: str: ``"1.0.0 -> 1.1.0"`` for a host that was switched,
        ``"1.1.0 (unchanged)"`` for one that already ran the release, ``"-"``
        when nothing was read.
    """
    before, after = host.get("release_before"), host.get("release_after")
    if before or after:
        return f"{before or '-'} -> {after or '-'}"
    running = host.get("release_running")
    return f"{running} (unchanged)" if running else "-"


def progress_line(position, total, host_name, entry, since, elapsed):
    """One host's progress line, for the end of its turn in a rolling play.

    Args:
        position (int), total (int): the host's place among the play's hosts
            (1-based) and their number.
        host_name (str): the host.
        entry (dict): its report entry (``phases`` as in the report, with
            epoch-second ``start``/``end``; ``failure`` or the failures so
            far under ``failures``).
        since (float): epoch seconds when the batch started; only phases
            that started then or later count.
        elapsed (float): seconds since the playbook started.

    Returns:
        str such as ``"[2/3] app2: drain 0.9 s, deploy 1.3 s, health 0.4 s,
        enable 1.0 s; 3.6 s out of rotation; 48 s so far"``, or None when the
        host ran no rolling phase in the batch.
    """
    phases = {name: timing for name, timing in entry.get("phases", {}).items()
              if timing.get("start", 0) >= since - 0.001}
    if not set(ROLLING_PHASES) & set(phases):
        return None
    order = [p for p in KNOWN_PHASES if p in phases] + sorted(p for p in phases if p not in KNOWN_PHASES)
    parts = [", ".join(f"{name} {phases[name]['seconds']:.1f} s" for name in order)]
    if "drain" in phases and "enable" in phases:
        parts.append(f"{max(0.0, phases['enable']['end'] - phases['drain']['start']):.1f} s out of rotation")
    elif "reload" in phases and "drain" not in phases:
        parts.append("reloaded in rotation")
    failures = [f for f in entry.get("failures", []) if f.get("time_s", 0) >= since - 0.001]
    if failures:
        parts.append(f"FAILED in {failures[-1].get('phase') or '?'} at '{failures[-1].get('task', '?')}'")
    parts.append(f"{elapsed:.0f} s so far")
    return f"[{position}/{total}] {host_name}: " + "; ".join(parts)


def _iso(ts):
    """Wall-clock seconds since the epoch -> ISO 8601 UTC with milliseconds."""
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat(timespec="milliseconds")


def _result_host(result):
    # ``host``/``task``/``result`` are the 2.19 names; ``_host``... work on older cores too.
    return getattr(result, "host", None) or result._host


def _result_task(result):
    return getattr(result, "task", None) or result._task


def _result_data(result):
    data = getattr(result, "result", None)
    return data if isinstance(data, dict) else result._result


def _is_template(value):
    return "{{" in value or "{%" in value


def task_phase(task):
    """Return the deploy phase of ``task`` as a string, or None.

    Looked up, first hit wins: ``task.get_vars()`` (task vars plus those of
    every enclosing block, include_role, import_role and include_tasks), the
    role's vars (``roles:`` entry or ``vars/main.yml``), a ``phase_<name>`` tag.
    """
    value = None
    try:
        value = task.get_vars().get(PHASE_VAR)
    except Exception:  # a task that cannot give its vars simply has no phase
        value = None
    role = getattr(task, "_role", None)
    if value is None and role is not None:
        try:
            value = role.get_vars().get(PHASE_VAR)
        except Exception:
            value = None
    if value is None:
        tags = getattr(task, "tags", None)
        if isinstance(tags, (list, tuple)):
            for tag in tags:
                if isinstance(tag, str) and tag.startswith(PHASE_TAG_PREFIX) and len(tag) > len(PHASE_TAG_PREFIX):
                    value = tag[len(PHASE_TAG_PREFIX):]
                    break
    if value is None:
        return None
    value = str(value).strip()
    if not value or _is_template(value):
        return None
    return value


def merge_report(target, published):
    """Merge ``published`` into ``target`` in place: dicts recursively, anything else replaced."""
    for key, value in published.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_report(target[key], value)
        elif isinstance(value, dict):
            target[key] = merge_report({}, value)
        else:
            target[key] = value
    return target


def failure_message(data):
    """The most useful message of a failed or unreachable result, at most MSG_MAX_CHARS long."""
    msg = data.get("msg") or data.get("stderr") or data.get("reason") or ""
    results = data.get("results")
    if isinstance(results, list):
        for item in results:
            if isinstance(item, dict) and item.get("failed"):
                item_msg = item.get("msg") or item.get("stderr") or ""
                label = item.get("_ansible_item_label", item.get("item"))
                msg = f"{msg} (item {label!r}: {item_msg})" if msg else f"item {label!r}: {item_msg}"
                break
    if not msg and data.get("exception"):
        msg = str(data["exception"]).strip().splitlines()[-1]
    msg = str(msg)
    return msg if len(msg) <= MSG_MAX_CHARS else msg[: MSG_MAX_CHARS - 3] + "..."


def order_phases(names):
    """Known phases in deploy order, then the others in the order given."""
    names = list(dict.fromkeys(names))
    return [p for p in KNOWN_PHASES if p in names] + [p for p in names if p not in KNOWN_PHASES]


def write_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file in the same directory and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class CallbackModule(CallbackBase):
    """Time deploy phases per host, collect published report data, report at the end."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "deploy_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self._playbook = None
        self._started = time.time()
        self._started_mono = time.monotonic()
        # host -> entry; each entry: result, phases, failure, rescued_failures, stats, published keys
        self._hosts = {}
        # host -> [failure, ...] in order; turned into failure/rescued_failures at the end
        self._failures = {}
        # (host, task uuid) -> (wall, monotonic) of the runner start
        self._running = {}
        # task uuid -> (wall, monotonic) of the task start, used when no runner start was seen
        self._task_started = {}
        self._phase_of = {}
        self._warned = set()
        # play uuid -> {"targets": [host, ...], "ran": {host, ...}}
        self._plays = {}
        self._play = None
        # the deploy lock as last published (LOCK_KEY), None if never taken
        self._lock = None
        # the serial batch under way: {"play": uuid, "hosts": [...], "start": epoch s}
        self._batch = None

    # ---- bookkeeping -------------------------------------------------------

    def _entry(self, host_name):
        return self._hosts.setdefault(
            host_name,
            {"result": None, "phases": {}, "failure": None, "rescued_failures": [], "stats": {}},
        )

    def _phase(self, task):
        uuid = task._uuid
        if uuid not in self._phase_of:
            self._phase_of[uuid] = task_phase(task)
        return self._phase_of[uuid]

    def _warn_once(self, key, msg):
        if key not in self._warned:
            self._warned.add(key)
            self._display.warning(msg)

    def _finish(self, result, timed=True):
        """Close the timing of one host's task.

        ``timed`` false (a skipped task) ends the task without adding it to
        its phase, so a phase appears only where the host did its work.
        Returns (host name, task, phase or None, end time in epoch seconds).
        """
        now, now_mono = time.time(), time.monotonic()
        host_name = _result_host(result).get_name()
        task = _result_task(result)
        entry = self._entry(host_name)
        if self._play is not None:
            self._play["ran"].add(host_name)
        started = self._running.pop((host_name, task._uuid), None) or self._task_started.get(task._uuid) or (now, now_mono)
        phase = self._phase(task)
        if phase is not None and timed:
            timing = entry["phases"].setdefault(phase, {"start": started[0], "end": now, "seconds": 0.0, "tasks": 0})
            timing["start"] = min(timing["start"], started[0])
            timing["end"] = max(timing["end"], now)
            timing["seconds"] += max(0.0, now_mono - started[1])
            timing["tasks"] += 1
        return host_name, task, phase, now

    def _collect_published(self, host_name, data):
        found = []
        facts = data.get("ansible_facts")
        if isinstance(facts, dict):
            found.append(facts.get(REPORT_FACT))
        results = data.get("results")
        if isinstance(results, list):
            for item in results:
                if isinstance(item, dict) and isinstance(item.get("ansible_facts"), dict):
                    found.append(item["ansible_facts"].get(REPORT_FACT))
        entry = self._entry(host_name)
        for published in found:
            if not isinstance(published, dict):
                continue
            if isinstance(published.get(LOCK_KEY), dict):
                self._lock = merge_report(self._lock or {}, published[LOCK_KEY])
            published = {k: v for k, v in published.items() if k != LOCK_KEY}
            clash = OWN_KEYS.intersection(published)
            if clash:
                self._warn_once(
                    ("clash", host_name, tuple(sorted(clash))),
                    f"deploy_report: {REPORT_FACT} keys {sorted(clash)} are reserved and were ignored for {host_name}",
                )
            merge_report(entry, {k: v for k, v in published.items() if k not in OWN_KEYS})

    def _record_failure(self, result, kind):
        host_name, task, phase, now = self._finish(result)
        self._failures.setdefault(host_name, []).append(
            {
                "task": task.get_name(),
                "phase": phase,
                "kind": kind,
                "msg": failure_message(_result_data(result)),
                "time": _iso(now),
                "time_s": now,
            }
        )

    # ---- callback events ---------------------------------------------------

    def v2_playbook_on_start(self, playbook):
        name = os.path.basename(getattr(playbook, "_file_name", "") or "")
        self._playbook = name if not self._playbook else f"{self._playbook}, {name}"

    def v2_playbook_on_play_start(self, play):
        # Called again for every serial batch of the same play.
        self._end_batch()
        again = play._uuid in self._plays
        self._play = self._plays.setdefault(play._uuid, {"targets": [], "ran": set(), "batches": 0})
        # With serial the inventory is restricted to the current batch; ignore
        # that restriction (not --limit) to list every host the play targets.
        try:
            inventory = play.get_variable_manager()._inventory
            hosts = [h.get_name() for h in inventory.get_hosts(play.hosts, ignore_restrictions=True)]
            batch = [h.get_name() for h in inventory.get_hosts(play.hosts)]
        except Exception:
            return
        for host_name in hosts:
            self._entry(host_name)
            if host_name not in self._play["targets"]:
                self._play["targets"].append(host_name)
        self._play["batches"] += 1
        self._batch = {"play": play._uuid, "hosts": batch, "start": time.time()}
        if again and batch and self._show_progress():
            targets = self._play["targets"]
            places = sorted(targets.index(h) + 1 for h in batch if h in targets)
            span = f"{places[0]}-{places[-1]}" if len(places) > 1 else f"{places[0]}" if places else "?"
            self._display.display(f"batch {self._play['batches']}: {', '.join(batch)} "
                                  f"(host{'s' if len(batch) > 1 else ''} {span} of {len(targets)})")

    def _show_progress(self):
        try:
            return bool(self.get_option("show_progress"))
        except KeyError:
            return True

    def _end_batch(self):
        """Print the progress line of every host of the batch that just ended."""
        batch, self._batch = self._batch, None
        if not batch or not self._show_progress():
            return
        targets = self._plays.get(batch["play"], {}).get("targets", [])
        elapsed = time.monotonic() - self._started_mono
        for host_name in batch["hosts"]:
            entry = dict(self._hosts.get(host_name, {}), failures=self._failures.get(host_name, []))
            position = targets.index(host_name) + 1 if host_name in targets else 0
            line = progress_line(position, len(targets), host_name, entry, batch["start"], elapsed)
            if line:
                self._display.display(line)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_started[task._uuid] = (time.time(), time.monotonic())

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def v2_runner_on_start(self, host, task):
        self._running[(host.get_name(), task._uuid)] = (time.time(), time.monotonic())

    def v2_runner_on_ok(self, result):
        host_name, _task, _phase, _now = self._finish(result)
        self._collect_published(host_name, _result_data(result))

    def v2_runner_on_skipped(self, result):
        self._finish(result, timed=False)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if ignore_errors:
            self._finish(result)
            return
        self._record_failure(result, "failed")

    def v2_runner_on_unreachable(self, result):
        self._record_failure(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        self._end_batch()
        ended = time.time()
        report = self.build_report(stats, ended)
        path = self.get_option("report_path")
        if path:
            try:
                write_atomic(path, json.dumps(report, indent=2, default=str) + "\n")
            except OSError as exc:
                self._display.warning(f"deploy_report: could not write {path}: {exc}")
                path = None
        if self.get_option("show_summary"):
            self._print_summary(report, path)

    # ---- report ------------------------------------------------------------

    def build_report(self, stats, ended):
        """Return the report dict (shape in DOCUMENTATION notes) from what was seen so far."""
        hosts = {}
        for host_name, entry in self._hosts.items():
            summary = stats.summarize(host_name) if host_name in stats.processed else {}
            # time_s is for the progress lines; the report has the ISO time.
            failures = [{k: v for k, v in f.items() if k != "time_s"} for f in self._failures.get(host_name, [])]
            skipped_plays = [p for p in self._plays.values() if host_name in p["targets"] and host_name not in p["ran"]]
            if summary.get("unreachable"):
                result = "unreachable"
            elif summary.get("failures"):
                result = "failed"
            elif skipped_plays:
                result = "not_run"
            else:
                result = "ok"
            ended_by = failures[-1] if failures and result in ("failed", "unreachable") else None
            out = dict(entry)
            out.update(
                result=result,
                phases={
                    name: {
                        "start": _iso(timing["start"]),
                        "end": _iso(timing["end"]),
                        "seconds": round(timing["seconds"], 3),
                        "tasks": timing["tasks"],
                    }
                    for name, timing in ((p, entry["phases"][p]) for p in order_phases(entry["phases"]))
                },
                failure=ended_by,
                rescued_failures=[f for f in failures if f is not ended_by],
                stats=summary,
                # The rotation role publishes in_rotation after every drain
                # and enable; a host that stopped in between is still drained.
                left_out_of_rotation=entry.get("in_rotation") is False,
            )
            hosts[host_name] = out
        failed = any(h["result"] in ("failed", "unreachable") for h in hosts.values())
        return {
            "playbook": self._playbook,
            "started": _iso(self._started),
            "ended": _iso(ended),
            "duration_s": round(time.monotonic() - self._started_mono, 3),
            "result": "failed" if failed else "ok",
            "deploy_lock": dict(self._lock) if self._lock is not None else None,
            "hosts": hosts,
        }

    def _print_summary(self, report, path):
        hosts = report["hosts"]
        if not hosts:
            return
        phases = order_phases(p for h in hosts.values() for p in h["phases"])
        header = ["host", "release"] + phases + ["result"]
        rows = []
        for name, host in hosts.items():
            release = release_cell(host)
            seconds = [f"{host['phases'][p]['seconds']:.1f}" if p in host["phases"] else "-" for p in phases]
            result = host["result"]
            if host["failure"]:
                result = f"{result} at '{host['failure']['task']}'"
            rows.append([name, release] + seconds + [result])
        widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
        numeric = set(range(2, 2 + len(phases)))

        def fmt(row):
            cells = [str(c).rjust(widths[i]) if i in numeric else str(c).ljust(widths[i]) for i, c in enumerate(row)]
            return "  ".join(cells).rstrip()

        colors = {"ok": C.COLOR_OK, "failed": C.COLOR_ERROR, "unreachable": C.COLOR_UNREACHABLE, "not_run": C.COLOR_SKIP}
        self._display.banner(f"DEPLOY REPORT [{report['result']} in {report['duration_s']:.1f} s, seconds per phase]")
        self._display.display(fmt(header))
        for (name, host), row in zip(hosts.items(), rows):
            self._display.display(fmt(row), color=colors.get(host["result"]))
        for name, host in hosts.items():
            if host["failure"]:
                self._display.display(f"{name}: {host['failure']['msg']}", color=C.COLOR_ERROR)
            if host["left_out_of_rotation"]:
                self._display.display(
                    f"{name} is left OUT OF ROTATION (drained) on the balancers: "
                    f"{', '.join(sorted(host.get('drained_on') or {})) or 'see the report'}",
                    color=C.COLOR_ERROR,
                )
        lock = report.get("deploy_lock")
        if lock and lock.get("held"):
            # No rescue runs for an unreachable host, and a failure on the lock
            # host itself keeps the release from running: say how to clear it.
            self._display.display(
                f"The deploy lock {lock.get('name', '?')} on {lock.get('host', '?')} is still held by this run "
                f"({lock.get('run_id', '?')}): it could not be released. The next deploy from this controller "
                "takes it over, since this run has ended; from another controller, once no deploy of the "
                "application is running, run again with -e deploy_lock_break=true to clear it.",
                color=C.COLOR_ERROR,
            )
        if path:
            self._display.display(f"deploy report written to {path}")
        self._display.display("")
