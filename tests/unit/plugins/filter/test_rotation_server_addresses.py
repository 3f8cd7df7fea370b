# SPDX-License-Identifier: GPL-3.0-or-later
"""The rotation_server_addresses filter and the require_address check of
rotation_balancer_problems, on haproxy_info results: shaped as the module
returns them, and read by the module's own code from answers recorded from
HAProxy 2.6 and 3.0."""

import pytest

from ansible_collections.zerodowntime.deploy.plugins.filter.rotation_balancer_problems import (
    rotation_balancer_problems)
from ansible_collections.zerodowntime.deploy.plugins.filter.rotation_server_addresses import (
    rotation_server_addresses)
from ansible_collections.zerodowntime.deploy.plugins.module_utils.haproxy_runtime import HAProxyRuntime
from ansible_collections.zerodowntime.deploy.plugins.modules.haproxy_info import read_backends
from ansible_collections.zerodowntime.deploy.tests.unit.plugins.module_utils.haproxy_fake import (
    VERSIONS,
    FakeHAProxy,
    load_fixture,
)


def reading(balancer, backends):
    """A looped haproxy_info item: backends is {backend: {server: address}}."""
    return {"item": balancer, "changed": False, "cli_level": "admin",
            "backends": {name: {"servers": {server: {"address": address, "admin_state": "ready"}
                                            for server, address in servers.items()}}
                         for name, servers in backends.items()}}


def test_each_server_gets_the_addresses_of_every_balancer_and_backend_once_in_order():
    readings = [
        reading("lb1", {"app": {"app1": "10.0.0.11", "app2": "10.0.0.12"}}),
        reading("lb2", {"app": {"app1": "10.0.0.11", "app2": "192.168.7.12"},
                        "app_blue": {"app1": "10.0.0.11"}}),
    ]
    assert rotation_server_addresses(readings) == {"app1": ["10.0.0.11"], "app2": ["10.0.0.12", "192.168.7.12"]}


@pytest.mark.parametrize("address", ["0.0.0.0", "-", "::", "", None, "app1.example"])
def test_an_address_haproxy_has_not_resolved_is_left_out(address):
    readings = [reading("lb1", {"app": {"app1": address, "app2": "10.0.0.12"}})]
    assert rotation_server_addresses(readings) == {"app2": ["10.0.0.12"]}


def test_ipv6_addresses_are_kept_without_brackets():
    readings = [reading("lb1", {"app": {"app1": "fd00::11"}})]
    assert rotation_server_addresses(readings) == {"app1": ["fd00::11"]}


def test_a_balancer_that_could_not_be_read_adds_nothing():
    failed = {"item": "lb2", "failed": True, "msg": "cannot connect to HAProxy socket /run/x.sock"}
    readings = [failed, reading("lb1", {"app": {"app1": "10.0.0.11"}}), {"item": "lb3", "skipped": True}]
    assert rotation_server_addresses(readings) == {"app1": ["10.0.0.11"]}


@pytest.mark.parametrize("version", VERSIONS)
def test_addresses_from_the_recorded_answers_of_a_real_haproxy(version):
    server = FakeHAProxy({"show stat": load_fixture(version, "show_stat--steady.txt"),
                          "show servers state": load_fixture(version, "show_servers_state--steady.txt")})
    try:
        backends = read_backends(HAProxyRuntime(server.address))
    finally:
        server.close()
    addresses = rotation_server_addresses([{"item": "lb1", "backends": backends}])

    assert addresses["web1"] == ["127.0.0.1"]
    # "unresolved" (init-addr none, a name that does not resolve): srv_addr "-".
    assert backends["api"]["servers"]["unresolved"]["address"] == "-"
    assert "unresolved" not in addresses
    problems = rotation_balancer_problems([{"item": "lb1", "backends": backends}], "api", [],
                                          require_address=["web1", "unresolved"])
    assert problems == [
        "Balancer lb1 has no address for server unresolved (HAProxy reports '-': its name did not resolve), so the "
        "address unresolved must listen on is unknown: make unresolved resolve on lb1 and reload HAProxy, or set "
        "deploy_app_bind_addresses for unresolved."]


def test_a_server_without_an_address_is_a_problem_only_where_the_balancer_has_it():
    readings = [
        reading("lb1", {"app": {"app1": "10.0.0.11", "app2": "0.0.0.0"}}),
        reading("lb2", {"app": {"app1": "10.0.0.11"}}),
        {"item": "lb3", "failed": True, "msg": "cannot connect"},
    ]
    problems = rotation_balancer_problems(readings, "app", [], require_address=["app1", "app2"])
    # lb2 has no server app2 at all, and lb3 could not be read: each is its own problem, reported elsewhere.
    assert [p for p in problems if "no address" in p] == [
        "Balancer lb1 has no address for server app2 (HAProxy reports '0.0.0.0': its name did not resolve), so "
        "the address app2 must listen on is unknown: make app2 resolve on lb1 and reload HAProxy, or set "
        "deploy_app_bind_addresses for app2."]
    assert rotation_balancer_problems(readings[:2], "app", [], require_address=["app1"]) == []


def test_a_server_resolved_in_one_backend_of_the_balancer_has_an_address():
    readings = [reading("lb1", {"app_blue": {"app1": "-"}, "app_green": {"app1": "10.0.0.11"}})]
    assert rotation_balancer_problems(readings, "app_blue", [], require_address=["app1"]) == []
