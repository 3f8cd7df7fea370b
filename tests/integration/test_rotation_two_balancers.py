# SPDX-License-Identifier: GPL-3.0-or-later
"""The rotation role's drain entry point against two real HAProxy processes.

Two balancers (lb1, lb2: HAProxy processes on the controller, reached with
the local connection) have the same backend of two app servers. The role
must leave the app host drained on both, or fail naming the balancer that
could not confirm the drain, with the host back in rotation wherever this
drain took it out.
"""

import os
import pathlib
import shutil
import sys
import tempfile
import threading

import pytest

from ha_helpers import FDRAIN, FMAINT, HAPROXY, MasterWorkerHAProxy, RecordingWebServer, free_port, run_playbook

ROOT = pathlib.Path(__file__).resolve().parents[2]

PLAYBOOK = """
- name: Drain web1 on every balancer
  hosts: web1
  gather_facts: false
  vars:
    rotation_poll_interval: 0.05
    rotation_up_timeout: 10
    rotation_drain_timeout: 10
  tasks:
%s"""

ENTRY_POINT = """
    - name: Run the rotation role's {0} entry point
      ansible.builtin.include_role:
        name: zerodowntime.deploy.rotation
        tasks_from: {0}
"""


@pytest.fixture
def balancers():
    """{"lb1": MasterWorkerHAProxy, "lb2": ...} in front of web1 and web2, and a tmp dir."""
    if not os.path.exists(HAPROXY):
        pytest.skip("%s is not installed" % HAPROXY)
    tmp = tempfile.mkdtemp(prefix="zdt-rotation-")
    release = threading.Event()
    webs = [RecordingWebServer(name, release) for name in ("web1", "web2")]
    lbs = {}
    try:
        for name in ("lb1", "lb2"):
            os.mkdir(os.path.join(tmp, name))
            lbs[name] = MasterWorkerHAProxy(os.path.join(tmp, name), """
frontend fe
    bind 127.0.0.1:%d
    default_backend app

backend app
    option httpchk GET /health
%s
""" % (free_port(), "\n".join("    server %s 127.0.0.1:%d check inter 200ms rise 1 fall 2" % (w.name, w.port)
                              for w in webs)))
            lbs[name].wait_status("app", ["web1", "web2"], "UP")
        yield lbs, tmp
    finally:
        release.set()
        for lb in lbs.values():
            lb.stop()
        for web in webs:
            web.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def master_socket(socket):
    """The master CLI of the MasterWorkerHAProxy whose admin socket is `socket` ("" for a TCP socket)."""
    return "" if socket.startswith("tcp://") else os.path.join(os.path.dirname(socket), "master.sock")


def drain(tmp, sockets, entry_points=("drain",), extra_vars=None):
    """Run the role's drain (or other entry points) for web1 with each
    balancer's socket, and ``extra_vars`` (a dict) as extra vars; returns
    (exit status, web1's results by task name, the last failure message)."""
    inventory = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "children": {
            # Each MasterWorkerHAProxy has its master CLI beside its admin socket.
            "balancers": {"hosts": {lb: {"haproxy_admin_socket": socket,
                                         "haproxy_master_socket": master_socket(socket)}
                                    for lb, socket in sockets.items()}},
            "app": {"hosts": {"web1": {}, "web2": {}}},
        },
    }}
    rc, tasks = run_playbook(ROOT, tmp, "drain", PLAYBOOK % "".join(ENTRY_POINT.format(name) for name in entry_points),
                             inventory, extra_vars)
    results = {t["task"]["name"]: t["hosts"]["web1"] for t in tasks if "web1" in t["hosts"]}
    failures = [r["msg"] for r in results.values() if r.get("failed")]
    return rc, results, failures[-1] if failures else None


def published(results):
    """What the role published for the deploy report (merged, in task order)."""
    report = {}
    for result in results.values():
        report.update(result.get("ansible_facts", {}).get("zerodowntime_report", {}))
    return report


def admin_and_status(lb):
    row = lb.server("app", "web1")
    return int(row["srv_admin_state"]), row["status"]


