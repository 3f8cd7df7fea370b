# Copyright: (c) 2026, zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy report for the collection's own playbooks, with nothing to enable.

Ansible loads callback plugins from the ``callback_plugins`` directory beside
a playbook it runs, whether the playbook is named by path
(``ansible-playbook playbooks/deploy.yml``) or by FQCN from an installed
collection (``ansible-playbook zerodowntime.deploy.deploy``). This one needs
no enabling: it is zerodowntime.deploy.deploy_report with a default report
path, and stays silent when that callback is enabled by name (then that one
prints and writes, as configured).
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: zerodowntime_default_report
type: aggregate
short_description: Print the deploy report's summary and write its JSON for the collection's playbooks by default
version_added: 0.1.0
author:
  - zerodowntime.deploy maintainers (@zerodowntime)
description:
  - The C(zerodowntime.deploy.deploy_report) callback, loaded from beside the collection's playbooks and run
    without C(callbacks_enabled). See that callback for what it records and prints.
  - Silent when C(zerodowntime.deploy.deploy_report) is enabled by name, which then does the work.
  - Prints no table and no progress line when the stdout callback writes JSON (C(ansible.builtin.json), or any
    whose name ends in C(json) or C(jsonl)), so that the output stays one document; the report file is still written.
extends_documentation_fragment:
  - zerodowntime.deploy.deploy_report
"""

import os

from ansible import constants as C

from ansible_collections.zerodowntime.deploy.plugins.callback.deploy_report import CallbackModule as _DeployReport

EXPLICIT_NAMES = ("zerodowntime.deploy.deploy_report", "deploy_report")
DEFAULT_REPORT_DIR = "~/.ansible/zerodowntime/reports"


class CallbackModule(_DeployReport):
    """zerodowntime.deploy.deploy_report, enabled by default, with a default report path."""

    CALLBACK_NAME = "zerodowntime_default_report"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self, display=None):
        super().__init__(display=display)
        enabled = C.config.get_config_value("CALLBACKS_ENABLED") or []
        # The callback enabled by name reports instead (send_callback skips
        # a plugin whose `disabled` is true).
        self.disabled = any(name in EXPLICIT_NAMES for name in enabled)
        # A machine-read stdout (ansible.builtin.json, any *.json or *.jsonl)
        # gets no table after its document; the report file is still written.
        stdout = C.config.get_config_value("DEFAULT_STDOUT_CALLBACK") or ""
        self._stdout_is_json = stdout.rsplit(".", 1)[-1] in ("json", "jsonl")

    def default_report_path(self):
        """``~/.ansible/zerodowntime/reports/<first playbook's name>.json`` (str, user expanded)."""
        name = os.path.splitext((self._playbook or "playbook").split(",")[0].strip())[0] or "playbook"
        return os.path.join(os.path.expanduser(DEFAULT_REPORT_DIR), name + ".json")

    def get_option(self, k, hostvars=None):
        """The option ``k``; report_path falls back to default_report_path()."""
        value = super().get_option(k, hostvars)
        if k == "report_path" and not value:
            return self.default_report_path()
        if k in ("show_summary", "show_progress") and self._stdout_is_json:
            return False
        return value
