# -*- coding: utf-8 -*-
# Copyright: zerodowntime.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether a release artifact's wheels install on a host's Python: the
``release_python_problems`` filter."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from email.parser import HeaderParser

from ansible.errors import AnsibleFilterError

try:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import Version
except ImportError:  # packaging comes with ansible-core; say so if it is missing
    SpecifierSet = None

DOCUMENTATION = r'''
name: release_python_problems
short_description: Check, on the controller, that a release artifact's wheels install on a host's Python
version_added: 0.2.0
description:
  - Opens the artifact (a C(.tar.gz) holding C(wheels/*.whl)) on the controller and checks every wheel against
    the host's Python version, before anything is copied to the host.
  - A wheel's C(Requires-Python) (from its C(METADATA)) must admit the version; the message is the one pip would
    print on the host (C(Package 'soupsieve' requires a different Python)), with the version and the requirement.
  - A wheel's Python tag must fit too. C(py3) and C(py2.py3) fit any Python 3. C(cpXY) fits CPython X.Y only,
    unless its ABI tag is C(abi3), which fits X.Y and later.
  - The result is cached per artifact path, size and modification time within one controller process.
positional: python_version
options:
  _input:
    description: Path of the artifact on the controller.
    type: path
    required: true
  python_version:
    description: The host's Python version, such as V(3.11.2) (C(platform.python_version()) on the host).
    type: str
    required: true
'''

EXAMPLES = r'''
- name: Fail before the copy when the artifact does not fit the host's Python
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join(' ') }}"
  vars:
    problems: "{{ release_artifact | zerodowntime.deploy.release_python_problems(host_python.stdout | trim) }}"
'''

RETURN = r'''
_value:
  description: One sentence per wheel that does not fit, naming the wheel and the requirement; empty when all fit.
  type: list
  elements: str
'''

_CACHE = {}


def _wheel_files(path):
    """[(wheel file name, Requires-Python or None)] of the artifact at `path`.

    :raises AnsibleFilterError: when the artifact or a wheel cannot be read.
    """
    stat = os.stat(path)
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key in _CACHE:
        return _CACHE[key]
    wheels = []
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                name = os.path.basename(member.name)
                if not member.isfile() or not name.endswith(".whl"):
                    continue
                data = archive.extractfile(member).read()
                with zipfile.ZipFile(io.BytesIO(data)) as wheel:
                    metadata = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
                    requires = None
                    if metadata:
                        headers = HeaderParser().parsestr(wheel.read(metadata[0]).decode("utf-8", "replace"))
                        requires = headers.get("Requires-Python")
                wheels.append((name, requires))
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise AnsibleFilterError("cannot read the wheels of %s: %s" % (path, exc))
    _CACHE[key] = wheels
    return wheels


def tag_fits(wheel_name, version):
    """Whether the Python and ABI tags of a wheel file name fit `version`.

    :arg wheel_name: str, ``name-version(-build)?-python-abi-platform.whl``.
    :arg version: packaging Version of the host's Python.
    :returns: bool.
    """
    parts = wheel_name[:-len(".whl")].split("-")
    if len(parts) < 5:
        return True  # not a standard name: pip decides
    python_tags, abi_tags = parts[-3].split("."), parts[-2].split(".")
    for tag in python_tags:
        if tag in ("py3", "py%d" % version.major):
            return True
        if tag.startswith("py3") and tag[3:].isdigit() and int(tag[3:]) <= version.minor:
            return True
        if tag.startswith("cp%d" % version.major) and tag[3:].isdigit():
            minor = int(tag[3:])
            if minor == version.minor or ("abi3" in abi_tags and minor <= version.minor):
                return True
    return False


def release_python_problems(artifact, python_version):
    """The ``release_python_problems`` filter.

    :arg artifact: str, path of the artifact (.tar.gz) on the controller.
    :arg python_version: str, the host's Python version (``3.11.2``).
    :returns: list of str messages, empty when every wheel fits.
    :raises AnsibleFilterError: unreadable artifact, a version that is not one,
        or no ``packaging`` library on the controller.
    """
    if SpecifierSet is None:
        raise AnsibleFilterError("release_python_problems needs the Python library 'packaging' on the controller")
    try:
        version = Version(str(python_version).strip())
    except ValueError:
        raise AnsibleFilterError("'%s' is not a Python version" % (python_version,))
    problems = []
    for name, requires in _wheel_files(artifact):
        package = name.split("-", 1)[0]
        if requires:
            try:
                if not SpecifierSet(requires).contains(version, prereleases=True):
                    problems.append("Package '%s' (%s) requires a different Python: %s not in '%s'."
                                    % (package, name, version, requires))
                    continue
            except InvalidSpecifier:
                pass  # pip ignores an invalid Requires-Python too
        if not tag_fits(name, version):
            problems.append("Wheel %s is built for another Python than %s: build the artifact's wheels for the "
                            "hosts' Python (pip download --python-version %d.%d --only-binary=:all:)."
                            % (name, version, version.major, version.minor))
    return problems


class FilterModule(object):
    """The release artifact filter."""

    def filters(self):
        """Return {name: function} of this module's filters."""
        return {"release_python_problems": release_python_problems}