def test_the_host_is_drained_then_put_in_maintenance_on_both_balancers_and_both_are_reported(balancers):
    lbs, tmp = balancers
    rc, results, failure = drain(tmp, {name: lb.admin for name, lb in lbs.items()})

    assert rc == 0, failure
    for lb in lbs.values():
        admin, status = admin_and_status(lb)
        assert admin & FMAINT and status == "MAINT", (admin, status)
    assert published(results)["drained_on"] == {"lb1": "MAINT", "lb2": "MAINT"}


def test_with_rotation_drained_state_drain_the_host_stays_in_drain_on_both_balancers(balancers):
    lbs, tmp = balancers
    rc, results, failure = drain(tmp, {name: lb.admin for name, lb in lbs.items()},
                                 extra_vars={"rotation_drained_state": "drain"})

    assert rc == 0, failure
    for lb in lbs.values():
        admin, status = admin_and_status(lb)
        assert admin & FDRAIN and not admin & FMAINT and status == "DRAIN", (admin, status)
    assert published(results)["drained_on"] == {"lb1": "DRAIN", "lb2": "DRAIN"}


def test_a_host_put_in_maintenance_by_the_drain_is_back_up_after_the_enable(balancers):
    lbs, tmp = balancers
    rc, results, failure = drain(tmp, {name: lb.admin for name, lb in lbs.items()}, entry_points=("drain", "enable"))

    assert rc == 0, failure
    for lb in lbs.values():
        assert admin_and_status(lb) == (0, "UP")
    assert published(results)["enabled_on"] == {"lb1": "UP", "lb2": "UP"}


def test_when_the_second_balancer_refuses_the_drain_the_first_puts_the_host_back(balancers):
    lbs, tmp = balancers
    rc, results, failure = drain(tmp, {"lb1": lbs["lb1"].admin, "lb2": lbs["lb2"].operator})

    assert rc != 0
    assert "balancer lb2 could not confirm the drain" in failure
    assert "level 'operator'" in failure
    assert "Returned to rotation on lb1" in failure
    assert admin_and_status(lbs["lb1"]) == (0, "UP")
    assert admin_and_status(lbs["lb2"]) == (0, "UP")
    report = published(results)
    assert list(report["drain_failed_on"]) == ["lb2"]
    assert report["returned_to_rotation_on"] == ["lb1"]
    assert report["left_out_of_rotation_on"] == {}
    assert "drained_on" not in report


def test_when_the_first_balancer_has_no_socket_the_second_is_drained_then_put_back(balancers):
    lbs, tmp = balancers
    missing = os.path.join(tmp, "missing.sock")
    rc, results, failure = drain(tmp, {"lb1": missing, "lb2": lbs["lb2"].admin})

    assert rc != 0
    assert "balancer lb1 could not confirm the drain" in failure and missing in failure
    assert "Returned to rotation on lb2" in failure
    assert admin_and_status(lbs["lb1"]) == (0, "UP")
    assert admin_and_status(lbs["lb2"]) == (0, "UP")


def test_a_host_an_operator_had_drained_stays_drained_after_a_failed_drain(balancers):
    lbs, tmp = balancers
    lbs["lb1"].ask("set server app/web1 state drain")
    rc, results, failure = drain(tmp, {"lb1": lbs["lb1"].admin, "lb2": lbs["lb2"].operator})

    assert rc != 0
    assert "balancer lb2 could not confirm the drain" in failure
    assert "No balancer had to be returned to rotation" in failure
    assert admin_and_status(lbs["lb1"])[0] & FDRAIN
    assert admin_and_status(lbs["lb2"]) == (0, "UP")


def test_the_capacity_guard_names_a_balancer_it_cannot_read_and_drains_nothing(balancers):
    lbs, tmp = balancers
    missing = os.path.join(tmp, "missing.sock")
    rc, results, failure = drain(tmp, {"lb1": lbs["lb1"].admin, "lb2": missing},
                                 entry_points=("capacity", "drain"))

    assert rc != 0
    assert "Refusing to drain web1: balancer lb2 could not be read" in failure and missing in failure
    assert admin_and_status(lbs["lb1"]) == (0, "UP")
