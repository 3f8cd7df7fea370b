# -*- coding: utf-8 -*-
# Copyright: zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether a blue/green run has anything to do, what stops it, and what it says: the ``bluegreen_decision``
filter."""

from __future__ import annotations

DOCUMENTATION = r'''
name: bluegreen_decision
short_description: Decide from what the app hosts run whether a blue/green plan has anything to do, and how
version_added: 0.2.0
description:
  - The second half of the decision of the collection's C(switch) playbook, once every app host of both pools
    was read (the first is C(zerodowntime.deploy.bluegreen_plan)).
  - "Nothing to do: a deploy of the release that the live pool already serves on every host (with
    O(_input.switch=false), that the idle pool serves), unless O(_input.force); a switch to the pool every
    balancer already sends traffic to. The post-deploy migrations always run."
  - "Unless there is nothing to do, it stops: a deploy or a switch to a pool a host of which could not be read
    (a pool is switched to whole or not at all); a switch to a pool whose hosts do not answer one release; the
    post-deploy migrations while either pool answers another release than the live one."
  - The release a switch or the post-deploy migrations are about is the one the target pool answers.
  - Also gives the dry run's sentence, the hosts each later play acts on, and the sentence that ends the run.
options:
  _input:
    description: The plan and what every app host of both pools runs and answers.
    type: dict
    required: true
    suboptions:
      plan:
        description: The RV(zerodowntime.deploy.bluegreen_plan#filter:plan) of the request.
        type: dict
        required: true
      pool_hosts:
        description: Pool name to the list of its app hosts, in inventory order.
        type: dict
        required: true
      balancers:
        description: The balancers, in inventory order.
        type: list
        elements: str
        required: true
      serving:
        description: App host to the release it answers on C(/version) (V("") for no answer or not read).
        type: dict
        required: true
      current:
        description: App host to the release its current symlink names (V(null) when the host was not read).
        type: dict
        required: true
      target_backend:
        description: The backend of the target pool.
        type: str
        required: true
      switch:
        description: C(bluegreen_switch); V(false) makes a deploy prepare the idle pool without switching.
        type: bool
        default: true
      force:
        description: C(deploy_force); a deploy of the release the pool serves goes ahead anyway.
        type: bool
        default: false
'''

EXAMPLES = r'''
- name: Decide whether there is anything to do
  ansible.builtin.set_fact:
    decision: >-
      {{ {'plan': plan, 'pool_hosts': {'blue': groups['app_blue'], 'green': groups['app_green']},
          'balancers': groups['balancers'], 'serving': serving, 'current': current,
          'target_backend': 'app_green', 'switch': true, 'force': false}
         | zerodowntime.deploy.bluegreen_decision }}

- name: Stop on the first problem
  ansible.builtin.assert:
    that: decision.problems | length == 0
    fail_msg: "{{ decision.problems | first | default('') }}"
    quiet: true
'''

RETURN = r'''
_value:
  description: The decision.
  type: dict
  contains:
    plan:
      description: O(_input.plan) with C(release) set, for a switch and the post-deploy migrations, to the release
        the target pool answers (its first host's, when they differ).
      type: dict
    noop:
      description: Whether there is nothing to do.
      type: bool
    noop_message:
      description: What the run says when there is nothing to do; V("") otherwise.
      type: str
    problems:
      description: One message per failed check, in the order the checks run; the run stops on the first.
      type: list
      elements: str
    dry_run:
      description: What the run would do, in one sentence, for C(--check).
      type: str
    hosts:
      description:
        - "[host, group] pairs: the hosts each later play acts on: C(bluegreen_deploy) (stage and migrate),
          C(bluegreen_target) (prepare the target pool), C(bluegreen_switch) (the balancers),
          C(bluegreen_post_migrate) (one live host). Empty when there is nothing to do."
      type: list
      elements: list
    summary:
      description: The sentence that ends a run that went through.
      type: str
  sample:
    plan: {mode: switch, live_pool: green, idle_pool: blue, target_pool: blue, release: 1.0.0,
           balancers: {lb1: app_green}}
    noop: false
    noop_message: ""
    problems: []
    dry_run: Would check pool blue (blue1, blue2, release 1.0.0) and switch lb1 from app_green to app_blue in one
      command each.
    hosts: [[blue1, bluegreen_target], [blue2, bluegreen_target], [lb1, bluegreen_switch]]
    summary: "Pool blue (1.0.0) is live on every balancer. Pool green is left running as it was: switch back at
      once with -e bluegreen_switch_back=true."
'''


def _unique(values):
    """``values`` without repeats, in the order of first appearance (Jinja's ``unique``)."""
    seen = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def _answers(hosts, serving):
    """{host: release answered} of ``hosts``, as the messages print it."""
    return {str(h): str(serving.get(h, "")) for h in hosts}


def is_noop(data):
    """Whether the plan has nothing to do.

    :arg data: the filter's input.
    :returns: bool.
    """
    plan, serving = data["plan"], data["serving"]
    target = data["pool_hosts"][plan["target_pool"]]
    live = data["pool_hosts"][plan["live_pool"]]
    if plan["mode"] == "deploy":
        # A deploy that switches is done when the live pool serves the release;
        # one that only prepares the idle pool, when the idle pool does.
        hosts = live if data.get("switch", True) else target
        return (_unique(serving.get(h, "") for h in hosts) == [plan["release"]]
                and not data.get("force", False))
    if plan["mode"] == "switch":
        return _unique(plan["balancers"].values()) == [data["target_backend"]]
    return False


def problems(data, noop):
    """The checks of the hosts' state, in order: unread target hosts, one release on the target pool of a
    switch, both pools on the live release before the post-deploy migrations.

    :arg data: the filter's input.
    :arg noop: bool, whether there is nothing to do (no check then applies but the post-deploy one).
    :returns: list of str.
    """
    plan, serving = data["plan"], data["serving"]
    pools = data["pool_hosts"]
    target, live, idle = pools[plan["target_pool"]], pools[plan["live_pool"]], pools[plan["idle_pool"]]
    found = []
    if plan["mode"] != "post_migrate" and not noop:
        unread = [h for h in target if data["current"].get(h) is None]
        if unread:
            found.append("Not touching pool %s: %s could not be read (unreachable or failed above); a pool is "
                         "switched to whole or not at all." % (plan["target_pool"], ", ".join(unread)))
    if plan["mode"] == "switch" and not noop:
        releases = _unique(serving.get(h, "") for h in target)
        if len(releases) != 1 or not releases[0]:
            found.append("Not switching to pool %s: its hosts answer %s on /version ('' = no answer), not one "
                         "release on every host. Deploy a release to it first (-e deploy_release=X while it is "
                         "idle)." % (plan["target_pool"], _answers(target, serving)))
    if plan["mode"] == "post_migrate":
        releases = _unique(serving.get(h, "") for h in live)
        older = [serving.get(h, "") for h in idle if serving.get(h, "") not in ("", releases[0])]
        if len(releases) != 1 or not releases[0] or older:
            found.append("Not applying post-deploy migrations: the live pool %s answers %s and the idle pool %s "
                         "answers %s. Contract migrations would break a pool that still serves an older release, "
                         "which is what a switch back would bring: retire that pool first (stop it, or deploy "
                         "the live release to it)." % (plan["live_pool"], _answers(live, serving),
                                                       plan["idle_pool"], _answers(idle, serving)))
    return found


def noop_message(plan, switch):
    """What a run with nothing to do says (str)."""
    if plan["mode"] != "deploy":
        return "Every balancer already sends traffic to pool %s; nothing to switch." % plan["target_pool"]
    if switch:
        return ("The live pool %s already serves release %s on every host: nothing to deploy or switch "
                "(-e deploy_force=true deploys it to the idle pool %s and switches anyway)."
                % (plan["live_pool"], plan["release"], plan["idle_pool"]))
    return ("The idle pool %s already serves release %s on every host: nothing to deploy."
            % (plan["idle_pool"], plan["release"]))


def dry_run(data, plan):
    """The dry run's sentence (str): what would be installed, checked, switched or migrated, and where."""
    pools, backend = data["pool_hosts"], data["target_backend"]
    target, live = pools[plan["target_pool"]], pools[plan["live_pool"]]
    # lb1 from app_blue to app_green, ...
    switch = ", ".join("%s from %s to %s" % (b, v, backend) for b, v in plan["balancers"].items())
    if plan["mode"] == "deploy":
        then = (", then switch %s in one command each." % switch if data.get("switch", True)
                else "; traffic stays on pool %s." % plan["live_pool"])
        return ("Would install release %s on pool %s (%s), apply its pre-deploy migrations from %s, restart those "
                "hosts and put them into rotation in backend %s%s"
                % (plan["release"], plan["target_pool"], ", ".join(target), target[0], backend, then))
    if plan["mode"] == "switch":
        return ("Would check pool %s (%s, release %s) and switch %s in one command each."
                % (plan["target_pool"], ", ".join(target), plan["release"], switch))
    return "Would apply the post-deploy migrations of release %s from %s." % (plan["release"], live[0])


def hosts(data, plan):
    """[host, group] pairs of the hosts each later play acts on (list)."""
    pools, mode = data["pool_hosts"], plan["mode"]
    target = pools[plan["target_pool"]]
    pairs = []
    if mode == "deploy":
        pairs += [[h, "bluegreen_deploy"] for h in target]
    if mode != "post_migrate":
        pairs += [[h, "bluegreen_target"] for h in target]
    if mode == "switch" or (mode == "deploy" and data.get("switch", True)):
        pairs += [[b, "bluegreen_switch"] for b in data["balancers"]]
    if mode == "post_migrate":
        pairs.append([pools[plan["live_pool"]][0], "bluegreen_post_migrate"])
    return pairs


def summary(data, plan, noop):
    """The sentence that ends a run that went through (str)."""
    if noop:
        return "Nothing changed: pool %s is live." % plan["live_pool"]
    if plan["mode"] == "post_migrate":
        return "Post-deploy migrations of %s applied; pool %s is live." % (plan["release"], plan["live_pool"])
    if plan["mode"] == "deploy" and not data.get("switch", True):
        return ("Pool %s runs %s and is UP in backend %s, not live: switch with -e bluegreen_switch_to=%s."
                % (plan["target_pool"], plan["release"], data["target_backend"], plan["target_pool"]))
    previous = plan["live_pool"] if plan["live_pool"] != plan["target_pool"] else plan["idle_pool"]
    switched = ("Pool %s (%s) is live on every balancer. Pool %s is left running as it was: switch back at once "
                "with -e bluegreen_switch_back=true." % (plan["target_pool"], plan["release"], previous))
    if plan["mode"] == "deploy":
        return ("%s Post-deploy migrations of %s were not applied: apply them with -e bluegreen_post_migrate=true "
                "once the previous pool is retired." % (switched, plan["release"]))
    return switched


def bluegreen_decision(data):
    """The ``bluegreen_decision`` filter.

    :arg data: dict, see DOCUMENTATION: ``plan`` (bluegreen_plan's), ``pool_hosts`` ({pool: [host]}),
        ``balancers`` ([host]), ``serving`` ({host: str}), ``current`` ({host: str or None}),
        ``target_backend`` (str), ``switch`` (bool, default true), ``force`` (bool, default false).
    :returns: dict with ``plan`` (dict), ``noop`` (bool), ``noop_message`` (str), ``problems`` ([str]),
        ``dry_run`` (str), ``hosts`` ([[host, group]]) and ``summary`` (str).
    :raises KeyError: when a required key is missing or the plan names a pool without hosts in ``pool_hosts``.
    """
    plan = dict(data["plan"])
    noop = is_noop(data)
    found = problems(data, noop)
    if plan["mode"] != "deploy":
        target = data["pool_hosts"][plan["target_pool"]]
        plan["release"] = str(_unique(data["serving"].get(h, "") for h in target)[0])
    return {"plan": plan, "noop": noop,
            "noop_message": noop_message(plan, data.get("switch", True)) if noop else "",
            "problems": found, "dry_run": dry_run(data, plan), "hosts": [] if noop else hosts(data, plan),
            "summary": summary(data, plan, noop)}


class FilterModule(object):
    """The blue/green decision filter."""

    def filters(self):
        """Return {name: function} of this module's filters."""
        return {"bluegreen_decision": bluegreen_decision}
