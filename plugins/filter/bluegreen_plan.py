# -*- coding: utf-8 -*-
# Copyright: zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a blue/green run is asked to do and between which pools: the ``bluegreen_plan`` filter."""

from __future__ import annotations

import re

DOCUMENTATION = r'''
name: bluegreen_plan
short_description: Check a blue/green request and decide its mode and its live, idle and target pools
version_added: 0.2.0
description:
  - The first half of the decision of the collection's C(switch) playbook (the second is
    C(zerodowntime.deploy.bluegreen_decision)), before any app host is read.
  - "Without O(_input.live), checks only the request and the inventory: one thing asked for (a deploy, a switch
    back, a switch to a pool or the post-deploy migrations), a valid release name, two pools that are groups with
    hosts, and balancers. The playbook does this before it reads any balancer."
  - With O(_input.live), the value of the map key on every balancer (C(show map)), also checks that each names
    a pool's backend and that they agree (unless the request switches to a named pool, which puts them all on
    one), then decides the plan.
  - The mode is C(deploy) when a release is asked for, C(post_migrate) for the post-deploy migrations, C(switch)
    otherwise. The live pool is the one the first balancer sends traffic to. The target pool, the one live at
    the end, is the pool named by a switch to a pool, the live pool for the post-deploy migrations, and the idle
    pool otherwise (a deploy, a switch back).
options:
  _input:
    description: The request, the inventory and, once read, the balancers' map values.
    type: dict
    required: true
    suboptions:
      release:
        description: C(deploy_release), or V(null) when it is not set.
        type: raw
      switch_back:
        description: C(bluegreen_switch_back).
        type: bool
        default: false
      switch_to:
        description: C(bluegreen_switch_to), V("") when it is not set.
        type: str
        default: ""
      post_migrate:
        description: C(bluegreen_post_migrate).
        type: bool
        default: false
      pools:
        description: Pool name to inventory group of its app hosts (C(bluegreen_pools)); exactly two.
        type: raw
        required: true
      groups:
        description: The inventory's groups, group name to list of host names (Ansible's C(groups)).
        type: dict
        required: true
      balancer_group:
        description: The inventory group of the balancers.
        type: str
        required: true
      backends:
        description: Pool name to the name of its backend on the balancers.
        type: dict
        required: true
      map:
        description: The map file the frontend reads the live backend from, for the messages.
        type: str
        required: true
      live:
        description:
          - Balancer to the value of the map key on it (V(null) for a map without the key), in the order of
            O(_input.balancer_group). Omit it to check the request only.
        type: dict
'''

EXAMPLES = r'''
- name: Check that the request names one thing to do, before reading any balancer
  ansible.builtin.assert:
    that: _check.problems | length == 0
    fail_msg: "{{ _check.problems | first | default('') }}"
    quiet: true
  vars:
    _check: >-
      {{ {'release': deploy_release | default(none), 'switch_back': bluegreen_switch_back | default(false) | bool,
          'switch_to': bluegreen_switch_to | default(''), 'post_migrate': false,
          'pools': {'blue': 'app_blue', 'green': 'app_green'}, 'groups': groups, 'balancer_group': 'balancers',
          'backends': {'blue': 'app_blue', 'green': 'app_green'}, 'map': '/etc/haproxy/bluegreen.map'}
         | zerodowntime.deploy.bluegreen_plan }}

- name: Decide the plan from the map value read on every balancer
  ansible.builtin.set_fact:
    plan: "{{ request | combine({'live': {'lb1': 'app_blue', 'lb2': 'app_blue'}}) | zerodowntime.deploy.bluegreen_plan }}"
'''

RETURN = r'''
_value:
  description: The plan and the problems found.
  type: dict
  contains:
    problems:
      description:
        - One message per failed check, in the order the checks run, each saying what to ask for instead; empty
          when the request can go ahead. A failed check of the request or the inventory ends the checks.
      type: list
      elements: str
    plan:
      description: The plan; V(null) without O(_input.live) or when a problem was found.
      type: dict
      contains:
        mode:
          description: C(deploy), C(switch) or C(post_migrate).
          type: str
        live_pool:
          description: The pool the first balancer sends traffic to.
          type: str
        idle_pool:
          description: The other pool.
          type: str
        target_pool:
          description: The pool live at the end.
          type: str
        release:
          description: The release to deploy; V("") unless the mode is C(deploy).
          type: str
        balancers:
          description: O(_input.live), balancer to the backend it sent traffic to.
          type: dict
  sample:
    problems: []
    plan: {mode: deploy, live_pool: blue, idle_pool: green, target_pool: green, release: 1.1.0,
           balancers: {lb1: app_blue}}
'''

_RELEASE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def _plain(value):
    """A copy of ``value`` made of plain dicts, lists and strs, so that its text is the one Jinja prints."""
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def requests(data):
    """The things the request asks for, as ``name`` or ``name=value`` strs, in a fixed order."""
    asked = []
    if data.get("release") is not None:
        asked.append("deploy_release=%s" % data["release"])
    if data.get("switch_back"):
        asked.append("bluegreen_switch_back")
    if data.get("switch_to"):
        asked.append("bluegreen_switch_to=%s" % data["switch_to"])
    if data.get("post_migrate"):
        asked.append("bluegreen_post_migrate")
    return asked


