#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build the release artifact of a standard Django project in one command.

    build_django_artifact.py RELEASE OUTDIR [--project DIR] [--name NAME]
                             [--requirements FILE] [--python PYTHON]
                             [--host-python VERSION [--host-platform TAG]]

Writes OUTDIR/NAME-RELEASE.tar.gz and its .sha256, the artifact
zerodowntime.deploy installs (docs/artifact.md, "The artifact contract"):

- the project's source tree at the top (manage.py beside the project's
  packages), as `git ls-files` lists it in a Git checkout, otherwise every
  file except caches, virtualenvs and version-control data;
- wheels/: a wheel of every requirement and of everything they depend on.
  With --host-python (the hosts' exact version, 3.11.2 on Debian 12, or
  ZERODOWNTIME_HOST_PYTHON), pip resolves for that Python and downloads
  wheels only (`pip download --only-binary=:all: --python-version ...`), so
  no package whose Requires-Python excludes the hosts' version is chosen;
  without it PYTHON's pip builds them (`pip wheel`) for PYTHON's own
  version. The deploy checks every wheel against the hosts' Python before
  it copies anything;
- requirements.txt: every wheel pinned with its sha256; pip on the hosts
  checks every hash (hash-checking mode) as it installs them, offline;
- RELEASE: the release name, one line, for the project's /version view.

The arguments RELEASE and OUTDIR are those deploy_build_command is run
with, so the script can be that command. Without --name, the name is
ZERODOWNTIME_APP_NAME (the deploy sets it to deploy_app_name) or the
project directory's name. The project directory defaults to the current
one (where ansible-playbook runs). The artifact is written under a
temporary name and renamed into place, so a failed build leaves nothing.

