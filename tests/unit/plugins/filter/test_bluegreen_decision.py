# SPDX-License-Identifier: GPL-3.0-or-later
"""The bluegreen_decision filter: the no-op cases, each problem, the dry run's sentence, the hosts of each
later play and the closing sentence, for each mode.

The sentences are those playbooks/switch.yml always printed: tests/bluegreen reads them.
"""

import pytest

from ansible_collections.zerodowntime.deploy.plugins.filter.bluegreen_decision import bluegreen_decision

POOL_HOSTS = {"blue": ["blue1", "blue2"], "green": ["green1", "green2"]}
BACKENDS = {"blue": "app_blue", "green": "app_green"}


def plan(mode, target="green", release="", live="blue", balancers=None):
    return {"mode": mode, "live_pool": live, "idle_pool": "green" if live == "blue" else "blue",
            "target_pool": target, "release": release,
            "balancers": balancers or {"lb1": BACKENDS[live], "lb2": BACKENDS[live]}}


def decide(the_plan, serving, current=None, **kwargs):
    hosts = POOL_HOSTS["blue"] + POOL_HOSTS["green"]
    data = {"plan": the_plan, "pool_hosts": POOL_HOSTS, "balancers": ["lb1", "lb2"],
            "serving": dict({h: "" for h in hosts}, **serving),
            "current": current if current is not None else {h: "1.0.0" for h in hosts},
            "target_backend": BACKENDS[the_plan["target_pool"]]}
    data.update(kwargs)
    return bluegreen_decision(data)


ALL_ON = {"blue1": "1.0.0", "blue2": "1.0.0", "green1": "1.0.0", "green2": "1.0.0"}


# -- deploy ---------------------------------------------------------------------

def test_a_deploy_goes_to_the_idle_pool_and_switches():
    result = decide(plan("deploy", release="1.1.0"), ALL_ON)
    assert result["noop"] is False and result["noop_message"] == "" and result["problems"] == []
    assert result["plan"] == plan("deploy", release="1.1.0")
    assert result["dry_run"] == (
        "Would install release 1.1.0 on pool green (green1, green2), apply its pre-deploy migrations from green1, "
        "restart those hosts and put them into rotation in backend app_green, then switch lb1 from app_blue to "
        "app_green, lb2 from app_blue to app_green in one command each.")
    assert result["hosts"] == [["green1", "bluegreen_deploy"], ["green2", "bluegreen_deploy"],
                               ["green1", "bluegreen_target"], ["green2", "bluegreen_target"],
                               ["lb1", "bluegreen_switch"], ["lb2", "bluegreen_switch"]]
    assert result["summary"] == (
        "Pool green (1.1.0) is live on every balancer. Pool blue is left running as it was: switch back at once "
        "with -e bluegreen_switch_back=true. Post-deploy migrations of 1.1.0 were not applied: apply them with "
        "-e bluegreen_post_migrate=true once the previous pool is retired.")


def test_a_deploy_without_switch_prepares_the_idle_pool_only():
    result = decide(plan("deploy", release="1.1.0"), ALL_ON, switch=False)
    assert result["noop"] is False
    assert result["dry_run"].endswith("put them into rotation in backend app_green; traffic stays on pool blue.")
    assert [pair[1] for pair in result["hosts"]] == ["bluegreen_deploy"] * 2 + ["bluegreen_target"] * 2
    assert result["summary"] == ("Pool green runs 1.1.0 and is UP in backend app_green, not live: switch with "
                                 "-e bluegreen_switch_to=green.")


def test_a_deploy_of_the_release_the_live_pool_serves_does_nothing():
    serving = dict(ALL_ON, blue1="1.1.0", blue2="1.1.0")
    result = decide(plan("deploy", release="1.1.0"), serving)
    assert result["noop"] is True and result["problems"] == [] and result["hosts"] == []
    assert result["noop_message"] == (
        "The live pool blue already serves release 1.1.0 on every host: nothing to deploy or switch "
        "(-e deploy_force=true deploys it to the idle pool green and switches anyway).")
    assert result["summary"] == "Nothing changed: pool blue is live."


def test_a_forced_deploy_of_the_live_release_goes_ahead():
    serving = dict(ALL_ON, blue1="1.1.0", blue2="1.1.0")
    result = decide(plan("deploy", release="1.1.0"), serving, force=True)
    assert result["noop"] is False and len(result["hosts"]) == 6


def test_a_deploy_the_live_pool_serves_on_some_hosts_only_goes_ahead():
    result = decide(plan("deploy", release="1.1.0"), dict(ALL_ON, blue1="1.1.0"))
    assert result["noop"] is False


def test_a_deploy_without_switch_of_the_release_the_idle_pool_serves_does_nothing():
    serving = dict(ALL_ON, green1="1.1.0", green2="1.1.0")
    result = decide(plan("deploy", release="1.1.0"), serving, switch=False)
    assert result["noop"] is True and result["hosts"] == []
    assert result["noop_message"] == ("The idle pool green already serves release 1.1.0 on every host: "
                                      "nothing to deploy.")
    # Switching as well: the live pool does not serve it, so there is something to do.
    assert decide(plan("deploy", release="1.1.0"), serving)["noop"] is False


def test_a_deploy_to_a_pool_with_an_unread_host_stops():
    current = dict({h: "1.0.0" for h in ALL_ON}, green2=None)
    result = decide(plan("deploy", release="1.1.0"), ALL_ON, current=current)
    assert result["problems"] == [
        "Not touching pool green: green2 could not be read (unreachable or failed above); a pool is switched to "
        "whole or not at all."]


