# SPDX-License-Identifier: GPL-3.0-or-later
"""Recorded HAProxy answers, and a fake stats socket that serves them, for the
unit tests of the Runtime API client and of what is built on it (modules,
filters).

The answers are in fixtures/haproxy-<version>/ beside this file, recorded from
the real HAProxy 2.6 and 3.0 binaries by fixtures/record_haproxy_answers.py
(and the -map and -master recorders). Tests import this module as
ansible_collections.zerodowntime.deploy.tests.unit.plugins.module_utils.haproxy_fake,
as ansible-test users import a collection's test helpers.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import pathlib
import shutil
import socket
import tempfile
import threading

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
VERSIONS = ["haproxy-2.6", "haproxy-3.0"]


def load_fixture(version, name):
    """A recorded answer, byte for byte."""
    return (FIXTURES / version / name).read_text()


class FakeHAProxy(object):
    """A stats socket serving scripted answers, one command per connection.

    answers: dict command -> str, or list of str served in turn (the last
    one repeats), or callable(command) -> str. Unknown commands get
    HAProxy 2.6's "Unknown command" answer. `commands` lists what was
    received, in order. After answering a command of `left_open`, the
    connection stays open for up to 5 s instead of being closed, as HAProxy
    3.0's master CLI leaves it after some answers.
    """

    def __init__(self, answers, family="unix", silent=False, left_open=()):
        self.answers = dict(answers)
        self.commands = []
        self.silent = silent
        self.left_open = set(left_open)
        self._stop = False
        self.dir = None
        if family == "unix":
            self.dir = tempfile.mkdtemp(prefix="fake-haproxy-")
            self.path = os.path.join(self.dir, "admin.sock")
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(self.path)
            self.address = self.path
        else:
            host = "::1" if family == "tcp6" else "127.0.0.1"
            self.sock = socket.socket(socket.AF_INET6 if family == "tcp6" else socket.AF_INET)
            self.sock.bind((host, 0))
            port = self.sock.getsockname()[1]
            self.address = "tcp://[::1]:%d" % port if family == "tcp6" else "tcp://127.0.0.1:%d" % port
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _answer(self, command):
        answer = self.answers.get(command)
        if answer is None:
            return load_fixture("haproxy-2.6", "bogus_command.txt")
        if callable(answer):
            return answer(command)
        if isinstance(answer, list):
            return answer.pop(0) if len(answer) > 1 else answer[0]
        return answer

    def _serve(self):
        while not self._stop:
            try:
                conn = self.sock.accept()[0]
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                command = data.decode().strip()
                self.commands.append(command)
                if self.silent:
                    threading.Event().wait(1.0)
                    continue
                conn.sendall(self._answer(command).encode())
                if command in self.left_open:
                    conn.settimeout(5)
                    try:
                        conn.recv(4096)  # until the client closes, or 5 s
                    except OSError:
                        pass

    def writes(self):
        return [c for c in self.commands if not c.startswith("show ")]

    def close(self):
        """Stop serving, close the socket and remove its directory."""
        self._stop = True
        self.thread.join(2)
        self.sock.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


def servers_state_line(text, backend, server, **changes):
    """The recorded answer with one server's columns changed."""
    lines = text.splitlines()
    header = lines[1].lstrip("# ").split()
    out = []
    for line in lines:
        values = line.split()
        if len(values) == len(header) and values[1] == backend and values[3] == server:
            for key, value in changes.items():
                values[header.index(key)] = str(value)
            line = " ".join(values)
        out.append(line)
    return "\n".join(out) + "\n"


def stat_line(text, server, status):
    lines = text.splitlines()
    header = lines[0][2:].split(",")
    out = [lines[0]]
    for line in lines[1:]:
        values = line.split(",")
        if len(values) > 1 and values[1] == server:
            values[header.index("status")] = status
        out.append(",".join(values))
    return "\n".join(out) + "\n"
