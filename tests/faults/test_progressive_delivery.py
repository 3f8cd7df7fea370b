# SPDX-License-Identifier: GPL-3.0-or-later
"""Progressive delivery (issue 5), proven on a lab with four app hosts.

They run in molecule/faults, after tests/faults/test_faults.py, whose
expand/contract chain leaves f-app1..f-app4 on release 1.3.0 behind f-lb1
(the lab's gunicorn starts through current/, gunicorn_reloadable). These
tests then run on the controller (``local://``) and drive
ansible-playbook and docker themselves. They share the lab and run in the
order written, each starting from the state the one above left (every host
on 1.3.0 until the healthy canary):

    1.4.0 canary, no traffic ............................ inconclusive: stops, says so
    1.4.0-slow canary under the probe ................... aborted on the response time, rolled back
    1.4.0-faulty canary under the probe ................. aborted on the 5xx ratio, rolled back
    1.4.0 canary under the probe, batches 1, 25%, 100% .. promoted, zero failed requests
    1.3.0 with deploy_strategy reload, f-app4 preloaded . three reloads in rotation, one fallback
    the same again with the lab's inventory alone ....... f-app4's unit changes: restarted, reported

The canary is the first host of the play, f-app1, at deploy_canary_weight
50% of its weight 100 beside three servers at 100: about 1/7 of the traffic.
Timings are never asserted on whole runs; the abort delay is measured from
the deploy report's phase times (the canary's enable phase ends when it is
UP in rotation at its reduced weight; its canary phase ends with the
verdict). Runs write their output and report to build/canary/<name>.log and
.json, the probe its requests to <name>.requests.jsonl.
"""

import json

import pytest

from canarylab import WORK, Probe, Run, served_counts, snapshot
from faultlab import APP_HOSTS, DEPLOY, INVENTORY, ROOT, SERVICE, docker, servers, wait_in_rotation

testinfra_hosts = ["local://"]

STABLE = "1.3.0"
CANARY = APP_HOSTS[0]
SOAK_S = 25
CANARY_ARGS = [
    "-e", "deploy_canary=true", "-e", "deploy_canary_weight=50%", "-e", f"deploy_canary_soak_s={SOAK_S}",
    "-e", "deploy_canary_min_requests=30",
    # Every fifth request of a worker fails on 1.4.0-faulty, 300 ms more on
    # 1.4.0-slow: the defaults (5%, x1.5) catch both.
]
# The analysis must end within the soak plus this many seconds of the
# canary entering rotation (issue 5).
ABORT_SLACK_S = 10

# Results that a later test reads (the tests share the lab).
SHARED = {}


def deploy(name, release, *extra, **kwargs):
    return Run(name, DEPLOY, "-e", f"deploy_release={release}", *extra, **kwargs)


def assert_fleet(release, hosts=tuple(APP_HOSTS)):
    state = snapshot(hosts)
    assert {h: (s["current"], s["served"]) for h, s in state.items()} == {h: (release, release) for h in hosts}


def assert_full_weights():
    """Every server is READY, UP and at its configured weight on f-lb1."""
    state = servers()
    for host in APP_HOSTS:
        assert state[host]["ready"] and state[host]["up"], (host, state[host])
        assert state[host]["weight"] == state[host]["initial_weight"], (host, state[host])


def canary_case(name, release):
    """Deploy ``release`` as a canary under the probe; returns the figures the tests check."""
    wait_in_rotation()
    before = snapshot()
    served_before = served_counts()
    with Probe(name) as probe:
        run = deploy(name, release, *CANARY_ARGS)
    served_after = served_counts()
    return dict(run=run, probe=probe, before=before, after=snapshot(), served=(served_before, served_after))


