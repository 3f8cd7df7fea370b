# -*- coding: utf-8 -*-
# Copyright: contributors to the zerodowntime.deploy collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection options shared by every module that talks to the HAProxy Runtime API."""

from __future__ import annotations


class ModuleDocFragment(object):
    # Keep in sync with haproxy_argument_spec() in
    # plugins/module_utils/haproxy_common.py (validate-modules checks both).
    DOCUMENTATION = r'''
options:
  socket:
    description:
      - Address of the HAProxy Runtime API (the C(stats socket) of the HAProxy configuration).
      - A path to a unix socket, for example V(/run/haproxy/admin.sock) (Debian's default),
        optionally written V(unix:///run/haproxy/admin.sock).
      - Or a TCP address C(tcp://HOST:PORT), for example V(tcp://127.0.0.1:9999) or
        V(tcp://[::1]:9999), for a socket declared as C(stats socket ipv4@127.0.0.1:9999).
      - Reading works at any socket level; changing a server needs a socket declared with C(level admin).
      - The module runs on the target host, so the path or address is the one seen from that host.
    type: str
    default: /run/haproxy/admin.sock
  connect_timeout:
    description:
      - Seconds to wait for the connection to the socket before failing.
    type: float
    default: 5.0
  read_timeout:
    description:
      - Seconds to wait for HAProxy's complete answer to one command before failing.
      - Every command is sent on its own connection, so this bounds each command, not the whole task.
    type: float
    default: 10.0
attributes:
  action_group:
    description: Use C(group/zerodowntime.deploy.haproxy) in C(module_defaults) to set these options once
      for every module that talks to the Runtime API.
    support: full
    membership:
      - zerodowntime.deploy.haproxy
notes:
  - Each Runtime API command is sent on a new connection; HAProxy closes it after answering.
  - Every answer is checked. HAProxy answers a successful change with nothing and an error with plain
    text, such as C(No such server.) or C(Permission denied); such an answer fails the task with
    HAProxy's text, the socket and the command.
  - With HAProxy in master-worker mode, use a worker's stats socket, not the master CLI.
'''
