"""The deploy_report callback times every phase per host and names what failed.

Most tests share one real ansible-playbook run of
fixtures/deploy_report/site.yml: app1..app3 on the local connection and
"ghost", an ssh host pointed at a 127.0.0.1 listener the test starts that
drops every connection, so ghost is unreachable without leaving the machine.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import threading
import types

import pytest

from ansible_collections.zerodowntime.deploy.plugins.callback import deploy_report

ROOT = pathlib.Path(__file__).resolve().parents[4]
FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures" / "deploy_report"
BIN = pathlib.Path(sys.executable).parent
ALL_PHASES = ["preflight", "build", "migrate", "drain", "deploy", "health", "enable"]


def _tool(name):
    path = BIN / name
    return str(path) if path.exists() else shutil.which(name)


def _env(tmp, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "ZERODOWNTIME_"))}
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_CALLBACKS_ENABLED="zerodowntime.deploy.deploy_report",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-local"),
        ANSIBLE_REMOTE_TEMP=str(tmp / "ansible-remote"),
    )
    env.update(extra)
    return env


class DroppingListener:
    """Accepts TCP connections on 127.0.0.1 and closes them at once."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn = self.sock.accept()[0]
            except OSError:
                continue
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


def _inventory(path, ghost_port):
    ssh_args = "-F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=3 -o BatchMode=yes"
    inventory = {
        "all": {
            "vars": {"ansible_python_interpreter": sys.executable},
            "children": {"app": {"hosts": {h: {"ansible_connection": "local"} for h in ("app1", "app2", "app3")}}},
            "hosts": {
                "ghost": {
                    "ansible_connection": "ssh",
                    "ansible_host": "127.0.0.1",
                    "ansible_port": ghost_port,
                    "ansible_user": "nobody",
                    "ansible_ssh_common_args": ssh_args,
                }
            },
        }
    }
    path.write_text(json.dumps(inventory))  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def deploy_run(tmp_path_factory):
    """Run site.yml once; return (report dict, stdout)."""
    tmp = tmp_path_factory.mktemp("deploy_report")
    listener = DroppingListener()
    report_path = tmp / "reports" / "nested" / "deploy.json"
    try:
        proc = subprocess.run(
            [_tool("ansible-playbook"), "-i", str(_inventory(tmp / "hosts.yml", listener.port)), str(FIXTURES / "site.yml")],
            env=_env(tmp, ZERODOWNTIME_REPORT_PATH=str(report_path)),
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        listener.close()
    assert proc.returncode != 0, "app2 is meant to fail"
    assert report_path.exists(), proc.stdout + proc.stderr
    assert not [p for p in report_path.parent.iterdir() if p.name != report_path.name], "temporary file left behind"
    return json.loads(report_path.read_text()), proc.stdout + proc.stderr


def _time(value):
    parsed = datetime.datetime.fromisoformat(value)
    assert parsed.tzinfo is not None
    return parsed


def test_report_has_the_playbook_timing_and_an_overall_failed_result(deploy_run):
    report = deploy_run[0]
    assert report["playbook"] == "site.yml"
    assert report["result"] == "failed"
    assert _time(report["started"]) <= _time(report["ended"])
    assert report["duration_s"] >= 0
    assert list(report["hosts"]) == ["ghost", "app1", "app2", "app3"]


def test_every_way_of_marking_a_phase_is_timed_per_host(deploy_run):
    report = deploy_run[0]
    # block vars, tag, roles: keyword, include_role, import_role, block, include_tasks
    phases = report["hosts"]["app1"]["phases"]
    assert list(phases) == ALL_PHASES
    for name, timing in phases.items():
        assert timing["seconds"] >= 0, name
        assert timing["tasks"] >= 1, name
        assert _time(timing["start"]) <= _time(timing["end"]), name


def test_delegated_drain_time_counts_for_the_play_host(deploy_run):
    report = deploy_run[0]
    # The only drain work is a 0.3 s sleep delegated to localhost.
    assert report["hosts"]["app1"]["phases"]["drain"]["seconds"] >= 0.3
    assert "drain" not in report["hosts"].get("localhost", {}).get("phases", {})


def test_a_failed_host_is_reported_failed_with_the_task_and_message(deploy_run):
    report = deploy_run[0]
    app2 = report["hosts"]["app2"]
    assert app2["result"] == "failed"
    assert app2["failure"]["task"] == "pretend_release : Switch the current release to r2"
    assert app2["failure"]["phase"] == "deploy"
    assert app2["failure"]["kind"] == "failed"
    assert app2["failure"]["msg"] == "release r2 is broken on app2"
    assert list(app2["phases"]) == ["preflight", "build", "migrate", "drain", "deploy"]
    assert app2["stats"]["failures"] == 1


def test_an_unreachable_host_is_reported_unreachable(deploy_run):
    report = deploy_run[0]
    ghost = report["hosts"]["ghost"]
    assert ghost["result"] == "unreachable"
    assert ghost["failure"]["kind"] == "unreachable"
    assert ghost["failure"]["task"] == "Reach the host and take a moment to check it"
    assert ghost["failure"]["phase"] == "preflight"


def test_hosts_after_a_failed_serial_batch_are_not_run(deploy_run):
    report = deploy_run[0]
    app3 = report["hosts"]["app3"]
    assert app3["result"] == "not_run"
    assert app3["failure"] is None
    assert list(app3["phases"]) == ["preflight", "build", "migrate"]


def test_a_rescued_failure_leaves_the_host_ok_and_is_listed(deploy_run):
    report = deploy_run[0]
    app1 = report["hosts"]["app1"]
    assert app1["result"] == "ok"
    assert app1["failure"] is None
    assert [(f["task"], f["phase"]) for f in app1["rescued_failures"]] == [("Find app1 unhealthy on the first look", "health")]


def test_published_report_data_is_merged_into_the_host_entry(deploy_run):
    report = deploy_run[0]
    app1 = report["hosts"]["app1"]
    assert app1["release_before"] == "r1"
    assert app1["release_after"] == "r2"
    assert app1["balancers"] == {"lb1": "UP", "lb2": "UP"}
    assert app1["result"] == "ok", "a published 'result' must not overwrite the callback's"
    assert report["hosts"]["app2"]["release_before"] == "r1"
    assert "release_after" not in report["hosts"]["app2"]


def test_the_summary_table_shows_releases_phases_and_results(deploy_run):
    output = deploy_run[1]
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("DEPLOY REPORT [failed"))
    header = lines[start + 1].split()
    assert header == ["host", "release"] + ALL_PHASES + ["result"]
    rows = {line.split()[0]: line for line in lines[start + 2 : start + 6]}
    assert rows["app1"].split()[1:4] == ["r1", "->", "r2"]
    assert rows["app1"].rstrip().endswith("ok")
    assert rows["app2"].rstrip().endswith("failed at 'pretend_release : Switch the current release to r2'")
    assert rows["app3"].rstrip().endswith("not_run")
    assert "app2: release r2 is broken on app2" in lines
    assert any(line.startswith("deploy report written to ") for line in lines)
    assert "keys ['result'] are reserved" in output


