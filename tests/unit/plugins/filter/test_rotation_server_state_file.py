# SPDX-License-Identifier: GPL-3.0-or-later
"""The rotation_server_state_file filter: where HAProxy reads the servers'
state back at a reload, from the lines the preflight greps."""

import pytest

from ansible_collections.zerodowntime.deploy.plugins.filter.rotation_server_state_file import (
    rotation_server_state_file)

LOAD = "    load-server-state-from-file global\n"


@pytest.mark.parametrize("lines, path", [
    # The haproxy role's configuration.
    ("    server-state-file /var/lib/haproxy/server-state\n" + LOAD, "/var/lib/haproxy/server-state"),
    # Relative: under server-state-base, with or without its trailing slash.
    ("server-state-base /var/lib/haproxy/\nserver-state-file state\n" + LOAD, "/var/lib/haproxy/state"),
    ("server-state-base /var/lib/haproxy\nserver-state-file state\n" + LOAD, "/var/lib/haproxy/state"),
    # An absolute file ignores the base.
    ("server-state-base /srv\nserver-state-file /var/lib/haproxy/state\n" + LOAD, "/var/lib/haproxy/state"),
    # Relative without a base: HAProxy's working directory, / under systemd.
    ("server-state-file state\n" + LOAD, "/state"),
    # Quoted, and followed by a comment.
    ('server-state-file "/var/lib/haproxy/my state"\n' + LOAD, "/var/lib/haproxy/my state"),
    ("server-state-file /var/lib/haproxy/state # saved by ExecReload\n" + LOAD, "/var/lib/haproxy/state"),
])
def test_the_global_state_file_is_resolved_as_haproxy_does(lines, path):
    assert rotation_server_state_file(lines) == path


@pytest.mark.parametrize("lines", [
    "",
    None,
    LOAD,
    # Without load-server-state-from-file global nothing reads the file back.
    "server-state-file /var/lib/haproxy/state\n",
    # With local, each backend reads a file of its own (server-state-file-name).
    "server-state-file /var/lib/haproxy/state\nload-server-state-from-file local\n",
])
def test_no_path_when_no_global_state_file_is_read_back(lines):
    assert rotation_server_state_file(lines) == ""
