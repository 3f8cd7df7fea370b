# SPDX-License-Identifier: GPL-3.0-or-later
"""scripts/build_django_artifact.py: a standard Django project's artifact in
one command (issue 13), built offline here from a local wheel so the test
needs no package index. The artifact must hold what the release role
installs (manage.py at the top, wheels/, a hash-pinned requirements.txt)
and a failed build must leave nothing in the output directory."""

import base64
import hashlib
import importlib.util
import pathlib
import subprocess
import sys
import tarfile
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "build_django_artifact.py"


def make_wheel(directory, name="tinydep", version="1.0"):
    """A minimal valid pure-Python wheel (PEP 427) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    dist_info = "%s-%s.dist-info" % (name, version)
    files = {
        "%s/__init__.py" % name: b"VALUE = 1\n",
        "%s/METADATA" % dist_info: ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version)).encode(),
        "%s/WHEEL" % dist_info: b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (path, digest, len(data)))
    record.append("%s/RECORD,," % dist_info)
    wheel = directory / ("%s-%s-py3-none-any.whl" % (name, version))
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
        archive.writestr("%s/RECORD" % dist_info, "\n".join(record) + "\n")
    return wheel


@pytest.fixture(name="project")
def fixture_project(tmp_path):
    """What `django-admin startproject mysite` makes, plus a requirements
    file that resolves offline from a local wheel."""
    project = tmp_path / "mysite"
    (project / "mysite").mkdir(parents=True)
    (project / "manage.py").write_text("#!/usr/bin/env python\n")
    (project / "mysite" / "__init__.py").write_text("")
    (project / "mysite" / "settings.py").write_text("DEBUG = False\n")
    (project / "mysite" / "__pycache__").mkdir()
    (project / "mysite" / "__pycache__" / "settings.cpython-311.pyc").write_bytes(b"\0")
    (project / "db.sqlite3").write_bytes(b"local data")
    wheels = make_wheel(tmp_path / "index").parent
    (project / "requirements.txt").write_text("--no-index\n--find-links %s\ntinydep==1.0\n" % wheels)
    return project


def build(project, outdir, *extra):
    return subprocess.run([sys.executable, str(SCRIPT), "1.1.0", str(outdir), "--project", str(project), *extra],
                          capture_output=True, text=True, check=False, timeout=120)


def test_the_artifact_holds_the_project_its_wheels_and_a_hash_pinned_lock(project, tmp_path):
    out = tmp_path / "artifacts"
    proc = build(project, out)
    assert proc.returncode == 0, proc.stderr
    artifact = out / "mysite-1.1.0.tar.gz"
    assert proc.stdout.strip() == str(artifact)
    digest, name = (out / "mysite-1.1.0.tar.gz.sha256").read_text().split()
    assert (digest, name) == (hashlib.sha256(artifact.read_bytes()).hexdigest(), artifact.name)
    with tarfile.open(artifact) as tar:
        members = {m.name for m in tar.getmembers() if m.isfile()}
        lock = tar.extractfile("requirements.txt").read().decode()
        wheel = tar.extractfile("wheels/tinydep-1.0-py3-none-any.whl").read()
        release = tar.extractfile("RELEASE").read().decode()
    assert members == {"manage.py", "mysite/__init__.py", "mysite/settings.py", "requirements.txt", "RELEASE",
                       "wheels/tinydep-1.0-py3-none-any.whl"}
    assert release == "1.1.0\n"
    assert "tinydep==1.0 --hash=sha256:%s" % hashlib.sha256(wheel).hexdigest() in lock.splitlines()
    assert sorted(p.name for p in out.iterdir()) == ["mysite-1.1.0.tar.gz", "mysite-1.1.0.tar.gz.sha256"]


def test_the_name_comes_from_the_deploy_when_not_given(project, tmp_path, monkeypatch):
    monkeypatch.setenv("ZERODOWNTIME_APP_NAME", "shop")
    proc = build(project, tmp_path / "artifacts")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "artifacts" / "shop-1.1.0.tar.gz").is_file()


@pytest.mark.parametrize("case, expected", [
    ("no manage.py", "has no manage.py at its top"),
    ("no requirements", "does not exist: give --requirements"),
    ("bad release", "release '../1': use a name such as 1.2.0"),
])
def test_a_project_it_cannot_build_is_named_and_nothing_is_written(project, tmp_path, case, expected):
    out = tmp_path / "artifacts"
    argv = [sys.executable, str(SCRIPT), "1.1.0", str(out), "--project", str(project)]
    if case == "no manage.py":
        (project / "manage.py").unlink()
    elif case == "no requirements":
        (project / "requirements.txt").unlink()
    else:
        argv[2] = "../1"
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 2
    assert expected in proc.stderr
    assert not out.exists() or list(out.iterdir()) == []


def test_a_failed_pip_leaves_no_artifact_and_no_temporary_directory(project, tmp_path):
    (project / "requirements.txt").write_text("--no-index\nno-such-package-anywhere==9.9\n")
    out = tmp_path / "artifacts"
    proc = build(project, out)
    assert proc.returncode != 0
    assert "pip failed" in proc.stderr
    assert list(out.iterdir()) == []


@pytest.fixture(name="builder", scope="module")
def fixture_builder():
    spec = importlib.util.spec_from_file_location("build_django_artifact", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_manylinux_platform_admits_every_older_glibc_and_the_legacy_names(builder):
    tags = builder.platform_tags("manylinux_2_36_x86_64")
    assert tags[0] == "manylinux_2_36_x86_64" and tags[-4] == "manylinux_2_5_x86_64"
    assert "manylinux_2_28_x86_64" in tags and "manylinux_2_37_x86_64" not in tags
    assert tags[-3:] == ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
    assert builder.platform_tags("macosx_11_0_arm64") == ["macosx_11_0_arm64"]


def test_the_hosts_python_makes_pip_resolve_binary_wheels_for_that_version(builder, tmp_path):
    argv = builder.pip_command("python3", tmp_path / "wheels", tmp_path / "req.txt", "3.11.2", "manylinux_2_17_x86_64")
    assert argv[:4] == ["python3", "-m", "pip", "download"]
    assert "--only-binary=:all:" in argv
    assert argv[argv.index("--python-version") + 1] == "3.11.2"
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--abi"] == ["cp311", "abi3", "none"]
    assert "manylinux2014_x86_64" in argv
    assert builder.pip_command("python3", tmp_path / "wheels", tmp_path / "req.txt")[3] == "wheel"


def test_a_hosts_python_that_is_not_a_version_is_refused(project, tmp_path):
    proc = build(project, tmp_path / "artifacts", "--host-python", "bookworm")
    assert proc.returncode == 2
    assert "--host-python 'bookworm': give the hosts' Python version" in proc.stderr
