"""Verify the reports of the deploys behind two balancers (controller side).

The side effect of molecule/ha_pair wrote them with
scripts/deploy_under_probes.py, one load probe per balancer:

- build/ha-pair-report.json: 1.0.0 -> 1.1.0, every host drained on both;
- build/ha-pair-lb2-readonly-report.json: a deploy of 1.0.0 while ha-lb2's
  socket for the deploy can read but not drain: the preflight refuses it
  before anything changes;
- build/ha-pair-lb2-missing-report.json: the same with no socket at all;
- build/ha-pair-app1-service.json: ha-app1's service (main pid, start time)
  and current release before and after the two failed deploys.
"""

import datetime
import json
import pathlib

import pytest

testinfra_hosts = ["local://"]

ROOT = pathlib.Path(__file__).resolve().parents[2]
APP_HOSTS = ["ha-app1", "ha-app2"]
BALANCERS = ["ha-lb1", "ha-lb2"]
FAILED_CASES = ["lb2-readonly", "lb2-missing"]


def _load(name):
    return json.loads((ROOT / "build" / name).read_text())


def _when(report, probe):
    """Where the probe's failed requests fall in the deploy: for each second
    with failures, the phases that hosts were in (for the assertion message)."""
    started = datetime.datetime.fromisoformat(probe["started"])
    spans = []
    for host, entry in report["deploy"].get("hosts", {}).items():
        for phase, timing in entry.get("phases", {}).items():
            spans.append((host, phase, datetime.datetime.fromisoformat(timing["start"]),
                          datetime.datetime.fromisoformat(timing["end"])))
    seconds = {}
    for bucket in probe["timeline"]:
        if bucket["failed"]:
            moment = started + datetime.timedelta(seconds=bucket["t"])
            seconds[bucket["t"]] = dict(failures=bucket["failures"], during=sorted(
                "%s:%s" % (host, phase) for host, phase, start, end in spans
                if start - datetime.timedelta(seconds=1) <= moment <= end + datetime.timedelta(seconds=1)))
    return seconds


def _answered_while_out_of_rotation(report, probe, host):
    """Requests the probe had answered in the seconds from the start of the
    host's drain to the end of its enable."""
    started = datetime.datetime.fromisoformat(probe["started"])
    phases = report["deploy"]["hosts"][host]["phases"]
    first = datetime.datetime.fromisoformat(phases["drain"]["start"])
    last = datetime.datetime.fromisoformat(phases["enable"]["end"])
    return sum(bucket["ok"] for bucket in probe["timeline"]
               if first <= started + datetime.timedelta(seconds=bucket["t"]) <= last)


def test_the_deploy_failed_no_request_through_either_balancer():
    report = _load("ha-pair-report.json")
    assert report["ansible_rc"] == 0
    assert sorted(report["probes"]) == ["http://127.0.0.1:8081/", "http://127.0.0.1:8082/"]
    for url, probe in report["probes"].items():
        # How many requests depends on how long the deploy took; what matters
        # is that the probe was answered while each host was out of rotation.
        assert probe["requests_total"] >= 100, url
        for host in APP_HOSTS:
            assert _answered_while_out_of_rotation(report, probe, host) >= 20, (url, host)
        assert probe["requests_failed"] == 0, (url, probe["outcomes"], _when(report, probe))
        assert probe["releases_seen"] == ["1.0.0", "1.1.0"], url


def test_every_app_host_was_drained_and_enabled_on_both_balancers():
    hosts = _load("ha-pair-report.json")["deploy"]["hosts"]
    for host in APP_HOSTS:
        # Drained, then in maintenance once its sessions had ended (rotation_drained_state).
        assert hosts[host]["drained_on"] == {lb: "MAINT" for lb in BALANCERS}, host
        assert hosts[host]["enabled_on"] == {lb: "UP" for lb in BALANCERS}, host
        assert {"drain", "deploy", "health", "enable"} <= set(hosts[host]["phases"]), host
    assert _load("ha-pair-report.json")["release_by_host"] == {host: "1.1.0" for host in APP_HOSTS}


@pytest.mark.parametrize("case", FAILED_CASES)
def test_a_balancer_that_cannot_drain_fails_the_deploy_in_preflight_naming_it(case):
    """Every balancer is read before anything changes (issue 14): the deploy
    stops on the controller, naming ha-lb2 and why, before the lock."""
    report = _load(f"ha-pair-{case}-report.json")
    assert report["ansible_rc"] == 2
    failure = report["deploy"]["hosts"]["localhost"]["failure"]
    assert failure["phase"] == "preflight", failure
    assert "Balancer ha-lb2" in failure["msg"], failure
    assert "ha-lb1" not in failure["msg"], failure


def test_a_read_only_socket_is_named_with_its_level():
    msg = _load("ha-pair-lb2-readonly-report.json")["deploy"]["hosts"]["localhost"]["failure"]["msg"]
    assert "the Runtime API socket has level 'operator'" in msg and "level admin" in msg, msg


def test_a_balancer_that_cannot_be_read_is_named_with_its_socket():
    msg = _load("ha-pair-lb2-missing-report.json")["deploy"]["hosts"]["localhost"]["failure"]["msg"]
    assert "Balancer ha-lb2 cannot be read" in msg and "/run/haproxy/missing.sock" in msg, msg


@pytest.mark.parametrize("case", FAILED_CASES)
def test_the_deploy_stops_before_any_host_is_drained(case):
    """Nothing to put back: no app host was drained on any balancer (the
    rotation role's return-to-rotation after a partial drain is covered by
    tests/integration/test_rotation_two_balancers.py)."""
    hosts = _load(f"ha-pair-{case}-report.json")["deploy"]["hosts"]
    for host in APP_HOSTS:
        entry = hosts.get(host, {})
        assert not {"stage", "drain", "deploy", "health", "enable"} & set(entry.get("phases", {})), (host, entry)


@pytest.mark.parametrize("case", FAILED_CASES)
def test_no_request_failed_through_either_balancer_during_the_failed_deploy(case):
    report = _load(f"ha-pair-{case}-report.json")
    for url, probe in report["probes"].items():
        assert probe["requests_total"] > 0, url
        assert probe["requests_failed"] == 0, (url, probe["outcomes"], _when(report, probe))
        assert probe["releases_seen"] == ["1.1.0"], url


def test_the_failed_deploys_neither_stopped_the_app_nor_switched_its_release():
    before, after = _load("ha-pair-app1-service.json")
    assert before["current"] == after["current"]
    assert before["current"].rstrip("/").endswith("releases/1.1.0")
    assert int(before["MainPID"]) > 0
    assert (after["MainPID"], after["ActiveEnterTimestampMonotonic"]) == \
        (before["MainPID"], before["ActiveEnterTimestampMonotonic"])
