# SPDX-License-Identifier: GPL-3.0-or-later
"""Move a completely installed release from its staging directory into place.

Copied to the host and run by the release role, once the release is unpacked
and its virtualenv installed in ``releases/.<release>.partial``::

    python3 release_move_into_place.py STAGING FINAL

A virtualenv names its own directory in absolute paths: pip writes it into
the interpreter line of every console script (``venv/bin/gunicorn``), and
``venv`` into ``bin/activate*`` and the ``command`` line of ``pyvenv.cfg``.
This script rewrites STAGING to FINAL in those files of ``venv``, then
renames STAGING to FINAL in one rename(2) on the same file system, so that
``releases/<release>`` either does not exist or holds a complete release
(issue 13: a failed or interrupted install used to leave a half-made
``releases/<release>`` that the next try unpacked over). The rename fails,
and nothing moves, when FINAL exists already.

Exit status 0 when FINAL is in place; 1 with the reason on stderr otherwise.
The byte-compiled files are not rewritten: the role installs with pip's
``--no-compile``, so there are none of the release's own.
"""

import os
import sys


def rewrite_venv_paths(venv, old, new):
    """Replace the directory ``old`` by ``new`` in the virtualenv's own files.

    Args:
        venv: path (str) of the virtualenv, inside ``old``.
        old: absolute path (str) the virtualenv was installed under.
        new: absolute path (str) it will live under.

    Returns:
        list of str, the paths of the files rewritten (in ``venv/bin`` the
        regular files that name ``old``, and ``pyvenv.cfg``).

    Raises:
        OSError: a file could not be read or written.
    """
    old_bytes, new_bytes = old.encode(), new.encode()
    candidates = [os.path.join(venv, "pyvenv.cfg")]
    bin_dir = os.path.join(venv, "bin")
    if os.path.isdir(bin_dir):
        candidates += [os.path.join(bin_dir, name) for name in sorted(os.listdir(bin_dir))]
    rewritten = []
    for path in candidates:
        # The interpreter links (bin/python -> /usr/bin/python3) stay as
        # they are: they point outside the release.
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as handle:
            content = handle.read()
        if old_bytes not in content:
            continue
        mode = os.stat(path).st_mode
        temporary = path + ".zerodowntime-tmp"
        with open(temporary, "wb") as handle:
            handle.write(content.replace(old_bytes, new_bytes))
        os.chmod(temporary, mode)
        os.replace(temporary, path)
        rewritten.append(path)
    return rewritten


def move_into_place(staging, final):
    """Rewrite the virtualenv's paths and rename ``staging`` to ``final``.

    Args:
        staging: absolute path (str) of the completely installed release.
        final: absolute path (str) it must have; must not exist.

    Returns:
        list of str, the files whose paths were rewritten.

    Raises:
        FileExistsError: ``final`` exists (the rename would replace it).
        OSError: a file could not be rewritten, or the rename failed.
    """
    staging, final = os.path.abspath(staging), os.path.abspath(final)
    if os.path.lexists(final):
        raise FileExistsError("%s exists already; nothing was moved" % final)
    rewritten = rewrite_venv_paths(os.path.join(staging, "venv"), staging, final)
    os.rename(staging, final)
    return rewritten


def main(argv):
    """Command line: ``STAGING FINAL``; returns the exit status (0 or 1)."""
    if len(argv) != 3:
        sys.stderr.write("usage: release_move_into_place.py STAGING FINAL\n")
        return 1
    try:
        rewritten = move_into_place(argv[1], argv[2])
    except OSError as error:
        sys.stderr.write("ERROR: could not move %s to %s: %s\n" % (argv[1], argv[2], error))
        return 1
    sys.stdout.write("moved %s to %s, %d files rewritten\n" % (argv[1], argv[2], len(rewritten)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
