# -*- coding: utf-8 -*-
# Copyright: zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Canary analysis on HAProxy's own counters: the ``canary_verdict`` filter."""

from __future__ import annotations

DOCUMENTATION = r'''
name: canary_verdict
short_description: Judge a canary from HAProxy counters read before and after its soak
version_added: 0.1.0
description:
  - Compares the servers of a canary batch with the servers still on the stable release, from two
    readings of M(zerodowntime.deploy.haproxy_info) per balancer, one before and one after the soak.
  - Requests are the growth of C(hrsp_1xx) to C(hrsp_5xx) plus C(hrsp_other), summed over servers
    and balancers; the 5xx ratio is the growth of C(hrsp_5xx) over that.
  - The response time is the mean of the soak's own requests, in milliseconds, weighted by each server's
    requests during the soak. HAProxy's C(rtime) is a sliding average over a server's last 512 samples
    (its TIME_STATS_SAMPLES; the documentation says 1024 requests), so the value after the soak still
    mostly holds the requests served before it, on the stable release; the filter takes the soak's mean
    out of the readings before and after, with HAProxy's own update rule (each sample replaces 1/512 of
    the running sum; below 512 requests, the plain mean).
  - The verdict is V(inconclusive) when the canary served fewer than O(min_requests) requests,
    V(fail) when its 5xx ratio exceeds O(max_5xx_ratio) or the stable servers' ratio plus O(margin),
    or when its response time exceeds the stable servers' times O(rtime_factor) by more than
    O(rtime_floor_ms) milliseconds, and V(pass) otherwise.
positional: before, after, backend, canary
options:
  _input:
    description: Results of M(zerodowntime.deploy.haproxy_info) before the soak, one per balancer.
    type: list
    elements: dict
    required: true
  after:
    description: Results after the soak, one per balancer, in the same order as the input.
    type: list
    elements: dict
    required: true
  backend:
    description: Backend that holds the servers.
    type: str
    required: true
  canary:
    description: Server names of the canary batch.
    type: list
    elements: str
    required: true
  stable:
    description: Server names on the stable release; default every other server of the backend.
    type: list
    elements: str
  min_requests:
    description: Fewer canary requests than this make the verdict V(inconclusive).
    type: int
    default: 50
  max_5xx_ratio:
    description: Highest acceptable 5xx ratio of the canary, from 0 to 1.
    type: float
    default: 0.05
  margin:
    description: How much the canary's 5xx ratio may exceed the stable servers' ratio.
    type: float
    default: 0.01
  rtime_factor:
    description: How many times the stable servers' response time the canary's may reach.
    type: float
    default: 1.5
  rtime_floor_ms:
    description: Response time differences up to this many milliseconds are never a failure.
    type: float
    default: 20
'''

EXAMPLES = r'''
- name: Judge the canary
  ansible.builtin.set_fact:
    verdict: "{{ before.results | zerodowntime.deploy.canary_verdict(after.results, 'app', ['app1']) }}"
'''

RETURN = r'''
_value:
  description: The verdict and the figures behind it.
  type: dict
  contains:
    verdict:
      description: V(pass), V(fail) or V(inconclusive).
      type: str
    reasons:
      description: Sentences that explain a V(fail) or V(inconclusive) verdict.
      type: list
      elements: str
    canary:
      description: C(requests), C(errors_5xx), C(ratio_5xx) (0 to 1, null without requests) and C(rtime_ms) of the canary.
      type: dict
    stable:
      description: The same figures for the stable servers.
      type: dict
'''

from ansible.errors import AnsibleFilterError

RESPONSE_CLASSES = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")


def _servers(reading, backend):
    try:
        return reading["backends"][backend]["servers"]
    except (KeyError, TypeError):
        raise AnsibleFilterError(f"canary_verdict: backend '{backend}' is not in a haproxy_info result")


def _count(server, key):
    value = server.get(key)
    return int(value) if value is not None else 0


# HAProxy's TIME_STATS_SAMPLES: the window of its per-server time averages.
TIME_STATS_SAMPLES = 512


