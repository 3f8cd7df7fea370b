# -*- coding: utf-8 -*-
# Copyright: zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What one host's turn of a deploy would do, in one line: the
``deploy_host_plan`` filter, used by the dry run (``--check``)."""

from __future__ import annotations

DOCUMENTATION = r'''
name: deploy_host_plan
short_description: Say in one line what a host's turn of a deploy would do
version_added: 0.2.0
description:
  - The dry run of C(playbooks/deploy.yml) (C(ansible-playbook ... --check --diff)) drains, switches and
    restarts nothing. For each app host, in the rolling play's order, it prints this line instead, decided
    from the same facts the rolling play decides from.
  - A host that already runs and answers the release, with its unit and environment file unchanged, is only
    health-checked and confirmed in rotation; any other host is drained on every balancer (unless it can
    reload in rotation), switched, restarted, health-checked and put back into rotation.
options:
  _input:
    description:
      - The host's facts, a dict with C(host) (str), C(position) and C(hosts) (int, its place in the rolling
        order and the number of app hosts), C(release_from) (str, the release it runs, "" for none),
        C(release_to) (str), C(serving) (str, the release it answers, "" for none), C(installed) (bool,
        the release is on the host already), C(needed) (bool), C(changes) (list of V(unit) and
        V(environment)), C(reload) (bool, deploy_strategy reload), C(canary) (bool), C(balancers) (list of
        str) and C(drained_state) (V(maint) or V(drain)).
    type: dict
    required: true
'''

EXAMPLES = r'''
- name: Say what this host's turn would do
  ansible.builtin.debug:
    msg: "{{ facts | zerodowntime.deploy.deploy_host_plan }}"
'''

RETURN = r'''
_value:
  description: >-
    One line, such as C([2/3] app2: 1.0.0 -> 1.1.0 (installed at stage): drain on lb1 to MAINT,
    switch current, restart (unit unchanged, environment changes), health check, enable on lb1).
  type: str
'''


def _configuration(changes):
    """Describe which of the unit and the environment file would change."""
    return ", ".join("%s %s" % (name, "changes" if name in changes else "unchanged")
                     for name in ("unit", "environment"))


def deploy_host_plan(facts):
    """The ``deploy_host_plan`` filter.

    :arg facts: dict as described in DOCUMENTATION (``host``, ``position``,
        ``hosts``, ``release_from``, ``release_to``, ``serving``,
        ``installed``, ``needed``, ``changes``, ``reload``, ``canary``,
        ``balancers``, ``drained_state``).
    :returns: str, one line.
    :raises KeyError: when a key is missing.
    """
    prefix = "[%d/%d] %s: " % (int(facts["position"]), int(facts["hosts"]), facts["host"])
    before = facts["release_from"] or "nothing"
    to = facts["release_to"]
    changes = list(facts.get("changes") or [])
    balancers = ", ".join(facts["balancers"]) or "no balancer"
    if not facts["needed"]:
        return prefix + ("%s -> %s (unchanged): runs and answers %s, %s; health check and confirm in "
                         "rotation only" % (before, to, to, _configuration(changes)))
    staged = "installed already" if facts["installed"] else "installed at stage"
    answers = "" if facts["serving"] == facts["release_from"] else "; answers %s now" % (facts["serving"] or "nothing")
    if facts["reload"]:
        steps = ("switch current, reload in rotation (HUP) and check /version; on old code, drain on %s, "
                 "restart and enable" % balancers)
    else:
        steps = "%sdrain on %s to %s, switch current, restart (%s), health check, enable on %s%s" % (
            "canary: " if facts["canary"] else "", balancers, str(facts["drained_state"]).upper(),
            _configuration(changes), balancers, " at the canary weight, soak and judge" if facts["canary"] else "")
    return prefix + "%s -> %s (%s%s): %s" % (before, to, staged, answers, steps)


class FilterModule(object):
    """The deploy plan filter."""

    def filters(self):
        """Return {name: function} of this module's filters."""
        return {"deploy_host_plan": deploy_host_plan}
