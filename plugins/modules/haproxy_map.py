#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the zerodowntime.deploy collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
from __future__ import annotations

__metaclass__ = type

DOCUMENTATION = r'''
---
module: haproxy_map
short_description: Set, remove or read one key of a HAProxy map through the Runtime API, and in its file
version_added: 0.2.0
description:
  - Sets the value of one key of a map that the running HAProxy has loaded (C(set map), or C(add map)
    when the key is absent), or removes the key (C(del map)). The change applies to the next lookup,
    without a reload.
  - Reads the map before changing anything, sends a command only when the value differs, and reads
    the map back afterwards; the task fails unless HAProxy then reports exactly the value asked for.
  - With O(persist=true), also rewrites the map file on the host the module runs on, so that a reload
    or a restart, which load the map from its file, keep the value. Comments and the other keys of the
    file are kept.
  - With O(state=read), only reads the key's values in the running map (C(show map)) and changes nothing, in
    check mode or not.
  - Blue/green switching is one such task per balancer, C(key=live) and C(value=<backend of the new pool>),
    with the frontend rule that the C(zerodowntime.deploy.haproxy) role renders when C(haproxy_bluegreen)
    is true, a C(use_backend) that looks the key C(live) up in the map file.
options:
  map:
    description:
      - The map, named as the configuration names it, by its file (V(/etc/haproxy/bluegreen.map)), or
        as V(#<id>) from C(show map).
      - With O(persist=true) it must be the file name.
    type: str
    required: true
  key:
    description:
      - The key to set or remove, without blanks, C(;) or C(\).
    type: str
    required: true
  value:
    description:
      - The value the key must have, without blanks, C(;) or C(\). Required with O(state=present).
      - A key that HAProxy holds more than once (added twice) has every entry set to this value.
    type: str
  state:
    description:
      - V(present) gives O(key) the value O(value), adding the key if the map lacks it.
      - V(absent) removes every entry of O(key).
      - V(read) reads the values of O(key) and changes nothing; O(value) and O(persist) are refused with it.
    type: str
    choices: [present, absent, read]
    default: present
  persist:
    description:
      - Also rewrite the map file O(map) on the host the module runs on, atomically (temporary file,
        then rename), keeping its owner, mode, comments and other keys.
      - The file is written before the Runtime API command, so that a reload at any moment of the task
        loads either the old value with the old runtime state, or the new value. If the command then
        fails, the file is put back as it was.
    type: bool
    default: false
extends_documentation_fragment:
  - zerodowntime.deploy.haproxy_socket
attributes:
  check_mode:
    description: Reads the map (and the file) and reports what would change; writes nothing.
    support: full
  diff_mode:
    description: Shows the key's entries in the running map, and the map file with O(persist=true), before and after.
    support: full
notes:
  - Runs on the host where the socket is; use C(delegate_to) to act on a balancer.
  - HAProxy 2.6 accepts C(set map), C(add map) and C(del map) on sockets of every level, C(operator)
    and C(user) included (recorded from the 2.6 binary), unlike server state changes, which need
    C(level admin). Keep the sockets of those levels as restricted as the admin one.
  - HAProxy never writes map files itself; without O(persist=true) a reload or restart brings the
    value of the file back.
seealso:
  - module: zerodowntime.deploy.haproxy_server
  - name: HAProxy management guide, set map
    description: The Runtime API commands this module sends.
    link: https://docs.haproxy.org/2.6/management.html#9.3-set%20map
author:
  - zerodowntime.deploy maintainers (@zerodowntime)
'''

EXAMPLES = r'''
- name: Send all traffic to the green pool on lb1, and keep it so across reloads
  zerodowntime.deploy.haproxy_map:
    map: /etc/haproxy/bluegreen.map
    key: live
    value: app_green
    persist: true
  delegate_to: lb1

- name: Read which pool is live (live_pool.value), changing nothing
  zerodowntime.deploy.haproxy_map:
    map: /etc/haproxy/bluegreen.map
    key: live
    state: read
  register: live_pool
  delegate_to: lb1

- name: Remove a key from the running map only
  zerodowntime.deploy.haproxy_map:
    socket: tcp://127.0.0.1:9999
    map: "#3"
    key: canary
    state: absent
'''