def _request_is_valid(data, asked):
    """The checks of the request and the inventory, in the order the playbook always made them."""
    release = data.get("release")
    pools = data["pools"]
    groups = data["groups"]
    if len(asked) != 1:
        return False
    if release is not None and not (isinstance(release, str) and _RELEASE.match(release)):
        return False
    if data.get("switch_to"):
        if not isinstance(pools, dict) or data["switch_to"] not in pools:
            return False
    if not isinstance(pools, dict) or len(pools) != 2:
        return False
    if any(group not in groups for group in pools.values()):
        return False
    if min(len(groups[group]) for group in pools.values()) == 0:
        return False
    return len(groups.get(data["balancer_group"]) or []) > 0


def request_problem(data):
    """The "ask for one thing" check of a request and its inventory.

    :arg data: the filter's input (see DOCUMENTATION); ``live`` is not read.
    :returns: str, the message, or None when the request and the inventory are valid.
    """
    asked = requests(data)
    if _request_is_valid(data, asked):
        return None
    pools = _plain(data["pools"])
    return ("Ask for one thing: -e deploy_release=X.Y.Z (deploy to the idle pool and switch), "
            "-e bluegreen_switch_back=true, -e bluegreen_switch_to=POOL (POOL one of %s) or "
            "-e bluegreen_post_migrate=true (got %s). The inventory must have two pools (%s), each a group with "
            "app hosts, and balancers in group '%s'."
            % (", ".join(list(pools)), ", ".join(asked) or "none", pools, data["balancer_group"]))


def balancer_problems(data):
    """The checks of the map value read on every balancer.

    :arg data: the filter's input, with ``live`` ({balancer: backend or None}).
    :returns: list of str, empty when every balancer names a pool's backend and they agree (or the request
        switches to a named pool).
    """
    live = _plain(data["live"])
    backends = list(_plain(data["backends"]).values())
    if any(value not in backends for value in live.values()):
        return ["Some balancer's map %s does not name a pool's backend (%s): %s. Put every balancer on one pool "
                "with -e bluegreen_switch_to=POOL." % (data["map"], ", ".join(backends), live)]
    if len(set(live.values())) != 1 and not data.get("switch_to"):
        return ["The balancers disagree on the live pool (%s): an earlier switch did not finish. Put them all on "
                "one pool first with -e bluegreen_switch_to=POOL." % live]
    return []


def decide(data):
    """The plan of a valid request whose balancers all name a pool's backend.

    :arg data: the filter's input, with ``live``.
    :returns: dict with ``mode``, ``live_pool``, ``idle_pool``, ``target_pool``, ``release`` (strs) and
        ``balancers`` ({balancer: backend}).
    """
    live = _plain(data["live"])
    pools = list(_plain(data["pools"]))
    pool_by_backend = {backend: pool for pool, backend in _plain(data["backends"]).items()}
    live_pool = pool_by_backend[live[data["groups"][data["balancer_group"]][0]]]
    idle_pool = [pool for pool in pools if pool != live_pool][0]
    if data.get("release") is not None:
        mode = "deploy"
    elif data.get("post_migrate"):
        mode = "post_migrate"
    else:
        mode = "switch"
    if mode == "switch" and data.get("switch_to"):
        target_pool = str(data["switch_to"])
    elif mode == "post_migrate":
        target_pool = live_pool
    else:
        target_pool = idle_pool
    release = data.get("release")
    return {"mode": mode, "live_pool": live_pool, "idle_pool": idle_pool, "target_pool": target_pool,
            "release": "" if release is None else str(release), "balancers": live}


def bluegreen_plan(data):
    """The ``bluegreen_plan`` filter.

    :arg data: dict, see DOCUMENTATION: ``release`` (str or None), ``switch_back`` (bool), ``switch_to`` (str),
        ``post_migrate`` (bool), ``pools`` ({pool: group}), ``groups`` ({group: [host]}), ``balancer_group``
        (str), ``backends`` ({pool: backend}), ``map`` (str) and, once read, ``live`` ({balancer: str or None}).
    :returns: dict ``{'problems': [str], 'plan': dict or None}``; ``plan`` is None without ``live`` or when
        there is a problem.
    :raises KeyError: when ``pools``, ``groups``, ``balancer_group``, ``backends`` or ``map`` is missing.
    """
    problem = request_problem(data)
    if problem is not None:
        return {"problems": [problem], "plan": None}
    if data.get("live") is None:
        return {"problems": [], "plan": None}
    problems = balancer_problems(data)
    return {"problems": problems, "plan": None if problems else decide(data)}


class FilterModule(object):
    """The blue/green plan filter."""

    def filters(self):
        """Return {name: function} of this module's filters."""
        return {"bluegreen_plan": bluegreen_plan}
