# SPDX-License-Identifier: GPL-3.0-or-later
"""The deploy_canary_problems filter: the canary options' ranges."""

import pytest

from ansible_collections.zerodowntime.deploy.plugins.filter.deploy_canary_problems import deploy_canary_problems


def test_the_defaults_and_unset_options_are_valid():
    assert deploy_canary_problems({}) == []
    assert deploy_canary_problems({"deploy_canary_weight": None, "deploy_canary_soak_s": None}) == []


@pytest.mark.parametrize("weight", ["0", "256", 256, "0%", "100%", "10%"])
def test_valid_weights(weight):
    assert deploy_canary_problems({"deploy_canary_weight": weight}) == []


@pytest.mark.parametrize("weight", ["257", "101%", "lots", "-1", "1000%", ""])
def test_weights_out_of_range_are_named_with_the_value_given(weight):
    assert deploy_canary_problems({"deploy_canary_weight": weight}) == [
        "deploy_canary_weight must be a weight (0-256) or a percentage up to 100% such as 10% (got '" + weight + "')."]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("deploy_canary_soak_s", "0", "deploy_canary_soak_s must be over 0 seconds (got 0)."),
        ("deploy_canary_soak_s", "soon", "deploy_canary_soak_s must be over 0 seconds (got soon)."),
        ("deploy_canary_min_requests", 0, "deploy_canary_min_requests must be at least 1 (got 0)."),
        ("deploy_canary_max_5xx_ratio", "2", "deploy_canary_max_5xx_ratio must be between 0 and 1 (got 2)."),
        ("deploy_canary_margin", -0.5, "deploy_canary_margin must be between 0 and 1 (got -0.5)."),
        ("deploy_canary_rtime_factor", "0.5", "deploy_canary_rtime_factor must be at least 1 (got 0.5)."),
    ],
)
def test_each_range(name, value, message):
    assert deploy_canary_problems({name: value}) == [message]


@pytest.mark.parametrize(
    ("name", "value"),
    [("deploy_canary_soak_s", 0.5), ("deploy_canary_min_requests", "1"), ("deploy_canary_max_5xx_ratio", 0),
     ("deploy_canary_margin", 1), ("deploy_canary_rtime_factor", 1)],
)
def test_the_bounds_are_valid(name, value):
    assert deploy_canary_problems({name: value}) == []


def test_every_problem_is_reported_in_order():
    problems = deploy_canary_problems({"deploy_canary_rtime_factor": 0, "deploy_canary_weight": "x"})
    assert [p.split()[0] for p in problems] == ["deploy_canary_weight", "deploy_canary_rtime_factor"]
