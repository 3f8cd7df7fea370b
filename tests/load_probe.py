#!/usr/bin/env python3
"""Constant-rate HTTP probe that measures what users see during a deploy.

Sends GET requests through the balancer at a fixed *open-loop* rate: request
``i`` is scheduled at ``i / rate`` seconds after the start, whether or not the
earlier ones have answered. A backend that stalls therefore shows up as
errors and latency, never as fewer requests (no coordinated omission).

Every request is recorded as a :class:`Record`; :func:`summarize` turns the
records into the result document written with ``--output``::

    {
      "url": str, "started": iso8601, "ended": iso8601,
      "stopped_by": "duration" | "signal" | "stop_file",
      "rate_target": float,          # requests/s asked for
      "rate_achieved": float,        # requests_total / duration_s
      "duration_s": float,           # seconds during which requests were scheduled
      "requests_total": int, "requests_failed": int,
      "outcomes": {"200": int, "503": int, "ReadTimeout": int, ...},
      "releases_seen": [str, ...],   # in order of first appearance
      "latency_ms": {"p50": float, "p90": float, "p99": float, "max": float},
      "scheduler_lag_ms_max": float, # how late the probe itself sent a request
      "first_failure": {"t": s, "outcome": str, "latency_ms": float} | null,
      "last_failure":  {"t": s, "outcome": str, "latency_ms": float} | null,
      "timeline": [{"t": int s, "ok": int, "failed": int,
                    "releases": {release: count},
                    "failures": {outcome: count}    # only when failed > 0
                   }, ...]
    }

Rules:

* The outcome of a request is its HTTP status code as a string (``"200"``)
  or the class name of the exception it raised (httpx's ``ConnectError``,
  ``ReadTimeout``, ``RemoteProtocolError``, ``PoolTimeout``...;
  ``TimeoutError`` when the answer came after the deadline, ``--timeout`` plus a margin).
* A request failed if it raised or its status is not 2xx/3xx (so 4xx counts
  as failed too: the balancer must answer every request with the app).
  Redirects are not followed.
* Latency is measured from the *scheduled* send time to the end of the body
  (or the error), in milliseconds, over all requests, failed ones included.
* The release in an answer is the ``X-Release`` header, else the ``release``
  key of a JSON object body, else the stripped body text when the URL path
  ends in ``/version``.
* Time offsets ``t`` are seconds since the first scheduled request.

The probe stops on SIGTERM/SIGINT, after ``--duration`` seconds, or when
``--stop-file`` exists; it then waits for requests in flight (each bounded by
``--timeout``) and writes the result. Once the first request has succeeded
it writes ``--ready-file`` so a caller can wait for traffic to be flowing
before it starts the deploy.

Exit status: 0 after a complete run, 1 when ``--max-failed`` was exceeded,
2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import math
import os
import pathlib
import signal
import sys
import tempfile
import urllib.parse
from collections.abc import Iterable, Sequence

import httpx

DEFAULT_URL = "http://127.0.0.1:8080/"
DEFAULT_RATE = 60.0
DEFAULT_DURATION = 900.0
DEFAULT_TIMEOUT = 5.0
DEFAULT_CONNECTIONS = 8
# Hard bounds so a mistyped argument cannot turn the probe into a flood or
# leave it running for ever.
MAX_RATE = 1000.0
MAX_DURATION = 3600.0
MAX_CONNECTIONS = 256
# Extra time the whole request may take beyond --timeout before it counts as
# failed: a stall in a single phase then still reports httpx's specific
# exception (ReadTimeout, PoolTimeout...) rather than the generic TimeoutError.
DEADLINE_MARGIN = 0.5
# httpx bounds each phase (pool, connect, write, read) by --timeout, so a
# request ends within this many timeouts; the final drain waits that long.
PHASES_BOUNDED = 4
RELEASE_MAX_CHARS = 200


@dataclasses.dataclass(frozen=True)
class ProbeConfig:
    """What to probe and how hard; times in seconds, rate in requests/s."""

    url: str = DEFAULT_URL
    rate: float = DEFAULT_RATE
    duration: float = DEFAULT_DURATION
    timeout: float = DEFAULT_TIMEOUT
    connections: int = DEFAULT_CONNECTIONS
    headers: tuple[tuple[str, str], ...] = ()
    stop_file: str | None = None
    ready_file: str | None = None

    def validate(self) -> None:
        """Raise ValueError when a value is outside the supported bounds."""
        if not 0 < self.rate <= MAX_RATE:
            raise ValueError(f"rate must be in (0, {MAX_RATE:g}] requests/s, got {self.rate:g}")
        if not 0 < self.duration <= MAX_DURATION:
            raise ValueError(f"duration must be in (0, {MAX_DURATION:g}] s, got {self.duration:g}")
        if not self.timeout > 0:
            raise ValueError(f"timeout must be > 0 s, got {self.timeout:g}")
        if not 1 <= self.connections <= MAX_CONNECTIONS:
            raise ValueError(f"connections must be in [1, {MAX_CONNECTIONS}], got {self.connections}")
        scheme = urllib.parse.urlsplit(self.url).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"url must be http:// or https://, got {self.url!r}")


@dataclasses.dataclass(frozen=True)
class Record:
    """One request: scheduled offset ``t`` (s), outcome, latency (ms), release."""

    t: float
    outcome: str
    failed: bool
    latency_ms: float
    release: str | None = None


def is_failed_status(status_code: int) -> bool:
    """Any status outside 2xx/3xx is a failed request."""
    return not 200 <= status_code < 400


def extract_release(response: httpx.Response) -> str | None:
    """Return the release that answered, or None when the answer names none.

    Looks at the ``X-Release`` header, then a JSON object body's ``release``
    key, then (for a URL path ending in ``/version``) the body text.
    """
    header = response.headers.get("x-release")
    if header:
        return header.strip()[:RELEASE_MAX_CHARS]
    content_type = response.headers.get("content-type", "")
    body = response.content
    if "json" in content_type or body[:1] == b"{":
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("release") not in (None, ""):
            return str(data["release"])[:RELEASE_MAX_CHARS]
    if response.request.url.path.rstrip("/").endswith("/version"):
        text = response.text.strip()
        if text:
            return text.splitlines()[0][:RELEASE_MAX_CHARS]
    return None


def parse_header(value: str) -> tuple[str, str]:
    """Parse ``"Name: value"`` (argparse type for ``--header``)."""
    name, sep, content = value.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"header must look like 'Name: value', got {value!r}")
    return name.strip(), content.strip()


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat(timespec="milliseconds")


def _write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and rename, creating parents."""
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending sequence; 0.0 when empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _failure(record: Record | None) -> dict | None:
    if record is None:
        return None
    return {"t": round(record.t, 3), "outcome": record.outcome, "latency_ms": round(record.latency_ms, 1)}


