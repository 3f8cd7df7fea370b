# SPDX-License-Identifier: GPL-3.0-or-later
"""The release_python_problems filter on artifacts built here, and on the demo app's real one."""

import io
import pathlib
import tarfile
import zipfile

import pytest
from ansible.errors import AnsibleFilterError
from packaging.version import Version

from ansible_collections.zerodowntime.deploy.plugins.filter.release_python_problems import (
    release_python_problems, tag_fits)

ROOT = pathlib.Path(__file__).resolve().parents[4]


def wheel(name, requires_python=None):
    """Bytes of a minimal wheel whose METADATA says Requires-Python."""
    buffer = io.BytesIO()
    dist = "-".join(name.split("-")[:2])
    with zipfile.ZipFile(buffer, "w") as archive:
        lines = ["Metadata-Version: 2.1", "Name: %s" % name.split("-")[0], "Version: %s" % name.split("-")[1]]
        if requires_python:
            lines.append("Requires-Python: %s" % requires_python)
        archive.writestr("%s.dist-info/METADATA" % dist, "\n".join(lines) + "\n")
    return buffer.getvalue()


def artifact(tmp_path, wheels):
    path = tmp_path / "app-1.0.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, requires in wheels:
            data = wheel(name, requires)
            info = tarfile.TarInfo("wheels/" + name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return str(path)


def test_a_requires_python_the_host_does_not_meet_is_named_as_pip_would(tmp_path):
    path = artifact(tmp_path, [("soupsieve-2.8-py3-none-any.whl", ">=3.11.5"),
                               ("django-5.2.19-py3-none-any.whl", ">=3.10")])
    assert release_python_problems(path, "3.11.2") == [
        "Package 'soupsieve' (soupsieve-2.8-py3-none-any.whl) requires a different Python: 3.11.2 not in '>=3.11.5'."]
    assert release_python_problems(path, "3.11.9") == []


def test_a_cpython_wheel_of_another_minor_version_is_named(tmp_path):
    path = artifact(tmp_path, [("psycopg_binary-3.3.9-cp312-cp312-manylinux_2_17_x86_64.whl", None)])
    (problem,) = release_python_problems(path, "3.11.2")
    assert problem.startswith("Wheel psycopg_binary-3.3.9-cp312-cp312-manylinux_2_17_x86_64.whl is built for another")
    assert "--python-version 3.11" in problem


@pytest.mark.parametrize(("name", "version", "fits"), [
    ("a-1-py3-none-any.whl", "3.11.2", True),
    ("a-1-py2.py3-none-any.whl", "3.13.0", True),
    ("a-1-cp311-cp311-manylinux_2_17_x86_64.whl", "3.11.2", True),
    ("a-1-cp311-cp311-manylinux_2_17_x86_64.whl", "3.13.0", False),
    ("a-1-cp39-abi3-manylinux_2_17_x86_64.whl", "3.11.2", True),
    ("a-1-cp312-abi3-manylinux_2_17_x86_64.whl", "3.11.2", False),
    ("a-1-py2-none-any.whl", "3.11.2", False),
])
def test_wheel_tags(name, version, fits):
    assert tag_fits(name, Version(version)) is fits


def test_the_demo_apps_artifact_fits_debian_12s_python():
    path = ROOT / "build" / "artifacts" / "demoapp-1.1.0.tar.gz"
    if not path.exists():
        pytest.skip("make artifacts builds it")
    assert release_python_problems(str(path), "3.11.2") == []
    assert any("psycopg_binary" in p for p in release_python_problems(str(path), "3.12.3"))


def test_an_unreadable_artifact_or_version_is_an_error(tmp_path):
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a tarball")
    with pytest.raises(AnsibleFilterError, match="cannot read the wheels"):
        release_python_problems(str(broken), "3.11.2")
    with pytest.raises(AnsibleFilterError, match="is not a Python version"):
        release_python_problems(artifact(tmp_path, []), "three")
