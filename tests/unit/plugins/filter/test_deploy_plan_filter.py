# SPDX-License-Identifier: GPL-3.0-or-later
"""The deploy_host_plan filter: the dry run's line per host."""

import pytest

from ansible_collections.zerodowntime.deploy.plugins.filter.deploy_plan import deploy_host_plan

BASE = {"host": "app2", "position": 2, "hosts": 3, "release_from": "1.0.0", "release_to": "1.1.0",
        "serving": "1.0.0", "installed": False, "needed": True, "changes": [], "reload": False,
        "canary": False, "balancers": ["lb1", "lb2"], "drained_state": "maint"}


def plan(**changes):
    return deploy_host_plan(dict(BASE, **changes))


def test_a_host_to_roll_is_drained_switched_restarted_and_enabled_on_every_balancer():
    assert plan() == ("[2/3] app2: 1.0.0 -> 1.1.0 (installed at stage): drain on lb1, lb2 to MAINT, switch "
                      "current, restart (unit unchanged, environment unchanged), health check, enable on lb1, lb2")


def test_a_host_on_the_release_is_only_checked():
    line = plan(release_from="1.1.0", serving="1.1.0", installed=True, needed=False)
    assert line == ("[2/3] app2: 1.1.0 -> 1.1.0 (unchanged): runs and answers 1.1.0, unit unchanged, environment "
                    "unchanged; health check and confirm in rotation only")


@pytest.mark.parametrize("changes, said", [(["unit"], "unit changes, environment unchanged"),
                                           (["environment"], "unit unchanged, environment changes"),
                                           (["unit", "environment"], "unit changes, environment changes")])
def test_the_files_that_would_change_are_named(changes, said):
    assert "restart (%s)" % said in plan(changes=changes, release_from="1.1.0", installed=True)


def test_a_first_deploy_comes_from_nothing_and_a_host_answering_another_release_says_so():
    assert plan(release_from="", serving="").startswith("[2/3] app2: nothing -> 1.1.0 (installed at stage)")
    assert "(installed already; answers 0.9.0 now)" in plan(installed=True, serving="0.9.0")


def test_a_canary_and_a_reload_and_the_drain_state_are_said():
    assert "canary: drain on lb1, lb2 to MAINT" in plan(canary=True)
    assert plan(canary=True).endswith("enable on lb1, lb2 at the canary weight, soak and judge")
    assert "reload in rotation (HUP)" in plan(reload=True)
    assert "to DRAIN" in plan(drained_state="drain")


def test_a_missing_fact_raises():
    facts = dict(BASE)
    del facts["needed"]
    with pytest.raises(KeyError):
        deploy_host_plan(facts)
