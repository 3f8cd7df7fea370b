"""The load probe counts every request and names every failure.

All traffic goes to a threaded http.server the tests start on 127.0.0.1; each
probe run is bounded (a few seconds at <= 50 requests/s). Count checks are
loose sanity bounds, never wall-clock assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import importlib.util
import json
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

PROBE_PATH = pathlib.Path(__file__).resolve().parents[2] / "load_probe.py"


def _load_probe_module():
    spec = importlib.util.spec_from_file_location("load_probe", PROBE_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["load_probe"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


lp = _load_probe_module()


class AppState:
    """What the fake app answers; ``script`` maps the request number to a mode.

    Modes: "ok" (200 with X-Release), "503", "close" (drop the connection
    without answering), "stall" (sleep past the probe's timeout, then 200).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.release = "r1"
        self.mode = "ok"
        self.script = None  # callable(n) -> (mode, release) or None
        self.body = None  # (content_type, bytes) to answer instead of the default

    def next(self) -> tuple[str, str]:
        with self.lock:
            self.count += 1
            if self.script is not None:
                return self.script(self.count)
            return self.mode, self.release


class AppHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the balancer speaks it

    def do_GET(self):  # noqa: N802 (http.server naming)
        state: AppState = self.server.state
        mode, release = state.next()
        if mode == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if mode == "stall":
            time.sleep(0.6)
        status = 503 if mode == "503" else 200
        content_type, body = state.body or ("text/plain", f"hello from {release}\n".encode())
        self.send_response(status)
        if state.body is None:
            self.send_header("X-Release", release)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep pytest output clean
        pass


class AppServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


@pytest.fixture
def app():
    server = AppServer(("127.0.0.1", 0), AppHandler)
    server.state = AppState()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.state.url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield server.state
    finally:
        server.shutdown()
        server.server_close()


def _run(**kwargs):
    result, _records = asyncio.run(lp.run_probe(lp.ProbeConfig(**kwargs)))
    return result


def test_open_loop_rate_sends_about_rate_times_duration_requests(app):
    result = _run(url=app.url, rate=50, duration=2, timeout=2)
    assert 60 <= result["requests_total"] <= 140
    assert result["requests_failed"] == 0
    assert result["outcomes"] == {"200": result["requests_total"]}
    assert result["releases_seen"] == ["r1"]
    assert result["stopped_by"] == "duration"
    assert result["duration_s"] == 2
    assert sum(b["ok"] for b in result["timeline"]) == result["requests_total"]
    assert result["first_failure"] is None and result["last_failure"] is None
    assert 0 <= result["latency_ms"]["p50"] <= result["latency_ms"]["p99"] <= result["latency_ms"]["max"]


def test_503_answers_are_counted_as_failed_by_status(app):
    app.script = lambda n: ("503", "r1") if 5 < n <= 15 else ("ok", "r1")
    result = _run(url=app.url, rate=50, duration=1, timeout=2)
    assert result["outcomes"]["503"] == 10
    assert result["requests_failed"] == 10
    assert result["outcomes"]["200"] == result["requests_total"] - 10
    assert result["first_failure"]["outcome"] == "503"
    assert result["first_failure"]["t"] <= result["last_failure"]["t"]
    failed_seconds = [b for b in result["timeline"] if b["failed"]]
    assert sum(b["failures"]["503"] for b in failed_seconds) == 10


def test_dropped_connections_are_counted_as_remote_protocol_errors(app):
    app.script = lambda n: ("close", "r1") if n % 4 == 0 else ("ok", "r1")
    result = _run(url=app.url, rate=40, duration=1, timeout=2)
    assert result["outcomes"].get("RemoteProtocolError", 0) >= 1
    assert result["requests_failed"] == result["requests_total"] - result["outcomes"]["200"]


def test_refused_connections_are_counted_as_connect_errors():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port now.
    result = _run(url=f"http://127.0.0.1:{port}/", rate=20, duration=0.5, timeout=1)
    assert result["outcomes"] == {"ConnectError": result["requests_total"]}
    assert result["requests_failed"] == result["requests_total"] > 0


def test_a_stalled_backend_shows_as_timeouts_not_as_fewer_requests(app):
    app.script = lambda n: ("stall", "r1") if 10 < n <= 20 else ("ok", "r1")
    result = _run(url=app.url, rate=40, duration=1, timeout=0.3, connections=32)
    assert 20 <= result["requests_total"] <= 60
    assert result["outcomes"].get("ReadTimeout", 0) >= 5
    assert result["latency_ms"]["max"] >= 300


def test_releases_are_listed_in_order_of_first_appearance(app):
    app.script = lambda n: ("ok", "r1" if n <= 10 else "r2" if n <= 20 else "r1")
    result = _run(url=app.url, rate=50, duration=1, timeout=2, connections=1)
    assert result["releases_seen"] == ["r1", "r2"]
    assert sum(sum(b["releases"].values()) for b in result["timeline"]) == result["requests_total"]


def test_stop_file_ends_the_run_early(app, tmp_path):
    stop = tmp_path / "stop"
    ready = tmp_path / "ready"
    app.script = lambda n: (stop.touch() or ("ok", "r1")) if n == 10 else ("ok", "r1")
    result = _run(url=app.url, rate=50, duration=60, timeout=2, stop_file=str(stop), ready_file=str(ready))
    assert result["stopped_by"] == "stop_file"
    assert result["requests_total"] < 100
    assert json.loads(ready.read_text())["release"] == "r1"


def _response(url, *, headers=None, content=b""):
    return httpx.Response(200, headers=headers or {}, content=content, request=httpx.Request("GET", url))


@pytest.mark.parametrize(
    ("url", "headers", "content", "expected"),
    [
        ("http://x/", {"X-Release": "20240101-abc"}, b'{"release": "other"}', "20240101-abc"),
        ("http://x/health", {"Content-Type": "application/json"}, b'{"release": "r7", "ok": true}', "r7"),
        ("http://x/version", {"Content-Type": "text/plain"}, b"r9\n", "r9"),
        ("http://x/", {"Content-Type": "text/html"}, b"<html>r9</html>", None),
        ("http://x/", {"Content-Type": "application/json"}, b"[1, 2]", None),
    ],
)
def test_release_comes_from_header_then_json_then_version_body(url, headers, content, expected):
    assert lp.extract_release(_response(url, headers=headers, content=content)) == expected


@pytest.mark.parametrize(("status", "failed"), [(200, False), (204, False), (302, False), (404, True), (499, True), (503, True)])
def test_any_status_outside_2xx_3xx_is_failed(status, failed):
    assert lp.is_failed_status(status) is failed


def test_summary_of_known_records_has_exact_counts_percentiles_and_timeline():
    records = [lp.Record(t=i / 10, outcome="200", failed=False, latency_ms=float(i + 1), release="a") for i in range(10)]
    records += [
        lp.Record(t=1.2, outcome="ReadTimeout", failed=True, latency_ms=5000.0),
        lp.Record(t=1.5, outcome="503", failed=True, latency_ms=2.0, release="b"),
        lp.Record(t=1.7, outcome="200", failed=False, latency_ms=1.0, release="b"),
    ]
    result = lp.summarize(records, rate_target=10, duration_s=2.0)
    assert result["requests_total"] == 13
    assert result["requests_failed"] == 2
    assert result["rate_achieved"] == 6.5
    assert result["outcomes"] == {"200": 11, "ReadTimeout": 1, "503": 1}
    assert result["releases_seen"] == ["a", "b"]
    assert result["latency_ms"] == {"p50": 5.0, "p90": 10.0, "p99": 5000.0, "max": 5000.0}
    assert result["first_failure"] == {"t": 1.2, "outcome": "ReadTimeout", "latency_ms": 5000.0}
    assert result["last_failure"]["outcome"] == "503"
    assert result["timeline"] == [
        {"t": 0, "ok": 10, "failed": 0, "releases": {"a": 10}},
        {"t": 1, "ok": 1, "failed": 2, "releases": {"b": 2}, "failures": {"ReadTimeout": 1, "503": 1}},
    ]
    assert json.loads(lp.dumps_result(result)) == result


def test_bad_arguments_are_refused_before_any_traffic():
    with pytest.raises(ValueError):
        lp.ProbeConfig(rate=0).validate()
    with pytest.raises(ValueError):
        lp.ProbeConfig(duration=lp.MAX_DURATION + 1).validate()
    with pytest.raises(SystemExit) as exc:
        lp.main(["--header", "no-colon"])
    assert exc.value.code == 2


def test_sigterm_stops_the_cli_and_the_json_is_still_written(app, tmp_path):
    app.release = "r5"
    output = tmp_path / "out" / "probe.json"
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(PROBE_PATH),
            "--url", app.url,
            "--rate", "30",
            "--duration", "30",
            "--timeout", "2",
            "--header", "Host: app.example",
            "--output", str(output),
            "--ready-file", str(ready),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "probe never became ready"
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        stderr = proc.communicate(timeout=10)[1]
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    assert proc.returncode == 0, stderr
    result = json.loads(output.read_text())
    assert result["stopped_by"] == "signal"
    assert 1 <= result["requests_total"] < 30 * 30
    assert result["releases_seen"] == ["r5"]
    assert result["requests_failed"] == 0
    assert stderr.strip().splitlines()[-1].startswith("load_probe: ")