def test_a_first_deploy_reads_an_empty_current_release_as_read():
    current = dict({h: "1.0.0" for h in ALL_ON}, green1="", green2="")
    assert decide(plan("deploy", release="1.1.0"), ALL_ON, current=current)["problems"] == []


def test_a_deploy_with_nothing_to_do_checks_no_host():
    serving = dict(ALL_ON, blue1="1.1.0", blue2="1.1.0")
    current = {h: None for h in ALL_ON}
    assert decide(plan("deploy", release="1.1.0"), serving, current=current)["problems"] == []


# -- switch ---------------------------------------------------------------------

def test_a_switch_back_checks_the_idle_pool_and_takes_its_release():
    serving = dict(ALL_ON, blue1="1.1.0", blue2="1.1.0")
    result = decide(plan("switch", target="green"), serving)
    assert result["noop"] is False and result["problems"] == []
    assert result["plan"]["release"] == "1.0.0"
    assert result["dry_run"] == ("Would check pool green (green1, green2, release 1.0.0) and switch lb1 from "
                                 "app_blue to app_green, lb2 from app_blue to app_green in one command each.")
    assert result["hosts"] == [["green1", "bluegreen_target"], ["green2", "bluegreen_target"],
                               ["lb1", "bluegreen_switch"], ["lb2", "bluegreen_switch"]]
    assert result["summary"] == ("Pool green (1.0.0) is live on every balancer. Pool blue is left running as it "
                                 "was: switch back at once with -e bluegreen_switch_back=true.")


def test_a_switch_to_the_pool_every_balancer_sends_traffic_to_does_nothing():
    result = decide(plan("switch", target="blue"), ALL_ON, current={h: None for h in ALL_ON})
    assert result["noop"] is True and result["problems"] == [] and result["hosts"] == []
    assert result["noop_message"] == "Every balancer already sends traffic to pool blue; nothing to switch."
    assert result["summary"] == "Nothing changed: pool blue is live."


def test_a_switch_to_the_live_pool_of_the_first_balancer_puts_the_others_on_it():
    balancers = {"lb1": "app_blue", "lb2": "app_green"}
    result = decide(plan("switch", target="blue", balancers=balancers), ALL_ON)
    assert result["noop"] is False and result["problems"] == []
    assert "switch lb1 from app_blue to app_blue, lb2 from app_green to app_blue" in result["dry_run"]
    # The pool the run leaves is the idle one when the target is the first balancer's live pool.
    assert "Pool green is left running as it was" in result["summary"]


@pytest.mark.parametrize(("serving", "answers"), [
    ({"green1": "1.0.0", "green2": "1.1.0"}, "{'green1': '1.0.0', 'green2': '1.1.0'}"),
    ({"green1": "", "green2": ""}, "{'green1': '', 'green2': ''}"),
], ids=["two-releases", "no-answer"])
def test_a_switch_to_a_pool_that_does_not_serve_one_release_stops(serving, answers):
    result = decide(plan("switch", target="green"), dict(ALL_ON, **serving))
    assert result["problems"] == [
        "Not switching to pool green: its hosts answer %s on /version ('' = no answer), not one release on every "
        "host. Deploy a release to it first (-e deploy_release=X while it is idle)." % answers]


def test_an_unread_host_is_named_before_the_release_check():
    current = dict({h: "1.0.0" for h in ALL_ON}, green1=None)
    result = decide(plan("switch", target="green"), dict(ALL_ON, green1=""), current=current)
    assert [p.split(":")[0] for p in result["problems"]] == ["Not touching pool green",
                                                             "Not switching to pool green"]


# -- post_migrate ---------------------------------------------------------------

def test_post_deploy_migrations_run_from_the_first_live_host_on_the_live_release():
    serving = {"blue1": "1.1.0", "blue2": "1.1.0", "green1": "", "green2": "1.1.0"}
    result = decide(plan("post_migrate", target="blue"), serving, current={h: None for h in ALL_ON})
    assert result["noop"] is False and result["problems"] == []
    assert result["plan"]["release"] == "1.1.0"
    assert result["hosts"] == [["blue1", "bluegreen_post_migrate"]]
    assert result["dry_run"] == "Would apply the post-deploy migrations of release 1.1.0 from blue1."
    assert result["summary"] == "Post-deploy migrations of 1.1.0 applied; pool blue is live."


@pytest.mark.parametrize("serving", [
    {"blue1": "1.1.0", "blue2": "1.1.0", "green1": "1.0.0", "green2": "1.1.0"},
    {"blue1": "1.1.0", "blue2": "1.0.0", "green1": "", "green2": ""},
    {"blue1": "", "blue2": "", "green1": "", "green2": ""},
], ids=["idle-pool-older", "live-pool-mixed", "live-pool-silent"])
def test_post_deploy_migrations_stop_while_a_pool_serves_another_release(serving):
    result = decide(plan("post_migrate", target="blue"), serving)
    live = {h: serving[h] for h in POOL_HOSTS["blue"]}
    idle = {h: serving[h] for h in POOL_HOSTS["green"]}
    assert result["problems"] == [
        "Not applying post-deploy migrations: the live pool blue answers %s and the idle pool green answers %s. "
        "Contract migrations would break a pool that still serves an older release, which is what a switch back "
        "would bring: retire that pool first (stop it, or deploy the live release to it)." % (live, idle)]


def test_a_decision_without_hosts_is_an_error():
    with pytest.raises(KeyError):
        bluegreen_decision({"plan": plan("switch")})
