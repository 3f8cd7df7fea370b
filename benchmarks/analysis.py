"""Turn what one benchmark run recorded into its figures. Pure functions, no I/O.

A run records four timelines, all in epoch seconds on the same kernel clock
(the containers share the controller's kernel):

* ``samples``: HAProxy as the balancer saw it, every ~0.1 s (benchmarks/sampler.py)::

      [{"t": 1700000000.12, "s": {"bm-app1": [op, admin, scur, qcur, "status"], ...}}, ...]

  ``op`` is ``srv_op_state`` (0 stopped, 1 starting, 2 running, 3 stopping) and
  ``admin`` is ``srv_admin_state`` (a bit field: 0 means ready) from
  ``show servers state``; ``scur``/``qcur``/``status`` come from ``show stat``.
* ``systemd``: per host, the service's last stop and start as systemd
  recorded them: ``{"active_exit", "inactive_enter", "inactive_exit", "active_enter"}``.
* ``polls``: per host, fast external ``GET /healthz`` straight on the host while
  it was out of rotation: ``[[t_sent, t_answered, ok], ...]``.
* ``events``: the Ansible timeline (benchmarks/callback_plugins/bench_timeline.py):
  ``{"ev": "play", "t", "play", "batch"}``, ``{"ev": "task", "t0", "t1", "host",
  "task", "action", "state", "delegate", "play", "batch", "status", "items",
  "items_skipped"}`` and ``{"ev": "end", "t"}``.

Definitions (seconds):

* intrinsic time of a host = drain (HAProxy marks it drained/maint until its
  sessions and queue reach 0) + stop (systemd: stop begun until inactive) +
  start (systemd: start begun until the first 200 on /healthz of the new process);
* notice latency = end of the task that drained the host minus the moment
  HAProxy showed no session left: how long the tool took to notice the drain;
* out-of-rotation window = first sample drained/maint until the first sample
  back ready and running;
* a run's per-host overhead = (wall time - sum over batches of the longest
  intrinsic time in the batch) / hosts: everything that is not the
  application's own drain, stop and start, spread over the hosts. It splits
  into the rolling part (each batch's window minus its longest intrinsic time)
  and the fixed part (wall time outside the rolling play's batches: preflight,
  staging, migrations, Ansible's start-up).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping, Sequence

# srv_op_state values that carry traffic (SRV_ST_STARTING is slowstart).
OP_SERVING = (1, 2)
# Actions Ansible runs in the controller process itself (short names, any
# namespace): no round trip to a host.
CONTROLLER_ACTIONS = frozenset((
    "set_fact", "assert", "fail", "debug", "include_role", "include_tasks", "import_role",
    "import_tasks", "meta", "add_host", "group_by", "set_stats", "include_vars", "pause",
    "validate_argument_spec",
))


# Tasks of zerodowntime.deploy.release that install a release (prerequisites,
# checks, unpack, virtualenv, pip, marker): the same work for both tools.
INSTALL_TASK_MARKERS = (
    "Check that a release and its artifact are named", "Read the artifact's checksum",
    "Check that the artifact exists", "Ensure Python can create virtualenvs", "service group exists",
    "unprivileged service user exists", "Ensure the base and releases directories", "Create the installer",
    "Read whether this release is installed", "Refuse to reinstall", "Fail when the release is not installed",
    "Record the settings the host was prepared with",
    "Ensure the release directory exists", "Unpack the artifact", "Create the release's virtualenv",
    "Install the pinned wheels", "Mark the release as",
)


def is_install_task(name: str) -> bool:
    """True for a task of the release role's install steps."""
    return any(marker in name for marker in INSTALL_TASK_MARKERS)


def install_seconds(events: Sequence[Mapping]) -> float:
    """Wall seconds during which at least one install task ran (see INSTALL_TASK_MARKERS).

    The union of the tasks' [t0, t1] intervals over every host and play:
    hosts installing one after the other count their sum, hosts installing at
    the same time count once. Skipped tasks do not count.
    """
    return covered([(e["t0"], e["t1"]) for e in events
                    if e.get("ev") == "task" and e.get("status") != "skipped" and is_install_task(e.get("task", ""))])