def soak_rtime(rtime_before, total_before, rtime_after, total_after, window=TIME_STATS_SAMPLES):
    """Mean response time (ms) of the requests a server answered between two readings.

    HAProxy keeps sum <- sum - sum / window + sample per request and reports
    rtime = sum / min(requests, window) (stats.c, swrate_add/swrate_avg), so
    k new samples of mean m turn sum S0 into S0 * a + m * window * (1 - a),
    a = (1 - 1/window) ** k. ``total_*`` are the server's responses since
    HAProxy started. Returns None without new requests; a reading taken after
    HAProxy restarted (fewer responses than before) counts from zero.
    """
    if total_after < total_before:
        rtime_before, total_before = 0, 0
    served = total_after - total_before
    if served <= 0:
        return None
    sum_before = rtime_before * min(total_before, window)
    sum_after = rtime_after * min(total_after, window)
    kept = (1.0 - 1.0 / window) ** served
    return max(0.0, (sum_after - sum_before * kept) / (window * (1.0 - kept)))


def figures(before, after, backend, names):
    """Sum the soak's counters of ``names`` over balancers.

    ``before`` and ``after`` are lists of haproxy_info results, one per
    balancer, in the same order. Returns {"requests": int, "errors_5xx": int,
    "ratio_5xx": float or None, "rtime_ms": float or None}; rtime_ms is the
    mean of the soak's requests (see soak_rtime).
    """
    requests = errors = 0
    weighted_rtime = 0.0
    for first, last in zip(before, after):
        servers_before, servers_after = _servers(first, backend), _servers(last, backend)
        for name in names:
            if name not in servers_after:
                raise AnsibleFilterError(f"canary_verdict: server '{name}' is not in backend '{backend}'")
            old, new = servers_before.get(name, {}), servers_after[name]
            served = sum(max(0, _count(new, k) - _count(old, k)) for k in RESPONSE_CLASSES)
            requests += served
            errors += max(0, _count(new, "hrsp_5xx") - _count(old, "hrsp_5xx"))
            mean = soak_rtime(_count(old, "rtime"), sum(_count(old, k) for k in RESPONSE_CLASSES),
                              _count(new, "rtime"), sum(_count(new, k) for k in RESPONSE_CLASSES))
            weighted_rtime += served * (mean or 0.0)
    return {
        "requests": requests,
        "errors_5xx": errors,
        "ratio_5xx": round(errors / requests, 4) if requests else None,
        "rtime_ms": round(weighted_rtime / requests, 1) if requests else None,
    }


def canary_verdict(before, after, backend, canary, stable=None, min_requests=50, max_5xx_ratio=0.05,
                   margin=0.01, rtime_factor=1.5, rtime_floor_ms=20):
    """Return the verdict dict documented in RETURN; raises AnsibleFilterError on malformed input."""
    if not isinstance(before, list) or not isinstance(after, list) or len(before) != len(after) or not before:
        raise AnsibleFilterError("canary_verdict: before and after must be lists of haproxy_info results of equal, non-zero length")
    canary = list(canary)
    if stable is None:
        stable = sorted(set(_servers(after[0], backend)) - set(canary))
    ours = figures(before, after, backend, canary)
    theirs = figures(before, after, backend, list(stable))
    reasons = []
    verdict = "pass"
    if ours["requests"] < int(min_requests):
        verdict = "inconclusive"
        reasons.append(f"the canary served {ours['requests']} requests during the soak, fewer than {min_requests}")
    else:
        stable_ratio = theirs["ratio_5xx"] or 0.0
        if ours["ratio_5xx"] > float(max_5xx_ratio):
            reasons.append(f"canary 5xx ratio {ours['ratio_5xx']:.2%} is above the limit {float(max_5xx_ratio):.2%}")
        if ours["ratio_5xx"] > stable_ratio + float(margin):
            reasons.append(
                f"canary 5xx ratio {ours['ratio_5xx']:.2%} is above the stable servers' {stable_ratio:.2%} "
                f"plus the margin {float(margin):.2%}"
            )
        if theirs["rtime_ms"] is not None and ours["rtime_ms"] is not None:
            limit = max(theirs["rtime_ms"] * float(rtime_factor), theirs["rtime_ms"] + float(rtime_floor_ms))
            if ours["rtime_ms"] > limit:
                reasons.append(
                    f"canary response time {ours['rtime_ms']} ms is above {limit:.1f} ms "
                    f"(stable {theirs['rtime_ms']} ms x {rtime_factor}, at least +{rtime_floor_ms} ms)"
                )
        if reasons:
            verdict = "fail"
    return {"verdict": verdict, "reasons": reasons, "canary": ours, "stable": theirs}


class FilterModule(object):
    """Canary analysis filters."""

    def filters(self):
        return {"canary_verdict": canary_verdict}
