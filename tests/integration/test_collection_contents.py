# SPDX-License-Identifier: GPL-3.0-or-later
"""What `ansible-galaxy collection build` puts in the tarball, as galaxy.yml's
build_ignore shapes it: everything a user runs, and nothing else.

A user runs the plugins, roles and playbooks (with the callback, vars and
task files beside them), reads meta/runtime.yml, the docs, README, changelog
and LICENSE, and scripts/build_django_artifact.py (docs/artifact.md has them
run it from the installed collection). The tests, the lab (whose inventories
hold its passwords), molecule, the benchmark, the examples and the project's
own tooling stay out. test_collection_build.py installs the same tarball and
runs ansible-doc and a module from the installed copy.
"""

import re
import subprocess
import tarfile

import pytest
import yaml

from conftest import ROOT

SHIPPED_TREES = ("plugins", "roles", "playbooks", "docs")
SHIPPED_FILES = ("meta/runtime.yml", "README.md", "CHANGELOG.rst", "changelogs/changelog.yaml", "LICENSE",
                 "scripts/build_django_artifact.py")
# What ansible-galaxy writes itself.
GALAXY_FILES = ("MANIFEST.json", "FILES.json")
LEFT_OUT = ("tests", "molecule", "inventories", "benchmarks", "examples", "build", ".venv", ".ci",
            "Makefile", "ansible.cfg", "conftest.py", "requirements-dev.txt", "changelogs/fragments", "galaxy.yml")


def tracked(*paths):
    """Files git knows (tracked, or new and not ignored) under paths."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *paths],
                         cwd=str(ROOT), capture_output=True, check=True).stdout.decode()
    return {name for name in out.split("\0") if name and (ROOT / name).is_file()}


@pytest.fixture(scope="module")
def members(collection_tarball):
    """{name: bytes} of every regular file of the tarball."""
    with tarfile.open(collection_tarball) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def under(name, prefix):
    return name == prefix or name.startswith(prefix + "/")


def test_everything_a_user_runs_is_in_the_tarball(members):
    expected = tracked(*SHIPPED_TREES) | set(SHIPPED_FILES)
    missing = sorted(expected - set(members))
    assert not missing, missing


def test_the_tarball_holds_nothing_else(members):
    extra = sorted(name for name in members
                   if name not in SHIPPED_FILES + GALAXY_FILES
                   and not any(under(name, tree) for tree in SHIPPED_TREES))
    assert not extra, extra
    for name in LEFT_OUT:
        assert not any(under(member, name) for member in members), name


def lab_secrets():
    """Literal values of the password and secret variables of the lab's
    inventories ({{ ... }} references left out)."""
    found = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str) and re.search(r"password|secret", str(key), re.I) and "{{" not in value:
                    found.add(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
    for path in sorted((ROOT / "inventories").rglob("*.yml")):
        walk(yaml.safe_load(path.read_text()))
    return found


def test_no_file_of_the_tarball_holds_a_lab_password(members):
    secrets = lab_secrets()
    assert secrets, "found no password in inventories/: the scan is broken"
    holding = sorted((name, secret) for name, data in members.items() for secret in secrets
                     if secret.encode() in data)
    assert not holding, holding
