"""Verify the main job's reports on the controller.

build/demo-report.json comes from scripts/deploy_under_load.py run by the
scenario's side effect: 1.0.0 -> 1.1.0 under the load probe. The rerun
report is the same deploy run a second time.
"""

import json
import pathlib

testinfra_hosts = ["local://"]

ROOT = pathlib.Path(__file__).resolve().parents[2]
APP_HOSTS = ["app1", "app2", "app3"]


def _load(name):
    return json.loads((ROOT / "build" / name).read_text())


def test_the_rolling_deploy_failed_no_request_out_of_at_least_a_thousand():
    report = _load("demo-report.json")
    assert report["ansible_rc"] == 0
    assert report["requests_total"] >= 1000
    assert report["requests_failed"] == 0, report["outcomes"]


def test_clients_saw_the_old_release_then_the_new_one():
    report = _load("demo-report.json")
    assert report["releases_seen"] == ["1.0.0", "1.1.0"]


def test_every_app_host_ends_on_the_new_release():
    report = _load("demo-report.json")
    assert report["release_by_host"] == {host: "1.1.0" for host in APP_HOSTS}


def test_every_host_went_through_drain_deploy_health_and_enable():
    report = _load("demo-report.json")
    for host in APP_HOSTS:
        phases = report["phases_by_host"][host]
        assert {"drain", "deploy", "health", "enable"} <= set(phases), (host, phases)
        assert all(seconds >= 0 for seconds in phases.values())


def test_migrations_ran_once_on_one_host_and_applied_the_new_migration():
    report = _load("demo-report.json")
    migrated = [h for h, entry in report["deploy"]["hosts"].items() if "migrate" in entry.get("phases", {})]
    assert migrated == ["app1"]
    applied = report["deploy"]["hosts"]["app1"]["migrations_applied"]
    assert [m for m in applied if m.startswith("visits.0002_")], applied


def test_hosts_were_drained_one_at_a_time():
    report = _load("demo-report.json")
    windows = sorted(
        (entry["phases"]["drain"]["start"], entry["phases"]["enable"]["end"])
        for host, entry in report["deploy"]["hosts"].items()
        if host in APP_HOSTS
    )
    for (_start, previous_end), (next_start, _end) in zip(windows, windows[1:]):
        assert next_start >= previous_end


def test_running_the_same_deploy_again_drains_nothing_and_fails_no_request():
    rerun = _load("demo-rerun-report.json")
    assert rerun["ansible_rc"] == 0
    assert rerun["requests_failed"] == 0, rerun["outcomes"]
    assert rerun["releases_seen"] == ["1.1.0"]
    # Every host runs 1.1.0 and is in rotation on the balancer: the rolling
    # play gives none a turn (no health check, no enable of its own).
    assert rerun["release_by_host"] == {host: "1.1.0" for host in APP_HOSTS}
    for host in APP_HOSTS:
        assert not {"drain", "deploy", "health", "enable"} & set(rerun["phases_by_host"][host]), \
            rerun["phases_by_host"]
    assert not rerun["deploy"]["hosts"]["app1"].get("migrations_applied")
    for host in APP_HOSTS:
        assert rerun["deploy"]["hosts"][host]["stats"]["changed"] == 0, host
