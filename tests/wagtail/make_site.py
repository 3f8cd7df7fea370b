# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the Wagtail site the `wagtail` scenario deploys, and its artifacts.

A site nobody here wrote (issue 13): `wagtail start mysite` of a pinned
Wagtail, in a virtualenv of its own on the controller, changed only by what
docs/artifact.md tells every user to add (tests/wagtail/additions: a
settings module Wagtail's production settings import, the /healthz and
/version views and their two URL patterns, pinned requirements). Release
1.1.0 adds a model field, with the migration `makemigrations` writes.
Both are built by scripts/build_django_artifact.py for the hosts' Python.

    python tests/wagtail/make_site.py [OUTDIR]

OUTDIR defaults to build/wagtail; the artifacts go to OUTDIR/artifacts.
Does nothing for an artifact that exists.
"""

import os
import pathlib
import shutil
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WAGTAIL = "wagtail==8.0.1"
# Debian 12's Python and glibc: the hosts of the lab.
HOST_PYTHON, HOST_PLATFORM = "3.11.2", "manylinux_2_36_x86_64"
FIELD = '''
    # Release 1.1.0: a nullable field, an expand-only change.
    subtitle = models.CharField(max_length=255, null=True, blank=True)
'''


def run(*argv, **kwargs):
    """Run argv, failing loudly; returns the CompletedProcess."""
    print("make_site.py: " + " ".join(str(a) for a in argv), flush=True)
    return subprocess.run([str(a) for a in argv], check=True, **kwargs)


def generate(venv, src):
    """`wagtail start mysite` into src, then the documented additions."""
    src.mkdir(parents=True)
    run(venv / "bin" / "wagtail", "start", "mysite", src)
    for path in (HERE / "additions" / "mysite").rglob("*.py"):
        target = src / "mysite" / path.relative_to(HERE / "additions" / "mysite")
        shutil.copy2(str(path), str(target))
    with open(src / "mysite" / "urls.py", "a", encoding="utf-8") as urls:
        urls.write((HERE / "additions" / "urls.append").read_text())
    shutil.copy2(str(HERE / "requirements.txt"), str(src / "requirements.txt"))


def add_field(venv, src):
    """Release 1.1.0: the field, and the migration Django makes for it."""
    models = src / "home" / "models.py"
    text = models.read_text()
    anchor = "class HomePage(Page):\n"
    assert anchor in text, "wagtail start's home/models.py changed: %s" % text
    body = text.split(anchor, 1)[1]
    if body.strip() == "pass":
        text = text.replace(anchor + "    pass\n", anchor + FIELD)
    else:
        text = text.replace(anchor, anchor + FIELD)
    models.write_text(text)
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="mysite.settings.dev")
    run(venv / "bin" / "python", "manage.py", "makemigrations", "home", "--name", "homepage_subtitle",
        cwd=str(src), env=env)


def main(argv):
    """Make what is missing under OUTDIR (argv[0], default build/wagtail)."""
    out = pathlib.Path(argv[0]) if argv else ROOT / "build" / "wagtail"
    artifacts = out / "artifacts"
    wanted = {release: artifacts / ("mysite-%s.tar.gz" % release) for release in ("1.0.0", "1.1.0")}
    if all(path.exists() for path in wanted.values()):
        print("make_site.py: artifacts present in %s" % artifacts)
        return 0
    venv = out / "wagtail-venv"
    if not (venv / "bin" / "wagtail").exists():
        run(sys.executable, "-m", "venv", venv)
        run(venv / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check", WAGTAIL)
    for release, artifact in wanted.items():
        src = out / ("src-%s" % release)
        if src.exists():
            shutil.rmtree(str(src))
        generate(venv, src)
        if release == "1.1.0":
            add_field(venv, src)
        if not artifact.exists():
            run(sys.executable, ROOT / "scripts" / "build_django_artifact.py", release, artifacts,
                "--project", src, "--name", "mysite", "--host-python", HOST_PYTHON, "--host-platform", HOST_PLATFORM)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