def summarize(
    records: Iterable[Record],
    *,
    rate_target: float,
    duration_s: float,
    url: str = DEFAULT_URL,
    started: str | None = None,
    ended: str | None = None,
    stopped_by: str | None = None,
    scheduler_lag_ms_max: float = 0.0,
) -> dict:
    """Build the result document (shape in the module docstring) from records."""
    ordered = sorted(records, key=lambda r: r.t)
    outcomes: dict[str, int] = {}
    releases_seen: list[str] = []
    timeline: dict[int, dict] = {}
    failures = [r for r in ordered if r.failed]
    for record in ordered:
        outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
        if record.release is not None and record.release not in releases_seen:
            releases_seen.append(record.release)
        second = int(record.t)
        bucket = timeline.setdefault(second, {"t": second, "ok": 0, "failed": 0, "releases": {}})
        if record.failed:
            bucket["failed"] += 1
            counts = bucket.setdefault("failures", {})
            counts[record.outcome] = counts.get(record.outcome, 0) + 1
        else:
            bucket["ok"] += 1
        if record.release is not None:
            bucket["releases"][record.release] = bucket["releases"].get(record.release, 0) + 1
    latencies = sorted(r.latency_ms for r in ordered)
    total = len(ordered)
    return {
        "url": url,
        "started": started,
        "ended": ended,
        "stopped_by": stopped_by,
        "rate_target": rate_target,
        "rate_achieved": round(total / duration_s, 2) if duration_s > 0 else 0.0,
        "duration_s": round(duration_s, 3),
        "requests_total": total,
        "requests_failed": len(failures),
        "outcomes": outcomes,
        "releases_seen": releases_seen,
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 1),
            "p90": round(percentile(latencies, 90), 1),
            "p99": round(percentile(latencies, 99), 1),
            "max": round(latencies[-1], 1) if latencies else 0.0,
        },
        "scheduler_lag_ms_max": round(scheduler_lag_ms_max, 1),
        "first_failure": _failure(failures[0] if failures else None),
        "last_failure": _failure(failures[-1] if failures else None),
        "timeline": [timeline[k] for k in sorted(timeline)],
    }


