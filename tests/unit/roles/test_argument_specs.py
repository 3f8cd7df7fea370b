# SPDX-License-Identifier: GPL-3.0-or-later
"""Every role documents its interface in meta/argument_specs.yml, and the
documentation is the interface.

- every role has meta/argument_specs.yml, and each entry point has a tasks
  file, a short description, and options that are exactly the keys of
  defaults/main.yml -- unless the entry point is known to take a subset
  (SUBSET_ENTRY_POINTS says which options, and the test checks the subset is
  still exact);
- a documented default is the value defaults/main.yml sets (Ansible takes a
  role variable's default from defaults/main.yml, never from the spec, so a
  different documented default is a lie);
- every option, at every depth, has a description and a type;
- every public variable (defaults, options, set_fact results) carries the
  role's name as prefix; internal ones (vars/main.yml) `_<role>_`, and
  registered results `__<role>_`;
- a role with tasks/main.yml has a `main` entry point (otherwise including
  the role without tasks_from validates nothing), and the `main` entry point
  carries version_added, which antsibull-changelog reads to list new roles.

Findings in roles this change could not edit are listed in KNOWN_FINDINGS
as strict xfails: fixing one turns its xfail into a failure that says to
remove the entry.
"""

import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
ROLES = sorted(p.parent.parent for p in (ROOT / "roles").glob("*/meta/main.yml"))
ROLE_NAMES = [r.name for r in ROLES]

# Entry points that take only some of the role's variables, and which.
SUBSET_ENTRY_POINTS = {
    # Reads the current/previous symlinks: needs the base directory only.
    ("release", "facts"): {"release_app_name", "release_base_dir"},
    # Switches the symlinks of an installed release; the preflight reads the
    # release name, the artifact (only when given) and the niceness it checks.
    ("release", "activate"): {"release_app_name", "release_version", "release_artifact", "release_base_dir",
                              "release_install_nice"},
    # Lists and removes release directories.
    ("release", "cleanup"): {"release_app_name", "release_base_dir", "release_keep"},
    # Migrations (lint and apply) and, at stage, collectstatic: each reads
    # the release, the settings and the environment, and its own switches.
    ("django_migrations", "main"): {
        "django_migrations_release_path", "django_migrations_settings", "django_migrations_environment",
        "django_migrations_database", "django_migrations_phase", "django_migrations_post_deploy_marker",
        "django_migrations_serving", "django_migrations_lint", "django_migrations_lint_scope",
        "django_migrations_lock_key", "django_migrations_lock_timeout"},
    ("django_migrations", "static"): {
        "django_migrations_release_path", "django_migrations_settings", "django_migrations_environment",
        "django_migrations_collectstatic"},
}
# The deploy role's entry points that run on the controller check every
# option but the three that only the app hosts can template (the argument
# spec's &deploy_controller_options says why).
_DEPLOY_APP_HOST_ONLY = {"deploy_artifact_dir", "deploy_build_command", "deploy_app_environment"}
SUBSET_ENTRY_POINTS.update({
    ("deploy", entry_point): set(yaml.safe_load((ROOT / "roles" / "deploy" / "defaults" / "main.yml").read_text()))
    - _DEPLOY_APP_HOST_ONLY
    for entry_point in ("preflight", "rollback_preflight", "check_migrated", "check_hooks", "bluegreen_plan",
                        "bluegreen_decide", "bluegreen_finish")})

# set_fact results shared across roles on purpose: the deploy_report
# callback reads zerodowntime_report (see its DOCUMENTATION).
SHARED_FACTS = {"zerodowntime_report"}

# (role, check) -> why it is expected to fail today. Remove an entry once
# the role is fixed (the strict xfail then fails to remind you).
KNOWN_FINDINGS = {
}


def load(path):
    return yaml.safe_load(path.read_text()) if path.exists() else None


def specs(role):
    data = load(role / "meta" / "argument_specs.yml") or {}
    return data.get("argument_specs") or {}


def defaults(role):
    return load(role / "defaults" / "main.yml") or {}


def entry_points():
    for role in ROLES:
        for name in specs(role):
            yield pytest.param(role, name, id="%s:%s" % (role.name, name))


def per_role(what):
    """Parametrize over roles, with the known findings as strict xfails."""
    params = []
    for role in ROLES:
        reason = KNOWN_FINDINGS.get((role.name, what))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(role, id=role.name, marks=marks))
    return pytest.mark.parametrize("role", params)


def walk_options(options, path=()):
    """(dotted name, spec) of every option, suboptions included."""
    for name, spec in (options or {}).items():
        yield ".".join(path + (name,)), spec
        if isinstance(spec, dict) and spec.get("options"):
            yield from walk_options(spec["options"], path + (name,))


def tasks_text(role):
    return {p: p.read_text() for p in sorted((role / "tasks").rglob("*.yml"))}


def test_every_role_is_found():
    assert ROLE_NAMES, "no role under roles/"
    assert {"release", "rotation", "health_check", "haproxy"} <= set(ROLE_NAMES)


@pytest.mark.parametrize("role", ROLES, ids=ROLE_NAMES)
def test_role_has_argument_specs(role):
    assert (role / "meta" / "argument_specs.yml").is_file(), "%s has no meta/argument_specs.yml" % role.name
    assert specs(role), "%s: argument_specs is empty" % role.name


