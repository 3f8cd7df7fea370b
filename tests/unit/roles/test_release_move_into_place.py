"""roles/release/files/release_move_into_place.py: a virtualenv installed in
the staging directory works from the release's own directory once moved."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "roles" / "release" / "files" / "release_move_into_place.py"


def make_staged_release(releases):
    """A staging directory with a real virtualenv and a console script whose
    interpreter line names the staging directory, as pip writes it."""
    staging = releases / ".1.2.3.partial"
    staging.mkdir(parents=True)
    (staging / ".installed").write_text("checksum\n")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(staging / "venv")], check=True)
    script = staging / "venv" / "bin" / "hello"
    script.write_text("#!%s/venv/bin/python\nimport sys\nprint(sys.prefix)\n" % staging)
    script.chmod(0o755)
    return staging


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, check=False)


def test_the_console_scripts_of_a_moved_release_run_its_own_virtualenv(tmp_path):
    staging = make_staged_release(tmp_path / "releases")
    final = tmp_path / "releases" / "1.2.3"
    proc = run(staging, final)
    assert proc.returncode == 0, proc.stderr
    assert not staging.exists()
    assert (final / ".installed").read_text() == "checksum\n"
    out = subprocess.run([str(final / "venv" / "bin" / "hello")], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(final / "venv")
    assert os.access(final / "venv" / "bin" / "hello", os.X_OK)


def test_nothing_in_the_moved_virtualenv_names_the_staging_directory(tmp_path):
    staging = make_staged_release(tmp_path / "releases")
    final = tmp_path / "releases" / "1.2.3"
    assert run(staging, final).returncode == 0
    for path in (final / "venv").rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert b".1.2.3.partial" not in path.read_bytes(), path
    # The interpreter link still leads to a Python, outside the release.
    interpreter = (final / "venv" / "bin" / "python").resolve()
    assert interpreter.exists() and final not in interpreter.parents


def test_an_existing_release_is_never_replaced(tmp_path):
    staging = make_staged_release(tmp_path / "releases")
    final = tmp_path / "releases" / "1.2.3"
    final.mkdir()
    (final / "keep").write_text("x")
    proc = run(staging, final)
    assert proc.returncode == 1
    assert proc.stderr.startswith("ERROR: could not move")
    assert "exists already" in proc.stderr
    assert (final / "keep").read_text() == "x"
    # Nothing was rewritten either: the staging directory is as it was.
    assert str(staging) in (staging / "venv" / "bin" / "hello").read_text()


@pytest.mark.parametrize("argv", [[], ["only-one"]])
def test_wrong_arguments_print_the_usage(argv):
    proc = run(*argv)
    assert proc.returncode == 1
    assert "usage:" in proc.stderr