def assert_aborted_canary(case, release, reason):
    """What a failed analysis must leave and say (issue 5, items 1 and 2)."""
    run, probe = case["run"], case["probe"]
    assert run.rc != 0, run.output[-3000:]
    verdict = run.host(CANARY)["canary"]
    assert verdict["verdict"] == "fail", verdict
    assert any(reason in r for r in verdict["reasons"]), verdict["reasons"]

    # The failure names the measured figures of both sides.
    failure = run.host(CANARY)["failure"]["msg"]
    assert f"Canary analysis fail for {CANARY} on release {release}" in failure, failure
    for figure in (f"Canary: {verdict['canary']['requests']} requests", f"5xx ratio {verdict['canary']['ratio_5xx']}",
                   f"response time {verdict['canary']['rtime_ms']} ms", f"stable: {verdict['stable']['requests']} requests",
                   f"response time {verdict['stable']['rtime_ms']} ms"):
        assert figure in run.output, figure
    assert f"The host was rolled back to {STABLE} and is back in rotation." in run.output

    # Within the soak plus 10 s of the canary entering rotation.
    in_rotation = run.window(CANARY, "enable")[1]
    judged = run.window(CANARY, "canary")[1]
    delay = judged - in_rotation
    assert SOAK_S <= delay <= SOAK_S + ABORT_SLACK_S, delay

    # Back on the stable release at full weight; the others never touched.
    assert case["after"][CANARY]["current"] == STABLE and case["after"][CANARY]["served"] == STABLE
    assert {"rollback"} <= set(run.host(CANARY)["phases"]), run.host(CANARY)["phases"]
    for host in APP_HOSTS[1:]:
        assert case["after"][host] == case["before"][host], host
        assert not set(run.host(host).get("phases", {})) & {"drain", "deploy", "enable"}, host
    assert_full_weights()

    # Only the canary served the release: the answers that named it are no
    # more than the canary's answers over the whole run, and no other host
    # ever ran it (above).
    answers = probe.releases().get(release, 0)
    served_before, served_after = case["served"]
    assert 0 < answers <= served_after[CANARY] - served_before[CANARY], (answers, served_before, served_after)

    # Client-visible failures over the soak stay below the canary's share.
    soak = probe.sent_between(in_rotation, judged)
    failed = sum(1 for r in soak if r["failed"])
    share = verdict["canary"]["requests"] / (verdict["canary"]["requests"] + verdict["stable"]["requests"])
    assert len(soak) >= 100, len(soak)
    assert failed / len(soak) < share, (failed, len(soak), share)
    SHARED[release] = dict(requests=len(soak), failed=failed, share=round(share, 3), abort_delay_s=round(delay, 1),
                           canary=verdict["canary"], stable=verdict["stable"], probe_failed=probe.result["requests_failed"])
    (WORK / "figures.json").write_text(json.dumps(SHARED, indent=2) + "\n")


def test_the_lab_starts_on_the_stable_release():
    assert_fleet(STABLE)
    assert_full_weights()


def test_a_canary_without_enough_requests_stops_the_deploy_and_says_so():
    wait_in_rotation()
    before = snapshot()
    run = deploy("inconclusive", "1.4.0", "-e", "deploy_canary=true", "-e", "deploy_canary_soak_s=3")
    assert run.rc != 0, run.output[-3000:]
    verdict = run.host(CANARY)["canary"]
    assert verdict["verdict"] == "inconclusive", verdict
    message = run.host(CANARY)["failure"]["msg"]
    assert f"Canary analysis inconclusive for {CANARY} on release 1.4.0" in message, message
    assert "Canary: 0 requests, 5xx ratio n/a, response time n/a ms" in message, message
    assert "fewer than 50" in " ".join(verdict["reasons"])
    after = snapshot()
    assert after[CANARY]["current"] == STABLE and after[CANARY]["served"] == STABLE
    for host in APP_HOSTS[1:]:
        assert after[host] == before[host], host
    assert_full_weights()


def test_a_slow_canary_is_aborted_on_its_response_time_and_rolled_back():
    case = canary_case("slow", "1.4.0-slow")
    assert_aborted_canary(case, "1.4.0-slow", "canary response time")
    verdict = case["run"].host(CANARY)["canary"]
    assert verdict["canary"]["ratio_5xx"] == 0.0, verdict


def test_a_faulty_canary_is_aborted_on_its_5xx_ratio_and_rolled_back():
    case = canary_case("faulty", "1.4.0-faulty")
    assert_aborted_canary(case, "1.4.0-faulty", "canary 5xx ratio")
    # Every 500 the probe saw came from the faulty release.
    failures = [r for r in case["probe"].records if r["failed"]]
    assert failures and {r["outcome"] for r in failures} == {"500"}, {r["outcome"] for r in failures}
    assert {r["release"] for r in failures} == {"1.4.0-faulty"}


def test_a_healthy_canary_is_promoted_through_the_batches_without_a_failed_request():
    wait_in_rotation()
    with Probe("healthy") as probe:
        run = deploy("healthy", "1.4.0", *CANARY_ARGS, "-e", '{"deploy_serial": [1, "25%", "100%"]}')
    assert run.rc == 0, run.output[-3000:]
    assert probe.result["requests_failed"] == 0, (probe.result["outcomes"], probe.result["first_failure"])
    assert probe.result["requests_total"] >= 500
    verdict = run.host(CANARY)["canary"]
    assert verdict["verdict"] == "pass", verdict
    assert "canary" not in {k for h in APP_HOSTS[1:] for k in run.host(h)}, "a later batch was analysed"
    # Batches 1, 25% (one host of four) and 100% (the rest): f-app3 and
    # f-app4 drained together, after f-app2 was back.
    second_done = run.window("f-app2", "enable")[1]
    third = [run.window(h, "drain")[0] for h in ("f-app3", "f-app4")]
    assert min(third) >= second_done, (third, second_done)
    assert_fleet("1.4.0")
    assert_full_weights()
    SHARED["1.4.0"] = dict(requests=probe.result["requests_total"], failed=0, canary=verdict["canary"],
                           stable=verdict["stable"])
    (WORK / "figures.json").write_text(json.dumps(SHARED, indent=2) + "\n")


