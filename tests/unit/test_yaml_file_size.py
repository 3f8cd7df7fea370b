# SPDX-License-Identifier: GPL-3.0-or-later
"""No YAML file of the repository is over 200 lines (issue 16): a role's
task file that grows past that is a table of contents waiting to be split
(the deploy role's host.yml and its step files, the release role's
install_steps.yml with prepare.yml and check_python.yml).

Files written by tools, not people, are not counted (antsibull-changelog's
plugin cache).
"""

import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MAX_LINES = 200
GENERATED = {"changelogs/.plugin-cache.yaml"}


def tracked_yaml():
    """Paths (relative to the repository, str) of the YAML files git tracks."""
    out = subprocess.run(["git", "ls-files", "*.yml", "*.yaml"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    return sorted(set(out.split()) - GENERATED)


def test_the_repository_has_yaml_files_to_measure():
    assert "roles/deploy/tasks/host.yml" in tracked_yaml()


@pytest.mark.parametrize("path", tracked_yaml())
def test_yaml_file_is_at_most_200_lines(path):
    lines = len((ROOT / path).read_text().splitlines())
    assert lines <= MAX_LINES, "%s has %d lines (at most %d): split it" % (path, lines, MAX_LINES)
