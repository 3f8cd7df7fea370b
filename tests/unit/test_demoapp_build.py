"""The demoapp fixture: its release patch stack and the artifact build.

Fast and offline: nothing here builds wheels, reaches an index or needs a
database. The artifact checks read what `examples/demoapp/build.sh` left in
build/artifacts and skip when it has not been run.
"""

import ast
import hashlib
import io
import os
import pathlib
import re
import shutil
import subprocess
import tarfile
import tomllib
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEMOAPP = ROOT / "examples" / "demoapp"
ORDER = DEMOAPP / "releases" / "ORDER"
BUILD = DEMOAPP / "build.sh"
ARTIFACTS = ROOT / "build" / "artifacts"


def releases():
    return [line.strip() for line in ORDER.read_text().splitlines() if line.strip()]


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def release_tree(release, dest):
    """src/ with every patch up to `release` applied, as build.sh builds it."""
    tree = dest / f"tree-{release}"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    shutil.copytree(DEMOAPP / "src", tree, ignore=ignore)
    for step in releases():
        patch = DEMOAPP / "releases" / f"{step}.patch"
        if patch.exists():
            result = subprocess.run(
                ["patch", "-p1", "--batch", "--forward", "--fuzz=0", "--no-backup-if-mismatch"],
                cwd=tree,
                stdin=patch.open("rb"),
                capture_output=True,
                text=True,
            )
            assert result.returncode == 0, (
                f"{patch.name} does not apply cleanly:\n{result.stdout}{result.stderr}"
            )
        if step == release:
            return tree
    raise AssertionError(f"{release} is not in ORDER")


def run_build(*args, **env):
    return subprocess.run(
        ["bash", str(BUILD), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


def test_order_lists_the_base_release_then_1_1_0():
    assert releases()[:2] == ["1.0.0", "1.1.0"]
    assert len(set(releases())) == len(releases())


def test_the_base_release_is_src_itself_with_no_patch():
    assert not (DEMOAPP / "releases" / "1.0.0.patch").exists()
    assert tomllib.loads((DEMOAPP / "src" / "pyproject.toml").read_text())["project"]["version"] == "1.0.0"


def test_every_patch_file_belongs_to_a_release_in_order():
    patches = {p.name.removesuffix(".patch") for p in (DEMOAPP / "releases").glob("*.patch")}
    assert patches <= set(releases())


@pytest.mark.parametrize("release", releases())
def test_patch_stack_applies_cleanly_and_sets_the_release_version(release, tmp_path):
    tree = release_tree(release, tmp_path)
    project = tomllib.loads((tree / "pyproject.toml").read_text())["project"]
    assert project["name"] == "demoapp"
    assert project["version"] == release


def test_patch_stack_dry_run_on_src_reports_no_fuzz_or_offset(tmp_path):
    # --fuzz=0 above already refuses fuzz; offsets are legal but mean the
    # patch was made against a different tree than the one in src/.
    tree = tmp_path / "src"
    shutil.copytree(DEMOAPP / "src", tree, ignore=shutil.ignore_patterns("__pycache__"))
    first_patch = DEMOAPP / "releases" / f"{releases()[1]}.patch"
    result = subprocess.run(
        ["patch", "-p1", "--dry-run", "--batch", "--forward", "--fuzz=0"],
        cwd=tree,
        stdin=first_patch.open("rb"),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "offset" not in result.stdout and "fuzz" not in result.stdout


def _calls(tree, func_attr):
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == func_attr
    ]


def _kwargs(call):
    return {kw.arg: kw.value for kw in call.keywords}


def test_release_1_1_0_adds_user_agent_as_a_nullable_column_without_default(tmp_path):
    tree = release_tree("1.1.0", tmp_path)
    migrations = sorted((tree / "visits" / "migrations").glob("0002_*.py"))
    assert len(migrations) == 1, "1.1.0 must add exactly one migration 0002"
    module = ast.parse(migrations[0].read_text())

    operations = [
        node.func.attr
        for node in ast.walk(module)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "migrations"
    ]
    # Expand only: nothing that rewrites, renames or drops what 1.0.0 uses.
    assert operations == ["AddField"]

    (add_field,) = _calls(module, "AddField")
    args = _kwargs(add_field)
    assert ast.literal_eval(args["model_name"]) == "visit"
    assert ast.literal_eval(args["name"]) == "user_agent"
    field = args["field"]
    assert isinstance(field, ast.Call) and field.func.attr == "CharField"
    field_args = {k: ast.literal_eval(v) for k, v in _kwargs(field).items()}
    # No default: the column is added without rewriting the table or
    # blocking 1.0.0's inserts.
    assert field_args == {"max_length": 256, "null": True}

    assert "('visits', '0001_initial')" in migrations[0].read_text()


def test_release_1_1_0_writes_the_user_agent_and_1_0_0_does_not(tmp_path):
    base = (DEMOAPP / "src" / "visits" / "views.py").read_text()
    patched = (release_tree("1.1.0", tmp_path) / "visits" / "views.py").read_text()
    assert "user_agent" not in base
    assert "user_agent=" in patched


def test_build_rejects_an_unknown_release_before_building_anything(tmp_path):
    # PYTHON points nowhere: a script that got past the check would fail with
    # another message, so this proves the check comes first.
    result = run_build("9.9.9", str(tmp_path / "out"), PYTHON="/nonexistent/python")
    assert result.returncode != 0
    assert "release 9.9.9 is not in examples/demoapp/releases/ORDER" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_build_without_a_release_prints_usage():
    result = run_build(PYTHON="/nonexistent/python")
    assert result.returncode != 0
    assert "usage:" in result.stderr


def test_build_skips_a_release_whose_artifact_exists_and_prints_its_path(tmp_path):
    artifact = tmp_path / "demoapp-1.0.0.tar.gz"
    artifact.write_bytes(b"stand-in")
    (tmp_path / "demoapp-1.0.0.tar.gz.sha256").write_text("0  demoapp-1.0.0.tar.gz\n")
    result = run_build("1.0.0", str(tmp_path), PYTHON="/nonexistent/python")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{artifact}\n"
    assert artifact.read_bytes() == b"stand-in"


def test_build_with_force_does_not_skip_an_existing_artifact(tmp_path):
    artifact = tmp_path / "demoapp-1.0.0.tar.gz"
    artifact.write_bytes(b"stand-in")
    (tmp_path / "demoapp-1.0.0.tar.gz.sha256").write_text("0  demoapp-1.0.0.tar.gz\n")
    # With no usable interpreter the rebuild fails; what matters is that it
    # was attempted and the old artifact was left alone.
    result = run_build("1.0.0", str(tmp_path), PYTHON="/nonexistent/python", FORCE="1")
    assert result.returncode != 0
    assert "skipping" not in result.stderr
    assert artifact.read_bytes() == b"stand-in"


def _pins(requirements):
    """{canonical name: (version, sha256)} from a requirements.txt with hashes."""
    text = requirements.replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)\s+--hash=sha256:([0-9a-f]{64})", line)
        assert match, f"not an exact pin with a hash: {line!r}"
        pins[canonical(match[1])] = (match[2], match[3])
    return pins


def _top_level_pins():
    pins = {}
    for line in (DEMOAPP / "requirements.in").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonical(re.sub(r"\[.*\]", "", name))] = version
    return pins


