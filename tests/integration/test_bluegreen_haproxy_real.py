# SPDX-License-Identifier: GPL-3.0-or-later
"""The haproxy role's blue/green configuration and the haproxy_map module,
against the real HAProxy binary (2.6 on Debian 12).

The role's haproxy.cfg.j2 and bluegreen.map.j2 are rendered by Ansible with
haproxy_bluegreen on, for two pools whose servers are small HTTP servers on
127.0.0.2 and 127.0.0.3 (same port, as the role gives every server the same
port). Only what cannot run in a test process is taken out of the rendered
file: chroot, user/group, syslog and the server-state-file. The frontend,
the backends and the map rule are the role's.

Then: HAProxy accepts the configuration (haproxy -c); traffic goes to the
pool the map names; one haproxy_map task switches it at runtime and rewrites
the file, so that a new HAProxy process started on the same files still
sends traffic to the new pool; check mode changes nothing; a second run
changes nothing; state=read names the live backend and changes nothing. And with haproxy_bluegreen off, the default lab renders no
trace of blue/green.
"""

import http.server
import json
import os
import pathlib
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import HAPROXY, ROOT, ask, free_port

ROLE = ROOT / "roles" / "haproxy"


class _Pool(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = self.server.name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class PoolServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def __init__(self, address, port, name):
        super().__init__((address, port), _Pool)
        self.name = name
        threading.Thread(target=self.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True).start()

    def handle_error(self, request, client_address):
        pass


def render(tmp, extra_vars, inventory):
    """Render the role's haproxy.cfg.j2 and bluegreen.map.j2 into tmp with Ansible."""
    playbook = tmp / "render.yml"
    playbook.write_text(
        "- hosts: lb\n"
        "  gather_facts: false\n"
        "  connection: local\n"
        "  vars_files: [%s, %s]\n"
        "  tasks:\n"
        "    - ansible.builtin.template: {src: %s, dest: %s}\n"
        "    - ansible.builtin.template: {src: %s, dest: %s}\n"
        "      when: haproxy_bluegreen | bool\n"
        % (ROLE / "defaults" / "main.yml", ROLE / "vars" / "main.yml",
           ROLE / "templates" / "haproxy.cfg.j2", tmp / "haproxy.cfg",
           ROLE / "templates" / "bluegreen.map.j2", tmp / "bluegreen.map"))
    (tmp / "inventory.json").write_text(json.dumps(inventory))
    (tmp / "vars.json").write_text(json.dumps(extra_vars))
    binary = pathlib.Path(sys.executable).parent / "ansible-playbook"
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(binary), "-i", str(tmp / "inventory.json"), str(playbook),
                           "-e", "ansible_python_interpreter=%s" % sys.executable,
                           "-e", "@%s" % (tmp / "vars.json")],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return (tmp / "haproxy.cfg").read_text()


def runnable(config, admin):
    """The rendered configuration without what needs root and a real host."""
    keep = []
    for line in config.splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("chroot", "user", "group", "log", "server-state-file", "load-server-state-from-file"):
            continue
        keep.append(line)
    return "\n".join(keep).replace("/run/haproxy/admin.sock", admin) + "\n"


def get(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n\r\n", 1)[1].decode()


class BlueGreen(object):
    """The role's blue/green configuration running in a real HAProxy."""

    def __init__(self, tmp):
        self.tmp = tmp
        port = free_port()
        self.blue = PoolServer("127.0.0.2", port, "blue")
        self.green = PoolServer("127.0.0.3", port, "green")
        self.fe_port = free_port()
        self.admin = str(tmp / "admin.sock")
        self.map = str(tmp / "bluegreen.map")
        inventory = {"all": {"children": {
            "lb": {"hosts": {"lb": {}}},
            "app_blue": {"hosts": {"blue1": {"haproxy_backend_address": "127.0.0.2"}}},
            "app_green": {"hosts": {"green1": {"haproxy_backend_address": "127.0.0.3"}}},
        }}}
        self.rendered = render(tmp, {
            "haproxy_bluegreen": True, "haproxy_bluegreen_map": self.map,
            "haproxy_frontend_bind": "127.0.0.1:%d" % self.fe_port, "haproxy_backend_port": port,
            "haproxy_check_interval": "200ms", "haproxy_check_rise": 1,
        }, inventory)
        self.cfg = tmp / "run.cfg"
        self.cfg.write_text(runnable(self.rendered, self.admin))
        self.proc = None

    def check(self):
        return subprocess.run([HAPROXY, "-c", "-f", str(self.cfg)], capture_output=True, text=True, check=False)

    def start(self):
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", str(self.cfg)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                # Lines after the version and the header; column 5 is srv_op_state.
                rows = [line.split() for line in ask(self.admin, "show servers state").splitlines()[2:]
                        if line.strip()]
                if len(rows) == 2 and all(row[5] == "2" for row in rows):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("haproxy did not bring both pools UP")

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None

    def close(self):
        self.stop()
        for server in (self.blue, self.green):
            server.shutdown()
            server.server_close()


@pytest.fixture
def bluegreen():
    if not os.path.exists(HAPROXY):
        pytest.skip("%s is not installed" % HAPROXY)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="zdt-bluegreen-"))
    lab = BlueGreen(tmp)
    try:
        yield lab
    finally:
        lab.close()
        shutil.rmtree(tmp, ignore_errors=True)


