# SPDX-License-Identifier: GPL-3.0-or-later
"""The release role does not prepare a host again for a release it already has.

The role's install entry point runs against localhost in check mode (so it
changes nothing on this machine), with its base directory in a temporary
directory and no artifact: on a host where the release's .installed marker
exists the packages, user and directory tasks are skipped; on a host whose
.prepared marker holds the checksum of the same preparation settings they
are skipped too, for a new release; on a fresh host, or one prepared with
other settings, they run as before, and the role then fails because there is
nothing to install from.
"""

import hashlib
import json

import pytest

from local_role import run_role

# install_steps.yml includes prepare.yml, whose tasks follow, only for a
# host that needs preparing; for the others the step is skipped in one line.
PREPARE_STEP = "Prepare the host for a release it does not have yet"
PREPARE_TASKS = [
    "Ensure Python can create virtualenvs",
    "Ensure the application's service group exists",
    "Ensure the application's unprivileged service user exists",
    "Ensure the base and releases directories exist, owned by root",
]


def _release_vars(base):
    return {
        "release_base_dir": str(base),
        "release_version": "1.0.0",
        "release_artifact": "",
        "release_packages": [],
        # Check mode only reads these: an existing group, a user that is not there.
        "release_group": "root",
        "release_user": "zdt-test-no-such-user",
    }


@pytest.fixture
def base(tmp_path):
    path = tmp_path / "srv" / "app"
    (path / "releases").mkdir(parents=True)
    return path


def test_installing_a_release_the_host_has_skips_the_packages_user_and_directories(tmp_path, base):
    (base / "releases" / "1.0.0").mkdir()
    (base / "releases" / "1.0.0" / ".installed").write_text("0" * 64 + "\n")

    run = run_role(tmp_path, "release", "install", _release_vars(base), check=True)

    assert run.rc == 0, run.output
    step = run.results(PREPARE_STEP)
    assert len(step) == 1 and step[0].get("skipped") is True, (step, [task for task, _result in run.tasks])
    for name in PREPARE_TASKS:
        assert run.results(name) == [], (name, [task for task, _result in run.tasks])


def test_installing_on_a_fresh_host_still_prepares_it_first(tmp_path, base):
    run = run_role(tmp_path, "release", "install", _release_vars(base), check=True)

    for name in PREPARE_TASKS:
        results = run.results(name)
        assert len(results) == 1, (name, [task for task, _result in run.tasks])
        assert not results[0].get("skipped") and not results[0].get("failed"), (name, results[0])
    # No artifact and nothing installed: the role stops, naming the release.
    assert run.rc != 0
    assert "Release 1.0.0 is not installed on localhost" in run.failure(), run.output


def _preparation_checksum(release_vars):
    """What the role writes to .prepared: sha256 of its preparation settings as sorted JSON."""
    settings = {"packages": release_vars["release_packages"], "user": release_vars["release_user"],
                "group": release_vars["release_group"], "base_dir": release_vars["release_base_dir"],
                "python": release_vars.get("release_python", "/usr/bin/python3"), "installer": 1}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def test_a_new_release_on_a_host_prepared_with_the_same_settings_skips_the_preparation(tmp_path, base):
    release_vars = _release_vars(base)
    (base / ".prepared").write_text(_preparation_checksum(release_vars) + "\n")

    run = run_role(tmp_path, "release", "install", release_vars, check=True)

    step = run.results(PREPARE_STEP)
    assert len(step) == 1 and step[0].get("skipped") is True, (step, [task for task, _result in run.tasks])
    for name in PREPARE_TASKS:
        assert run.results(name) == [], (name, [task for task, _result in run.tasks])
    assert run.rc != 0
    assert "Release 1.0.0 is not installed on localhost" in run.failure(), run.output


def test_a_host_prepared_with_other_settings_is_prepared_again(tmp_path, base):
    release_vars = _release_vars(base)
    (base / ".prepared").write_text(_preparation_checksum({**release_vars, "release_packages": ["python3-venv"]}) + "\n")

    run = run_role(tmp_path, "release", "install", release_vars, check=True)

    for name in PREPARE_TASKS + ["Record the settings the host was prepared with"]:
        results = run.results(name)
        assert len(results) == 1, (name, [task for task, _result in run.tasks])
        assert not results[0].get("skipped") and not results[0].get("failed"), (name, results[0])
    assert run.rc != 0
