# SPDX-License-Identifier: GPL-3.0-or-later
"""The deploy_hooks filter: deploy_hooks checked and resolved on the controller."""

import os

import pytest

from ansible_collections.zerodowntime.deploy.plugins.filter.deploy_hooks import deploy_hooks

NAMES = ["before_drain", "after_drain", "before_enable", "after_deploy"]


@pytest.fixture(name="project")
def fixture_project(tmp_path, monkeypatch):
    """A project directory with hooks/warm.yml, as the current directory."""
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "warm.yml").write_text("---\n[]\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("value", [None, "", {}])
def test_no_hooks_is_no_problem(value):
    assert deploy_hooks(value, NAMES) == {"paths": {}, "problems": []}


def test_a_relative_path_is_resolved_against_the_current_directory(project):
    result = deploy_hooks({"before_enable": "hooks/warm.yml"}, NAMES)
    assert result == {"paths": {"before_enable": str(project / "hooks" / "warm.yml")}, "problems": []}


def test_an_absolute_path_is_kept(project):
    path = str(project / "hooks" / "warm.yml")
    assert deploy_hooks({"after_deploy": path}, NAMES)["paths"] == {"after_deploy": path}


def test_an_unknown_hook_is_named_with_the_closest_known_one(project):
    result = deploy_hooks({"before_enabel": "hooks/warm.yml", "after_drain": "hooks/warm.yml"}, NAMES)
    assert result["problems"] == [
        "Unknown hook 'before_enabel' in deploy_hooks; did you mean 'before_enable'? Known hooks: "
        "before_drain, after_drain, before_enable, after_deploy."]
    assert list(result["paths"]) == ["after_drain"]


def test_a_missing_file_is_named_with_the_directory_it_was_read_from(project):
    result = deploy_hooks({"before_drain": "hooks/nope.yml"}, NAMES)
    assert result["paths"] == {}
    assert result["problems"] == [
        "deploy_hooks.before_drain: task file %s not found on the controller (relative paths are read from the "
        "directory ansible-playbook runs in, %s)." % (project / "hooks" / "nope.yml", os.getcwd())]


@pytest.mark.parametrize("value", [3, "", None, ["hooks/warm.yml"]])
def test_a_value_that_is_not_a_path_is_reported(project, value):
    result = deploy_hooks({"before_drain": value}, NAMES)
    assert result["paths"] == {}
    assert result["problems"] == [
        "deploy_hooks.before_drain must be the path of a task file on the controller (got %r)." % (value,)]


@pytest.mark.parametrize("value", ["hooks/warm.yml", ["before_drain"], 1])
def test_a_value_that_is_not_a_mapping_is_reported(value):
    result = deploy_hooks(value, NAMES)
    assert result["paths"] == {}
    assert len(result["problems"]) == 1
    assert result["problems"][0].startswith("deploy_hooks must be a mapping of hook name to task file")