def dumps_result(result: dict) -> str:
    """JSON text with one line per top-level key and per timeline second."""
    lines = []
    keys = list(result)
    for index, key in enumerate(keys):
        comma = "," if index < len(keys) - 1 else ""
        if key == "timeline" and result[key]:
            entries = [json.dumps(entry, separators=(",", ":")) for entry in result[key]]
            lines.append('  "timeline": [\n    ' + ",\n    ".join(entries) + f"\n  ]{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(result[key])}{comma}")
    return "{\n" + "\n".join(lines) + "\n}\n"


def summary_line(result: dict) -> str:
    """One human line: counts, failures by outcome, releases, latency, stop cause."""
    failed = result["requests_failed"]
    detail = ""
    if failed:
        bad = {k: v for k, v in result["outcomes"].items() if not (k.isdigit() and not is_failed_status(int(k)))}
        detail = " (" + ", ".join(f"{k}={v}" for k, v in sorted(bad.items(), key=lambda kv: -kv[1])) + ")"
    lat = result["latency_ms"]
    return (
        f"load_probe: {result['requests_total']} requests in {result['duration_s']:.1f} s "
        f"({result['rate_achieved']:g}/s of {result['rate_target']:g}/s), {failed} failed{detail}, "
        f"releases {' -> '.join(result['releases_seen']) or 'none'}, "
        f"latency p50 {lat['p50']:g} ms p99 {lat['p99']:g} ms max {lat['max']:g} ms, "
        f"stopped by {result['stopped_by']}"
    )


