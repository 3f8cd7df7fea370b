"""Verify the hosts of the pair of balancers after the side effect: what each
app host runs, and what each balancer reports about the app servers.

Run by molecule's testinfra verifier against the containers of
molecule/ha_pair, after 1.0.0 -> 1.1.0 under load and two deploys that one
balancer could not drain.
"""

import pytest

RELEASE = "1.1.0"
APP_HOSTS = ["ha-app1", "ha-app2"]
BALANCERS = ["ha-lb1", "ha-lb2"]
ADMIN_SOCKET = "/run/haproxy/admin.sock"


@pytest.fixture(name="hostname")
def fixture_hostname(host):
    return host.backend.get_hostname()


def test_app_hosts_still_run_the_release_of_the_last_successful_deploy(host, hostname):
    if hostname not in APP_HOSTS:
        pytest.skip("app hosts only")
    assert host.file("/srv/demoapp/current").linked_to == f"/srv/demoapp/releases/{RELEASE}"
    assert host.service("demoapp").is_running
    out = host.run("python3 -c %s",
                   "import urllib.request as u; "
                   "print(u.urlopen('http://127.0.0.1:8000/version', timeout=5).read().decode())")
    assert out.rc == 0, out.stderr
    assert out.stdout.strip() == RELEASE


def test_both_balancers_have_every_app_server_up_and_in_rotation(host, hostname):
    if hostname not in BALANCERS:
        pytest.skip("balancers only")
    out = host.run("python3 -c %s",
                   "import socket; s=socket.socket(socket.AF_UNIX); s.connect(%r); "
                   "s.sendall(b'show servers state app\\n'); "
                   "print(b''.join(iter(lambda: s.recv(65536), b'')).decode())" % ADMIN_SOCKET)
    assert out.rc == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    header = lines[1].lstrip("# ").split()
    servers = {row["srv_name"]: row for row in (dict(zip(header, line.split())) for line in lines[2:])}
    assert sorted(servers) == APP_HOSTS
    for name, row in servers.items():
        assert (row["srv_admin_state"], row["srv_op_state"]) == ("0", "2"), f"{hostname}: {name} {row}"
