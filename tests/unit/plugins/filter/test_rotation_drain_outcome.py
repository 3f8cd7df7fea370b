# SPDX-License-Identifier: GPL-3.0-or-later
"""The rotation_drain_outcome filter: what a failed drain left on each balancer."""

from ansible_collections.zerodowntime.deploy.plugins.filter.rotation_drain_outcome import rotation_drain_outcome

OK_LB1 = {"item": "lb1", "changed": True}
FAILED_LB2 = {"item": "lb2", "failed": True, "msg": "Connection refused"}


def test_a_balancer_that_failed_is_named_and_the_others_returned_to_rotation():
    undo = [{"item": OK_LB1, "changed": True}, {"item": FAILED_LB2, "skipped": True}]
    outcome = rotation_drain_outcome([OK_LB1, FAILED_LB2], undo, "app1", "balancers")
    assert outcome["failed_on"] == {"lb2": "Connection refused"}
    assert outcome["returned_on"] == ["lb1"]
    assert outcome["left_out_on"] == {}
    assert outcome["message"] == (
        "app1 is not drained on every balancer of group 'balancers': balancer lb2 could not confirm the drain "
        "(Connection refused). Returned to rotation on lb1, where this drain had taken it out.")


def test_a_balancer_where_the_return_failed_is_left_out_of_rotation_and_named():
    lb3 = {"item": "lb3", "failed": True}
    undo = [{"item": OK_LB1, "failed": True, "msg": "timeout"}, {"item": FAILED_LB2, "skipped": True},
            {"item": lb3, "skipped": True}]
    outcome = rotation_drain_outcome([OK_LB1, FAILED_LB2, lb3], undo, "app1", "balancers")
    assert outcome["failed_on"] == {"lb2": "Connection refused", "lb3": "?"}
    assert outcome["returned_on"] == []
    assert outcome["left_out_on"] == {"lb1": "timeout"}
    assert outcome["message"] == (
        "app1 is not drained on every balancer of group 'balancers': balancer lb2 could not confirm the drain "
        "(Connection refused); balancer lb3 could not confirm the drain (?). No balancer had to be returned to "
        "rotation. Still out of rotation, could not be returned, on lb1 (timeout).")


def test_without_a_failed_balancer_the_cause_of_the_failure_is_said():
    outcome = rotation_drain_outcome([], [], "app1", "lbs", drain_error="no balancer answered",
                                     undo_error="boom")
    assert outcome["failed_on"] == {}
    assert outcome["message"] == (
        "app1 is not drained on every balancer of group 'lbs': no balancer answered. No balancer had to be returned "
        "to rotation. Returning it to rotation failed: boom")


def test_none_results_are_empty():
    outcome = rotation_drain_outcome(None, None, "app1", "lbs", drain_error="x")
    assert (outcome["failed_on"], outcome["returned_on"], outcome["left_out_on"]) == ({}, [], {})
