# SPDX-License-Identifier: GPL-3.0-or-later
"""The bluegreen_plan filter: the request check, the balancers' checks and the plan of each mode.

The messages are those playbooks/switch.yml always printed: tests/bluegreen reads them.
"""

import pytest

from ansible_collections.zerodowntime.deploy.plugins.filter.bluegreen_plan import bluegreen_plan

POOLS = {"blue": "app_blue", "green": "app_green"}
BACKENDS = {"blue": "app_blue", "green": "app_green"}
GROUPS = {"all": [], "app_blue": ["blue1", "blue2"], "app_green": ["green1", "green2"], "balancers": ["lb1", "lb2"]}
MAP = "/etc/haproxy/bluegreen.map"

ASK_FOR_ONE_THING = (
    "Ask for one thing: -e deploy_release=X.Y.Z (deploy to the idle pool and switch), -e bluegreen_switch_back=true, "
    "-e bluegreen_switch_to=POOL (POOL one of blue, green) or -e bluegreen_post_migrate=true (got %s). The inventory "
    "must have two pools (%s), each a group with app hosts, and balancers in group 'balancers'.")


def request(**kwargs):
    data = {"release": None, "switch_back": False, "switch_to": "", "post_migrate": False, "pools": POOLS,
            "groups": GROUPS, "balancer_group": "balancers", "backends": BACKENDS, "map": MAP}
    data.update(kwargs)
    return data


@pytest.mark.parametrize("kwargs", [
    {"release": "1.1.0"}, {"release": "2024.05.1+build-3"}, {"switch_back": True}, {"switch_to": "green"},
    {"post_migrate": True}], ids=["deploy", "release-chars", "switch-back", "switch-to", "post-migrate"])
def test_a_request_for_one_thing_has_no_problem_and_no_plan_before_the_balancers_are_read(kwargs):
    assert bluegreen_plan(request(**kwargs)) == {"problems": [], "plan": None}


@pytest.mark.parametrize(("kwargs", "got"), [
    ({}, "none"),
    ({"release": "1.1.0", "switch_back": True}, "deploy_release=1.1.0, bluegreen_switch_back"),
    ({"switch_back": True, "switch_to": "blue", "post_migrate": True},
     "bluegreen_switch_back, bluegreen_switch_to=blue, bluegreen_post_migrate"),
    ({"release": "../etc"}, "deploy_release=../etc"),
    ({"release": "1.1.0\nx"}, "deploy_release=1.1.0\nx"),
    ({"release": ""}, "deploy_release="),
    ({"release": 11}, "deploy_release=11"),
    ({"switch_to": "purple"}, "bluegreen_switch_to=purple"),
], ids=["nothing", "two-things", "three-things", "bad-release", "release-with-newline", "empty-release",
        "release-not-a-string", "unknown-pool"])
def test_a_request_that_does_not_ask_for_one_valid_thing_is_refused(kwargs, got):
    result = bluegreen_plan(request(**kwargs))
    assert result == {"problems": [ASK_FOR_ONE_THING % (got, POOLS)], "plan": None}


@pytest.mark.parametrize("kwargs", [
    {"pools": {"blue": "app_blue"}},
    {"pools": {"blue": "app_blue", "green": "app_green", "red": "app_red"}},
    {"pools": {"blue": "app_blue", "green": "app_purple"}},
    {"groups": dict(GROUPS, app_green=[])},
    {"groups": dict(GROUPS, balancers=[])},
    {"groups": {k: v for k, v in GROUPS.items() if k != "balancers"}},
], ids=["one-pool", "three-pools", "pool-without-group", "empty-pool", "no-balancer", "no-balancer-group"])
def test_an_inventory_without_two_pools_of_hosts_and_balancers_is_refused(kwargs):
    data = request(release="1.1.0", **kwargs)
    (problem,) = bluegreen_plan(data)["problems"]
    assert problem.startswith("Ask for one thing: ")
    assert "(got deploy_release=1.1.0). The inventory must have two pools (%s)" % (data["pools"],) in problem