def switch(run_module, lab, backend, **kwargs):
    return run_module("haproxy_map", dict(socket=lab.admin, map=lab.map, key="live", value=backend,
                                          persist=True), **kwargs)


def test_the_role_renders_a_blue_green_configuration_haproxy_accepts(bluegreen):
    check = bluegreen.check()
    assert check.returncode == 0, check.stderr
    assert "use_backend %%[str(live),map(%s,app_blue)]" % bluegreen.map in bluegreen.rendered
    assert "backend app_blue" in bluegreen.rendered and "backend app_green" in bluegreen.rendered
    assert "live app_blue" in pathlib.Path(bluegreen.map).read_text()


def test_one_map_task_switches_the_traffic_and_a_new_process_keeps_it(bluegreen, run_module):
    bluegreen.start()
    assert {get(bluegreen.fe_port) for _ in range(4)} == {"blue"}

    checked = switch(run_module, bluegreen, "app_green", check=True, diff=True)
    assert checked["changed"] is True and checked["previous_value"] == "app_blue"
    assert {get(bluegreen.fe_port) for _ in range(4)} == {"blue"}
    assert "live app_blue" in pathlib.Path(bluegreen.map).read_text()

    result = switch(run_module, bluegreen, "app_green")
    assert result["changed"] is True and result["file_changed"] is True
    assert result["commands"] == ["set map %s live app_green" % bluegreen.map]
    assert {get(bluegreen.fe_port) for _ in range(4)} == {"green"}
    assert "live app_green" in pathlib.Path(bluegreen.map).read_text()
    assert switch(run_module, bluegreen, "app_green")["changed"] is False

    bluegreen.stop()
    bluegreen.start()
    assert {get(bluegreen.fe_port) for _ in range(4)} == {"green"}


def test_state_read_names_the_live_backend_and_changes_nothing(bluegreen, run_module):
    bluegreen.start()
    args = dict(socket=bluegreen.admin, map=bluegreen.map, key="live", state="read")
    file_before = pathlib.Path(bluegreen.map).read_text()
    for check in (False, True):
        read = run_module("haproxy_map", args, check=check)
        assert read["changed"] is False and read["commands"] == [], read
        assert read["value"] == read["previous_value"] == "app_blue"
        assert read["current_values"] == ["app_blue"]
    assert {get(bluegreen.fe_port) for _ in range(4)} == {"blue"}
    assert pathlib.Path(bluegreen.map).read_text() == file_before

    switch(run_module, bluegreen, "app_green")
    assert run_module("haproxy_map", args)["value"] == "app_green"
    missing = run_module("haproxy_map", dict(args, key="nosuchkey"))
    assert missing["changed"] is False and missing["value"] is None and missing["current_values"] == []


def test_without_persist_a_new_process_goes_back_to_the_file(bluegreen, run_module):
    bluegreen.start()
    result = run_module("haproxy_map", dict(socket=bluegreen.admin, map=bluegreen.map, key="live",
                                            value="app_green"))
    assert result["changed"] is True and result["file_changed"] is False
    assert {get(bluegreen.fe_port) for _ in range(4)} == {"green"}
    bluegreen.stop()
    bluegreen.start()
    assert {get(bluegreen.fe_port) for _ in range(4)} == {"blue"}


def test_blue_green_off_renders_the_single_backend_configuration(tmp_path):
    inventory = {"all": {"children": {"lb": {"hosts": {"lb": {}}},
                                      "app": {"hosts": {"app1": {}, "app2": {}}}}}}
    rendered = render(tmp_path, {}, inventory)
    assert "map(" not in rendered and "bluegreen" not in rendered
    assert "    default_backend app\n\n# One server per host of the inventory group 'app'," in rendered
    assert rendered.count("\nbackend ") == 1
    assert not (tmp_path / "bluegreen.map").exists()
