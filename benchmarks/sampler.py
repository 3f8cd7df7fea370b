#!/usr/bin/env python3
"""Sample one HAProxy backend's servers every INTERVAL seconds, on the balancer itself.

Runs inside the balancer container (python3 standard library only), reading
the Runtime API socket; benchmarks/run.py starts it with ``docker exec -i``
and stops it by closing its standard input (``--once``: one sample, then exit). Each sample is one JSON line on
standard output::

    {"t": 1700000000.123, "s": {"app1": [op, admin, scur, qcur, "UP"], ...}}

``t`` is the epoch time halfway between sending the two commands and the end
of the second answer; ``op``/``admin`` are srv_op_state/srv_admin_state from
``show servers state <backend>``, ``scur``/``qcur``/``status`` come from
``show stat <backend> 4 -1``. A read that fails prints ``{"t", "error"}``
and sampling goes on. Stops by itself after --max-seconds.
"""

import argparse
import csv
import json
import socket
import sys
import threading
import time


def ask(path, command, timeout=1.0):
    """Send one Runtime API command over the unix socket; return the answer text."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    finally:
        sock.close()
    return b"".join(chunks).decode(errors="replace")


def parse_servers_state(text):
    """``show servers state`` answer -> {server: (op_state, admin_state)}."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = None
    out = {}
    for line in lines:
        if line.startswith("#"):
            header = line[1:].split()
            continue
        if header is None:
            continue  # the format version line
        fields = dict(zip(header, line.split()))
        if "srv_name" in fields:
            out[fields["srv_name"]] = (int(fields["srv_op_state"]), int(fields["srv_admin_state"]))
    return out


def parse_stat(text):
    """``show stat`` CSV answer -> {server: (scur, qcur, status)}."""
    text = text.lstrip("# ")
    out = {}
    for row in csv.DictReader(text.splitlines()):
        name = row.get("svname")
        if name and name not in ("FRONTEND", "BACKEND"):
            out[name] = (int(row.get("scur") or 0), int(row.get("qcur") or 0), row.get("status", ""))
    return out


def sample(path, backend):
    """One sample: {server: [op, admin, scur, qcur, status]}."""
    states = parse_servers_state(ask(path, "show servers state %s" % backend))
    stats = parse_stat(ask(path, "show stat %s 4 -1" % backend))
    return {name: [op, admin] + list(stats.get(name, (0, 0, "?")))
            for name, (op, admin) in sorted(states.items())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", default="/run/haproxy/operator.sock")
    parser.add_argument("--backend", default="app")
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    parser.add_argument("--once", action="store_true", help="print one sample and exit")
    args = parser.parse_args(argv)
    if args.once:
        print(json.dumps({"t": time.time(), "s": sample(args.socket, args.backend)}, separators=(",", ":")))
        return 0

    stop = threading.Event()

    def watch_stdin():
        # EOF on standard input (the controller closed the pipe) stops sampling.
        while sys.stdin.buffer.read(4096):
            pass
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    start = time.monotonic()
    tick = 0
    while not stop.is_set() and time.monotonic() - start < args.max_seconds:
        before = time.time()
        try:
            servers = sample(args.socket, args.backend)
            line = {"t": round((before + time.time()) / 2, 4), "s": servers}
        except (OSError, ValueError) as exc:
            line = {"t": round(before, 4), "error": "%s: %s" % (type(exc).__name__, exc)}
        sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
        sys.stdout.flush()
        tick += 1
        delay = start + tick * args.interval - time.monotonic()
        if delay > 0:
            stop.wait(delay)
        else:
            tick = int((time.monotonic() - start) / args.interval) + 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
