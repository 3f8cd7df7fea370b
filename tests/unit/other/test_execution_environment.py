# SPDX-License-Identifier: GPL-3.0-or-later
"""The execution environment definition is valid ansible-builder 3 input and
pins exactly what CI runs with.

- execution-environment.yml validates against ansible-builder's own schema
  and `ansible-builder create` turns it into a build context;
- requirements.yml pins every collection our content uses, and only those, to
  the version bundled in the `ansible` package installed in .venv;
- requirements-ee.txt pins every package with ==, to the version in .venv;
- the ansible-core and ansible-runner pins are the ones requirements-dev.txt
  and .venv have.
"""

import importlib.metadata
import json
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
EE_FILE = ROOT / "execution-environment.yml"
# The collections bundled with the `ansible` package: next to ansible-core's
# own package in site-packages.
BUNDLED = pathlib.Path(importlib.import_module("ansible").__file__).parents[1] / "ansible_collections"
# Where our content names other collections' plugins by FQCN.
CONTENT_DIRS = ("roles", "playbooks", "molecule", "inventories", "plugins")
OWN = "zerodowntime.deploy"


@pytest.fixture(scope="module")
def ee():
    return yaml.safe_load(EE_FILE.read_text())


def bundled_version(fqcn):
    namespace, name = fqcn.split(".")
    manifest = BUNDLED / namespace / name / "MANIFEST.json"
    if not manifest.exists():
        return None
    return json.loads(manifest.read_text())["collection_info"]["version"]


def pins(path):
    """{name: version} of a pip requirements file; fails on an unpinned line."""
    result = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;]+)", line)
        assert match, "%s: %r is not pinned with ==" % (path.name, line)
        result[match.group(1).lower()] = match.group(2)
    return result


def collections_used():
    """FQCNs of other collections named in our content (modules, connections,
    lookups, filters...), found by their `namespace.name.plugin` spelling."""
    installed = {"%s.%s" % (p.parent.name, p.name) for p in BUNDLED.glob("*/*") if p.is_dir()}
    found = set()
    pattern = re.compile(r"\b([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*\b")
    for top in CONTENT_DIRS:
        for path in (ROOT / top).rglob("*"):
            if path.suffix not in (".yml", ".yaml", ".py", ".j2", ".cfg") or not path.is_file():
                continue
            for fqcn in pattern.findall(path.read_text(errors="replace")):
                if fqcn in installed and fqcn != "ansible.builtin":
                    found.add(fqcn)
    found.discard(OWN)
    return found


def test_the_definition_validates_against_ansible_builders_v3_schema(ee):
    ee_schema = pytest.importorskip("ansible_builder.ee_schema")
    assert ee["version"] == 3
    ee_schema.validate_schema(ee)


def test_ansible_builder_creates_a_build_context_from_it(tmp_path, ee):
    builder = pathlib.Path(sys.executable).parent / "ansible-builder"
    if not builder.exists():
        pytest.skip("ansible-builder is not installed")
    proc = subprocess.run([str(builder), "create", "--file", str(EE_FILE), "--context", str(tmp_path / "ctx"),
                           "--output-filename", "Containerfile"],
                          cwd=str(ROOT), capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    build = tmp_path / "ctx" / "_build"
    assert yaml.safe_load((build / "requirements.yml").read_text()) == yaml.safe_load(
        (ROOT / "requirements.yml").read_text())
    assert pins(build / "requirements.txt") == pins(ROOT / "requirements-ee.txt")
    containerfile = (tmp_path / "ctx" / "Containerfile").read_text()
    for key in ("ansible_core", "ansible_runner"):
        assert ee["dependencies"][key]["package_pip"] in containerfile, key


def test_files_the_definition_names_exist(ee):
    deps = ee["dependencies"]
    for key in ("galaxy", "python", "system"):
        assert isinstance(deps[key], str), "%s: keep it a file so the pins live in one place" % key
        assert (ROOT / deps[key]).is_file(), deps[key]


def test_ansible_core_and_runner_pins_are_what_ci_runs(ee):
    dev = pins(ROOT / "requirements-dev.txt")
    for key, package in (("ansible_core", "ansible-core"), ("ansible_runner", "ansible-runner")):
        spec = ee["dependencies"][key]["package_pip"]
        name, version = spec.partition("==")[::2]
        assert name == package and version, "%s must be pinned with ==: %r" % (key, spec)
        assert version == dev[package], "%s: EE %s, requirements-dev.txt %s" % (package, version, dev[package])
        assert version == importlib.metadata.version(package), package


def test_collection_pins_are_the_versions_bundled_in_the_installed_ansible():
    required = yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]
    assert required, "requirements.yml lists no collection"
    for entry in required:
        assert isinstance(entry, dict) and entry.get("version"), "unpinned: %r" % (entry,)
        bundled = bundled_version(entry["name"])
        assert bundled is not None, "%s is not bundled in ansible %s" % (
            entry["name"], importlib.metadata.version("ansible"))
        assert str(entry["version"]) == bundled, "%s: pinned %s, .venv has %s" % (
            entry["name"], entry["version"], bundled)


def test_requirements_list_every_collection_the_content_uses_and_no_other():
    required = {entry["name"] for entry in yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]}
    used = collections_used()
    # Sanity of the scan itself: these are certainly used.
    assert {"community.postgresql", "community.docker"} <= used
    assert used - required == set(), "used but not in requirements.yml"
    assert required - used == set(), "in requirements.yml but used nowhere"


def test_python_requirements_are_pinned_to_what_the_venv_has():
    for name, version in pins(ROOT / "requirements-ee.txt").items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pytest.fail("%s is pinned in requirements-ee.txt but not installed in .venv" % name)
        assert installed == version, "%s: pinned %s, .venv has %s" % (name, version, installed)


def test_excluded_collections_are_ones_we_require(ee):
    required = {entry["name"] for entry in yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]}
    excluded = set(ee["dependencies"].get("exclude", {}).get("all_from_collections", []))
    assert excluded <= required


@pytest.mark.skipif(shutil.which("bindep") is None and not (pathlib.Path(sys.executable).parent / "bindep").exists(),
                    reason="bindep is not installed")
def test_bindep_file_parses():
    bindep = pathlib.Path(sys.executable).parent / "bindep"
    proc = subprocess.run([str(bindep if bindep.exists() else "bindep"), "--file", str(ROOT / "bindep.txt"),
                           "--brief", "-l", "newline"],
                          capture_output=True, text=True, check=False, timeout=60)
    # 0: all present, 1: some missing on this machine; anything else is a parse error.
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
