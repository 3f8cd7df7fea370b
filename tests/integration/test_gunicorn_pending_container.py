# SPDX-License-Identifier: GPL-3.0-or-later
"""The gunicorn role's ``pending`` entry point, against a real Debian host.

``pending`` renders the unit and the environment file on the controller and
reads only their checksums, modes and owners from the host, in one round
trip. The deploy trusts its answer: false lets a host reload in rotation and
skip writing the unit, so it must be false only when both files are exactly
what the role's ``configure`` would write.

A container of the lab's base image (no systemd needed: nothing is started)
gets the two files written with the role's own templates, owners and modes,
and the entry point is run against it over the docker connection after each
change.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from test_haproxy_30_container import docker, docker_available

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMAGE = "zerodowntime/debian:bookworm"
CONTAINER = "zdt-it-gunicorn-pending"
SERVICE = "zdtpending"
ENV_FILE = f"/etc/{SERVICE}/environment"

PLAYBOOK = """
- hosts: target
  gather_facts: false
  tasks:
    - name: Ask whether the configuration would change
      ansible.builtin.include_role:
        name: zerodowntime.deploy.gunicorn
        tasks_from: pending
        public: true

    - name: Report the answer
      ansible.builtin.debug:
        msg: "PENDING={{ gunicorn_configuration_pending }}"

    - name: Write both files as the role's configure entry point does
      when: write | default(false) | bool
      block:
        - name: The environment file's directory
          ansible.builtin.file:
            path: "{{ gunicorn_environment_file | dirname }}"
            state: directory
            mode: "0750"
        - name: The environment file
          ansible.builtin.template:
            src: "%(root)s/roles/gunicorn/templates/environment.j2"
            dest: "{{ gunicorn_environment_file }}"
            owner: root
            group: "{{ gunicorn_group }}"
            mode: "0640"
        - name: The unit
          ansible.builtin.template:
            src: "%(root)s/roles/gunicorn/templates/gunicorn.service.j2"
            dest: "/etc/systemd/system/{{ gunicorn_service_name }}.service"
            owner: root
            group: root
            mode: "0644"
""" % {"root": ROOT}


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """A running container of the base image with the service's group; yields a runner."""
    if not docker_available():
        pytest.skip("docker is not available")
    # Built here when absent, as test_haproxy_30_container builds its own:
    # a skip would hide the test on a fresh machine, where `make test` ran
    # these tests before the lab's images existed.
    if docker("image", "inspect", IMAGE, check=False).returncode != 0:
        build = subprocess.run([str(ROOT / "scripts" / "build-base-image.sh"), "bookworm", IMAGE],
                               capture_output=True, text=True, check=False, timeout=900)
        assert build.returncode == 0, build.stdout + build.stderr
    tmp = tmp_path_factory.mktemp("pending")
    docker("rm", "-f", CONTAINER, check=False)
    docker("run", "-d", "--name", CONTAINER, "--tmpfs", "/tmp", "--entrypoint", "sleep", IMAGE, "infinity")
    try:
        docker("exec", CONTAINER, "groupadd", "--system", SERVICE)
        (tmp / "playbook.yml").write_text(PLAYBOOK)
        (tmp / "hosts.json").write_text(json.dumps({"all": {"hosts": {"target": {
            "ansible_connection": "community.docker.docker", "ansible_host": CONTAINER,
            "ansible_python_interpreter": "/usr/bin/python3"}}}}))

        def run(**variables):
            """Run the playbook; returns (pending: bool, output: str)."""
            extra = tmp / "vars.json"
            extra.write_text(json.dumps({"gunicorn_service_name": SERVICE, **variables}))
            env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
            env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
            binary = pathlib.Path(sys.executable).parent / "ansible-playbook"
            proc = subprocess.run([str(binary), "-i", str(tmp / "hosts.json"), "-e", f"@{extra}",
                                   str(tmp / "playbook.yml")],
                                  cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
            output = proc.stdout + proc.stderr
            assert proc.returncode == 0, output
            answers = [line for line in output.splitlines() if "PENDING=" in line]
            assert len(answers) == 1, output
            return answers[0].split("PENDING=")[1].strip().strip('"') == "True", output

        yield run
    finally:
        docker("rm", "-f", CONTAINER, check=False)


def test_pending_follows_the_files_on_the_host(host):
    # A host never configured: neither file exists (nor the environment's directory).
    pending, output = host(write=True)
    assert pending, output

    # Exactly what configure writes: nothing would change.
    pending, output = host()
    assert not pending, output

    # Another setting renders another unit.
    pending, output = host(gunicorn_workers=7)
    assert pending, output

    # Another environment renders another environment file (the secret stays out of the output).
    pending, output = host(gunicorn_environment={"SECRET_KEY": "s3cr3t-value"})
    assert pending, output
    assert "s3cr3t-value" not in output

    # Same content, wrong mode: configure would change the file.
    docker("exec", CONTAINER, "chmod", "0644", ENV_FILE)
    pending, output = host()
    assert pending, output
    docker("exec", CONTAINER, "chmod", "0640", ENV_FILE)
    pending, output = host()
    assert not pending, output

    # Same content, wrong owner of the unit.
    docker("exec", CONTAINER, "chgrp", SERVICE, f"/etc/systemd/system/{SERVICE}.service")
    pending, output = host()
    assert pending, output
