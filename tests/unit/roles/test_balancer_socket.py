# SPDX-License-Identifier: GPL-3.0-or-later
"""One place for a balancer's Runtime API socket (issue 16).

Every task of the collection's roles and playbooks that calls one of its
haproxy_* modules passes the socket the same way: the rotation role's
tasks as ``hostvars[...].haproxy_admin_socket | default(rotation_haproxy_socket)``,
every other task through the deploy role's ``_deploy_balancer_socket``
(roles/deploy/vars/main.yml), which reads the same two variables. A copy
of the default path, as blue/green and status.yml had, ignores a
``rotation_haproxy_socket`` that the inventory sets.
"""

import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
TASK_FILES = sorted(
    [*ROOT.glob("roles/*/tasks/*.yml"), *ROOT.glob("playbooks/*.yml"), *ROOT.glob("playbooks/tasks/*.yml")])
ROTATION_FORM = re.compile(
    r"^\{\{ hostvars\[item(\.item)?\]\.haproxy_admin_socket \| default\(rotation_haproxy_socket\) \}\}$")
DEPLOY_FORM = "{{ _deploy_balancer_socket }}"


def tasks(node):
    """Yield every task mapping in a tasks file or playbook, blocks and plays included."""
    if isinstance(node, list):
        for item in node:
            yield from tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always"):
            if key in node:
                yield from tasks(node[key])


def socket_arguments():
    """(file, task name, socket argument) of every call of a haproxy_* module."""
    found = []
    for path in TASK_FILES:
        for task in tasks(yaml.safe_load(path.read_text())):
            for key, args in task.items():
                if key.startswith("zerodowntime.deploy.haproxy_") and isinstance(args, dict) and "socket" in args:
                    found.append((path.relative_to(ROOT).as_posix(), task.get("name"), args["socket"]))
    return found


def test_the_scan_finds_the_module_calls_of_the_rotation_role_blue_green_and_status():
    files = {found[0] for found in socket_arguments()}
    assert {"roles/rotation/tasks/drain.yml", "roles/deploy/tasks/bluegreen_plan.yml",
            "roles/deploy/tasks/bluegreen_switch.yml", "playbooks/status.yml"} <= files


@pytest.mark.parametrize(("path", "name", "socket"), socket_arguments(), ids=lambda value: str(value)[:60])
def test_every_haproxy_module_call_reads_the_socket_from_the_inventory_or_the_rotation_default(path, name, socket):
    if path.startswith("roles/rotation/"):
        assert ROTATION_FORM.match(socket), (path, name, socket)
    else:
        assert socket == DEPLOY_FORM, (path, name, socket)


def test_the_default_path_is_written_once_outside_the_haproxy_and_rotation_roles():
    copies = [path.relative_to(ROOT).as_posix() for path in TASK_FILES + sorted(ROOT.glob("playbooks/vars/*.yml"))
              + sorted(ROOT.glob("roles/deploy/vars/*.yml"))
              if "/run/haproxy/admin.sock" in path.read_text()]
    assert copies == ["roles/deploy/vars/main.yml"]