RETURN = r'''
map:
  description: The map acted on, as given.
  returned: always
  type: str
  sample: /etc/haproxy/bluegreen.map
key:
  description: The key acted on.
  returned: always
  type: str
  sample: live
previous_values:
  description:
    - Values of the key in the running map before the task, in HAProxy's order; empty when absent.
    - With O(state=read), the values read, as RV(current_values).
  returned: success
  type: list
  elements: str
  sample: [app_blue]
current_values:
  description:
    - Values of the key in the running map at the end of the task, read back from HAProxy (in check mode,
      what they would be); empty when absent.
  returned: success
  type: list
  elements: str
  sample: [app_green]
previous_value:
  description:
    - The first of RV(previous_values), the one lookups found; null when the key was absent.
    - With O(state=read), the value read, as RV(value).
  returned: success
  type: str
  sample: app_blue
value:
  description: The first of RV(current_values), the one lookups find; null when the key is absent.
  returned: success
  type: str
  sample: app_green
entries:
  description: Every entry of the map at the end of the task (in check mode, before it), as key and value.
  returned: success
  type: list
  elements: dict
  sample: [{key: live, value: app_green}]
file_changed:
  description: Whether the map file was (or, in check mode, would be) rewritten. False without O(persist).
  returned: success
  type: bool
  sample: true
commands:
  description: The Runtime API commands sent (in check mode, that would be sent) to change the map.
  returned: success
  type: list
  elements: str
  sample: [set map /etc/haproxy/bluegreen.map live app_green]
haproxy_pid:
  description: Process id of the HAProxy process that answered.
  returned: success
  type: int
  sample: 1234
haproxy_version:
  description: Version of that HAProxy process.
  returned: success
  type: str
  sample: 2.6.12-1+deb12u4
'''

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zerodowntime.deploy.plugins.module_utils.haproxy_common import (
    haproxy_argument_spec,
    runtime_from_params,
)
from ansible_collections.zerodowntime.deploy.plugins.module_utils.haproxy_runtime import (
    HAProxyArgumentError,
    HAProxyCommandError,
    HAProxyRuntimeError,
    validate_map_name,
    validate_map_token,
)


class TaskFailed(Exception):
    """Raised inside the task to fail it with a message; result is kept."""


def file_lines_for(text, key, value):
    """The lines of a map file once ``key`` has ``value`` (None: removed).

    Comments, blank lines and other keys are kept in place; the first line
    of the key gets the new value and any further line of the key goes.
    Returns: str, the new file text (ending with a newline when not empty).
    """
    out = []
    done = False
    for line in text.splitlines():
        fields = line.split(None, 1)
        if fields and not fields[0].startswith("#") and fields[0] == key:
            if value is not None and not done:
                out.append("%s %s" % (key, value))
                done = True
            continue
        out.append(line)
    if value is not None and not done:
        out.append("%s %s" % (key, value))
    return "\n".join(out) + "\n" if out else ""


def file_values(text, key):
    """Values of ``key`` in a map file's text (comments and blanks skipped)."""
    values = []
    for line in text.splitlines():
        fields = line.split(None, 1)
        if fields and not fields[0].startswith("#") and fields[0] == key:
            values.append(fields[1].strip() if len(fields) > 1 else "")
    return values


