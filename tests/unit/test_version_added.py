# SPDX-License-Identifier: GPL-3.0-or-later
"""version_added is where antsibull-changelog and the docs look for when a
plugin or an option appeared.

A plugin says version_added, no later than the collection's version in
galaxy.yml. An option either inherits it (no version_added: it came with the
plugin) or names a version that is not older than its plugin's and not later
than galaxy.yml's; the same holds for the options of a doc fragment, whose
plugins inherit them.
"""

import ast
import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
GALAXY_VERSION = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
PLUGINS = sorted(p for p in (ROOT / "plugins").glob("*/*.py")
                 if p.parent.name not in ("module_utils",) and p.name != "__init__.py")


def version(text):
    return tuple(int(part) for part in re.findall(r"\d+", str(text))[:3])


def documentation(path):
    """The DOCUMENTATION YAML of a plugin (or of a doc fragment's class)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "DOCUMENTATION" for t in node.targets):
            return yaml.safe_load(node.value.value)
    return None


def walk_options(options, path=()):
    for name, spec in (options or {}).items():
        yield ".".join(path + (name,)), spec
        yield from walk_options(spec.get("suboptions") or spec.get("options"), path + (name,))


@pytest.mark.parametrize("path", PLUGINS, ids=[str(p.relative_to(ROOT / "plugins")) for p in PLUGINS])
def test_plugin_and_options_carry_a_consistent_version_added(path):
    doc = documentation(path)
    assert doc is not None, "%s has no DOCUMENTATION" % path.name
    if path.parent.name == "doc_fragments":
        plugin_added = None
    else:
        plugin_added = doc.get("version_added")
        assert plugin_added, "%s has no version_added" % path.name
        assert version(plugin_added) <= version(GALAXY_VERSION), (path.name, plugin_added, GALAXY_VERSION)
    for name, spec in walk_options(doc.get("options")):
        added = spec.get("version_added")
        if added is None:
            continue  # inherited from the plugin
        assert version(added) <= version(GALAXY_VERSION), (path.name, name, added)
        if plugin_added is not None:
            assert version(added) >= version(plugin_added), (path.name, name, added, plugin_added)
            # Same as the plugin's: say nothing, it is inherited.
            assert version(added) != version(plugin_added), \
                "%s: option %s repeats the plugin's version_added; drop it" % (path.name, name)


def test_every_plugin_type_is_covered():
    types = {p.parent.name for p in PLUGINS}
    assert {"modules", "callback", "doc_fragments"} <= types
