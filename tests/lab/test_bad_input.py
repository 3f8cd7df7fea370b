"""Bad input to the deploy fails with a clear message and changes nothing.

Runs playbooks/deploy.yml against the lab (after the main job left every
app host on 1.1.0) with wrong settings, and checks that the play stops with
a message naming what was wrong, before any app host is drained.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from lab_helpers import plain

testinfra_hosts = ["local://"]

ROOT = pathlib.Path(__file__).resolve().parents[2]
APP_HOSTS = ["app1", "app2", "app3"]


def deploy_command(tmp_path, *extra):
    """(argv, environment) of the deploy with ``extra`` arguments, reporting
    to tmp_path/report.json."""
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_CALLBACKS_ENABLED": "zerodowntime.deploy.deploy_report",
        "ZERODOWNTIME_REPORT_PATH": str(tmp_path / "report.json"),
        "ANSIBLE_NOCOLOR": "1",
    })
    env.pop("ZERODOWNTIME_ROOT", None)
    playbook = pathlib.Path(sys.executable).parent / "ansible-playbook"
    return [str(playbook), "-i", str(ROOT / "inventories" / "lab" / "hosts.yml"),
            str(ROOT / "playbooks" / "deploy.yml"), *extra], env


def deploy(tmp_path, *extra):
    """Run the deploy with ``extra`` arguments; returns (exit status, output, report dict)."""
    argv, env = deploy_command(tmp_path, *extra)
    proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    return proc.returncode, proc.stdout + proc.stderr, json.loads((tmp_path / "report.json").read_text())


def balancer_states():
    """Return {server: (admin_state, op_state)} for backend app, read on lb1."""
    out = subprocess.run(
        ["docker", "exec", "lb1", "python3", "-c",
         "import socket; s=socket.socket(socket.AF_UNIX); s.connect('/run/haproxy/admin.sock');"
         "s.sendall(b'show servers state app\\n');"
         "print(b''.join(iter(lambda: s.recv(65536), b'')).decode())"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    header = out[1].lstrip("# ").split()
    rows = [dict(zip(header, line.split())) for line in out[2:] if line.strip()]
    return {r["srv_name"]: (r["srv_admin_state"], r["srv_op_state"]) for r in rows}


def assert_no_app_host_touched(report):
    for host in APP_HOSTS:
        entry = report["hosts"].get(host, {})
        assert not {"drain", "deploy", "enable"} & set(entry.get("phases", {})), (host, entry)
    assert balancer_states() == {host: ("0", "2") for host in APP_HOSTS}


def test_a_release_that_cannot_be_built_stops_the_deploy_on_the_controller(tmp_path):
    rc, out, report = deploy(tmp_path, "-e", "deploy_release=9.9.9")
    assert rc != 0
    assert "release 9.9.9 is not in examples/demoapp/releases/ORDER" in out
    assert report["result"] == "failed"
    assert report["hosts"]["localhost"]["failure"]["phase"] == "build"
    assert_no_app_host_touched(report)


def test_a_release_missing_on_the_controller_is_named_in_the_failure(tmp_path):
    rc, out, report = deploy(tmp_path, "-e", "deploy_release=9.9.9", "-e", "deploy_build_command=")
    assert rc != 0
    failure = report["hosts"]["localhost"]["failure"]
    assert "9.9.9" in failure["msg"] and "not found on the controller" in failure["msg"]
    assert_no_app_host_touched(report)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["-e", "deploy_backend=nosuch"], "backend 'nosuch' does not exist"),
        (["-e", "rotation_haproxy_socket=/run/haproxy/missing.sock", "-e", "haproxy_admin_socket=/run/haproxy/missing.sock"],
         "/run/haproxy/missing.sock"),
    ],
    ids=["unknown-backend", "missing-socket"],
)
def test_a_wrong_balancer_setting_fails_in_preflight_before_anything_changes(tmp_path, extra, expected):
    rc, out, report = deploy(tmp_path, "-e", "deploy_release=1.1.0", "-e", "deploy_force=true", *extra)
    assert rc == 2, out[-3000:]
    failure = report["hosts"]["localhost"]["failure"]["msg"]
    assert "Balancer lb1" in failure
    assert expected in failure
    assert_stopped_in_preflight(report)


def test_a_balancer_that_would_lose_the_drain_at_a_reload_is_refused(tmp_path):
    # A configuration without server-state-file, as a user's own balancer
    # may have: the preflight reads another file on lb1 to stand for it.
    rc, out, report = deploy(tmp_path, "-e", "deploy_release=1.1.0", "-e", "deploy_force=true",
                             "-e", "rotation_haproxy_config=/etc/hostname")
    assert rc == 2, out[-3000:]
    failure = report["hosts"]["localhost"]["failure"]["msg"]
    assert "Balancer lb1: its HAProxy configuration has no server-state-file or load-server-state-from-file" in failure
    assert "deploy_require_state_persistence: false" in failure
    assert_stopped_in_preflight(report)


def test_a_misspelled_hook_and_a_missing_hook_file_fail_in_preflight_before_anything_changes(tmp_path):
    (tmp_path / "warm.yml").write_text("---\n- name: Warm\n  ansible.builtin.debug:\n    msg: warm\n")
    hooks = {"before_enabel": str(tmp_path / "warm.yml"), "after_deploy": "hooks/notify.yml"}
    rc, out, report = deploy(tmp_path, "-e", "deploy_release=1.1.0", "-e", "deploy_force=true",
                             "-e", json.dumps({"deploy_hooks": hooks}))
    assert rc == 2, out[-3000:]
    failure = report["hosts"]["localhost"]["failure"]["msg"]
    assert "Unknown hook 'before_enabel' in deploy_hooks; did you mean 'before_enable'?" in failure
    assert "deploy_hooks.after_deploy: task file %s not found on the controller" % (ROOT / "hooks" / "notify.yml") in failure
    assert_stopped_in_preflight(report)


def test_a_failed_deploy_releases_its_deploy_lock(tmp_path):
    deploy(tmp_path, "-e", "deploy_release=1.1.0", "-e", "deploy_force=true", "-e", "deploy_backend=nosuch")
    held = subprocess.run(["docker", "exec", "lb1", "ls", "/var/lib/zerodowntime/locks"],
                          capture_output=True, text=True, check=True)
    assert held.stdout.split() == []


def test_a_migration_linter_that_cannot_reach_the_database_is_named_and_nothing_is_touched(tmp_path):
    # 1.2.0 has pending pre-deploy migrations, so the linter must connect;
    # with a wrong password it crashes instead of judging them.
    rc, out, report = deploy(tmp_path, "-e", "deploy_release=1.2.0", "-e", "demoapp_db_password=wrong-on-purpose")
    assert rc != 0
    failure = report["hosts"]["app1"]["failure"]
    assert failure["phase"] == "migrate"
    assert "django-migration-linter could not check the pending migrations of 1.2.0 on app1" in failure["msg"]
    assert "password authentication failed" in failure["msg"]
    assert "rejects" not in failure["msg"]
    assert "wrong-on-purpose" not in out
    assert_no_app_host_touched(report)


def test_a_migrate_host_lost_before_the_rollout_stops_the_deploy_before_any_drain(tmp_path):
    # A second inventory source points app1, the migrate host, at a port of
    # the controller where nothing listens: SSH reports it unreachable and
    # Ansible drops it from the migrate play without failing that play.
    lost = tmp_path / "lost.yml"
    lost.write_text("all:\n  hosts:\n    app1:\n      ansible_port: 1\n")
    rc, out, report = deploy(tmp_path, "-i", str(lost), "-e", "deploy_release=1.2.0")
    assert rc != 0
    assert report["hosts"]["app1"]["result"] == "unreachable"
    failure = report["hosts"]["localhost"]["failure"]
    assert "the pre-deploy migrations did not complete on app1" in failure["msg"]
    assert "No app host was drained or switched" in failure["msg"]
    # app2 and app3 only had the release staged beside the one they run.
    for host in ("app2", "app3"):
        assert set(report["hosts"][host]["phases"]) <= {"stage"}, (host, report["hosts"][host])
    assert_no_app_host_touched(report)
    held = subprocess.run(["docker", "exec", "lb1", "ls", "/var/lib/zerodowntime/locks"],
                          capture_output=True, text=True, check=True)
    assert held.stdout.split() == []


def lock_held():
    """Names of the deploy locks held on lb1."""
    return subprocess.run(["docker", "exec", "lb1", "ls", "-A", "/var/lib/zerodowntime/locks"],
                          capture_output=True, text=True, check=True).stdout.split()


def assert_stopped_in_preflight(report):
    """The request failed on the controller: no app host even staged, no lock left."""
    assert report["result"] == "failed"
    assert report["hosts"]["localhost"]["failure"]["phase"] == "preflight"
    for host in APP_HOSTS:
        assert not report["hosts"].get(host, {}).get("phases"), (host, report["hosts"].get(host))
    assert lock_held() == []
    assert_no_app_host_touched(report)


# Issue 14's table and more: each must fail on the controller, before the
# lock and before any host is staged, naming the option and what would fix it.
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["-e", "deploy_serial=abc"], "deploy_serial has an invalid entry: each batch must be a positive number"),
        (["-e", "deploy_serial=0"], "deploy_serial has an invalid entry"),
        (["-e", "deploy_serial=-1"], "deploy_serial has an invalid entry"),
        (["-e", "deploy_serial=0%"], "deploy_serial has an invalid entry"),
        (["-e", "deploy_serial=150%"], "deploy_serial has an invalid entry"),
        (["-e", "deploy_serial=1,,2"], "deploy_serial has an invalid entry"),
        (["-e", '{"deploy_serial": [1, "x"]}'], "deploy_serial has an invalid entry"),
        (["-e", '{"deploy_serial": []}'], "deploy_serial is an empty list"),
        (["-e", "deploy_serail=2"], "Unknown option deploy_serail: did you mean deploy_serial?"),
        (["-e", "deploy_stratgy=reload"], "Unknown option deploy_stratgy: did you mean deploy_strategy?"),
        (["-e", "rollback_relase=1.0.0"], "Unknown option rollback_relase: did you mean rollback_release?"),
        (["-e", "deploy_canary_sok_s=5"], "Unknown option deploy_canary_sok_s: did you mean deploy_canary_soak_s?"),
    ],
    ids=["serial-abc", "serial-0", "serial-negative", "serial-0%", "serial-150%", "serial-empty-entry",
         "serial-list-with-word", "serial-empty-list", "misspelled-serial", "misspelled-strategy",
         "misspelled-rollback-release", "misspelled-canary-soak"],
)
def test_a_bad_option_fails_in_preflight_naming_it_and_holds_no_lock(tmp_path, extra, expected):
    rc, out, report = deploy(tmp_path, "-e", "deploy_release=1.1.0", *extra)
    assert rc == 2, out[-3000:]
    assert expected in report["hosts"]["localhost"]["failure"]["msg"]
    assert "Unexpected Exception" not in out
    assert_stopped_in_preflight(report)


def test_an_option_wrong_only_in_the_app_groups_group_vars_fails_in_preflight_naming_the_host(tmp_path):
    # A second inventory source gives the app group a deploy_strategy the
    # deploy role does not know: the controller does not see it, the app
    # hosts do. Checked only by the app hosts' entry points, it failed the
    # stage play after the lock was taken, and left the lock held.
    wrong = tmp_path / "wrong.yml"
    wrong.write_text("all:\n  children:\n    app:\n      vars:\n        deploy_strategy: sideways\n")
    rc, out, report = deploy(tmp_path, "-i", str(wrong), "-e", "deploy_release=1.1.0")
    assert rc == 2, out[-3000:]
    msg = report["hosts"]["localhost"]["failure"]["msg"]
    for host in APP_HOSTS:
        assert f"{host}: value of deploy_strategy must be one of: restart, reload, got: sideways" in msg, msg
    assert_stopped_in_preflight(report)


def test_a_missing_artifact_with_a_null_build_command_says_release_not_found(tmp_path):
    rc, out, report = deploy(tmp_path, "-e", "deploy_release=9.9.9", "-e", '{"deploy_build_command": null}')
    assert rc == 2, out[-3000:]
    failure = report["hosts"]["localhost"]["failure"]["msg"]
    assert "Release 9.9.9 not found on the controller" in failure
    assert "no deploy_build_command is set to build it" in failure
    assert "NoneType" not in out
    assert_stopped_in_preflight(report)


ARTIFACTS = ROOT / "build" / "artifacts"


@pytest.fixture(name="fake_release")
def fixture_fake_release():
    """make(release, content, checksum) writes demoapp-<release>.tar.gz (and
    its .sha256 unless checksum is None) into build/artifacts; removed after."""
    made = []

    def make(release, content, checksum):
        artifact = ARTIFACTS / ("demoapp-%s.tar.gz" % release)
        artifact.write_bytes(content)
        made.append(artifact)
        if checksum is not None:
            artifact.with_name(artifact.name + ".sha256").write_text("%s  %s\n" % (checksum, artifact.name))
        made.append(artifact.with_name(artifact.name + ".sha256"))
        return artifact

    yield make
    for path in made:
        if path.exists():
            path.unlink()


def release_dirs(release):
    """App hosts that have anything of `release` under /srv/demoapp/releases."""
    found = {}
    for host in APP_HOSTS:
        out = subprocess.run(["docker", "exec", host, "find", "/srv/demoapp/releases", "-maxdepth", "1",
                              "-name", "*%s*" % release], capture_output=True, text=True, check=True).stdout
        if out.strip():
            found[host] = out.split()
    return found


def test_an_artifact_that_does_not_match_its_checksum_fails_before_any_host_changes(tmp_path, fake_release):
    good = (ARTIFACTS / "demoapp-1.1.0.tar.gz").read_bytes()
    fake_release("8.0.1", good, "0" * 64)
    rc, out, report = deploy(tmp_path, "-e", "deploy_release=8.0.1")
    assert rc == 2, out[-3000:]
    failures = [entry["failure"]["msg"] for entry in report["hosts"].values() if entry.get("failure")]
    assert any("does not match its checksum file" in msg for msg in failures), failures
    assert release_dirs("8.0.1") == {}
    assert lock_held() == []
    assert_no_app_host_touched(report)


def test_an_artifact_without_its_checksum_file_fails_before_any_host_changes(tmp_path, fake_release):
    fake_release("8.0.2", (ARTIFACTS / "demoapp-1.1.0.tar.gz").read_bytes(), None)
    rc, out, report = deploy(tmp_path, "-e", "deploy_release=8.0.2", "-e", "deploy_build_command=")
    assert rc == 2, out[-3000:]
    failures = [entry["failure"]["msg"] for entry in report["hosts"].values() if entry.get("failure")]
    assert any("8.0.2.tar.gz.sha256 is missing" in msg for msg in failures), failures
    assert release_dirs("8.0.2") == {}
    assert lock_held() == []
    assert_no_app_host_touched(report)


def test_a_truncated_artifact_leaves_no_release_directory_behind(tmp_path, fake_release):
    import hashlib
    truncated = (ARTIFACTS / "demoapp-1.1.0.tar.gz").read_bytes()[:200000]
    fake_release("8.0.3", truncated, hashlib.sha256(truncated).hexdigest())
    rc, out, report = deploy(tmp_path, "-e", "deploy_release=8.0.3")
    assert rc == 2, out[-3000:]
    failures = [entry["failure"]["msg"] for entry in report["hosts"].values() if entry.get("failure")]
    assert any("could not be installed" in msg and "incomplete release directory was removed" in msg
               for msg in failures), failures
    assert release_dirs("8.0.3") == {}
    assert lock_held() == []
    assert_no_app_host_touched(report)


def test_a_wheel_that_needs_another_python_fails_before_anything_is_copied(tmp_path, fake_release):
    import hashlib
    import io
    import tarfile
    import zipfile
    # The main job's artifact plus one wheel that needs a Python the lab's
    # Debian 12 hosts (3.11) do not have.
    wheel = io.BytesIO()
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("soupsieve-9.0.dist-info/METADATA",
                         "Metadata-Version: 2.1\nName: soupsieve\nVersion: 9.0\nRequires-Python: >=3.99\n")
    out = io.BytesIO()
    with tarfile.open(ARTIFACTS / "demoapp-1.1.0.tar.gz", "r:gz") as source, \
            tarfile.open(fileobj=out, mode="w:gz") as target:
        for member in source:
            target.addfile(member, source.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo("wheels/soupsieve-9.0-py3-none-any.whl")
        info.size = len(wheel.getvalue())
        target.addfile(info, io.BytesIO(wheel.getvalue()))
    content = out.getvalue()
    fake_release("8.0.4", content, hashlib.sha256(content).hexdigest())
    rc, out_text, report = deploy(tmp_path, "-e", "deploy_release=8.0.4")
    assert rc == 2, out_text[-3000:]
    failures = [entry["failure"]["msg"] for entry in report["hosts"].values() if entry.get("failure")]
    assert any("Package 'soupsieve' (soupsieve-9.0-py3-none-any.whl) requires a different Python: 3.11" in msg
               and "not in '>=3.99'" in msg and "Nothing was copied to the host" in msg for msg in failures), failures
    assert release_dirs("8.0.4") == {}
    assert lock_held() == []
    assert_no_app_host_touched(report)


def pip_running(release):
    """App hosts where pip is installing `release`'s wheels (wherever the
    role puts its virtualenv)."""
    return [host for host in APP_HOSTS
            if subprocess.run(["docker", "exec", host, "pgrep", "-f", r"%s.*/venv/bin/python install" % re.escape(release)],
                              capture_output=True, check=False).returncode == 0]


def test_an_install_interrupted_on_the_controller_leaves_no_release_behind_and_the_next_run_removes_its_staging(
        tmp_path, fake_release):
    import hashlib
    import signal
    import time
    content = (ARTIFACTS / "demoapp-1.1.0.tar.gz").read_bytes()
    fake_release("8.0.6", content, hashlib.sha256(content).hexdigest())
    argv, env = deploy_command(tmp_path, "-e", "deploy_release=8.0.6")
    with open(tmp_path / "interrupted.log", "wb") as log:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 300
            while not pip_running("8.0.6") and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert proc.poll() is None, (tmp_path / "interrupted.log").read_text()[-3000:]
            # The operator's controller dies mid-install: kill -9 of the whole run.
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=60)
    deadline = time.monotonic() + 120
    while pip_running("8.0.6") and time.monotonic() < deadline:
        time.sleep(1)
    # Whatever the hosts were doing, none has a release 8.0.6 that could be
    # taken for installed: at most its staging directory.
    for host in APP_HOSTS:
        listing = subprocess.run(["docker", "exec", host, "ls", "-A", "/srv/demoapp/releases"],
                                 capture_output=True, text=True, check=True).stdout.split()
        assert "8.0.6" not in listing, (host, listing)
    assert balancer_states() == {host: ("0", "2") for host in APP_HOSTS}
    # The killed run kept its lock (a killed controller cannot release it);
    # its process has ended, so the next deploy from this controller takes
    # the lock over, converges and removes the leftovers.
    assert lock_held() != []
    rc, out, report = deploy(tmp_path, "-e", "deploy_release=1.1.0")
    assert rc == 0, out[-3000:]
    # The result's YAML wraps long lines, and molecule's ANSIBLE_FORCE_COLOR
    # colours each line: compare without colours, whitespace collapsed.
    assert "has ended: this run takes it over" in plain(out), out[-3000:]
    assert release_dirs("8.0.6") == {}
    assert lock_held() == []
