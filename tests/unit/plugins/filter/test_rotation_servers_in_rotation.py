# SPDX-License-Identifier: GPL-3.0-or-later
"""The rotation_servers_in_rotation filter, on haproxy_info results: shaped
as the module returns them, and read by the module's own code from answers
recorded from HAProxy 2.6 and 3.0."""

import pytest

from ansible_collections.zerodowntime.deploy.plugins.filter.rotation_servers_in_rotation import (
    rotation_servers_in_rotation)
from ansible_collections.zerodowntime.deploy.plugins.module_utils.haproxy_runtime import HAProxyRuntime
from ansible_collections.zerodowntime.deploy.plugins.modules.haproxy_info import read_backends
from ansible_collections.zerodowntime.deploy.tests.unit.plugins.module_utils.haproxy_fake import (
    VERSIONS,
    FakeHAProxy,
    load_fixture,
)

READY = {"admin_state": "ready", "operational_state": "up", "status": "UP",
         "health_check": "enabled", "agent_check": "not configured"}


def reading(balancer, servers, backend="app"):
    """A looped haproxy_info item with one backend: servers is {name: changes to READY}."""
    return {"item": balancer, "changed": False,
            "backends": {backend: {"servers": {name: dict(READY, **changes) for name, changes in servers.items()}}}}


def test_servers_ready_and_up_on_every_balancer_are_in_rotation():
    readings = [reading("lb1", {"app1": {}, "app2": {}, "app3": {}}), reading("lb2", {"app1": {}, "app2": {}})]
    # lb2 has no app3: it is not in rotation there.
    assert rotation_servers_in_rotation(readings, "app") == ["app1", "app2"]


@pytest.mark.parametrize("changes", [
    {"admin_state": "maint", "operational_state": "down", "status": "MAINT"},
    {"admin_state": "drain", "status": "DRAIN"},
    # Leaving maintenance, before its first check: HAProxy shows UP 1/3.
    {"status": "UP 1/3"},
    {"operational_state": "down", "status": "DOWN"},
    {"status": "DOWN 1/2"},
    # Drained by an earlier turn that did not end: the agent is still off.
    {"agent_check": "disabled"},
    {"health_check": "disabled"},
])
def test_a_server_out_of_rotation_on_one_balancer_is_left_out(changes):
    readings = [reading("lb1", {"app1": {}, "app2": {}}), reading("lb2", {"app1": {}, "app2": changes})]
    assert rotation_servers_in_rotation(readings, "app") == ["app1"]


def test_a_server_without_checks_is_in_rotation_when_ready():
    readings = [reading("lb1", {"app1": {"status": "no check", "health_check": "not configured"}})]
    assert rotation_servers_in_rotation(readings, "app") == ["app1"]


@pytest.mark.parametrize("unread", [
    {"item": "lb2", "failed": True, "msg": "cannot connect to HAProxy socket /run/haproxy/admin.sock"},
    {"item": "lb2", "skipped": True},
])
def test_no_server_is_in_rotation_when_a_balancer_could_not_be_read(unread):
    assert rotation_servers_in_rotation([reading("lb1", {"app1": {}}), unread], "app") == []


def test_no_reading_and_another_backend_give_no_server():
    assert rotation_servers_in_rotation([], "app") == []
    assert rotation_servers_in_rotation([reading("lb1", {"app1": {}})], "api") == []


@pytest.mark.parametrize("version", VERSIONS)
def test_servers_in_rotation_from_the_recorded_answers_of_a_real_haproxy(version):
    server = FakeHAProxy({"show stat": load_fixture(version, "show_stat--steady.txt"),
                          "show servers state": load_fixture(version, "show_servers_state--steady.txt")})
    try:
        backends = read_backends(HAProxyRuntime(server.address))
    finally:
        server.close()
    readings = [{"item": "lb1", "backends": backends}]

    # app: web1 and web2 are UP, web3 has no check.
    assert rotation_servers_in_rotation(readings, "app") == ["web1", "web2", "web3"]
    # api: dead is DOWN, unresolved in MAINT (resolution), agentdrain in DRAIN (agent).
    in_api = rotation_servers_in_rotation(readings, "api")
    assert {"dead", "unresolved", "agentdrain"}.isdisjoint(in_api), in_api
    assert "web1" in in_api, in_api


@pytest.mark.parametrize("version", VERSIONS)
def test_servers_in_maintenance_or_in_transition_on_a_real_haproxy_are_left_out(version):
    # Recorded with app/web2 in MAINT (api/tracked follows it), api/web1 in
    # DRAIN, and transit/going_down failing its checks (UP 1/3).
    server = FakeHAProxy({"show stat": load_fixture(version, "show_stat--up_1_3.txt"),
                          "show servers state": load_fixture(version, "show_servers_state.txt")})
    try:
        backends = read_backends(HAProxyRuntime(server.address))
    finally:
        server.close()
    readings = [{"item": "lb1", "backends": backends}]

    assert rotation_servers_in_rotation(readings, "app") == ["web1", "web3"]
    assert rotation_servers_in_rotation(readings, "api") == ["zero"]
    assert rotation_servers_in_rotation(readings, "transit") == []
