# SPDX-License-Identifier: GPL-3.0-or-later
"""Run one entry point of a role of the collection against this machine.

``run_role`` writes a one-task playbook that includes the role's entry
point on localhost (``run_tasks``: a playbook of the tasks given; local connection;
the inventory also puts it in the group balancers, which some defaults
name), runs it with ansible-playbook and the
JSON stdout callback, and returns the exit status with every task result.
The roles are loaded from the work tree (ansible.cfg's collections_path).
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


class RoleRun:
    """A finished run: ``rc``, ``tasks`` [(task name, result)] in order, ``output``."""

    def __init__(self, rc, document, output):
        self.rc = rc
        self.output = output
        self.tasks = []
        for play in document.get("plays", []):
            for task in play.get("tasks", []):
                for result in task.get("hosts", {}).values():
                    self.tasks.append((task["task"]["name"], result))

    def results(self, name):
        """Results of the tasks whose name ends with ``name`` (role prefixes vary)."""
        return [result for task, result in self.tasks if task.endswith(name)]

    def failure(self):
        """The message of the first failed task, or None."""
        for _task, result in self.tasks:
            if result.get("failed"):
                return result.get("msg", "")
        return None


def role_command(tmp, role, entry, variables, check=False, then=""):
    """(argv, environment) of ansible-playbook running ``tasks_from: entry``
    of zerodowntime.deploy.``role`` with ``variables`` (extra vars), then the
    tasks in ``then`` (YAML text of task list items, indented four spaces)."""
    return tasks_command(
        tmp, f"{role}-{entry}",
        f"    - ansible.builtin.include_role:\n"
        f"        name: zerodowntime.deploy.{role}\n"
        f"        tasks_from: {entry}\n"
        + then,
        variables, check)


def tasks_command(tmp, name, tasks, variables, check=False):
    """(argv, environment) of ansible-playbook running ``tasks`` (YAML text of
    task list items, indented four spaces) on localhost with ``variables``
    (extra vars); the files it writes in ``tmp`` are named after ``name``."""
    playbook = tmp / f"{name}.yml"
    playbook.write_text(
        "- hosts: localhost\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        + tasks
    )
    inventory = tmp / "hosts.json"
    inventory.write_text(json.dumps({"all": {"children": {"balancers": {"hosts": {"localhost": {
        "ansible_connection": "local"}}}}}}))
    extra = tmp / f"{name}-vars.json"
    extra.write_text(json.dumps({"ansible_python_interpreter": sys.executable, **variables}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "ZERODOWNTIME_"))}
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-local"),
        ANSIBLE_REMOTE_TEMP=str(tmp / "ansible-remote"),
    )
    binary = pathlib.Path(sys.executable).parent / "ansible-playbook"
    cmd = [str(binary) if binary.exists() else shutil.which("ansible-playbook"),
           "-i", str(inventory), "-e", f"@{extra}", str(playbook)]
    if check:
        cmd.append("--check")
    return cmd, env


def run_role(tmp, role, entry, variables, check=False):
    """Run ``tasks_from: entry`` of zerodowntime.deploy.``role`` with ``variables``
    (extra vars); returns a RoleRun."""
    return run_command(tmp, *role_command(tmp, role, entry, variables, check))


def run_tasks(tmp, name, tasks, variables, check=False):
    """Run ``tasks`` (see tasks_command) on localhost; returns a RoleRun."""
    return run_command(tmp, *tasks_command(tmp, name, tasks, variables, check))


def run_command(tmp, cmd, env):
    """Run ansible-playbook (a command of role_command or tasks_command) in
    ``tmp``; returns a RoleRun."""
    proc = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True, timeout=300, check=False)
    try:
        document = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(f"no JSON from ansible-playbook (rc {proc.returncode}): {proc.stdout}{proc.stderr}") from exc
    return RoleRun(proc.returncode, document, proc.stdout + proc.stderr)