@pytest.mark.parametrize("role, entry_point", entry_points())
def test_entry_point_has_a_tasks_file_and_a_short_description(role, entry_point):
    spec = specs(role)[entry_point]
    assert (role / "tasks" / ("%s.yml" % entry_point)).is_file(), \
        "%s: entry point %s has no tasks/%s.yml" % (role.name, entry_point, entry_point)
    assert spec.get("short_description"), "%s:%s has no short_description" % (role.name, entry_point)


@pytest.mark.parametrize("role, entry_point", entry_points())
def test_entry_point_options_are_the_role_defaults(role, entry_point):
    options = set((specs(role)[entry_point] or {}).get("options") or {})
    public = set(defaults(role))
    expected = SUBSET_ENTRY_POINTS.get((role.name, entry_point))
    if expected is not None:
        assert expected <= public, "%s:%s: the known subset names variables that are not defaults: %s" % (
            role.name, entry_point, sorted(expected - public))
        assert options == expected, "%s:%s covers a subset; options %s, expected %s" % (
            role.name, entry_point, sorted(options), sorted(expected))
        return
    assert options - public == set(), "%s:%s documents options without a default in defaults/main.yml" % (
        role.name, entry_point)
    assert public - options == set(), "%s:%s does not document these defaults" % (role.name, entry_point)


def test_subset_table_names_existing_entry_points():
    for role_name, entry_point in SUBSET_ENTRY_POINTS:
        assert entry_point in specs(ROOT / "roles" / role_name), (role_name, entry_point)


@per_role("defaults-match")
def test_documented_defaults_are_the_values_of_defaults_main(role):
    public = defaults(role)
    wrong = []
    for entry_point, spec in specs(role).items():
        for name, option in ((spec or {}).get("options") or {}).items():
            if name not in public or not isinstance(option, dict):
                continue
            if option.get("required"):
                # defaults/main.yml may hold an empty placeholder for it.
                assert "default" not in option, "%s:%s: %s is required and has a default" % (
                    role.name, entry_point, name)
                continue
            documented = option.get("default")
            actual = public[name]
            if documented != actual:
                wrong.append("%s:%s %s: documented %r, defaults/main.yml %r"
                             % (role.name, entry_point, name, documented, actual))
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("role, entry_point", entry_points())
def test_every_option_has_a_description_and_a_type(role, entry_point):
    missing = []
    for name, option in walk_options((specs(role)[entry_point] or {}).get("options")):
        if not isinstance(option, dict):
            missing.append("%s: not a mapping" % name)
            continue
        if not option.get("description"):
            missing.append("%s: no description" % name)
        if not option.get("type"):
            missing.append("%s: no type" % name)
        if option.get("type") == "list" and not option.get("elements"):
            missing.append("%s: list without elements" % name)
    assert not missing, "%s:%s\n%s" % (role.name, entry_point, "\n".join(missing))


@pytest.mark.parametrize("role", ROLES, ids=ROLE_NAMES)
def test_public_variables_carry_the_role_prefix(role):
    prefix = role.name + "_"
    names = set(defaults(role))
    for spec in specs(role).values():
        names |= set((spec or {}).get("options") or {})
    wrong = sorted(n for n in names if not n.startswith(prefix))
    assert not wrong, "%s: public variables without the prefix %r: %s" % (role.name, prefix, wrong)


@pytest.mark.parametrize("role", ROLES, ids=ROLE_NAMES)
def test_internal_variables_and_registered_results_are_prefixed(role):
    wrong = []
    for name in load(role / "vars" / "main.yml") or {}:
        if not name.startswith("_%s_" % role.name):
            wrong.append("vars/main.yml: %s (want _%s_...)" % (name, role.name))
    for path, text in tasks_text(role).items():
        rel = path.relative_to(role)
        for name in re.findall(r"^\s*register:\s*(\S+)\s*$", text, re.M):
            if not name.startswith("__%s_" % role.name):
                wrong.append("%s: register %s (want __%s_...)" % (rel, name, role.name))
        for task in yaml.safe_load(text) or []:
            for block_task in _tasks(task):
                facts = block_task.get("ansible.builtin.set_fact") or block_task.get("set_fact")
                if not isinstance(facts, dict):
                    continue
                for name in facts:
                    if name in ("cacheable",) or name in SHARED_FACTS:
                        continue
                    if not name.lstrip("_").startswith(role.name + "_"):
                        wrong.append("%s: set_fact %s (want %s_...)" % (rel, name, role.name))
    assert not wrong, "%s:\n%s" % (role.name, "\n".join(wrong))


def _tasks(task):
    """A task and, for a block, every task inside it."""
    if not isinstance(task, dict):
        return
    yield task
    for key in ("block", "rescue", "always"):
        for inner in task.get(key) or []:
            yield from _tasks(inner)


@per_role("main-entry-point")
def test_a_role_with_tasks_main_has_a_main_entry_point(role):
    if (role / "tasks" / "main.yml").exists():
        assert "main" in specs(role), "%s has tasks/main.yml but no `main` entry point" % role.name


@per_role("version_added")
def test_main_entry_point_carries_version_added(role):
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    main = specs(role).get("main")
    assert main is not None, "%s has no `main` entry point" % role.name
    added = main.get("version_added")
    assert added, "%s: main entry point has no version_added" % role.name
    assert _version(str(added)) <= _version(str(galaxy["version"])), (role.name, added)


def _version(text):
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])
