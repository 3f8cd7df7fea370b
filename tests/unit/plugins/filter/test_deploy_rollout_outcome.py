# SPDX-License-Identifier: GPL-3.0-or-later
"""The deploy_rollout_outcome filter: where a failed host's turn left the host."""

import pytest

from ansible_collections.zerodowntime.deploy.plugins.filter.deploy_rollout_outcome import deploy_rollout_outcome


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"needed": True, "phase": "health", "restored": True, "release_from": "1.0.0",
          "restore_failure": "Putting the host back failed too, at 'Restart': exit 1."},
         "Putting the host back failed too, at 'Restart': exit 1. Check the host's state on every balancer."),
        ({"needed": False, "phase": "preflight", "restored": False, "release_from": ""},
         "The host was not taken out of rotation."),
        ({"needed": True, "phase": "drain", "restored": True, "release_from": "1.0.0"},
         "The app was not stopped; it is back in rotation wherever the drain had taken it out (see the cause above)."),
        ({"needed": True, "phase": "enable", "restored": True, "release_from": "1.0.0", "restore_failure": ""},
         "The host was rolled back to 1.0.0 and is back in rotation."),
        # A first deploy has nothing to go back to.
        ({"needed": True, "phase": "health", "restored": True, "release_from": ""},
         "The host is left out of rotation (drained) on every balancer."),
        # deploy_on_failure: leave_drained
        ({"needed": True, "phase": "health", "restored": False, "release_from": "1.0.0"},
         "The host is left out of rotation (drained) on every balancer."),
    ],
    ids=["restore-failed", "not-needed", "drain-failed", "rolled-back", "first-deploy", "leave-drained"],
)
def test_the_sentence_says_where_the_host_was_left(state, expected):
    assert deploy_rollout_outcome(state) == expected


def test_a_state_without_the_decision_is_an_error():
    with pytest.raises(KeyError):
        deploy_rollout_outcome({"phase": "health"})