Exit status: 0 on success, 2 for bad arguments or a project it cannot
build (the message names what is wrong), pip's status when pip fails.
"""

import argparse
import hashlib
import os
import pathlib
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

# Never part of an artifact: what a checkout accumulates locally.
SKIP_NAMES = {".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "node_modules", ".mypy_cache",
              ".pytest_cache", ".tox", "build", "dist"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".sqlite3")
RELEASE_RE = re.compile(r"^[0-9][A-Za-z0-9._-]*$")
WHEEL_RE = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-[^-]+)?-[^-]+-[^-]+-[^-]+\.whl$")


class BuildError(Exception):
    """A project this script cannot build; the message says why."""


def project_files(project):
    """Relative paths (pathlib.PurePath) of the files to ship from ``project``.

    A Git checkout ships what `git ls-files` lists (tracked and untracked
    but not ignored files); any other directory every file outside
    SKIP_NAMES and SKIP_SUFFIXES. Raises BuildError when manage.py is not
    among them.
    """
    files = None
    if (project / ".git").exists() and shutil.which("git"):
        proc = subprocess.run(["git", "-C", str(project), "ls-files", "-z", "--cached", "--others",
                               "--exclude-standard"], capture_output=True, check=False)
        if proc.returncode == 0:
            files = [pathlib.PurePath(p) for p in proc.stdout.decode().split("\0") if p]
            files = [p for p in files if (project / p).is_file()]
    if files is None:
        files = []
        for root, dirs, names in os.walk(project):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_NAMES and not d.endswith(".egg-info"))
            for name in sorted(names):
                if not name.endswith(SKIP_SUFFIXES):
                    files.append(pathlib.PurePath(root, name).relative_to(project))
    if pathlib.PurePath("manage.py") not in files:
        raise BuildError("%s has no manage.py at its top: give --project the directory that holds it" % project)
    return sorted(files)


def lock_lines(wheels):
    """requirements.txt lines pinning every wheel in the directory ``wheels``.

    Returns a list of str, ``name==version --hash=sha256:HEX``, sorted by name.
    Raises BuildError for a file whose name is not a wheel's (PEP 427).
    """
    lines = []
    for wheel in sorted(wheels.iterdir()):
        match = WHEEL_RE.match(wheel.name)
        if not match:
            raise BuildError("%s in the wheel directory is not a wheel" % wheel.name)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines.append("%s==%s --hash=sha256:%s" % (match["name"].replace("_", "-").lower(), match["version"], digest))
    return sorted(lines)


def pip_command(python, wheels, requirements, host_python=None, host_platform=None):
    """The pip command (list of str) that fills ``wheels`` from ``requirements``.

    Without ``host_python``: ``pip wheel`` for ``python``'s own version. With
    it (e.g. ``3.11.2``): ``pip download`` of binary wheels resolved for that
    CPython version, its ABI (or abi3, or none) and ``host_platform`` (a
    wheel platform tag such as ``manylinux_2_36_x86_64``, expanded to every
    older manylinux tag of the same architecture, which pip does not do for
    an explicit --platform).
    """
    common = ["--quiet", "--disable-pip-version-check", "--requirement", str(requirements)]
    if not host_python:
        return [python, "-m", "pip", "wheel", "--wheel-dir", str(wheels)] + common
    major_minor = "".join(host_python.split(".")[:2])
    return ([python, "-m", "pip", "download", "--dest", str(wheels), "--only-binary=:all:",
             "--python-version", host_python, "--implementation", "cp",
             "--abi", "cp%s" % major_minor, "--abi", "abi3", "--abi", "none",
             *[arg for tag in platform_tags(host_platform) for arg in ("--platform", tag)]] + common)


def platform_tags(tag):
    """Wheel platform tags a host of platform ``tag`` installs (list of str).

    ``manylinux_2_36_x86_64`` gives itself, every ``manylinux_2_Y_x86_64``
    down to 2.5 and the legacy aliases manylinux2014/2010/1 (PEP 600); any
    other tag gives itself only.
    """
    match = re.match(r"^manylinux_2_([0-9]+)_(.+)$", tag)
    if not match:
        return [tag]
    glibc, arch = int(match[1]), match[2]
    tags = ["manylinux_2_%d_%s" % (minor, arch) for minor in range(glibc, 4, -1)]
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    return tags + ["%s_%s" % (name, arch) for minor, name in legacy.items() if glibc >= minor]


def build(release, outdir, project, name, requirements, python, host_python=None, host_platform=None):
    """Build ``outdir/<name>-<release>.tar.gz`` and its ``.sha256``.

    Args:
        release (str): the release name, e.g. ``1.1.0``.
        outdir (pathlib.Path): where the artifact goes (made if absent).
        project (pathlib.Path): the directory holding manage.py.
        name (str): the application name (deploy_app_name).
        requirements (pathlib.Path): the project's requirements file.
        python (str): the interpreter whose pip builds the wheels.
        host_python (str or None): the hosts' Python version, e.g. ``3.11.2``.
        host_platform (str or None): the hosts' wheel platform tag.

    Returns:
        pathlib.Path of the artifact.

    Raises:
        BuildError: bad release name, no manage.py, no requirements file.
        subprocess.CalledProcessError: pip failed (its output is on stderr).
    """
    if not RELEASE_RE.match(release):
        raise BuildError("release %r: use a name such as 1.2.0 (digits first; letters, digits, . _ -)" % release)
    if host_python and not re.match(r"^3\.[0-9]+(\.[0-9]+)?$", host_python):
        raise BuildError("--host-python %r: give the hosts' Python version, such as 3.11.2" % host_python)
    if not requirements.is_file():
        raise BuildError("%s does not exist: give --requirements the project's pinned requirements" % requirements)
    files = project_files(project)
    outdir.mkdir(parents=True, exist_ok=True)
    artifact = outdir / ("%s-%s.tar.gz" % (name, release))
    with tempfile.TemporaryDirectory(prefix=".build-%s-" % name, dir=str(outdir)) as work:
        stage = pathlib.Path(work) / "stage"
        for rel in files:
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(str(project / rel), str(stage / rel))
        wheels = stage / "wheels"
        wheels.mkdir(exist_ok=True)
        subprocess.run(pip_command(python, wheels, requirements, host_python, host_platform), check=True)
        (stage / "RELEASE").write_text(release + "\n")
        (stage / "requirements.txt").write_text(
            "# Every wheel in wheels/, pinned with its hash (build_django_artifact.py).\n"
            + "\n".join(lock_lines(wheels)) + "\n")
        partial = pathlib.Path(work) / artifact.name
        with tarfile.open(str(partial), "w:gz") as tar:
            for path in sorted(stage.rglob("*")):
                tar.add(str(path), arcname=str(path.relative_to(stage)), recursive=False)
        digest = hashlib.sha256(partial.read_bytes()).hexdigest()
        os.replace(str(partial), str(artifact))
    checksum = artifact.with_name(artifact.name + ".sha256")
    checksum.write_text("%s  %s\n" % (digest, artifact.name))
    return artifact


def default_platform():
    """The controller's own manylinux tag (``manylinux_2_36_x86_64`` on
    Debian 12), or ``manylinux2014_<arch>`` where glibc's version is unknown."""
    libc, version = platform.libc_ver()
    match = re.match(r"^2\.([0-9]+)", version or "")
    if libc == "glibc" and match:
        return "manylinux_2_%s_%s" % (match[1], platform.machine())
    return "manylinux_2_17_%s" % platform.machine()


def main(argv=None):
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("release")
    parser.add_argument("outdir", type=pathlib.Path)
    parser.add_argument("--project", type=pathlib.Path, default=pathlib.Path.cwd())
    parser.add_argument("--name")
    parser.add_argument("--requirements", type=pathlib.Path)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--host-python", default=os.environ.get("ZERODOWNTIME_HOST_PYTHON") or None)
    parser.add_argument("--host-platform", default=default_platform())
    args = parser.parse_args(argv)
    project = args.project.resolve()
    name = args.name or os.environ.get("ZERODOWNTIME_APP_NAME") or project.name
    requirements = args.requirements or project / "requirements.txt"
    try:
        artifact = build(args.release, args.outdir.resolve(), project, name, requirements, args.python,
                         args.host_python, args.host_platform)
    except BuildError as exc:
        sys.stderr.write("build_django_artifact.py: error: %s\n" % exc)
        return 2
    except subprocess.CalledProcessError as exc:
        sys.stderr.write("build_django_artifact.py: error: pip failed with exit code %d\n" % exc.returncode)
        return exc.returncode or 1
    print(artifact)
    return 0


if __name__ == "__main__":
    sys.exit(main())
