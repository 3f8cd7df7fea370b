# SPDX-License-Identifier: GPL-3.0-or-later
"""Blue/green switching under load, on the blue/green lab.

After the converge blue is live on 1.0.0 and green idle on 1.0.0. Then, with
the load probe sending 60 requests a second through bg-lb1:

1. playbooks/switch.yml -e deploy_release=1.1.0: green gets 1.1.0 and all
   traffic moves to it in one Runtime API command;
2. playbooks/switch.yml -e bluegreen_switch_back=true: back to blue.

Each must fail no request, and every request sent after the switch must be
answered by the new pool's release; the pool switched away from must be left
exactly as it was (same release, same gunicorn master). The tests run in
file order and share the lab's state.
"""

import re

import pytest

from bg_helpers import (BALANCER, BLUE, GREEN, Probe, docker, file_backend, live_backend,
                        phase_window, run_playbook, servers, snapshot, version, wait_all_up)

testinfra_hosts = ["local://"]


@pytest.fixture(scope="module")
def first_switch(tmp_path_factory):
    """Deploy 1.1.0 to the idle green pool and switch to it, under load."""
    work = tmp_path_factory.mktemp("switch-green")
    blue_before = snapshot(BLUE)
    with Probe(work) as probe:
        run = run_playbook("playbooks/switch.yml", work / "report.json", "-e", "deploy_release=1.1.0")
    run.update(probe=probe, blue_before=blue_before, blue_after=snapshot(BLUE), green_after=snapshot(GREEN))
    return run


@pytest.fixture(scope="module")
def switch_back(tmp_path_factory, first_switch):
    """Switch back to blue, under load, without deploying."""
    work = tmp_path_factory.mktemp("switch-back")
    green_before = snapshot(GREEN)
    with Probe(work) as probe:
        run = run_playbook("playbooks/switch.yml", work / "report.json", "-e", "bluegreen_switch_back=true")
    run.update(probe=probe, green_before=green_before, green_after=snapshot(GREEN))
    return run


def test_the_converge_leaves_blue_live_and_both_pools_on_1_0_0():
    assert live_backend() == "app_blue"
    assert file_backend() == "app_blue"
    for host in BLUE + GREEN:
        assert version(host) == "1.0.0", host
    assert set(servers("app_blue").values()) == {("0", "2")}
    assert set(servers("app_green").values()) == {("0", "2")}


def test_a_dry_run_of_the_switch_says_what_it_would_do_and_changes_nothing(tmp_path):
    pools = snapshot(BLUE + GREEN)
    run = run_playbook("playbooks/switch.yml", tmp_path / "report.json", "--check", "--diff",
                       "-e", "deploy_release=1.1.0")
    assert run["rc"] == 0, run["output"][-3000:]
    # Without the colours molecule forces, each wrapped line coloured on its own.
    said = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", run["output"]).split())
    assert ("Would install release 1.1.0 on pool green (bg-green1, bg-green2), apply its pre-deploy migrations "
            "from bg-green1, restart those hosts and put them into rotation in backend app_green, then switch "
            "bg-lb1 from app_blue to app_green in one command each.") in said, said[-3000:]
    assert snapshot(BLUE + GREEN) == pools
    assert live_backend() == file_backend() == "app_blue"
    assert set(servers("app_green").values()) == {("0", "2")}
    for host in GREEN:
        assert docker(host, "ls", "/srv/demoapp/releases").split() == ["1.0.0"], host


def test_the_switch_to_green_with_1_1_0_fails_no_request(first_switch):
    assert first_switch["rc"] == 0, first_switch["output"][-3000:]
    result = first_switch["probe"].result
    assert result["requests_total"] >= 1000
    assert result["requests_failed"] == 0, result["outcomes"]
    assert result["releases_seen"] == ["1.0.0", "1.1.0"]


def test_every_request_sent_after_the_switch_is_answered_by_1_1_0(first_switch):
    _, switched = phase_window(first_switch["report"], BALANCER, "switch")
    after = first_switch["probe"].sent_after(switched)
    assert len(after) >= 60
    assert {r["release"] for r in after} == {"1.1.0"}


