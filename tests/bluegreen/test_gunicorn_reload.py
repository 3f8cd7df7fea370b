# SPDX-License-Identifier: GPL-3.0-or-later
"""A release switch with a gunicorn reload (HUP) instead of a drain, and its
fallback, on the blue/green lab after the switches (blue live on 1.0.0,
green idle on 1.1.0).

tests/bluegreen/reload_release.yml makes a release current and runs the
gunicorn role's reload entry point, then, if the reload reports old code,
drains, restarts, health-checks and enables the host. Two cases:

- blue, live, under the load probe, 1.0.0 -> 1.1.0 one host at a time,
  gunicorn started through current/ without --preload (1.1.0 is staged
  before the probe starts): the reload must bring 1.1.0 with the same master
  and fail no request;
- green, idle, 1.1.0 -> 1.0.0: bg-green1 with --preload, bg-green2 started as
  current/venv/bin/gunicorn (the interpreter line names the release's own
  virtualenv). Both reloads must report old code and say why, and the
  fallback must bring 1.0.0 with a restart.
"""

import pytest

from bg_helpers import (BLUE, GREEN, Probe, finish_playbook, phase_window, run_playbook, snapshot,
                        start_playbook, wait_all_up)

testinfra_hosts = ["local://"]

# A HUP stops the old workers as soon as the new ones are forked, and the new
# ones take requests once they have imported the application: requests that
# reach the host meanwhile wait in the listen queue for that boot, about a
# second here, several on a saturated machine. They are answered, late; the
# probe counts a request as failed only after this many seconds, and the
# latency is asserted separately.
RELOAD_PROBE_TIMEOUT = 15.0


@pytest.fixture(scope="module")
def reloads(tmp_path_factory):
    """Green's failing reloads and blue's staging at once, then blue's reloads under load.

    Only the release switch and the reload of blue run while the probe
    measures: staging (a pip install on the serving hosts) and the green
    cases happen before it, so that the probe measures the reload.
    """
    work = tmp_path_factory.mktemp("reload")
    wait_all_up("app_blue")
    before = snapshot(BLUE + GREEN)
    fallback = start_playbook(
        "tests/bluegreen/reload_release.yml", work / "green.json",
        "-e", "reload_release=1.0.0", "-e", "reload_serial=2",
        "-e", '{"reload_hosts": ["bg-green1", "bg-green2"], "reload_preload_hosts": ["bg-green1"],'
              ' "reload_legacy_hosts": ["bg-green2"]}')
    stage = start_playbook(
        "tests/bluegreen/reload_release.yml", work / "blue-stage.json",
        "-e", "reload_release=1.1.0", "-e", "reload_switch=false", "-e", '{"reload_hosts": ["bg-blue1", "bg-blue2"]}')
    green = finish_playbook(fallback, work / "green.json")
    staged = finish_playbook(stage, work / "blue-stage.json")
    assert staged["rc"] == 0, staged["output"][-3000:]
    wait_all_up("app_blue")
    with Probe(work, timeout=RELOAD_PROBE_TIMEOUT) as probe:
        blue = run_playbook(
            "tests/bluegreen/reload_release.yml", work / "blue.json",
            "-e", "reload_release=1.1.0", "-e", "reload_stage=false", "-e", '{"reload_hosts": ["bg-blue1", "bg-blue2"]}')
    return dict(blue=blue, green=green, probe=probe, before=before, after=snapshot(BLUE + GREEN))


def test_the_state_the_switches_left(reloads):
    before = reloads["before"]
    assert {h: before[h]["version"] for h in BLUE} == {h: "1.0.0" for h in BLUE}
    assert {h: before[h]["version"] for h in GREEN} == {h: "1.1.0" for h in GREEN}


def test_a_reload_without_preload_brings_the_new_release_and_fails_no_request(reloads):
    blue = reloads["blue"]
    assert blue["rc"] == 0, blue["output"][-3000:]
    result = reloads["probe"].result
    assert result["requests_failed"] == 0, result["outcomes"]
    assert result["requests_total"] >= 600
    for host in BLUE:
        entry = blue["report"]["hosts"][host]
        assert entry.get("reloaded") is True, entry
        assert not entry.get("reload_fallback"), entry
        assert "drain" not in entry["phases"], entry["phases"]
        assert reloads["after"][host]["version"] == "1.1.0"
        assert reloads["after"][host]["pid"] == reloads["before"][host]["pid"], "the master was replaced"


def test_every_request_sent_after_the_last_reload_is_answered_by_1_1_0(reloads):
    _, done = phase_window(reloads["blue"]["report"], BLUE[-1], "reload")
    after = reloads["probe"].sent_after(done)
    assert len(after) >= 60
    assert {r["release"] for r in after} == {"1.1.0"}
    assert "1.0.0" in reloads["probe"].result["releases_seen"]


@pytest.mark.parametrize("host, cause", [
    ("bg-green1", "The master runs with --preload"),
    ("bg-green2", "whose virtualenv is the release's own"),
], ids=["preload", "started-from-the-release-virtualenv"])
def test_a_reload_that_keeps_old_code_fails_naming_why_and_the_fallback_restarts(reloads, host, cause):
    green = reloads["green"]
    assert green["rc"] == 0, green["output"][-3000:]
    entry = green["report"]["hosts"][host]
    assert entry.get("reload_fallback") is True, entry
    assert "answers release '1.1.0', expected '1.0.0'" in entry["reload_failure"]
    assert cause in entry["reload_failure"]
    assert {"drain", "deploy", "health", "enable"} <= set(entry["phases"])
    assert reloads["after"][host]["version"] == "1.0.0"
    assert reloads["after"][host]["pid"] != reloads["before"][host]["pid"]