class MapTask(object):
    """Drive one haproxy_map task: read, plan, write file, command, read back."""

    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.map = self.params["map"]
        self.key = self.params["key"]
        self.read_only = self.params["state"] == "read"
        self.wanted = self.params["value"] if self.params["state"] == "present" else None
        self.result = dict(changed=False, map=self.map, key=self.key, previous_values=[], current_values=[],
                           previous_value=None, value=None, entries=[], file_changed=False,
                           commands=[])
        self.file_before = None
        self.file_after = None

    def read_map(self):
        try:
            return self.client.show_map(self.map)
        except HAProxyCommandError as exc:
            if exc.answer and exc.answer.startswith("Unknown map identifier"):
                raise TaskFailed("HAProxy (socket %s) has no map '%s'; the loaded maps are: %s"
                                 % (self.client.socket, self.map, self.loaded_maps()))
            raise

    def loaded_maps(self):
        try:
            maps = self.client.show_maps()
        except HAProxyRuntimeError:
            return "unknown (show map failed)"
        return ", ".join("%s (#%d)" % (m.name, m.id) for m in maps) or "none"

    def read_file(self):
        path = self.map
        try:
            with open(path, "r", encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise TaskFailed("cannot read the map file %s: %s" % (path, exc))

    def write_file(self, text):
        """Write the map file atomically, keeping owner and mode of the old one."""
        path = self.map
        directory = os.path.dirname(path) or "."
        fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            try:
                st = os.stat(path)
                os.chown(tmp, st.st_uid, st.st_gid)
                os.chmod(tmp, st.st_mode & 0o7777)
            except FileNotFoundError:
                os.chmod(tmp, 0o644)
            self.module.atomic_move(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def plan_commands(self, values):
        if self.wanted is None:
            return ["del map %s %s" % (self.map, self.key)] if values else []
        if not values:
            return ["add map %s %s %s" % (self.map, self.key, self.wanted)]
        if any(v != self.wanted for v in values):
            return ["set map %s %s %s" % (self.map, self.key, self.wanted)]
        return []

    def send(self):
        if self.wanted is None:
            self.client.del_map(self.map, self.key)
        elif self.result["previous_values"]:
            self.client.set_map(self.map, self.key, self.wanted)
        else:
            self.client.add_map(self.map, self.key, self.wanted)

    def run(self):
        info = self.client.show_info()
        self.result.update(haproxy_pid=info.pid, haproxy_version=info.version)
        before = self.read_map()
        values = [e.value for e in before if e.key == self.key]
        self.result["previous_values"] = values
        self.result["previous_value"] = values[0] if values else None
        self.result["entries"] = [dict(key=e.key, value=e.value) for e in before]
        if self.read_only:
            self.result["current_values"] = values
            self.result["value"] = self.result["previous_value"]
            return
        commands = self.plan_commands(values)
        self.result["commands"] = commands

        if self.params["persist"]:
            self.file_before = self.read_file()
            self.file_after = file_lines_for(self.file_before, self.key, self.wanted)
            self.result["file_changed"] = self.file_after != self.file_before

        expected = [] if self.wanted is None else [self.wanted] * max(len(values), 1)
        self.result["changed"] = bool(commands) or self.result["file_changed"]
        if self.module.check_mode:
            self.result["current_values"] = expected
            self.result["value"] = expected[0] if expected else None
            return

        if self.result["file_changed"]:
            self.write_file(self.file_after)
        if commands:
            try:
                self.send()
            except HAProxyRuntimeError:
                if self.result["file_changed"]:
                    self.write_file(self.file_before)
                    self.result["file_changed"] = False
                raise

        after = self.read_map()
        got = [e.value for e in after if e.key == self.key]
        self.result["current_values"] = got
        self.result["value"] = got[0] if got else None
        self.result["entries"] = [dict(key=e.key, value=e.value) for e in after]
        if got != expected:
            raise TaskFailed("HAProxy (socket %s) accepted %s but map '%s' now holds %s for key '%s', not %s"
                             % (self.client.socket, " and ".join("'%s'" % c for c in commands) or "no change",
                                self.map, got or "nothing", self.key, expected or "nothing"))

    def diff(self):
        def text(values):
            return "".join("%s %s\n" % (self.key, v) for v in values)
        diffs = [dict(before_header="%s (running, key %s)" % (self.map, self.key),
                      after_header="%s (running, key %s)" % (self.map, self.key),
                      before=text(self.result["previous_values"]), after=text(self.result["current_values"]))]
        if self.params["persist"] and self.file_before is not None:
            diffs.append(dict(before_header="%s (file)" % self.map, after_header="%s (file)" % self.map,
                              before=self.file_before, after=self.file_after))
        return diffs


def main():
    argument_spec = haproxy_argument_spec()
    argument_spec.update(
        map=dict(type="str", required=True),
        key=dict(type="str", required=True, no_log=False),
        value=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "absent", "read"]),
        persist=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[("state", "present", ("value",))])
    params = module.params
    try:
        validate_map_name(params["map"])
        validate_map_token(params["key"], "key")
        if params["value"] is not None:
            validate_map_token(params["value"], "value")
        if params["state"] == "read" and (params["value"] is not None or params["persist"]):
            raise HAProxyArgumentError("state=read reads the map and changes nothing: it takes no value and "
                                       "no persist")
        if params["persist"] and not params["map"].startswith("/"):
            raise HAProxyArgumentError("persist needs the map named by its absolute file name, got '%s'"
                                       % params["map"])
        client = runtime_from_params(params)
    except HAProxyArgumentError as exc:
        module.fail_json(msg=str(exc))

    task = MapTask(module, client)
    error = None
    try:
        task.run()
    except TaskFailed as exc:
        error = str(exc)
    except HAProxyRuntimeError as exc:
        error = "%s (map '%s', key '%s')" % (exc, params["map"], params["key"])
    except OSError as exc:
        error = "cannot write the map file %s: %s" % (params["map"], exc)
    if module._diff and not error:
        task.result["diff"] = task.diff()
    if error:
        module.fail_json(msg=error, **task.result)
    module.exit_json(**task.result)


if __name__ == "__main__":
    main()