class Probe:
    """Runs one probe; ``stop()`` may be called from a signal handler or another task."""

    def __init__(self, config: ProbeConfig) -> None:
        config.validate()
        self.config = config
        self.records: list[Record] = []
        self._stop = asyncio.Event()
        self._stopped_by: str | None = None
        self._ready_written = False

    def stop(self, reason: str = "signal") -> None:
        """Stop scheduling new requests; requests in flight are still awaited."""
        if self._stopped_by is None:
            self._stopped_by = reason
        self._stop.set()

    def _mark_ready(self, record: Record) -> None:
        if self._ready_written or record.failed or not self.config.ready_file:
            return
        self._ready_written = True
        _write_atomic(self.config.ready_file, json.dumps({"t": record.t, "release": record.release}) + "\n")

    async def _request(self, client: httpx.AsyncClient, t: float, due: float) -> None:
        loop = asyncio.get_running_loop()
        release = None
        started = loop.time()
        try:
            # Never cancelled from outside (no asyncio.wait_for): a request
            # cancelled while it waits for a pool connection leaks that slot
            # in httpcore 1.0.9 (encode/httpcore#1093), and once every slot
            # has leaked every later request fails with PoolTimeout against
            # a healthy balancer. httpx's per-phase timeouts end each request;
            # one answered after its deadline still counts as failed.
            response = await client.get(self.config.url)
            outcome = str(response.status_code)
            failed = is_failed_status(response.status_code)
            release = extract_release(response)
            if loop.time() - started > self.config.timeout + DEADLINE_MARGIN:
                outcome, failed = "TimeoutError", True
        except asyncio.CancelledError:
            # Only the final drain cancels, after the deadline has passed.
            outcome, failed = "Cancelled", True
        except Exception as exc:  # every error is an outcome to count, never a crash
            outcome, failed = type(exc).__name__, True
        record = Record(t=t, outcome=outcome, failed=failed, latency_ms=(loop.time() - due) * 1000.0, release=release)
        self.records.append(record)
        self._mark_ready(record)

    async def run(self) -> dict:
        """Send requests until stopped, wait for those in flight, return the result."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        interval = 1.0 / cfg.rate
        limits = httpx.Limits(max_connections=cfg.connections, max_keepalive_connections=cfg.connections)
        pending: set[asyncio.Task] = set()
        lag_max = 0.0
        started = datetime.datetime.now(datetime.timezone.utc).timestamp()
        # trust_env=False: proxy variables must not reroute probe traffic.
        async with httpx.AsyncClient(
            http1=True,
            http2=False,
            limits=limits,
            timeout=httpx.Timeout(cfg.timeout),
            headers=dict(cfg.headers),
            follow_redirects=False,
            trust_env=False,
        ) as client:
            t0 = loop.time()
            index = 0
            while True:
                offset = index * interval
                if offset >= cfg.duration:
                    self.stop("duration")
                    break
                delay = t0 + offset - loop.time()
                if delay > 0:
                    try:
                        await asyncio.wait_for(self._stop.wait(), delay)
                    except asyncio.TimeoutError:
                        pass
                if self._stop.is_set():
                    break
                if cfg.stop_file and os.path.exists(cfg.stop_file):
                    self.stop("stop_file")
                    break
                lag_max = max(lag_max, loop.time() - (t0 + offset))
                task = asyncio.create_task(self._request(client, offset, t0 + offset))
                pending.add(task)
                task.add_done_callback(pending.discard)
                index += 1
            duration_s = cfg.duration if self._stopped_by == "duration" else min(loop.time() - t0, cfg.duration)
            if pending:
                late = (await asyncio.wait(set(pending), timeout=PHASES_BOUNDED * cfg.timeout + 2 * DEADLINE_MARGIN))[1]
                for task in late:
                    task.cancel()
                if late:
                    await asyncio.gather(*late, return_exceptions=True)
        ended = datetime.datetime.now(datetime.timezone.utc).timestamp()
        return summarize(
            self.records,
            rate_target=cfg.rate,
            duration_s=duration_s,
            url=cfg.url,
            started=_iso(started),
            ended=_iso(ended),
            stopped_by=self._stopped_by,
            scheduler_lag_ms_max=lag_max * 1000.0,
        )


async def run_probe(config: ProbeConfig, *, install_signal_handlers: bool = False) -> tuple[dict, list[Record]]:
    """Run a probe to completion; return (result document, records in completion order)."""
    probe = Probe(config)
    loop = asyncio.get_running_loop()
    installed = []
    if install_signal_handlers:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, probe.stop, "signal")
            installed.append(signum)
    try:
        result = await probe.run()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
    return result, probe.records


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="load_probe.py",
        description="Send constant-rate HTTP GETs (open loop) and record every outcome.",
    )
    parser.add_argument("--url", default=DEFAULT_URL, help="URL to GET (default %(default)s)")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="requests per second (default %(default)s)")
    parser.add_argument(
        "--duration", type=float, default=DEFAULT_DURATION, help="stop after this many seconds at most (default %(default)s)"
    )
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="per-request timeout in s (default %(default)s)")
    parser.add_argument(
        "--connections", type=int, default=DEFAULT_CONNECTIONS, help="keep-alive connection pool size (default %(default)s)"
    )
    parser.add_argument(
        "--header", action="append", type=parse_header, default=[], metavar="'NAME: VALUE'", help="extra request header, repeatable"
    )
    parser.add_argument("--output", help="write the JSON result here (default: stdout)")
    parser.add_argument("--ready-file", help="written once the first request has succeeded")
    parser.add_argument("--stop-file", help="stop as soon as this file exists")
    parser.add_argument("--requests-output", help="also write every request as JSON lines {t, outcome, failed, latency_ms, release}")
    parser.add_argument("--max-failed", type=int, default=None, help="exit 1 when more requests than this failed")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    config = ProbeConfig(
        url=args.url,
        rate=args.rate,
        duration=args.duration,
        timeout=args.timeout,
        connections=args.connections,
        headers=tuple(args.header),
        stop_file=args.stop_file,
        ready_file=args.ready_file,
    )
    try:
        config.validate()
    except ValueError as exc:
        parser.error(str(exc))
    result, records = asyncio.run(run_probe(config, install_signal_handlers=True))
    text = dumps_result(result)
    if args.output:
        _write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    if args.requests_output:
        _write_atomic(
            args.requests_output,
            "".join(json.dumps(dataclasses.asdict(r), separators=(",", ":")) + "\n" for r in sorted(records, key=lambda r: r.t)),
        )
    print(summary_line(result), file=sys.stderr)
    if args.max_failed is not None and result["requests_failed"] > args.max_failed:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
