"""The benchmark's analysis turns recorded timelines into the figures RESULTS.md reports.

Synthetic timelines only (no lab, no clock): medians, the intrinsic time and
overhead of a host and a run, the notice latency, the batches of the rolling
play, and the peak of hosts out of rotation from a sampled HAProxy timeline.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

ANALYSIS_PATH = pathlib.Path(__file__).resolve().parents[3] / "benchmarks" / "analysis.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_analysis", ANALYSIS_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_analysis"] = module
    spec.loader.exec_module(module)
    return module


an = _load()

UP = [2, 0, 0, 0, "UP"]


def srv(op=2, admin=0, scur=0, qcur=0, status="UP"):
    return [op, admin, scur, qcur, status]


def test_median_ignores_missing_values_and_is_none_when_nothing_is_left():
    assert an.median([3.0, None, 1.0, 2.0]) == 2.0
    assert an.median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert an.median([None, None]) is None
    assert an.median([]) is None


def test_ratio_is_none_without_a_denominator():
    assert an.ratio(1.0, 4.0) == 0.25
    assert an.ratio(None, 4.0) is None
    assert an.ratio(1.0, 0) is None


def test_a_drained_or_stopped_server_is_out_of_rotation():
    assert an.in_rotation(srv())
    assert an.in_rotation(srv(op=1))          # slowstart still takes requests
    assert not an.in_rotation(srv(admin=0x08))  # forced drain
    assert not an.in_rotation(srv(admin=0x01))  # forced maintenance
    assert not an.in_rotation(srv(op=0))      # health checks failing


def test_peak_out_of_rotation_counts_servers_out_at_the_same_sample():
    samples = [
        {"t": 0.0, "s": {"a": srv(), "b": srv(), "c": srv()}},
        {"t": 0.1, "s": {"a": srv(admin=8), "b": srv(), "c": srv()}},
        {"t": 0.2, "s": {"a": srv(admin=8, op=0), "b": srv(admin=1), "c": srv()}},
        {"t": 0.3, "s": {"a": srv(), "b": srv(admin=1), "c": srv()}},
        {"t": 0.4, "s": {"a": srv(), "b": srv(), "c": srv(op=0)}},
    ]
    assert an.peak_out_of_rotation(samples) == (2, 0.2)
    assert an.peak_out_of_rotation(samples, hosts=["b", "c"]) == (1, 0.2)
    assert an.peak_out_of_rotation([]) == (0, None)


def test_drain_window_finds_drain_zero_sessions_ready_and_up():
    samples = [
        {"t": 10.0, "s": {"a": srv(scur=2)}},
        {"t": 10.1, "s": {"a": srv(admin=8, scur=2, status="DRAIN")}},
        {"t": 10.2, "s": {"a": srv(admin=8, scur=1, status="DRAIN")}},
        {"t": 10.3, "s": {"a": srv(admin=8, scur=0, status="DRAIN")}},
        {"t": 12.0, "s": {"a": srv(admin=8, op=0, status="DOWN")}},
        {"t": 14.0, "s": {"a": srv(admin=0, op=0, status="DOWN 1/2")}},
        {"t": 14.5, "s": {"a": srv(admin=0, op=2)}},
        {"t": 15.0, "s": {"a": srv()}},
    ]
    assert an.drain_windows(samples, "a") == [{"t_out": 10.1, "t_zero": 10.3, "t_in": 14.0, "t_up": 14.5}]


def test_a_host_drained_again_before_it_came_up_stays_in_one_window_and_a_later_drain_opens_another():
    samples = [
        {"t": 1.0, "s": {"a": srv(admin=8)}},
        {"t": 2.0, "s": {"a": srv(admin=0, op=0)}},
        {"t": 3.0, "s": {"a": srv(admin=8, op=0)}},
        {"t": 4.0, "s": {"a": srv(admin=0, op=2)}},
        {"t": 5.0, "s": {"a": srv(admin=1)}},
        {"t": 6.0, "s": {"a": srv()}},
    ]
    windows = an.drain_windows(samples, "a")
    assert [(w["t_out"], w["t_up"]) for w in windows] == [(1.0, 4.0), (5.0, 6.0)]


def test_first_healthy_answer_is_the_first_success_sent_after_the_new_process_started():
    polls = [[9.0, 9.01, True], [10.0, 10.0, False], [10.5, 10.6, False], [11.0, 11.2, True], [11.1, 11.15, True]]
    assert an.first_healthy(polls, after=10.0) == 11.15
    assert an.first_healthy(polls, after=None) is None
    assert an.first_healthy([[9.0, 9.1, True]], after=10.0) is None


def events_for(host, drain_end, action="zerodowntime.deploy.haproxy_server", state="drain", took=0.5):
    return [{"ev": "task", "host": host, "status": "ok", "action": action, "state": state,
             "t0": drain_end - took, "t1": drain_end, "task": "drain"}]


def test_host_figures_add_drain_stop_and_start_into_the_intrinsic_time():
    samples = [
        {"t": 100.0, "s": {"a": srv(admin=8, scur=1)}},
        {"t": 100.4, "s": {"a": srv(admin=8, scur=0)}},
        {"t": 106.0, "s": {"a": srv(admin=0, op=2)}},
    ]
    systemd = {"active_exit": 102.0, "inactive_enter": 102.5, "inactive_exit": 102.6, "active_enter": 102.7}
    polls = [[100.2, 100.21, True], [102.7, 102.7, False], [104.0, 104.1, True]]
    events = events_for("a", 101.4, took=1.5)
    fig = an.host_figures("a", samples, systemd, polls, events)
    assert fig["drain_s"] == pytest.approx(0.4)
    assert fig["stop_s"] == pytest.approx(0.5)
    assert fig["start_s"] == pytest.approx(1.5)
    assert fig["intrinsic_s"] == pytest.approx(2.4)
    assert fig["notice_s"] == pytest.approx(1.0)
    assert fig["out_of_rotation_s"] == pytest.approx(6.0)
    assert fig["healthy_to_up_s"] == pytest.approx(1.9)


def test_a_missing_timeline_leaves_the_intrinsic_time_unknown_rather_than_short():
    samples = [{"t": 1.0, "s": {"a": srv(admin=8)}}, {"t": 3.0, "s": {"a": srv()}}]
    fig = an.host_figures("a", samples, None, [], [])
    assert fig["drain_s"] == pytest.approx(0.0)
    assert fig["stop_s"] is None
    assert fig["intrinsic_s"] is None


def test_notice_is_the_end_of_the_drain_task_that_was_running_when_haproxy_showed_the_drain():
    events = (events_for("a", 1.0, "community.general.haproxy", "disabled")     # an earlier deploy
              + events_for("a", 5.0, "community.general.haproxy", "disabled")   # ran 4.5-5.0
              + events_for("a", 9.0, "zerodowntime.deploy.haproxy_server", "drain")  # a later re-check
              + events_for("a", 20.0, "community.general.haproxy", "enabled"))
    # The sampler saw the drain at 5.1, after the task had already returned.
    assert an.drain_task_end(events, "a", drained_at=5.1) == 5.0
    assert an.drain_task_end(events, "a", drained_at=0.1) is None
    assert an.drain_task_end(events, "b", drained_at=5.1) is None
    # zerodowntime.deploy's rotation role drains with state maint (drain, then MAINT).
    maint = events_for("a", 5.0, "zerodowntime.deploy.haproxy_server", "maint")
    assert an.drain_task_end(maint, "a", drained_at=5.1) == 5.0
    raw = events_for("a", 5.0, "zerodowntime.deploy.haproxy_server", "{{ rotation_drained_state }}")
    assert an.drain_task_end(raw, "a", drained_at=5.1) == 5.0
    enable = events_for("a", 5.0, "zerodowntime.deploy.haproxy_server", "ready")
    assert an.drain_task_end(enable, "a", drained_at=5.1) is None


def test_batches_of_the_rolling_play_and_their_hosts():
    events = [
        {"ev": "play", "t": 0.0, "play": "preflight", "batch": 1},
        {"ev": "play", "t": 2.0, "play": "roll", "batch": 1},
        {"ev": "task", "host": "a", "play": "roll", "batch": 1, "t0": 2.1, "t1": 3.0},
        {"ev": "play", "t": 10.0, "play": "roll", "batch": 2},
        {"ev": "task", "host": "b", "play": "roll", "batch": 2, "t0": 10.1, "t1": 11.0},
        {"ev": "task", "host": "c", "play": "roll", "batch": 2, "t0": 10.1, "t1": 11.0},
        {"ev": "play", "t": 20.0, "play": "post", "batch": 1},
        {"ev": "end", "t": 21.0},
    ]
    name, found = an.batches(events)
    assert name == "roll"
    assert [(b["start"], b["end"], b["hosts"]) for b in found] == [(2.0, 10.0, ["a"]), (10.0, 20.0, ["b", "c"])]


def test_overhead_counts_only_the_longest_intrinsic_time_of_a_batch():
    batch_list = [{"start": 2.0, "end": 10.0, "hosts": ["a"]}, {"start": 10.0, "end": 20.0, "hosts": ["b", "c"]}]
    out = an.overhead(30.0, batch_list, {"a": 3.0, "b": 2.0, "c": 4.0})
    assert out["intrinsic_critical_s"] == pytest.approx(7.0)
    assert out["overhead_per_host_s"] == pytest.approx((30.0 - 7.0) / 3)
    assert out["rolling_s"] == pytest.approx(18.0)
    assert out["rolling_overhead_per_host_s"] == pytest.approx((18.0 - 7.0) / 3)
    assert out["fixed_s"] == pytest.approx(12.0)


def test_overhead_is_unknown_when_a_host_has_no_intrinsic_time():
    out = an.overhead(30.0, [{"start": 0.0, "end": 5.0, "hosts": ["a"]}], {"a": None})
    assert out["overhead_per_host_s"] is None
    assert out["fixed_s"] == pytest.approx(25.0)


def test_round_trips_count_executed_loop_items_sent_to_hosts_but_not_controller_actions():
    events = [
        {"ev": "task", "host": "a", "play": "p", "task": "stat", "action": "ansible.builtin.stat",
         "delegate": None, "status": "ok", "items": 2, "items_skipped": 0, "t0": 0.0, "t1": 1.0},
        {"ev": "task", "host": "a", "play": "p", "task": "facts", "action": "ansible.builtin.set_fact",
         "delegate": None, "status": "ok", "items": None, "t0": 1.0, "t1": 1.1},
        {"ev": "task", "host": "a", "play": "p", "task": "drain", "action": "zerodowntime.deploy.haproxy_server",
         "delegate": "{{ item }}", "status": "ok", "items": 1, "items_skipped": 0, "t0": 1.1, "t1": 2.0},
        {"ev": "task", "host": "a", "play": "p", "task": "sum", "action": "ansible.builtin.stat",
         "delegate": "localhost", "status": "ok", "items": None, "t0": 2.0, "t1": 2.5},
        {"ev": "task", "host": "a", "play": "p", "task": "apt", "action": "ansible.builtin.apt",
         "delegate": None, "status": "skipped", "items": None, "t0": 2.5, "t1": 2.5},
        {"ev": "task", "host": "a", "play": "p", "task": "wait for a and not ab", "action": "ansible.builtin.uri",
         "delegate": None, "status": "ok", "items": None, "attempts": 3, "t0": 2.5, "t1": 4.0},
    ]
    acct = an.task_accounting(events, "p", ["a"])["a"]
    assert acct["tasks_run"] == 5
    assert acct["tasks_skipped"] == 1
    assert acct["round_trips"] == 6          # 2 stat items, 1 drain, 3 attempts of the wait
    assert acct["by_task_trips"]["wait for <host> and not ab"] == 3
    assert acct["task_s"] == pytest.approx(4.0)
    assert acct["controller_task_s"] == pytest.approx(0.6)


@pytest.mark.parametrize("spec, n, expected", [
    ([1], 3, [1, 1, 1]),
    ([1, "25%", "50%"], 3, [1, 1, 1]),
    ([1, "25%", "50%"], 6, [1, 1, 3, 1]),
    ([1, "25%", "50%"], 12, [1, 3, 6, 2]),
])
def test_serial_batches_follow_ansibles_rounding(spec, n, expected):
    assert an.serial_batches(spec, n) == expected


def test_covered_time_merges_overlapping_tasks_and_the_gap_is_the_rest_of_the_batch():
    assert an.covered([(0.0, 1.0), (0.5, 2.0), (3.0, 4.0)]) == pytest.approx(3.0)
    assert an.covered([]) == 0.0
    events = [
        {"ev": "task", "play": "roll", "batch": 1, "host": "a", "t0": 1.0, "t1": 2.0},
        {"ev": "task", "play": "roll", "batch": 1, "host": "b", "t0": 1.5, "t1": 3.0},
        {"ev": "task", "play": "roll", "batch": 2, "host": "c", "t0": 6.0, "t1": 7.0},
    ]
    gaps = an.batch_gaps(events, "roll", [{"batch": 1, "start": 0.0, "end": 5.0}, {"batch": 2, "start": 5.0, "end": 9.0}])
    expected = [(pytest.approx(2.0), pytest.approx(3.0)), (pytest.approx(1.0), pytest.approx(3.0))]
    assert [(g["busy_s"], g["gap_s"]) for g in gaps] == expected


def test_install_time_counts_hosts_installing_together_once_and_one_after_the_other_in_full():
    def task(host, name, t0, t1, status="ok"):
        return {"ev": "task", "play": "p", "batch": 1, "host": host, "task": name, "t0": t0, "t1": t1, "status": status}
    together = [task("a", "zerodowntime.deploy.release : Create the release's virtualenv", 0.0, 4.0),
                task("b", "zerodowntime.deploy.release : Create the release's virtualenv", 1.0, 5.0),
                task("a", "Restart the application", 5.0, 6.0),
                task("b", "zerodowntime.deploy.release : Install the pinned wheels", 6.0, 6.5, status="skipped")]
    assert an.install_seconds(together) == pytest.approx(5.0)
    one_after_the_other = [task("a", "zerodowntime.deploy.release : Unpack the artifact into", 0.0, 2.0),
                           task("b", "zerodowntime.deploy.release : Unpack the artifact into", 3.0, 5.0)]
    assert an.install_seconds(one_after_the_other) == pytest.approx(4.0)
