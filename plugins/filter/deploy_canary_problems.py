# -*- coding: utf-8 -*-
# Copyright: zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ranges of the canary options: the ``deploy_canary_problems`` filter."""

from __future__ import annotations

import re

DOCUMENTATION = r'''
name: deploy_canary_problems
short_description: List the canary options that are out of range, one message each
version_added: 0.2.0
description:
  - The deploy playbook's preflight checks the types of the C(deploy_canary_*) options with their argument spec;
    this filter checks their ranges, before the deploy lock is taken and any host is touched.
  - C(deploy_canary_weight) is an HAProxy server weight, 0 to 256, or a percentage of the configured weight up to
    100% (the Runtime API's C(set weight), HAProxy management guide).
options:
  _input:
    description: The options, by name, with the playbook's defaults for those not set.
    type: dict
    required: true
    suboptions:
      deploy_canary_weight:
        description: The canary's weight while it soaks.
        type: raw
        default: 10%
      deploy_canary_soak_s:
        description: Seconds the canary soaks; over 0.
        type: float
        default: 30
      deploy_canary_min_requests:
        description: Requests the canary must serve for a verdict; at least 1.
        type: int
        default: 50
      deploy_canary_max_5xx_ratio:
        description: Highest 5xx ratio the canary may have; 0 to 1.
        type: float
        default: 0.05
      deploy_canary_margin:
        description: How much worse than the stable servers the canary's 5xx ratio may be; 0 to 1.
        type: float
        default: 0.01
      deploy_canary_rtime_factor:
        description: How many times the stable servers' response time the canary's may be; at least 1.
        type: float
        default: 1.5
'''

EXAMPLES = r'''
- name: Check the ranges of the canary options
  ansible.builtin.fail:
    msg: "Canary options out of range: {{ problems | join(' ') }}"
  vars:
    problems: "{{ {'deploy_canary_weight': deploy_canary_weight | default('10%')} | zerodowntime.deploy.deploy_canary_problems }}"
  when: problems | length > 0
'''

RETURN = r'''
_value:
  description: One message per option out of range, in the order of the options above; empty when all are valid.
  type: list
  elements: str
  sample: ["deploy_canary_soak_s must be over 0 seconds (got 0)."]
'''

DEFAULTS = (
    ("deploy_canary_weight", "10%"),
    ("deploy_canary_soak_s", 30),
    ("deploy_canary_min_requests", 50),
    ("deploy_canary_max_5xx_ratio", 0.05),
    ("deploy_canary_margin", 0.01),
    ("deploy_canary_rtime_factor", 1.5),
)


def _number(value, kind=float):
    """``kind(value)``, or None when the value is not a number."""
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def _weight_ok(value):
    """True for an HAProxy weight 0-256 or a percentage 0%-100%."""
    text = str(value)
    if re.match(r"^[0-9]{1,3}%$", text):
        return int(text[:-1]) <= 100
    return bool(re.match(r"^[0-9]{1,3}$", text)) and int(text) <= 256


def deploy_canary_problems(options):
    """The ``deploy_canary_problems`` filter.

    :arg options: dict of option name to value (str, int or float, as set);
        missing names take the playbook's defaults (DEFAULTS).
    :returns: list of str, one message per option out of range, quoting the
        value as it was given.
    :raises: nothing; a value that is not a number is out of range.
    """
    values = dict(DEFAULTS)
    values.update({name: value for name, value in options.items() if value is not None})
    checks = (
        ("deploy_canary_weight", _weight_ok,
         "deploy_canary_weight must be a weight (0-256) or a percentage up to 100%% such as 10%% (got '%s')."),
        ("deploy_canary_soak_s", lambda v: (_number(v) or 0) > 0,
         "deploy_canary_soak_s must be over 0 seconds (got %s)."),
        ("deploy_canary_min_requests", lambda v: (_number(v, int) or 0) >= 1,
         "deploy_canary_min_requests must be at least 1 (got %s)."),
        ("deploy_canary_max_5xx_ratio", lambda v: _number(v) is not None and 0 <= _number(v) <= 1,
         "deploy_canary_max_5xx_ratio must be between 0 and 1 (got %s)."),
        ("deploy_canary_margin", lambda v: _number(v) is not None and 0 <= _number(v) <= 1,
         "deploy_canary_margin must be between 0 and 1 (got %s)."),
        ("deploy_canary_rtime_factor", lambda v: (_number(v) or 0) >= 1,
         "deploy_canary_rtime_factor must be at least 1 (got %s)."),
    )
    return [message % (values[name],) for name, valid, message in checks if not valid(values[name])]


class FilterModule(object):
    """The canary options filter."""

    def filters(self):
        """Return {name: function} of this module's filters."""
        return {"deploy_canary_problems": deploy_canary_problems}
