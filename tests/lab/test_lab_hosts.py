"""Verify the lab after the main job: what each host really runs.

Run by molecule's testinfra verifier against the lab containers after the
side effect (1.0.0 -> 1.1.0 under load, then the same deploy again).
"""

import json
import urllib.request

import pytest

RELEASE = "1.1.0"
APP_HOSTS = ["app1", "app2", "app3"]
ADMIN_SOCKET = "/run/haproxy/admin.sock"


def _run_python(host, code):
    """Run a Python snippet on ``host``; returns its stdout, fails the test on error."""
    result = host.run("python3 -c %s", code)
    assert result.rc == 0, result.stderr
    return result.stdout


@pytest.fixture(name="hostname")
def fixture_hostname(host):
    return host.backend.get_hostname()


def test_app_hosts_run_the_new_release_from_current(host, hostname):
    if hostname not in APP_HOSTS:
        pytest.skip("app hosts only")
    current = host.file("/srv/demoapp/current")
    assert current.is_symlink
    assert current.linked_to == f"/srv/demoapp/releases/{RELEASE}"
    assert host.file("/srv/demoapp/previous").linked_to == "/srv/demoapp/releases/1.0.0"
    assert host.service("demoapp").is_running
    assert host.service("demoapp").is_enabled


def test_app_hosts_answer_the_new_release_directly(host, hostname):
    if hostname not in APP_HOSTS:
        pytest.skip("app hosts only")
    out = _run_python(
        host,
        "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8000/version', timeout=5).read().decode())",
    )
    assert out.strip() == RELEASE


def test_gunicorn_runs_unprivileged_with_a_graceful_stop(host, hostname):
    if hostname not in APP_HOSTS:
        pytest.skip("app hosts only")
    unit = host.run("systemctl show demoapp -p User -p TimeoutStopUSec -p KillMode")
    assert unit.rc == 0
    props = dict(line.split("=", 1) for line in unit.stdout.strip().splitlines())
    assert props["User"] == "demoapp"
    assert props["KillMode"] == "mixed"
    assert props["TimeoutStopUSec"] == "35s"  # gunicorn's graceful timeout (30 s) + 5 s
    env = host.file("/etc/demoapp/environment")
    assert env.mode == 0o640
    assert env.user == "root"


def _servers_of_the_backend(balancer):
    """{server name: its fields of `show servers state app`}, read on ``balancer`` (a testinfra host)."""
    out = _run_python(
        balancer,
        "import socket; s=socket.socket(socket.AF_UNIX); s.connect(%r); "
        "s.sendall(b'show servers state app\\n'); "
        "print(b''.join(iter(lambda: s.recv(65536), b'')).decode())" % ADMIN_SOCKET,
    )
    lines = [line for line in out.splitlines() if line and not line.startswith("#") and line.strip() != "1"]
    header = out.splitlines()[1].lstrip("# ").split()
    servers = {}
    for line in lines:
        fields = dict(zip(header, line.split()))
        servers[fields["srv_name"]] = fields
    return servers


def test_every_app_server_is_up_and_in_rotation_on_the_balancer(host, hostname):
    if hostname != "lb1":
        pytest.skip("balancer only")
    servers = _servers_of_the_backend(host)
    assert sorted(servers) == APP_HOSTS
    for name, fields in servers.items():
        assert fields["srv_op_state"] == "2", f"{name} is not UP: {fields}"
        assert fields["srv_admin_state"] == "0", f"{name} is not READY: {fields}"


def test_the_release_1_1_0_migration_is_applied_once_and_its_column_is_written(host, hostname):
    if hostname != "db1":
        pytest.skip("database only")
    psql = "sudo -u postgres psql -d demoapp -At -c %s"
    applied = host.run(psql, "SELECT name FROM django_migrations WHERE app = 'visits' ORDER BY id")
    assert applied.rc == 0, applied.stderr
    names = applied.stdout.split()
    assert len([n for n in names if n.startswith("0002_")]) == 1
    written = host.run(psql, "SELECT count(*) FROM visits_visit WHERE user_agent IS NOT NULL")
    assert written.rc == 0, written.stderr
    assert int(written.stdout.strip()) > 0


def test_each_release_has_its_static_files_collected_once_with_hashed_names(host, hostname):
    if hostname not in APP_HOSTS:
        pytest.skip("app hosts only")
    for release in ("1.0.0", RELEASE):
        static = f"/srv/demoapp/releases/{release}/static"
        manifest = json.loads(host.file(f"{static}/staticfiles.json").content_string)
        hashed = manifest["paths"]["visits/demo.css"]
        assert hashed != "visits/demo.css" and hashed.startswith("visits/demo."), hashed
        assert host.file(f"{static}/{hashed}").is_file
        assert host.file(f"/srv/demoapp/releases/{release}/.zerodowntime-static-collected").is_file
        # No environment file (settings, secrets) is left in the release.
        assert not host.file(f"/srv/demoapp/releases/{release}/.zerodowntime-migrations.env").exists


def test_the_collected_static_files_are_served_through_the_balancer(host, hostname):
    if hostname != "app1":
        pytest.skip("once, from one app host")
    manifest = json.loads(host.file(f"/srv/demoapp/releases/{RELEASE}/static/staticfiles.json").content_string)
    hashed = manifest["paths"]["visits/demo.css"]
    with urllib.request.urlopen(f"http://127.0.0.1:8080/static/{hashed}", timeout=10) as answer:
        assert answer.status == 200
        assert answer.headers["X-Release"] == RELEASE
        assert "WhiteNoise" in answer.read().decode()


def test_gunicorn_and_the_migrations_use_the_one_settings_option(host, hostname):
    if hostname not in APP_HOSTS:
        pytest.skip("app hosts only")
    # deploy_django_settings, not a copy in deploy_app_environment (the lab
    # inventory sets only the former).
    lines = host.file("/etc/demoapp/environment").content_string.splitlines()
    assert 'DJANGO_SETTINGS_MODULE="demoapp.settings"' in lines, lines


def test_gunicorn_listens_on_127_0_0_1_and_where_the_balancer_reaches_the_host_only(host, hostname):
    if hostname not in APP_HOSTS:
        pytest.skip("app hosts only")
    # Where lb1 connects to this host: the address HAProxy resolved its name to.
    address = _servers_of_the_backend(host.get_host("docker://lb1"))[hostname]["srv_addr"]
    listening = host.run("ss -Hltn")
    assert listening.rc == 0, listening.stderr
    local = [line.split()[3] for line in listening.stdout.splitlines() if line.strip()]
    assert sorted(a for a in local if a.rsplit(":", 1)[-1] == "8000") == sorted(["127.0.0.1:8000", f"{address}:8000"])


def test_pg_hba_admits_the_app_from_the_app_hosts_only(host, hostname):
    if hostname != "db1":
        pytest.skip("database only")
    hba_file = host.run("sudo -u postgres psql -At -c %s", "SHOW hba_file")
    assert hba_file.rc == 0, hba_file.stderr
    rules = [line.split() for line in host.file(hba_file.stdout.strip()).content_string.splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    # Debian's own entries for the server itself stay; every other one names an app host.
    remote = sorted(tuple(rule[1:4]) for rule in rules
                    if rule[0].startswith("host") and rule[3] not in ("127.0.0.1/32", "::1/128"))
    addresses = {}
    for app in APP_HOSTS:
        resolved = host.run("getent ahostsv4 %s", app)
        assert resolved.rc == 0, resolved.stderr
        addresses[app] = resolved.stdout.split()[0]
    assert remote == sorted(("demoapp", "demoapp", f"{address}/32") for address in addresses.values())