@pytest.fixture(scope="module")
def reload_run():
    """f-app4 restarted with --preload first (not measured), then 1.3.0 with
    deploy_strategy reload under the probe; f-app4 keeps gunicorn_preload
    through an inventory of its own beside the lab's."""
    overlay = WORK / "preload-inventory.yml"
    overlay.write_text("all:\n  hosts:\n    f-app4:\n      gunicorn_preload: true\n")
    inventories = (INVENTORY, overlay)
    # localhost too: the playbook reads there, from every balancer, the
    # addresses the unit listens on (issue 14).
    preload = Run("preload", ROOT / "tests" / "faults" / "configure_gunicorn.yml",
                  "--limit", "f-app4,localhost", inventories=inventories)
    assert preload.rc == 0, preload.output[-3000:]
    wait_in_rotation()
    before = snapshot()
    with Probe("reload") as probe:
        run = deploy("reload", STABLE, "-e", "deploy_strategy=reload", inventories=inventories)
    SHARED["reload"] = dict(requests=probe.result["requests_total"], failed=probe.result["requests_failed"])
    (WORK / "figures.json").write_text(json.dumps(SHARED, indent=2) + "\n")
    return dict(run=run, probe=probe, before=before, after=snapshot())


def test_a_reload_deploy_brings_every_host_to_the_release_without_a_failed_request(reload_run):
    run, probe = reload_run["run"], reload_run["probe"]
    assert run.rc == 0, run.output[-3000:]
    assert probe.result["requests_failed"] == 0, (probe.result["outcomes"], probe.result["first_failure"])
    assert probe.result["requests_total"] >= 300
    assert_fleet(STABLE)
    assert_full_weights()
    assert reload_run["before"]["f-app1"]["current"] == "1.4.0"


@pytest.mark.parametrize("host", APP_HOSTS[:3])
def test_a_host_that_can_reload_stays_in_rotation_and_keeps_its_master(reload_run, host):
    run = reload_run["run"]
    entry = run.host(host)
    assert entry.get("reloaded") is True, entry
    assert not entry.get("reload_fallback"), entry
    assert "reload" in entry["phases"] and "drain" not in entry["phases"], entry["phases"]
    assert reload_run["after"][host]["pid"] == reload_run["before"][host]["pid"], "the master was replaced"


def test_a_preloaded_host_falls_back_to_drain_and_restart_and_the_report_says_why(reload_run):
    run = reload_run["run"]
    entry = run.host("f-app4")
    assert entry.get("reload_fallback") is True, entry
    assert "answers release '1.4.0', expected '1.3.0'" in entry["reload_failure"], entry["reload_failure"]
    assert "--preload" in entry["reload_failure"]
    assert {"reload", "drain", "deploy", "health", "enable"} <= set(entry["phases"]), entry["phases"]
    assert reload_run["after"]["f-app4"]["pid"] != reload_run["before"]["f-app4"]["pid"]


def test_a_reload_deploy_that_changes_a_hosts_unit_restarts_it_and_the_report_says_why(reload_run):
    """Issue 15, case 5: a setting given on one deploy and not on the next
    (here f-app4's gunicorn_preload, given by reload_run's overlay) changes
    the unit, which a reload cannot apply; the host takes the drain and
    restart, and the report says so instead of nothing."""
    wait_in_rotation()
    before = snapshot()
    with Probe("reload-unit-change") as probe:
        run = deploy("reload-unit-change", STABLE, "-e", "deploy_strategy=reload")
    assert run.rc == 0, run.output[-3000:]
    assert probe.result["requests_failed"] == 0, (probe.result["outcomes"], probe.result["first_failure"])
    entry = run.host("f-app4")
    assert entry.get("reload_fallback") is True, entry
    assert "unit or environment file changes" in entry["reload_failure"], entry["reload_failure"]
    assert not entry.get("reloaded"), entry
    assert {"drain", "deploy", "health", "enable"} <= set(entry["phases"]), entry["phases"]
    assert "reload" not in entry["phases"], entry["phases"]
    assert snapshot(["f-app4"])["f-app4"]["pid"] != before["f-app4"]["pid"]
    unit = docker("exec", "f-app4", "cat", f"/etc/systemd/system/{SERVICE}.service")
    assert "ExecStart=" in unit and "--preload" not in unit, unit
    for host in APP_HOSTS[:3]:
        other = run.host(host)
        assert not set(other.get("phases", {})) & {"drain", "deploy", "reload"}, (host, other.get("phases"))
        assert not other.get("reload_fallback") and not other.get("reloaded"), (host, other)
    assert_fleet(STABLE)
    assert_full_weights()
