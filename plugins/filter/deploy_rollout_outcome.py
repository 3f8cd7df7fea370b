# -*- coding: utf-8 -*-
# Copyright: zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a failed host's turn left behind, in one sentence: the ``deploy_rollout_outcome`` filter."""

from __future__ import annotations

DOCUMENTATION = r'''
name: deploy_rollout_outcome
short_description: Say in one sentence where a failed host's turn left the host
version_added: 0.2.0
description:
  - The deploy role's rescue (C(roles/deploy/tasks/restore.yml)) fails the play with the host, the phase, the cause
    and this sentence, so that the operator knows whether the host serves, which release it runs, and whether
    it is out of rotation.
options:
  _input:
    description: What the failed turn decided and did.
    type: dict
    required: true
    suboptions:
      needed:
        description: Whether the turn had to drain and switch the host (false for a host already on the release).
        type: bool
        required: true
      phase:
        description: The phase that failed (C(preflight), C(drain), C(deploy), C(reload), C(health), C(enable), C(canary)).
        type: str
        required: true
      restored:
        description: Whether the rescue put the host back on its previous release (C(deploy_on_failure=rollback)).
        type: bool
        required: true
      release_from:
        description: The release the host ran before its turn; empty for a first deploy.
        type: str
        default: ""
      restore_failure:
        description: Why putting the host back failed, or empty when it did not.
        type: str
        default: ""
'''

EXAMPLES = r'''
- name: Stop the deploy, saying where the host was left
  ansible.builtin.fail:
    msg: >-
      {{ {'needed': true, 'phase': 'health', 'restored': true, 'release_from': '1.0.0'}
         | zerodowntime.deploy.deploy_rollout_outcome }}
'''

RETURN = r'''
_value:
  description: One sentence.
  type: str
  sample: The host was rolled back to 1.0.0 and is back in rotation.
'''


def deploy_rollout_outcome(state):
    """The ``deploy_rollout_outcome`` filter.

    :arg state: dict with ``needed`` (bool), ``phase`` (str), ``restored``
        (bool), ``release_from`` (str, may be empty) and ``restore_failure``
        (str, empty when the restore did not fail).
    :returns: str, one sentence saying whether the host serves and on which
        release, checked in this order: the restore failed; the host was not
        taken out of rotation; the drain failed (the rotation role undid it);
        the host was rolled back; the host stays drained.
    :raises KeyError: when ``needed``, ``phase`` or ``restored`` is missing.
    """
    restore_failure = state.get("restore_failure") or ""
    release_from = state.get("release_from") or ""
    if restore_failure:
        return "%s Check the host's state on every balancer." % restore_failure
    if not state["needed"]:
        return "The host was not taken out of rotation."
    if state["phase"] == "drain":
        return ("The app was not stopped; it is back in rotation wherever the drain had taken it out "
                "(see the cause above).")
    if state["restored"] and release_from:
        return "The host was rolled back to %s and is back in rotation." % release_from
    return "The host is left out of rotation (drained) on every balancer."


class FilterModule(object):
    """The rollout outcome filter."""

    def filters(self):
        """Return {name: function} of this module's filters."""
        return {"deploy_rollout_outcome": deploy_rollout_outcome}
