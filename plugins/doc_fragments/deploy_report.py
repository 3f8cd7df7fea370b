# -*- coding: utf-8 -*-
# Copyright: contributors to the zerodowntime.deploy collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Options shared by the deploy report callbacks: zerodowntime.deploy.deploy_report and
playbooks/callback_plugins/zerodowntime_default_report.py."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  report_path:
    description:
      - Where to write the JSON report. Parent directories are created.
      - C(zerodowntime.deploy.deploy_report) writes no file when unset; the summary is still printed.
        The callback beside the collection's playbooks writes C(~/.ansible/zerodowntime/reports/<playbook>.json).
    type: path
    env:
      - name: ZERODOWNTIME_REPORT_PATH
    ini:
      - section: callback_deploy_report
        key: report_path
  show_summary:
    description: Print the per-host summary table at the end of the playbook.
    type: bool
    default: true
    env:
      - name: ZERODOWNTIME_REPORT_SUMMARY
    ini:
      - section: callback_deploy_report
        key: show_summary
  show_progress:
    version_added: 0.2.0
    description:
      - Print one line per host once its turn in a rolling play has ended (a play in which it drained, reloaded,
        deployed, health-checked or re-enabled), with its position among the play's hosts, the seconds of each phase,
        the seconds it was out of rotation and the seconds since the playbook started; and one line at the start of
        each C(serial) batch after the first, naming its hosts.
    type: bool
    default: true
    env:
      - name: ZERODOWNTIME_REPORT_PROGRESS
    ini:
      - section: callback_deploy_report
        key: show_progress
'''