@pytest.mark.parametrize("release", releases())
def test_artifact_holds_the_release_wheel_its_pinned_dependencies_and_their_hashes(release):
    artifact = ARTIFACTS / f"demoapp-{release}.tar.gz"
    if not artifact.exists():
        pytest.skip(f"{artifact.relative_to(ROOT)} not built (examples/demoapp/build.sh {release})")

    checksum = (ARTIFACTS / f"demoapp-{release}.tar.gz.sha256").read_text().split()
    assert checksum == [hashlib.sha256(artifact.read_bytes()).hexdigest(), artifact.name]

    with tarfile.open(artifact) as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        assert "requirements.txt" in members
        wheels = {
            name.removeprefix("wheels/"): tar.extractfile(m).read()
            for name, m in members.items()
            if name.startswith("wheels/")
        }
        assert set(members) == {"manage.py", "requirements.txt"} | {f"wheels/{w}" for w in wheels}
        # manage.py runs migrations from the release's virtualenv.
        assert members["manage.py"].mode & 0o111
        assert tar.extractfile(members["manage.py"]).readline() == b"#!/usr/bin/env python\n"
        assert wheels and all(w.endswith(".whl") for w in wheels)
        pins = _pins(tar.extractfile(members["requirements.txt"]).read().decode())

    assert pins["demoapp"][0] == release
    for name, version in _top_level_pins().items():
        assert pins[name][0] == version, f"{name} is not pinned to {version}"
    assert pins["psycopg-binary"][0] == pins["psycopg"][0]

    # Every wheel is pinned and every pin is a wheel, byte for byte.
    by_name = {
        canonical(w.split("-")[0]): (w.split("-")[1], hashlib.sha256(data).hexdigest())
        for w, data in wheels.items()
    }
    assert by_name == pins

    (app_wheel,) = [data for w, data in wheels.items() if w.startswith(f"demoapp-{release}-")]
    names = zipfile.ZipFile(io.BytesIO(app_wheel)).namelist()
    assert "visits/migrations/0001_initial.py" in names
    assert "demoapp/settings.py" in names and "demoapp/wsgi.py" in names
    assert "manage.py" not in names
    assert any(n.startswith("visits/migrations/0002_") for n in names) == (release != "1.0.0")