def median(values: Iterable[float | None]) -> float | None:
    """Median of the values that are not None; None when there are none."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is 0."""
    if numerator is None or denominator in (None, 0):
        return None
    return numerator / denominator


def in_rotation(server: Sequence) -> bool:
    """True when a sampled server ``[op, admin, scur, qcur, status]`` takes new requests."""
    return server[1] == 0 and server[0] in OP_SERVING


def peak_out_of_rotation(samples: Sequence[Mapping], hosts: Iterable[str] | None = None) -> tuple[int, float | None]:
    """Largest number of servers out of rotation at once, and the first time it was seen.

    ``hosts`` limits the count to those servers (default: every sampled one).
    Returns (0, None) for an empty timeline.
    """
    wanted = set(hosts) if hosts is not None else None
    peak, when = 0, None
    for sample in samples:
        out = sum(1 for name, server in sample["s"].items()
                  if (wanted is None or name in wanted) and not in_rotation(server))
        if out > peak:
            peak, when = out, sample["t"]
    return peak, when


def drain_windows(samples: Sequence[Mapping], host: str) -> list[dict]:
    """Every stretch during which ``host`` was administratively out (drain or maint).

    Returns ``[{"t_out", "t_zero", "t_in", "t_up"}]`` in order: first sample
    with the admin state set; first sample from then on with no session and
    no queued request (None if never); first sample with the admin state
    back to ready (None if never); first sample from ``t_in`` on where the
    server is also running, i.e. back in rotation (None if never).
    """
    windows: list[dict] = []
    current = None
    for sample in samples:
        server = sample["s"].get(host)
        if server is None:
            continue
        t = sample["t"]
        op, admin, scur, qcur = server[0], server[1], server[2], server[3]
        if current is None or (current["t_in"] is not None and current["t_up"] is not None):
            if admin != 0:
                current = {"t_out": t, "t_zero": None, "t_in": None, "t_up": None}
                windows.append(current)
            else:
                continue
        if current["t_zero"] is None and scur + qcur == 0:
            current["t_zero"] = t
        if current["t_in"] is None and admin == 0:
            current["t_in"] = t
        if current["t_in"] is not None and current["t_up"] is None:
            if admin != 0:
                # Taken out again before it came back up: a new stretch.
                current["t_in"] = None
            elif op in OP_SERVING:
                current["t_up"] = t
    return windows


def first_healthy(polls: Sequence[Sequence], after: float | None) -> float | None:
    """Time of the first successful poll sent at or after ``after`` (the start of the new process)."""
    if after is None:
        return None
    answered = [p[1] for p in polls if p[2] and p[0] >= after]
    return min(answered) if answered else None


def _diff(end: float | None, start: float | None) -> float | None:
    if end is None or start is None:
        return None
    return end - start


def _drain_state(state: str | None) -> bool:
    """True for a state argument that takes a server out of rotation.

    Timelines recorded before the benchmark callback resolved templates hold
    the rotation role's raw ``{{ rotation_drained_state }}`` (drain or maint).
    """
    return state in ("drain", "maint", "disabled") or (state or "").replace(" ", "") == "{{rotation_drained_state}}"


def drain_task_end(events: Sequence[Mapping], host: str, drained_at: float) -> float | None:
    """End of the task that drained or disabled ``host`` on a balancer: the last one started by ``drained_at``.

    ``drained_at`` is when HAProxy was first seen with the host drained; the
    task that sent the command started before it (and may end before the
    sampler saw it). Recognises zerodowntime.deploy.haproxy_server (state
    drain, or maint, which drains first) and community.general.haproxy
    (state disabled or drain).
    """
    started = [e for e in events
               if e.get("ev") == "task" and e.get("host") == host and e.get("status") == "ok"
               and str(e.get("action", "")).rsplit(".", 1)[-1] in ("haproxy_server", "haproxy")
               and _drain_state(e.get("state")) and e["t0"] <= drained_at]
    return max(started, key=lambda e: e["t0"])["t1"] if started else None


