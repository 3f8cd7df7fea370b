# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection as users install it works: `ansible-galaxy collection
build`, then `ansible-galaxy collection install --offline` into an empty
collections path, then ansible-doc and a module run from that copy only.

Every command runs outside the work tree, with no ANSIBLE_* setting but
ANSIBLE_COLLECTIONS_PATH=<install dir>, so neither build/collections (the
work tree's link) nor ~/.ansible/collections can stand in for the installed
copy. The test asserts where each plugin was loaded from.
"""

import json
import re
import subprocess
import tarfile

import pytest
import yaml

from conftest import ROOT, clean_env, install_collection, tool

ROLES = sorted(p.parent.parent.name for p in (ROOT / "roles").glob("*/meta/argument_specs.yml"))


@pytest.fixture(scope="module")
def installed(collection_tarball, tmp_path_factory):
    """(collections path, collection directory) of the installed copy."""
    dest = tmp_path_factory.mktemp("galaxy-install") / "collections"
    dest.mkdir()
    install_collection(collection_tarball, dest)
    return dest, dest / "ansible_collections" / "zerodowntime" / "deploy"


def run(installed, *args, timeout=120):
    collections_path, _collection = installed
    return subprocess.run(list(args), cwd=str(collections_path.parent),
                          env=clean_env(ANSIBLE_COLLECTIONS_PATH=str(collections_path)),
                          capture_output=True, text=True, check=False, timeout=timeout)


def doc_json(installed, *args):
    proc = run(installed, tool("ansible-doc"), "--json", *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_tarball_leaves_out_the_virtualenv_build_output_and_caches(collection_tarball):
    with tarfile.open(collection_tarball) as tar:
        names = tar.getnames()
    tops = {n.split("/", 1)[0] for n in names}
    for unwanted in (".venv", "build", ".git", ".pytest_cache", ".ci", "tests/output"):
        assert not any(n == unwanted or n.startswith(unwanted + "/") for n in names), unwanted
    assert not [n for n in names if "__pycache__" in n.split("/") or n.endswith((".pyc", ".tar.gz"))]
    assert {"MANIFEST.json", "FILES.json", "plugins", "roles", "meta", "playbooks"} <= tops


def test_tarball_carries_every_tracked_plugin_and_role_spec(collection_tarball):
    with tarfile.open(collection_tarball) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert manifest["collection_info"]["version"] == galaxy["version"]
    expected = {str(p.relative_to(ROOT)) for p in (ROOT / "plugins").rglob("*.py") if "__pycache__" not in p.parts}
    expected |= {"roles/%s/meta/argument_specs.yml" % r for r in ROLES}
    assert expected <= names, sorted(expected - names)


def test_installed_copy_is_the_one_ansible_finds(installed):
    proc = run(installed, tool("ansible-galaxy"), "collection", "list", "zerodowntime.deploy", "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = json.loads(proc.stdout)
    assert list(found) == [str(installed[0] / "ansible_collections")], found


@pytest.mark.parametrize("plugin_type, name", [("module", "haproxy_server"), ("module", "haproxy_info"),
                                               ("callback", "deploy_report")])
def test_ansible_doc_renders_the_plugins_of_the_installed_copy(installed, plugin_type, name):
    fqcn = "zerodowntime.deploy.%s" % name
    doc = doc_json(installed, "-t", plugin_type, fqcn)[fqcn]["doc"]
    assert doc["filename"].startswith(str(installed[1])), doc["filename"]
    assert doc["version_added"] == "0.1.0"
    assert doc["short_description"]
    if plugin_type == "module":
        # The shared connection options come from the doc fragment.
        assert {"socket", "connect_timeout", "read_timeout"} <= set(doc["options"])
    # And the plain-text rendering people read works too.
    proc = run(installed, tool("ansible-doc"), "-t", plugin_type, fqcn)
    assert proc.returncode == 0 and fqcn in proc.stdout, proc.stdout + proc.stderr


def test_ansible_doc_lists_both_modules(installed):
    proc = run(installed, tool("ansible-doc"), "-l", "zerodowntime.deploy", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {"zerodowntime.deploy.haproxy_server", "zerodowntime.deploy.haproxy_info"} <= set(json.loads(proc.stdout))


@pytest.mark.parametrize("role", ROLES)
def test_role_argument_specs_load_from_the_installed_copy(installed, role):
    fqcn = "zerodowntime.deploy.%s" % role
    doc = doc_json(installed, "-t", "role", fqcn)[fqcn]
    assert doc["path"].startswith(str(installed[1])), doc["path"]
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    assert set(doc["entry_points"]) == set(specs)
    for entry_point, spec in specs.items():
        assert set(doc["entry_points"][entry_point].get("options") or {}) == set(spec.get("options") or {})


def test_release_role_renders_its_entry_points(installed):
    proc = run(installed, tool("ansible-doc"), "-t", "role", "zerodowntime.deploy.release")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for entry_point in ("main", "install", "facts"):
        assert re.search(r"ENTRY POINT: \W*%s\b" % entry_point, proc.stdout), proc.stdout


def test_haproxy_info_from_the_installed_copy_reads_a_real_haproxy(installed, lab):
    lab.ask("set server app/web2 state drain")
    proc = run(installed, tool("ansible"), "localhost", "-i", "localhost,", "-c", "local",
               "-e", "ansible_python_interpreter=%s" % tool("python"),
               "-m", "zerodowntime.deploy.haproxy_info", "-a", json.dumps({"socket": lab.admin, "backend": "app"}))
    # The default callback prints "localhost | SUCCESS => {json}".
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.split("=>", 1)[1])
    servers = result["backends"]["app"]["servers"]
    assert set(servers) == {"web1", "web2", "nocheck"}
    assert servers["web1"]["admin_state"] == "ready"
    assert servers["web2"]["admin_state"] == "drain"
    assert result["changed"] is False