def _run_tiny(tmp, env_extra=None, config=None):
    env = _env(tmp, **(env_extra or {}))
    if config is not None:
        env["ANSIBLE_CONFIG"] = str(config)
        del env["ANSIBLE_CALLBACKS_ENABLED"]
    return subprocess.run(
        [
            _tool("ansible-playbook"),
            "-i", "localhost,",
            "-c", "local",
            "-e", f"ansible_python_interpreter={sys.executable}",
            str(FIXTURES / "tiny.yml"),
        ],
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_report_path_and_enabling_can_come_from_the_ini_file(tmp_path):
    report_path = tmp_path / "from-ini" / "report.json"
    config = tmp_path / "ansible.cfg"
    config.write_text(
        "[defaults]\n"
        f"collections_path = {ROOT / 'build' / 'collections'}\n"
        "callbacks_enabled = zerodowntime.deploy.deploy_report\n"
        "[callback_deploy_report]\n"
        f"report_path = {report_path}\n"
    )
    proc = _run_tiny(tmp_path, config=config)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(report_path.read_text())
    assert report["result"] == "ok"
    assert report["hosts"]["localhost"]["result"] == "ok"
    assert list(report["hosts"]["localhost"]["phases"]) == ["preflight"]


def test_without_a_report_path_only_the_summary_is_printed(tmp_path):
    proc = _run_tiny(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "DEPLOY REPORT [ok" in proc.stdout
    assert "deploy report written" not in proc.stdout
    assert not list(tmp_path.rglob("*.json"))


def test_the_summary_can_be_switched_off(tmp_path):
    proc = _run_tiny(tmp_path, {"ZERODOWNTIME_REPORT_SUMMARY": "false", "ZERODOWNTIME_REPORT_PATH": str(tmp_path / "r.json")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "DEPLOY REPORT" not in proc.stdout
    assert json.loads((tmp_path / "r.json").read_text())["result"] == "ok"


def test_ansible_doc_renders_the_callback_documentation(tmp_path):
    proc = subprocess.run(
        [_tool("ansible-doc"), "-t", "callback", "zerodowntime.deploy.deploy_report"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "report_path" in proc.stdout
    assert "ZERODOWNTIME_REPORT_PATH" in proc.stdout


# ---- helpers, without Ansible running ---------------------------------------


def _task(vars_=None, tags=(), role=None):
    return types.SimpleNamespace(get_vars=lambda: dict(vars_ or {}), tags=list(tags), _role=role)


def test_phase_comes_from_vars_then_role_vars_then_tags():
    role = types.SimpleNamespace(get_vars=lambda: {"zerodowntime_phase": "migrate"})
    assert deploy_report.task_phase(_task({"zerodowntime_phase": "drain"}, ["phase_build"], role)) == "drain"
    assert deploy_report.task_phase(_task({}, ["phase_build"], role)) == "migrate"
    assert deploy_report.task_phase(_task({}, ["web", "phase_build"])) == "build"
    assert deploy_report.task_phase(_task({}, ["phase_"])) is None
    assert deploy_report.task_phase(_task({"zerodowntime_phase": "{{ phase }}"})) is None


def test_published_dicts_merge_recursively_and_scalars_replace():
    target = {"release_before": "r1", "balancers": {"lb1": "UP"}}
    deploy_report.merge_report(target, {"balancers": {"lb2": "DRAIN"}, "release_before": "r0", "new": [1]})
    assert target == {"release_before": "r0", "balancers": {"lb1": "UP", "lb2": "DRAIN"}, "new": [1]}


def test_failure_message_names_the_failed_loop_item():
    data = {"msg": "One or more items failed", "results": [{"failed": False}, {"failed": True, "msg": "no", "item": "lb2"}]}
    assert deploy_report.failure_message(data) == "One or more items failed (item 'lb2': no)"
    assert len(deploy_report.failure_message({"msg": "x" * 5000})) == deploy_report.MSG_MAX_CHARS


def test_known_phases_come_first_in_deploy_order():
    assert deploy_report.order_phases(["smoke", "enable", "drain", "preflight", "drain"]) == ["preflight", "drain", "enable", "smoke"]


# ---- the deploy lock ----------------------------------------------------------


def _run_lock(tmp, release):
    report_path = tmp / "lock.json"
    proc = subprocess.run(
        [
            _tool("ansible-playbook"),
            "-i", "localhost,",
            "-c", "local",
            "-e", f"ansible_python_interpreter={sys.executable}",
            "-e", f"release_lock={release}",
            str(FIXTURES / "lock.yml"),
        ],
        env=_env(tmp, ZERODOWNTIME_REPORT_PATH=str(report_path)),
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc, json.loads(report_path.read_text())


def test_a_run_that_ends_holding_the_deploy_lock_says_how_to_clear_it(tmp_path):
    proc, report = _run_lock(tmp_path, release=False)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert report["deploy_lock"] == {"name": "app", "host": "lb1", "run_id": "pretendrun000001", "held": True}
    # The lock is the run's, not the host's.
    assert "deploy_lock" not in report["hosts"]["localhost"]
    lines = [line for line in proc.stdout.splitlines() if "deploy lock app on lb1 is still held" in line]
    assert len(lines) == 1, proc.stdout
    assert "-e deploy_lock_break=true" in lines[0]


def test_a_run_that_released_the_deploy_lock_prints_no_hint(tmp_path):
    proc, report = _run_lock(tmp_path, release=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report["deploy_lock"]["held"] is False
    assert "deploy_lock_break" not in proc.stdout


def test_a_run_that_never_took_the_deploy_lock_reports_none(tmp_path):
    proc = _run_tiny(tmp_path, {"ZERODOWNTIME_REPORT_PATH": str(tmp_path / "r.json")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((tmp_path / "r.json").read_text())["deploy_lock"] is None
    assert "deploy_lock_break" not in proc.stdout


@pytest.mark.parametrize(("host", "cell"), [
    ({"release_before": "1.0.0", "release_after": "1.1.0", "release_running": "1.0.0"}, "1.0.0 -> 1.1.0"),
    ({"release_after": "1.0.0"}, "- -> 1.0.0"),
    ({"release_running": "1.1.0"}, "1.1.0 (unchanged)"),
    ({"release_running": ""}, "-"),
    ({}, "-"),
])
def test_the_release_column_names_an_unchanged_release(host, cell):
    assert deploy_report.release_cell(host) == cell


def _rolling(tmp_path, **env):
    proc = subprocess.run(
        [_tool("ansible-playbook"), "-i", str(_inventory(tmp_path / "hosts.yml", 1)), "--limit", "app",
         str(FIXTURES / "rolling.yml")],
        env=_env(tmp_path, **env), cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_each_host_of_a_rolling_play_gets_one_progress_line_at_the_end_of_its_turn(tmp_path):
    out = _rolling(tmp_path)
    lines = [line for line in out.splitlines() if re.match(r"^\[\d/\d\] app\d: ", line)]
    # app3 ran no rolling phase: no line for it.
    assert [line.split(":")[0] for line in lines] == ["[1/3] app1", "[2/3] app2"], out
    app1, app2 = lines
    assert re.match(r"^\[1/3\] app1: drain \d+\.\d s, deploy \d+\.\d s, health \d+\.\d s, enable \d+\.\d s; "
                    r"(\d+\.\d) s out of rotation; \d+ s so far$", app1), app1
    # The pause of the drain is in the time out of rotation.
    assert float(re.search(r"(\d+\.\d) s out of rotation", app1).group(1)) >= 1.0
    assert "FAILED in health at 'Health'" in app2, app2
    # Each line comes once, after the host's tasks and before the next batch's.
    assert out.index(app1) < out.index("batch 2: app2 (host 2 of 3)") < out.index(app2) \
        < out.index("batch 3: app3 (host 3 of 3)")
    assert out.count(app1) == 1


def test_the_progress_lines_can_be_turned_off(tmp_path):
    out = _rolling(tmp_path, ZERODOWNTIME_REPORT_PROGRESS="false")
    assert not re.search(r"^\[\d/\d\] app\d: ", out, re.M), out
    assert "batch 2:" not in out
    assert "DEPLOY REPORT" in out
