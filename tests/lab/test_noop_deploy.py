# SPDX-License-Identifier: GPL-3.0-or-later
"""A deploy of the release every app host already runs gives a turn only to
the hosts with something to change.

Runs after the main job, with every app host on 1.1.0. app2 is put in
maintenance on lb1 by hand, as a run stopped after its drain would leave it;
deploying 1.1.0 again must give app2 a turn (its health check and enable)
that puts it back into rotation, and give app1 and app3, which run 1.1.0 in
rotation, none: the rolling play names neither, and neither is drained,
switched, checked or enabled again (roles/deploy/tasks/check_migrated.yml).
"""

import re
import subprocess
import time

import pytest

from lab_helpers import APP_HOSTS, MAIN_RELEASE, lab_releases
from test_bad_input import balancer_states, deploy

testinfra_hosts = ["local://"]
# It deploys (the release the lab runs): after the tests that read the lab.
REDEPLOYS_LAB = True

# srv_admin_state and srv_op_state of `show servers state` (HAProxy's
# management guide, 9.3): 0 and 2 are READY and running; 1 is MAINT (forced).
IN_ROTATION = ("0", "2")


def set_server_state(server, state):
    """set server app/<server> state <state> on lb1's Runtime API."""
    code = ("import socket; s=socket.socket(socket.AF_UNIX); s.connect('/run/haproxy/admin.sock');"
            "s.sendall(b'set server app/%s state %s\\n');"
            "print(b''.join(iter(lambda: s.recv(65536), b'')).decode())" % (server, state))
    subprocess.run(["docker", "exec", "lb1", "python3", "-c", code], capture_output=True, text=True, check=True)


def wait_in_rotation(timeout_s=30.0):
    """Wait until every app host is READY and running on lb1; return the states."""
    deadline = time.monotonic() + timeout_s
    states = balancer_states()
    while time.monotonic() < deadline and any(states[h] != IN_ROTATION for h in APP_HOSTS):
        time.sleep(0.5)
        states = balancer_states()
    return states


@pytest.fixture(name="app2_in_maintenance")
def fixture_app2_in_maintenance():
    """app2 in MAINT on lb1 for the test, READY again after it whatever happened."""
    assert wait_in_rotation() == {h: IN_ROTATION for h in APP_HOSTS}
    set_server_state("app2", "maint")
    assert balancer_states()["app2"][0] == "1"
    yield
    set_server_state("app2", "ready")
    wait_in_rotation()


def test_a_deploy_of_the_running_release_gives_a_turn_only_to_the_host_out_of_rotation(tmp_path, app2_in_maintenance):
    before = lab_releases()
    assert set(before.values()) == {(MAIN_RELEASE, before["app1"][1], MAIN_RELEASE)}, before

    rc, out, report = deploy(tmp_path, "-e", "deploy_release=%s" % MAIN_RELEASE)

    assert rc == 0, out[-4000:]
    # app2 is back in rotation; nothing else changed.
    assert balancer_states() == {h: IN_ROTATION for h in APP_HOSTS}
    assert lab_releases() == before
    # The rolling play had app2 alone: its one progress line says so.
    assert re.findall(r"^\[\d+/\d+\] \S+:", out, re.M) == ["[1/1] app2:"], out[-4000:]
    rolling = out[out.index("PLAY [Roll the release"):out.index("PLAY [Remove releases")]
    for host in ("app1", "app3"):
        assert "[%s]" % host not in rolling, rolling
        assert not {"drain", "deploy", "health", "enable"} & set(report["hosts"][host]["phases"]), \
            report["hosts"][host]
    assert {"health", "enable"} <= set(report["hosts"]["app2"]["phases"]), report["hosts"]["app2"]
    assert not {"drain", "deploy"} & set(report["hosts"]["app2"]["phases"]), report["hosts"]["app2"]
