# SPDX-License-Identifier: GPL-3.0-or-later
"""The SSH settings docs/inventory.md recommends are the ones the labs use.

A host that stops answering in the middle of a deploy hangs it on the
connection ControlPersist keeps open unless SSH sends keepalives
(ServerAliveInterval) and gives up after a few unanswered ones
(ServerAliveCountMax): proven against real sshd in the fault lab
(tests/faults/test_faults.py, the lost host). This keeps the line users copy
from docs/inventory.md, the project's ansible.cfg and the SSH labs'
molecule settings one and the same, with the keepalives in it.
"""

import configparser
import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SSH_SCENARIOS = ["default", "wagtail", "faults"]


def documented_ssh_args():
    """The ssh_args line of the ini block in docs/inventory.md."""
    found = re.findall(r"^ssh_args = (.+)$", (ROOT / "docs" / "inventory.md").read_text(), re.M)
    assert len(found) == 1, found
    return found[0].strip()


def test_the_documented_ssh_args_give_a_silent_host_up():
    options = dict(re.findall(r"-o (\w+)=(\S+)", documented_ssh_args()))
    assert options["ControlMaster"] == "auto" and "ControlPersist" in options, options
    assert int(options["ServerAliveInterval"]) > 0, options
    assert int(options["ServerAliveCountMax"]) > 0, options


def test_the_projects_ansible_cfg_uses_the_documented_ssh_args():
    config = configparser.ConfigParser()
    config.read(ROOT / "ansible.cfg")
    assert config["ssh_connection"]["ssh_args"] == documented_ssh_args()


@pytest.mark.parametrize("scenario", SSH_SCENARIOS)
def test_each_ssh_lab_uses_the_documented_ssh_args(scenario):
    settings = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())
    provisioner = settings["provisioner"]
    assert provisioner["connection_options"]["ansible_connection"] == "ssh"
    assert provisioner["config_options"]["ssh_connection"]["ssh_args"] == documented_ssh_args()
