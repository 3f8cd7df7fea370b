# SPDX-License-Identifier: GPL-3.0-or-later
"""The ansible-core versions the tests run on are the ends of what the
collection declares it supports (meta/runtime.yml's requires_ansible):
``make test-oldest`` the oldest (requirements-oldest.txt), the rest of
``make test`` the newest (requirements-dev.txt's pin).
"""

import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]


def pinned_core(requirements):
    """The (major, minor, patch) of ansible-core pinned in ``requirements``, a file name under the root."""
    match = re.search(r"^ansible-core==(\d+)\.(\d+)\.(\d+)$", (ROOT / requirements).read_text(), re.M)
    assert match, f"{requirements} pins no ansible-core"
    return tuple(int(part) for part in match.groups())


def test_the_oldest_run_pins_the_minor_release_requires_ansible_names():
    requires = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["requires_ansible"]
    match = re.fullmatch(r">=(\d+)\.(\d+)\.0", requires)
    assert match, f"requires_ansible is {requires!r}, not a lower bound '>=X.Y.0'"
    assert pinned_core("requirements-oldest.txt")[:2] == tuple(int(part) for part in match.groups())


def test_the_main_run_is_on_a_newer_ansible_core_than_the_oldest_run():
    assert pinned_core("requirements-dev.txt") > pinned_core("requirements-oldest.txt")


def test_each_ansible_core_has_its_sanity_ignore_file():
    for requirements in ("requirements-oldest.txt", "requirements-dev.txt"):
        major, minor, _patch = pinned_core(requirements)
        assert (ROOT / "tests" / "sanity" / f"ignore-{major}.{minor}.txt").is_file()