def test_every_answer_before_the_switch_comes_from_blue_on_1_0_0(first_switch):
    # The idle pool was deployed and restarted without taking a request.
    started, _ = phase_window(first_switch["report"], BALANCER, "switch")
    before = first_switch["probe"].answered_before(started)
    assert len(before) >= 600
    assert {r["release"] for r in before} == {"1.0.0"}


def test_one_set_map_command_switched_the_balancer(first_switch):
    entry = first_switch["report"]["hosts"][BALANCER]
    assert entry["switch_commands"] == ["set map /etc/haproxy/bluegreen.map live app_green"]
    assert entry["live_pool"] == "green" and entry["switched_from"] == "app_blue"


def test_green_runs_1_1_0_and_the_balancer_points_at_it_at_runtime_and_on_disk(first_switch):
    assert {h: s["version"] for h, s in first_switch["green_after"].items()} == {h: "1.1.0" for h in GREEN}
    assert live_backend() == "app_green"
    assert file_backend() == "app_green"


def test_the_blue_pool_is_untouched_by_the_switch(first_switch):
    before, after = first_switch["blue_before"], first_switch["blue_after"]
    assert after == before
    assert {s["current"] for s in after.values()} == {"1.0.0"}
    for host in BLUE:
        releases = docker(host, "ls", "/srv/demoapp/releases").split()
        assert releases == ["1.0.0"], (host, releases)


def test_pre_deploy_migrations_ran_once_and_post_deploy_ones_did_not(first_switch):
    hosts = first_switch["report"]["hosts"]
    migrated = [h for h, e in hosts.items() if "migrate" in e.get("phases", {})]
    assert migrated == ["bg-green1"]
    assert [m for m in hosts["bg-green1"]["migrations_applied"] if m.startswith("visits.0002_")]
    assert not any("post_migrate" in e.get("phases", {}) for e in hosts.values())


def test_a_reload_and_a_restart_of_haproxy_keep_green_live(first_switch):
    docker(BALANCER, "systemctl", "reload", "haproxy")
    assert live_backend() == "app_green"
    docker(BALANCER, "systemctl", "restart", "haproxy")
    assert live_backend() == "app_green"
    wait_all_up("app_green")
    wait_all_up("app_blue")


def test_deploying_the_live_release_again_changes_nothing(tmp_path, first_switch):
    run = run_playbook("playbooks/switch.yml", tmp_path / "report.json", "-e", "deploy_release=1.1.0")
    assert run["rc"] == 0, run["output"][-3000:]
    assert "already serves release 1.1.0" in run["output"]
    for host, entry in run["report"]["hosts"].items():
        assert entry["stats"]["changed"] == 0, host
    assert live_backend() == "app_green"


def test_switching_back_fails_no_request(switch_back):
    assert switch_back["rc"] == 0, switch_back["output"][-3000:]
    result = switch_back["probe"].result
    assert result["requests_total"] >= 600
    assert result["requests_failed"] == 0, result["outcomes"]
    assert result["releases_seen"] == ["1.1.0", "1.0.0"]


def test_every_request_sent_after_the_switch_back_is_answered_by_1_0_0(switch_back):
    _, switched = phase_window(switch_back["report"], BALANCER, "switch")
    after = switch_back["probe"].sent_after(switched)
    assert len(after) >= 60
    assert {r["release"] for r in after} == {"1.0.0"}
    assert live_backend() == "app_blue" and file_backend() == "app_blue"


def test_switching_back_deploys_nothing_and_leaves_green_running(switch_back):
    hosts = switch_back["report"]["hosts"]
    assert not any({"stage", "migrate", "deploy"} & set(e.get("phases", {})) for e in hosts.values())
    assert switch_back["green_after"] == switch_back["green_before"]


def test_a_misspelled_switch_option_stops_the_switch_before_anything_changes(tmp_path):
    before = (live_backend(), snapshot(BLUE), snapshot(GREEN))
    run = run_playbook("playbooks/switch.yml", tmp_path / "report.json", "-e", "bluegreen_swtich_back=true")
    assert run["rc"] == 2, run["output"][-3000:]
    assert "Unknown option bluegreen_swtich_back: did you mean bluegreen_switch_back?" in run["output"]
    assert run["report"]["hosts"]["localhost"]["failure"]["phase"] == "preflight"
    assert (live_backend(), snapshot(BLUE), snapshot(GREEN)) == before