def test_a_pools_value_that_is_not_a_mapping_is_refused():
    (problem,) = bluegreen_plan(request(release="1.1.0", pools=["app_blue", "app_green"]))["problems"]
    assert "(POOL one of app_blue, app_green)" in problem
    assert "two pools (['app_blue', 'app_green'])" in problem


def test_a_request_problem_wins_over_the_balancers():
    result = bluegreen_plan(request(live={"lb1": "nothing"}))
    assert result["problems"] == [ASK_FOR_ONE_THING % ("none", POOLS)]


@pytest.mark.parametrize(("kwargs", "plan"), [
    ({"release": "1.1.0"},
     {"mode": "deploy", "live_pool": "blue", "idle_pool": "green", "target_pool": "green", "release": "1.1.0"}),
    ({"switch_back": True},
     {"mode": "switch", "live_pool": "blue", "idle_pool": "green", "target_pool": "green", "release": ""}),
    ({"switch_to": "blue"},
     {"mode": "switch", "live_pool": "blue", "idle_pool": "green", "target_pool": "blue", "release": ""}),
    ({"switch_to": "green"},
     {"mode": "switch", "live_pool": "blue", "idle_pool": "green", "target_pool": "green", "release": ""}),
    ({"post_migrate": True},
     {"mode": "post_migrate", "live_pool": "blue", "idle_pool": "green", "target_pool": "blue", "release": ""}),
], ids=["deploy", "switch-back", "switch-to-live", "switch-to-idle", "post-migrate"])
def test_the_plan_of_each_mode(kwargs, plan):
    live = {"lb1": "app_blue", "lb2": "app_blue"}
    result = bluegreen_plan(request(live=live, **kwargs))
    assert result == {"problems": [], "plan": dict(plan, balancers=live)}


def test_green_live_makes_blue_the_idle_pool():
    result = bluegreen_plan(request(release="1.1.0", live={"lb1": "app_green", "lb2": "app_green"}))
    assert (result["plan"]["live_pool"], result["plan"]["idle_pool"], result["plan"]["target_pool"]) == \
        ("green", "blue", "blue")


@pytest.mark.parametrize("live", [{"lb1": "app_blue", "lb2": "app_old"}, {"lb1": "app_blue", "lb2": None}],
                         ids=["other-backend", "key-absent"])
def test_a_balancer_that_names_no_pool_backend_is_refused_even_by_a_switch_to_a_pool(live):
    for kwargs in ({"release": "1.1.0"}, {"switch_to": "blue"}):
        result = bluegreen_plan(request(live=live, **kwargs))
        assert result == {"plan": None, "problems": [
            "Some balancer's map /etc/haproxy/bluegreen.map does not name a pool's backend (app_blue, app_green): "
            "%s. Put every balancer on one pool with -e bluegreen_switch_to=POOL." % (live,)]}


@pytest.mark.parametrize("kwargs", [{"release": "1.1.0"}, {"switch_back": True}, {"post_migrate": True}],
                         ids=["deploy", "switch-back", "post-migrate"])
def test_balancers_that_disagree_are_refused(kwargs):
    live = {"lb1": "app_blue", "lb2": "app_green"}
    result = bluegreen_plan(request(live=live, **kwargs))
    assert result == {"plan": None, "problems": [
        "The balancers disagree on the live pool ({'lb1': 'app_blue', 'lb2': 'app_green'}): an earlier switch did "
        "not finish. Put them all on one pool first with -e bluegreen_switch_to=POOL."]}


def test_a_switch_to_a_pool_puts_balancers_that_disagree_on_it_and_the_first_names_the_live_pool():
    live = {"lb1": "app_green", "lb2": "app_blue"}
    result = bluegreen_plan(request(switch_to="blue", live=live))
    assert result == {"problems": [], "plan": {"mode": "switch", "live_pool": "green", "idle_pool": "blue",
                                               "target_pool": "blue", "release": "", "balancers": live}}


def test_a_request_without_the_inventory_is_an_error():
    with pytest.raises(KeyError):
        bluegreen_plan({"release": "1.1.0"})