def host_figures(host: str, samples: Sequence[Mapping], systemd: Mapping | None,
                 polls: Sequence[Sequence], events: Sequence[Mapping]) -> dict:
    """Per-host figures of one run (seconds; None where a timeline lacks the event).

    Uses the last out-of-rotation stretch of the host (a run drains each host once).
    """
    windows = [w for w in drain_windows(samples, host)]
    window = windows[-1] if windows else {"t_out": None, "t_zero": None, "t_in": None, "t_up": None}
    unit = systemd or {}
    healthy = first_healthy(polls, unit.get("inactive_exit"))
    drain_s = _diff(window["t_zero"], window["t_out"])
    stop_s = _diff(unit.get("inactive_enter"), unit.get("active_exit"))
    start_s = _diff(healthy, unit.get("inactive_exit"))
    parts = (drain_s, stop_s, start_s)
    intrinsic = sum(parts) if None not in parts else None
    noticed = drain_task_end(events, host, window["t_out"]) if window["t_out"] is not None else None
    return {
        "drain_s": drain_s,
        "stop_s": stop_s,
        "start_s": start_s,
        "intrinsic_s": intrinsic,
        "notice_s": _diff(noticed, window["t_zero"]),
        "out_of_rotation_s": _diff(window["t_up"], window["t_out"]),
        "healthy_to_up_s": _diff(window["t_up"], healthy),
        "drain_windows": len(windows),
        "t_out": window["t_out"],
        "t_up": window["t_up"],
        "t_healthy": healthy,
    }


def batches(events: Sequence[Mapping]) -> tuple[str | None, list[dict]]:
    """The rolling play (the play run in most batches) and its batches in order.

    Returns (play name, [{"start", "end", "hosts"}]). A batch ends where the
    next play or batch starts, or at the end of the playbook.
    """
    plays = [e for e in events if e.get("ev") == "play"]
    if not plays:
        return None, []
    count: dict[str, int] = {}
    for p in plays:
        count[p["play"]] = count.get(p["play"], 0) + 1
    rolling = max(count, key=lambda name: (count[name], -[p["play"] for p in plays].index(name)))
    ends = [e["t"] for e in events if e.get("ev") == "end"]
    result = []
    for i, p in enumerate(plays):
        if p["play"] != rolling:
            continue
        end = plays[i + 1]["t"] if i + 1 < len(plays) else (max(ends) if ends else None)
        hosts = sorted({e["host"] for e in events if e.get("ev") == "task" and e.get("play") == rolling
                        and e.get("batch") == p["batch"]})
        result.append({"start": p["t"], "end": end, "hosts": hosts, "batch": p["batch"]})
    return rolling, result


def overhead(wall_s: float, batch_list: Sequence[Mapping], intrinsic: Mapping[str, float | None]) -> dict:
    """Split a run's wall time into intrinsic time and overhead (see the module docstring).

    ``batch_list``: [{"start", "end", "hosts"}]; ``intrinsic``: host -> seconds.
    Returns {"hosts", "intrinsic_critical_s", "overhead_s", "overhead_per_host_s",
    "rolling_s", "rolling_overhead_per_host_s", "fixed_s"}; values None when an
    intrinsic time or a batch boundary is missing.
    """
    hosts = [h for b in batch_list for h in b["hosts"]]
    n = len(hosts)
    critical = []
    for b in batch_list:
        times = [intrinsic.get(h) for h in b["hosts"]]
        critical.append(None if not times or None in times else max(times))
    windows = [_diff(b["end"], b["start"]) for b in batch_list]
    crit_sum = sum(critical) if critical and None not in critical else None
    rolling = sum(windows) if windows and None not in windows else None
    out = {
        "hosts": n,
        "intrinsic_critical_s": crit_sum,
        "overhead_s": None,
        "overhead_per_host_s": None,
        "rolling_s": rolling,
        "rolling_overhead_per_host_s": None,
        "fixed_s": None if rolling is None else wall_s - rolling,
    }
    if n and crit_sum is not None:
        out["overhead_s"] = wall_s - crit_sum
        out["overhead_per_host_s"] = (wall_s - crit_sum) / n
        if rolling is not None:
            out["rolling_overhead_per_host_s"] = (rolling - crit_sum) / n
    return out


