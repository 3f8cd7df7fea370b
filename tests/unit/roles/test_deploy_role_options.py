# SPDX-License-Identifier: GPL-3.0-or-later
"""Every deploy_* option is declared once (issue 16): its default in
roles/deploy/defaults/main.yml, its type, choices and description in
roles/deploy/meta/argument_specs.yml.

- every deploy_<name> that the playbooks or the deploy role read is an
  option of the deploy role (or of the deploy_lock role, for
  deploy_lock_*), unless the collection sets it itself;
- the two files agree on each option and its default;
- the copies of a default that remain where the role's defaults are not
  seen (play keywords such as hosts: and serial:, a value read through
  hostvars) and the canary filter's own defaults equal the role's default.
"""

import ast
import pathlib
import re

import yaml

from ansible_collections.zerodowntime.deploy.plugins.filter import deploy_canary_problems

ROOT = pathlib.Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "deploy"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
SPECS = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]
OPTIONS = SPECS["host"]["options"]
LOCK_OPTIONS = yaml.safe_load(
    (ROOT / "roles" / "deploy_lock" / "meta" / "argument_specs.yml").read_text())["argument_specs"]["acquire"]["options"]

LOCK_DEFAULTS = yaml.safe_load((ROOT / "roles" / "deploy_lock" / "defaults" / "main.yml").read_text())

# Read, but on purpose without a default: the release a deploy or a switch
# goes to, which each of them checks is named.
NO_DEFAULT = {"deploy_release"}
# Names of the right shape that are no variable: the deploy_lock role, and
# the key of the lock in status.yml's JSON.
NOT_VARIABLES = {"deploy_lock"}

# deploy_<name> as a variable: not the tail of a longer name (_deploy_x,
# __deploy_x), of a plugin's FQCN (zerodowntime.deploy.deploy_hooks) or of a
# path (vars/deploy_options.yml).
NAME = re.compile(r"(?<![\w./-])deploy_[a-z0-9_]*[a-z0-9](?![\w.]*\.ya?ml)")


def yaml_files():
    """The YAML of the playbooks and of the deploy role, but the two files that declare the options."""
    declared = {ROLE / "defaults" / "main.yml", ROLE / "meta" / "argument_specs.yml"}
    paths = sorted((ROOT / "playbooks").rglob("*.yml")) + sorted(ROLE.rglob("*.yml"))
    return [p for p in paths if p not in declared]


def walk(node):
    """(keys, strings) of a parsed YAML document, at every depth."""
    keys, strings = set(), []
    if isinstance(node, dict):
        for key, value in node.items():
            keys.add(str(key))
            strings.append(str(key))
            inner_keys, inner_strings = walk(value)
            keys |= inner_keys
            strings += inner_strings
    elif isinstance(node, list):
        for item in node:
            inner_keys, inner_strings = walk(item)
            keys |= inner_keys
            strings += inner_strings
    elif isinstance(node, str):
        strings.append(node)
    return keys, strings


def test_the_scan_finds_the_playbooks_and_the_role():
    paths = {p.relative_to(ROOT).as_posix() for p in yaml_files()}
    assert {"playbooks/deploy.yml", "playbooks/vars/deploy.yml", "roles/deploy/tasks/host.yml"} <= paths


def test_every_deploy_option_read_by_the_playbooks_or_the_role_is_declared():
    """Comments are not read (the YAML is parsed); names the collection sets
    itself (a key anywhere: vars, set_fact, vars files) are not options."""
    read, set_here = set(), set()
    for path in yaml_files():
        keys, strings = walk(yaml.safe_load(path.read_text()))
        set_here |= {k for k in keys if NAME.fullmatch(k)}
        for text in strings:
            read |= set(NAME.findall(text))
    assert "deploy_canary_soak_s" in read and "deploy_app_name" in read, "the scan finds nothing"
    undeclared = read - set(OPTIONS) - set(LOCK_OPTIONS) - NO_DEFAULT - NOT_VARIABLES - set_here
    assert not undeclared, (
        "read as options but declared in neither roles/deploy/meta/argument_specs.yml nor the deploy_lock "
        "role's: %s" % sorted(undeclared))


def test_defaults_and_argument_specs_agree_on_every_option_and_its_default():
    assert set(DEFAULTS) == set(OPTIONS), (sorted(set(DEFAULTS) - set(OPTIONS)), sorted(set(OPTIONS) - set(DEFAULTS)))
    wrong = ["%s: argument spec %r, defaults/main.yml %r" % (name, spec.get("default", "(none)"), DEFAULTS[name])
             for name, spec in OPTIONS.items() if "default" not in spec or spec["default"] != DEFAULTS[name]]
    assert not wrong, "\n".join(wrong)
    assert not NO_DEFAULT & set(DEFAULTS), "deploy_release has no default: a deploy names it"


def test_every_entry_point_takes_the_options_of_defaults_main():
    for name, spec in SPECS.items():
        options = set(spec.get("options") or {})
        assert options <= set(DEFAULTS), (name, sorted(options - set(DEFAULTS)))
        assert len(options) >= len(DEFAULTS) - 3, (name, sorted(set(DEFAULTS) - options))


def literal(text):
    """A Jinja literal as Python (none, true, false included), or raise ValueError."""
    text = text.strip()
    return ast.literal_eval({"none": "None", "true": "True", "false": "False"}.get(text, text))


def test_the_copies_of_a_default_left_outside_the_role_equal_the_role_default():
    """deploy_x | default(<literal>...) in the playbooks and the role; the
    deploy_lock role's options (status.yml reads deploy_lock_dir) against
    that role's defaults."""
    copy = re.compile(r"(?<![\w.])(deploy_[a-z0-9_]+) \| default\(([^(),]+)[,)]")
    defaults = {**LOCK_DEFAULTS, **DEFAULTS}
    wrong, found = [], 0
    for path in yaml_files():
        for name, argument in copy.findall(path.read_text()):
            if name not in defaults:
                continue
            found += 1
            if literal(argument) != defaults[name]:
                wrong.append("%s: %s | default(%s), the role's default is %r"
                             % (path.relative_to(ROOT), name, argument, defaults[name]))
    assert found, "no copy found: the scan is broken, or the test can go"
    assert not wrong, "\n".join(wrong)


def test_the_canary_filter_defaults_are_the_role_defaults():
    for name, value in deploy_canary_problems.DEFAULTS:
        assert DEFAULTS[name] == value, (name, value, DEFAULTS[name])
