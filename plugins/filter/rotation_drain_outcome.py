# -*- coding: utf-8 -*-
# Copyright: zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a failed drain left on each balancer: the ``rotation_drain_outcome`` filter."""

from __future__ import annotations

DOCUMENTATION = r'''
name: rotation_drain_outcome
short_description: Say which balancers could not drain a server and where it went back into rotation
version_added: 0.2.0
description:
  - The rotation role drains a server on every balancer with one C(zerodowntime.deploy.haproxy_server) call per
    balancer (a loop), and when one fails, returns the server to rotation on the balancers where that drain had
    taken it out (a second loop). This filter reads both loops' results and returns, per balancer, what failed and
    what was undone, and the sentence the role fails with.
positional: undo_results, server, group
options:
  _input:
    description: The C(results) of the drain loop (each with C(item), the balancer, and C(failed) and C(msg) when it failed).
    type: list
    elements: dict
    required: true
  undo_results:
    description:
      - The C(results) of the loop that returns the server to rotation (each with C(item), the drain result it undoes,
        and C(skipped) when it had nothing to undo); empty when that loop did not run.
    type: list
    elements: dict
    required: true
  server:
    description: The server's name in the backend.
    type: str
    required: true
  group:
    description: The inventory group of the balancers.
    type: str
    required: true
  drain_error:
    description: The failure's message, said when no single balancer's drain failed (the loop itself failed).
    type: str
    default: ""
  undo_error:
    description: Why returning the server to rotation failed, when it failed outside a balancer's result.
    type: str
    default: ""
'''

EXAMPLES = r'''
- name: Fail naming the balancers that could not confirm the drain
  ansible.builtin.fail:
    msg: "{{ (drain.results | zerodowntime.deploy.rotation_drain_outcome(undo.results | default([]), 'app1', 'balancers')).message }}"
'''

RETURN = r'''
_value:
  description: What the failed drain left.
  type: dict
  contains:
    failed_on:
      description: Balancer to the message of its failed drain, in the balancers' order.
      type: dict
      sample: {lb2: "Connection refused"}
    returned_on:
      description: Balancers where the server was returned to rotation.
      type: list
      elements: str
      sample: [lb1]
    left_out_on:
      description: Balancer to why the server could not be returned to rotation there.
      type: dict
      sample: {}
    message:
      description: The sentence the rotation role fails with.
      type: str
      sample: >-
        app1 is not drained on every balancer of group 'balancers': balancer lb2 could not confirm the drain
        (Connection refused). Returned to rotation on lb1, where this drain had taken it out.
'''


def _failed(result):
    """True for a loop item that failed (items carry ``failed`` only when they did)."""
    return result.get("failed") is True


def rotation_drain_outcome(drain_results, undo_results, server, group, drain_error="", undo_error=""):
    """The ``rotation_drain_outcome`` filter.

    :arg drain_results: list of dict, the drain loop's results; ``item`` is
        the balancer (str), ``failed``/``msg`` are set on a failed item.
    :arg undo_results: list of dict, the undo loop's results; ``item`` is the
        drain result it undoes, ``skipped`` is set when there was nothing to
        undo, ``failed``/``msg`` when the undo failed.
    :arg server: str, the server. :arg group: str, the balancers' group.
    :arg drain_error: str, said when no balancer's result failed.
    :arg undo_error: str, said when the undo failed outside a result.
    :returns: dict ``{failed_on: {balancer: msg}, returned_on: [balancer],
        left_out_on: {balancer: msg}, message: str}``.
    :raises KeyError: when a result has no ``item``.
    """
    failed_on = {r["item"]: r.get("msg", "?") for r in drain_results or [] if _failed(r)}
    undone = [r for r in undo_results or [] if "skipped" not in r]
    left_out_on = {r["item"]["item"]: r.get("msg", "?") for r in undone if _failed(r)}
    returned_on = [r["item"]["item"] for r in undone if r["item"]["item"] not in left_out_on]

    if failed_on:
        cause = "; ".join("balancer %s could not confirm the drain (%s)" % pair for pair in failed_on.items())
    else:
        cause = drain_error
    if returned_on:
        undo = "Returned to rotation on %s, where this drain had taken it out." % ", ".join(returned_on)
    else:
        undo = "No balancer had to be returned to rotation."
    if left_out_on:
        left = "Still out of rotation, could not be returned, on %s." % ", ".join(
            "%s (%s)" % pair for pair in left_out_on.items())
    elif undo_error:
        left = "Returning it to rotation failed: %s" % undo_error
    else:
        left = ""
    message = ("%s is not drained on every balancer of group '%s': %s. %s %s" % (server, group, cause, undo, left)).rstrip()
    return {"failed_on": failed_on, "returned_on": returned_on, "left_out_on": left_out_on, "message": message}


class FilterModule(object):
    """The drain outcome filter."""

    def filters(self):
        """Return {name: function} of this module's filters."""
        return {"rotation_drain_outcome": rotation_drain_outcome}