def covered(intervals: Iterable[Sequence[float]]) -> float:
    """Total length of the union of [start, end] intervals."""
    total, end = 0.0, None
    for a, b in sorted(intervals):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def batch_gaps(events: Sequence[Mapping], play: str | None, batch_list: Sequence[Mapping]) -> list[dict]:
    """Per batch: its window, the time some task of it was running, and the rest (the gap).

    The gap is time the controller spent between tasks: loading includes,
    templating, the strategy's bookkeeping, forking workers.
    """
    out = []
    for b in batch_list:
        spans = [(e["t0"], e["t1"]) for e in events
                 if e.get("ev") == "task" and e.get("play") == play and e.get("batch") == b.get("batch")]
        window = _diff(b["end"], b["start"])
        busy = covered(spans)
        out.append({"window_s": window, "busy_s": busy, "gap_s": None if window is None else window - busy})
    return out


def is_round_trip(event: Mapping) -> bool:
    """True when a task result went to a managed host (not the controller)."""
    if str(event.get("action", "")).rsplit(".", 1)[-1] in CONTROLLER_ACTIONS:
        return False
    return event.get("delegate") not in ("localhost", "127.0.0.1")


def task_accounting(events: Sequence[Mapping], play: str | None, hosts: Iterable[str]) -> dict:
    """Per host, what the host's tasks in ``play`` cost.

    Returns host -> {"tasks_run", "tasks_skipped", "round_trips", "task_s",
    "controller_task_s", "by_task": {name: seconds}, "by_task_trips": {name:
    round trips}}; ``round_trips`` counts every executed loop item of a task
    that goes to a managed host; the host's own name in a task name becomes
    ``<host>``.
    """
    out = {}
    for host in hosts:
        mine = [e for e in events if e.get("ev") == "task" and e.get("host") == host
                and (play is None or e.get("play") == play)]
        run = [e for e in mine if e.get("status") != "skipped"]
        trips = 0
        by_task: dict[str, float] = {}
        by_task_trips: dict[str, int] = {}
        controller_s = 0.0
        for e in run:
            executed = max(1, int(e.get("items") or 0) - int(e.get("items_skipped") or 0)) if e.get("items") else 1
            # A task retried with until/retries went to the host once per attempt.
            executed *= max(1, int(e.get("attempts") or 1))
            # One name for every host: "Drain app2 on..." and "Drain app3 on..." are one task.
            name = re.sub(r"(?<![\w.-])%s(?![\w.-])" % re.escape(host), "<host>", e["task"])
            if is_round_trip(e):
                trips += executed
                by_task_trips[name] = by_task_trips.get(name, 0) + executed
            else:
                controller_s += e["t1"] - e["t0"]
            by_task[name] = by_task.get(name, 0.0) + (e["t1"] - e["t0"])
        out[host] = {
            "tasks_run": len(run),
            "tasks_skipped": len(mine) - len(run),
            "round_trips": trips,
            "task_s": sum(e["t1"] - e["t0"] for e in run),
            "controller_task_s": controller_s,
            "by_task": by_task,
            "by_task_trips": by_task_trips,
        }
    return out


def serial_batches(spec: Sequence, n: int) -> list[int]:
    """Batch sizes Ansible makes of ``n`` hosts for a ``serial`` list (ints or "P%").

    A percentage rounds down with a minimum of 1, 0 or less means every host
    left, and the last value repeats (Ansible's _get_serialized_batches).
    """
    sizes, left, i = [], n, 0
    values = list(spec) or [n]
    while left > 0:
        value = values[min(i, len(values) - 1)]
        if isinstance(value, str) and value.strip().endswith("%"):
            size = int(float(value.strip()[:-1]) / 100 * n) or 1
        else:
            size = int(value)
        size = min(size if size > 0 else left, left)
        sizes.append(size)
        left -= size
        i += 1
    return sizes
