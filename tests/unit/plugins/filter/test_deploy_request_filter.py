# SPDX-License-Identifier: GPL-3.0-or-later
"""The deploy_request_problems filter: unknown options and deploy_serial."""

import pytest

from ansible_collections.zerodowntime.deploy.plugins.filter.deploy_request import (
    deploy_request_problems, serial_problems, unknown_option_problems)

KNOWN = ["deploy_release", "deploy_serial", "deploy_strategy", "deploy_backend", "rollback_release"]


@pytest.mark.parametrize("serial", [None, 1, "1", "2", 12, "25%", "100%", "1,25%,100%", " 1 , 50% ",
                                    [1, "25%", "100%"], ["3"]])
def test_valid_batch_sizes_pass(serial):
    assert serial_problems(serial) == []


@pytest.mark.parametrize("serial", ["abc", 0, "0", -1, "-1", "0%", "101%", "1.5", "", "1,,2", [], [0], ["x", 1],
                                    True, "25 %", "1;2"])
def test_invalid_batch_sizes_are_named(serial):
    problems = serial_problems(serial)
    assert len(problems) == 1
    assert problems[0].startswith("deploy_serial ")
    assert "positive number of hosts" in problems[0] or "empty list" in problems[0]


def test_the_invalid_value_is_quoted_in_the_message():
    assert "'abc'" in serial_problems("abc")[0]


def test_a_misspelled_option_is_reported_with_the_closest_known_name():
    assert unknown_option_problems(["deploy_serail", "deploy_release"], KNOWN) == [
        "Unknown option deploy_serail: did you mean deploy_serial? Nothing reads it, so its value would be ignored."]


def test_an_unknown_option_without_a_close_name_says_so():
    (problem,) = unknown_option_problems(["switch_everything_now_please"], KNOWN)
    assert "not an option of zerodowntime.deploy" in problem


def test_names_outside_the_prefixes_and_known_names_are_not_reported():
    assert unknown_option_problems(["gunicorn_workers", "deploy_backend", "lab_root"], KNOWN) == []


def test_one_message_per_problem_options_first_then_serial():
    problems = deploy_request_problems(["deploy_stratgy", "rollback_relase", "deploy_release"], KNOWN, serial="abc")
    assert [p.split()[2].rstrip(":") if p.startswith("Unknown") else p.split()[0] for p in problems] == [
        "deploy_stratgy", "rollback_relase", "deploy_serial"]
    assert "did you mean deploy_strategy?" in problems[0]
    assert "did you mean rollback_release?" in problems[1]
