# SPDX-License-Identifier: GPL-3.0-or-later
"""version_added is where antsibull-changelog and the docs look for when a
plugin or an option appeared.

A plugin says version_added, no later than the collection's version in
galaxy.yml. An option either inherits it (no version_added: it came with the
plugin) or names a version that is not older than its plugin's and not later
than galaxy.yml's; the same holds for the options of a doc fragment, whose
plugins inherit them.

And the story agrees with changelogs/changelog.yaml: a version it records as
released lists exactly the plugins, modules and roles that say they were
added in it; anything added since says galaxy.yml's version, which is newer
than the last release as soon as a fragment is not part of a release yet.
"""

import ast
import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
GALAXY_VERSION = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
CHANGELOG = yaml.safe_load((ROOT / "changelogs" / "changelog.yaml").read_text())
RELEASES = {str(v): r for v, r in (CHANGELOG.get("releases") or {}).items()}
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


def added_in_collection():
    """{(kind, name): version_added} of every plugin, module and role, where
    kind is what changelog.yaml files it under: "module", a plugin type, or
    "role"; a plugin's name is its DOCUMENTATION name (a filter's is not its
    file's)."""
    found = {}
    for path in PLUGINS:
        if path.parent.name == "doc_fragments":
            continue
        doc = documentation(path)
        kind = "module" if path.parent.name == "modules" else path.parent.name
        name = path.stem if kind == "module" else doc.get("name", path.stem)
        found[(kind, name)] = str(doc.get("version_added"))
    for spec in sorted((ROOT / "roles").glob("*/meta/argument_specs.yml")):
        main = (yaml.safe_load(spec.read_text())["argument_specs"]).get("main") or {}
        found[("role", spec.parent.parent.name)] = str(main.get("version_added"))
    return found


def recorded_in_release(release):
    """{(kind, name)} that changelog.yaml lists as new in one release."""
    recorded = {("module", m["name"]) for m in release.get("modules") or []}
    for kind, entries in (release.get("plugins") or {}).items():
        recorded |= {(kind, p["name"]) for p in entries}
    for kind, entries in (release.get("objects") or {}).items():
        recorded |= {(kind, o["name"]) for o in entries}
    return recorded


def test_changelog_records_a_release():
    assert RELEASES, "changelogs/changelog.yaml records no release"


@pytest.mark.parametrize("released", sorted(RELEASES, key=version))
def test_a_release_lists_exactly_what_says_it_was_added_in_it(released):
    claimed = {key for key, added in added_in_collection().items() if version(added) == version(released)}
    recorded = recorded_in_release(RELEASES[released])
    assert claimed == recorded, ("claim version_added %s but changelog.yaml does not list them: %s; listed but "
                                 "claim another version: %s" % (released, sorted(claimed - recorded),
                                                                sorted(recorded - claimed)))


def test_what_came_after_the_last_release_says_galaxy_version():
    released = {version(v) for v in RELEASES}
    later = {key: added for key, added in added_in_collection().items() if version(added) not in released}
    assert all(version(added) == version(GALAXY_VERSION) for added in later.values()), (GALAXY_VERSION, later)


def test_galaxy_version_is_newer_than_the_last_release_while_fragments_wait():
    last = max(RELEASES, key=version)
    assert version(GALAXY_VERSION) >= version(last), (GALAXY_VERSION, last)
    released_fragments = {f for r in RELEASES.values() for f in r.get("fragments") or []}
    waiting = sorted(p.name for p in (ROOT / "changelogs" / "fragments").glob("*.y*ml")
                     if p.name not in released_fragments)
    if waiting:
        assert version(GALAXY_VERSION) > version(last), \
            "fragments %s are not in %s yet galaxy.yml says %s" % (waiting, last, GALAXY_VERSION)
    else:
        assert version(GALAXY_VERSION) == version(last), (GALAXY_VERSION, last)


@pytest.mark.parametrize("path", PLUGINS, ids=[str(p.relative_to(ROOT / "plugins")) for p in PLUGINS])
def test_return_values_added_later_say_a_version_not_older_than_the_plugin(path):
    tree = ast.parse(path.read_text())
    returns = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "RETURN" for t in node.targets):
            returns = yaml.safe_load(node.value.value)
    plugin_added = (documentation(path) or {}).get("version_added")

    def walk(values, where=()):
        for name, spec in (values or {}).items():
            yield ".".join(where + (name,)), spec
            yield from walk(spec.get("contains"), where + (name,))
    for name, spec in walk(returns):
        added = spec.get("version_added")
        if added is None:
            continue
        assert version(added) <= version(GALAXY_VERSION), (path.name, name, added)
        assert plugin_added is None or version(added) > version(plugin_added), (path.name, name, added)
