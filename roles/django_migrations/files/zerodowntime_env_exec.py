# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a command with the environment read from a file, not from argv.

    python3 zerodowntime_env_exec.py ENV_FILE COMMAND [ARG ...]

ENV_FILE holds one KEY=VALUE per line, VALUE a JSON string (the format of
the gunicorn role's environment file, which systemd's EnvironmentFile=
reads too); lines starting with # are skipped. The variables are added to
this process's environment and COMMAND replaces it (execv), so secrets such
as DATABASE_PASSWORD never appear on a command line: not in `ps`, not in
Ansible's -vvv output (Ansible's `environment:` keyword puts them on the
shell command line it runs).

Exits 2 when ENV_FILE cannot be read or a line is malformed, naming the
line number (never its value).
"""

import json
import os
import sys


def read_env_file(path):
    """Return {name: value} (str to str) from ENV_FILE.

    :raises ValueError: naming the line number of a malformed line.
    """
    env = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, value = line.partition("=")
            if not sep or not name:
                raise ValueError("line %d is not KEY=VALUE" % number)
            try:
                env[name] = str(json.loads(value))
            except ValueError:
                raise ValueError("line %d: the value of %s is not a JSON string" % (number, name)) from None
    return env


def main(argv):
    """Load ENV_FILE into os.environ and exec COMMAND; returns 2 on bad usage."""
    if len(argv) < 3:
        sys.stderr.write("usage: zerodowntime_env_exec.py ENV_FILE COMMAND [ARG ...]\n")
        return 2
    try:
        os.environ.update(read_env_file(argv[1]))
    except (OSError, ValueError) as exc:
        sys.stderr.write("zerodowntime_env_exec.py: %s: %s\n" % (argv[1], exc))
        return 2
    os.execv(argv[2], argv[2:])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv))
