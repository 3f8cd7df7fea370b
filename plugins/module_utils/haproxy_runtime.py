# -*- coding: utf-8 -*-
# Copyright: contributors to the zerodowntime.deploy collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Client for the HAProxy Runtime API (management guide, "Unix Socket commands").

No Ansible imports: this file is imported and unit-tested on its own, and the
modules of this collection only map their parameters to these calls and the
exceptions below to ``fail_json``.

Protocol, as used here: open a connection to the stats socket, send one
command line, read until HAProxy closes the connection (the non-interactive
mode; HAProxy closes after answering one line). Every reply is checked:
HAProxy answers a successful ``set server`` with an empty reply and an error
as plain text, so an unchecked reply hides failures.

Addresses: a path to a unix socket (``/run/haproxy/admin.sock``, optionally
written ``unix:///run/haproxy/admin.sock``) or ``tcp://host:port``
(``tcp://127.0.0.1:9999``, ``tcp://[::1]:9999``).

All durations are seconds (floats). Weights are HAProxy's 0-256 integers.
"""

from __future__ import absolute_import, division, print_function
from __future__ import annotations

__metaclass__ = type

import csv
import errno
import re
import socket as _socket
import time
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

__all__ = [
    "HAProxyRuntimeError", "HAProxyConnectionError", "HAProxyCommandError",
    "HAProxyPermissionError", "HAProxyTimeoutError", "HAProxyArgumentError",
    "HAProxyWorkerGoneError", "HAProxyMaster", "HAProxyProcess", "parse_show_proc", "parse_uptime",
    "HAProxyRuntime", "HAProxyInfo", "ServerState", "ServerStats", "ServerStatus",
    "parse_address", "parse_show_info", "parse_servers_state", "parse_stat_csv",
    "parse_status", "parse_weight", "expected_weight", "validate_name",
    "is_error_answer", "ERROR_PREFIXES",
    "ADMF_FMAINT", "ADMF_IMAINT", "ADMF_CMAINT", "ADMF_FDRAIN", "ADMF_IDRAIN",
    "ADMF_RMAINT", "ADMF_HMAINT", "ADMF_MAINT", "ADMF_DRAIN",
    "OP_STOPPED", "OP_STARTING", "OP_RUNNING", "OP_STOPPING",
    "CHK_ST_CONFIGURED", "CHK_ST_ENABLED", "CHK_ST_PAUSED", "CHK_ST_AGENT",
    "DEFAULT_CONNECT_TIMEOUT", "DEFAULT_READ_TIMEOUT", "DEFAULT_POLL_INTERVAL",
    "MapInfo", "MapEntry", "parse_show_maps", "parse_show_map",
    "validate_map_name", "validate_map_token",
]

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_POLL_INTERVAL = 0.2

# srv_admin_state bits (HAProxy include/haproxy/server-t.h, enum srv_admin).
ADMF_FMAINT = 0x01  # forced into maintenance (set server state maint)
ADMF_IMAINT = 0x02  # maintenance inherited from a tracked server
ADMF_CMAINT = 0x04  # maintenance from the configuration ("disabled")
ADMF_FDRAIN = 0x08  # forced into drain (set server state drain, or agent)
ADMF_IDRAIN = 0x10  # drain inherited from a tracked server
ADMF_RMAINT = 0x20  # maintenance because the address did not resolve
ADMF_HMAINT = 0x40  # FQDN set from the CLI; not a maintenance state
ADMF_MAINT = ADMF_FMAINT | ADMF_IMAINT | ADMF_CMAINT | ADMF_RMAINT
ADMF_DRAIN = ADMF_FDRAIN | ADMF_IDRAIN

_ADMIN_FLAG_NAMES = (
    (ADMF_FMAINT, "forced maintenance"),
    (ADMF_IMAINT, "maintenance inherited from a tracked server"),
    (ADMF_CMAINT, "maintenance from the configuration"),
    (ADMF_FDRAIN, "forced drain"),
    (ADMF_IDRAIN, "drain inherited from a tracked server"),
    (ADMF_RMAINT, "maintenance because its address did not resolve"),
    (ADMF_HMAINT, "FQDN set from the runtime API"),
)

# srv_op_state values (enum srv_state).
OP_STOPPED = 0
OP_STARTING = 1
OP_RUNNING = 2
OP_STOPPING = 3
_OP_NAMES = {OP_STOPPED: "down", OP_STARTING: "starting",
             OP_RUNNING: "up", OP_STOPPING: "stopping"}

# srv_check_state / srv_agent_state bits (include/haproxy/check-t.h).
CHK_ST_INPROGRESS = 0x01
CHK_ST_CONFIGURED = 0x02
CHK_ST_ENABLED = 0x04
CHK_ST_PAUSED = 0x08
CHK_ST_AGENT = 0x10

# Beginnings of the error texts HAProxy 2.x/3.x prints on its CLI, as
# recorded from the real binaries (tests/unit/plugins/module_utils/fixtures) and read from its
# sources. Used to recognise an error in the answer of a reading command;
# a writing command is checked more strictly (any non-empty answer fails).
ERROR_PREFIXES = (
    "Permission denied",
    "Unknown command",
    "No such server",
    "No such backend",
    "No such proxy",
    "No such frontend",
    "No such table",
    "No such session",
    "Can't find backend",
    "Can't find server",
    "Can't find",
    "Require ",
    "Required ",
    "Proxy is disabled",
    "'set server ",
    "'show servers state'",
    "Absolute weight",
    "Relative weight",
    "Empty weight string",
    "Trailing garbage",
    "Backend is using a static LB algorithm",
    "Health check was not configured",
    "Agent was not configured",
    "Integer is expected",
    "Invalid ",
    "Unknown ",
    "Unable to",
    "Failed to",
    "Out of memory",
    "Not enough memory",
    "This command is restricted",
    "Server is not",
    "Cannot ",
    "Can't ",
    "failed to",
    "error",
    "Error",
)

# HAProxy prefixes messages with their severity when the socket is declared
# with "severity-output number|string": "[3]: No such server."
_SEVERITY_PREFIX = re.compile(
    r"^\[(?:[0-7]|emerg|alert|crit|err|warning|notice|info|debug)\]: ?")

# Server, backend and frontend names: HAProxy accepts letters, digits and
# ".-_:" (see invalid_char()). Anything else could not name a real object,
# and a space, ";" or newline would let a name smuggle a second command.
_NAME = re.compile(r"^[A-Za-z0-9._:-]+$")

_STATUS = re.compile(
    r"^(?P<state>UP|DOWN|NOLB|DRAIN|MAINT|no check|OPEN|FULL|STOP|PAUSED)"
    r"(?: (?P<cur>\d+)/(?P<max>\d+))?"
    r"(?: \((?P<reason>[^)]*)\))?$")

_WEIGHT = re.compile(r"^\s*(?P<value>\d+)\s*(?P<pct>%?)\s*$")

# A map is named on the CLI by the file name it was loaded from, as written
# in the configuration, or by "#<id>" from "show map". The CLI splits a line
# on blanks and on ";" (several commands on one line) and unescapes
# backslashes, so map names, keys and values holding any of those are
# refused rather than sent in a form HAProxy would read differently.
_MAP_NAME = re.compile(r"^(?:#-?\d+|[^\s;\\#][^\s;\\]*)$")
_MAP_TOKEN = re.compile(r"^[^\s;\\]+$")
# One entry of "show map <map>": its reference (a pointer), key and value.
_MAP_ENTRY = re.compile(r"^(?P<ref>0x[0-9a-fA-F]+) (?P<key>\S+)(?: (?P<value>.*))?$")
# One map of "show map": "<id> (<file>) <description>".
_MAP_INFO = re.compile(r"^(?P<id>-?\d+) \((?P<name>[^)]*)\)(?: (?P<description>.*))?$")


class HAProxyRuntimeError(Exception):
    """Base of every error raised by this client.

    Attributes: ``socket`` (the address as given, or None) and ``command``
    (the command line sent, or None).
    """

    def __init__(self, message, socket=None, command=None):
        super().__init__(message)
        self.message = message
        self.socket = socket
        self.command = command

    def __str__(self):
        return self.message


class HAProxyArgumentError(HAProxyRuntimeError, ValueError):
    """A name, weight or socket address this client refuses to send."""


class HAProxyConnectionError(HAProxyRuntimeError):
    """The socket could not be used: missing, refused, not permitted, or no
    complete answer within the connect/read timeout. The message names the
    socket."""


class HAProxyCommandError(HAProxyRuntimeError):
    """HAProxy answered a command with an error text (``No such server.``,
    ``Permission denied``, ``Unknown command``...) or with something that is
    not the expected answer. ``answer`` holds HAProxy's text, stripped; the
    message names the socket, the command and the answer."""

    def __init__(self, message, socket=None, command=None, answer=None):
        super().__init__(message, socket=socket, command=command)
        self.answer = answer


class HAProxyWorkerGoneError(HAProxyCommandError):
    """The master CLI has no worker of that pid any more (``Can't find the
    target PID matching the prefix '@!<pid>'``): it exited, as an old worker
    does once its last connection ends. ``pid`` is the worker's pid."""

    def __init__(self, message, socket=None, command=None, answer=None, pid=None):
        super().__init__(message, socket=socket, command=command, answer=answer)
        self.pid = pid


class HAProxyPermissionError(HAProxyCommandError):
    """HAProxy answered ``Permission denied``: the socket's level (user or
    operator) does not allow the command; state changes need ``level admin``."""


class HAProxyTimeoutError(HAProxyRuntimeError):
    """A wait (``wait_for_drain``, ``wait_for_up``) expired.

    Attributes: ``last_state`` (the last ServerStats observed by
    wait_for_drain, the last ServerState observed by wait_for_up),
    ``last_stats`` (wait_for_up: the last ServerStats, else None), ``waited``
    (seconds spent) and ``polls`` (how many times HAProxy was read).
    """

    def __init__(self, message, socket=None, command=None, last_state=None,
                 waited=0.0, polls=0, last_stats=None):
        super().__init__(message, socket=socket, command=command)
        self.last_state = last_state
        self.last_stats = last_stats
        self.waited = waited
        self.polls = polls


def validate_name(value, what="name"):
    """Return ``value`` if it can name a HAProxy backend or server.

    Args: value (str); what (str) names the argument in the error message.
    Returns: value unchanged.
    Raises: HAProxyArgumentError if it is empty or holds a character HAProxy
    does not allow in names (anything but letters, digits and ``.-_:``).
    """
    if not isinstance(value, str) or not _NAME.match(value):
        raise HAProxyArgumentError(
            "invalid %s %r: HAProxy names contain only letters, digits and '.-_:'"
            % (what, value))
    return value


def validate_map_name(value):
    """Return ``value`` if it can name a map on the Runtime API.

    Args: value (str): the map's file name as written in the configuration
    (``/etc/haproxy/bluegreen.map``) or ``#<id>`` as listed by ``show map``.
    Returns: value unchanged.
    Raises: HAProxyArgumentError for an empty name, or one holding a blank,
    ``;`` or ``\\``, which the CLI would split or unescape.
    """
    if not isinstance(value, str) or not _MAP_NAME.match(value):
        raise HAProxyArgumentError(
            "invalid map %r: give the map's file name as in the configuration, or #<id>, "
            "without blanks, ';' or '\\'" % (value,))
    return value


def validate_map_token(value, what="key"):
    """Return ``value`` if it can be sent as a map key or value.

    Args: value (str); what (str) names it in the error message.
    Returns: value unchanged.
    Raises: HAProxyArgumentError for an empty string, or one holding a
    blank, ``;`` or ``\\``.
    """
    if not isinstance(value, str) or not _MAP_TOKEN.match(value):
        raise HAProxyArgumentError(
            "invalid map %s %r: it must be non-empty, without blanks, ';' or '\\'" % (what, value))
    return value


def parse_address(address):
    """Split a socket address into what ``socket.connect`` needs.

    Args: address (str): a unix socket path (``/run/haproxy/admin.sock`` or
    ``unix:///run/haproxy/admin.sock``), or ``tcp://HOST:PORT`` where HOST is
    an IPv4 address, a host name or a bracketed IPv6 address (``[::1]``).
    Returns: ``("unix", path)`` or ``("tcp", (host, port))``.
    Raises: HAProxyArgumentError for an empty address, an unknown scheme, or
    a TCP address without a valid port.
    """
    if not isinstance(address, str) or not address.strip():
        raise HAProxyArgumentError("the HAProxy socket address is empty")
    address = address.strip()
    if address.startswith("unix://"):
        path = address[len("unix://"):]
        if not path:
            raise HAProxyArgumentError("invalid socket address %r: no path" % address)
        return "unix", path
    if address.startswith("tcp://"):
        rest = address[len("tcp://"):].rstrip("/")
        match = (re.match(r"^\[(?P<v6>[^\[\]/]+)\]:(?P<port>\d+)$", rest)
                 or re.match(r"^(?P<host>[^\[\]:/]+):(?P<port>\d+)$", rest))
        if not match:
            raise HAProxyArgumentError(
                "invalid socket address %r: expected tcp://HOST:PORT or tcp://[IPV6]:PORT"
                % address)
        port = int(match.group("port"))
        if not 0 < port < 65536:
            raise HAProxyArgumentError("invalid socket address %r: port out of range" % address)
        host = match.groupdict().get("v6") or match.group("host")
        return "tcp", (host, port)
    if "://" in address:
        raise HAProxyArgumentError(
            "invalid socket address %r: use a unix socket path or tcp://HOST:PORT" % address)
    return "unix", address


def _strip_severity(text):
    return _SEVERITY_PREFIX.sub("", text.strip(), count=1)


def is_error_answer(text):
    """Tell whether an answer is one of HAProxy's error texts.

    Args: text (str): HAProxy's whole answer.
    Returns: bool: True when the answer, stripped and without a severity
    prefix (``[3]: ``), starts with one of ERROR_PREFIXES.
    """
    return _strip_severity(text).startswith(ERROR_PREFIXES)


def _first_line(text, limit=300):
    text = _strip_severity(text)
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= limit else line[:limit] + "..."


def _int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class HAProxyInfo:
    """What ``show info`` reports about the running process.

    Fields: version (str, e.g. ``2.6.12-1+deb12u4``), pid (int), uptime (int,
    seconds, from ``Uptime_sec``), fields (dict str->str: every line of the
    answer, e.g. ``Nbthread``, ``CurrConns``, ``node``).
    """

    version: str
    pid: int
    uptime: int
    fields: Dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class ServerStatus:
    """A ``status`` string of ``show stat``, parsed.

    Fields: text (as HAProxy printed it); state (``UP``, ``DOWN``, ``NOLB``,
    ``DRAIN``, ``MAINT``, ``no check``; ``OPEN``/``FULL``/``STOP`` for
    frontends; any other text unchanged); progress ((n, m) for the transition
    forms ``UP 1/3``, ``DOWN 2/3``, ``NOLB 1/2``, else None); reason (``via
    be/srv``, ``resolution``, ``agent`` from the parenthesised forms, else
    None); via (``be/srv`` for ``MAINT (via be/srv)``, else None).
    """

    text: str
    state: str
    progress: Optional[Tuple[int, int]] = None
    reason: Optional[str] = None
    via: Optional[str] = None

    @property
    def going_down(self):
        """True for ``UP n/m``, ``NOLB n/m``, ``DRAIN n/m``: checks are
        failing, not yet ``fall`` times."""
        return self.progress is not None and self.state in ("UP", "NOLB", "DRAIN")

    @property
    def going_up(self):
        """True for ``DOWN n/m``: checks pass, not yet ``rise`` times."""
        return self.progress is not None and self.state == "DOWN"

    @property
    def checked(self):
        """False for ``no check`` (a server without health checks)."""
        return self.state != "no check"


def parse_status(text):
    """Parse a ``show stat`` status string.

    Args: text (str), e.g. ``UP``, ``UP 1/3``, ``DOWN 2/3``, ``NOLB 1/2``,
    ``MAINT (via be/srv)``, ``MAINT (resolution)``, ``DRAIN (agent)``,
    ``no check``.
    Returns: ServerStatus. A text this parser does not know is kept as the
    state rather than raising, so a future HAProxy status never breaks a
    read; callers decide with ``state``.
    """
    text = (text or "").strip()
    match = _STATUS.match(text)
    if not match:
        return ServerStatus(text=text, state=text)
    progress = None
    if match.group("cur") is not None:
        progress = (int(match.group("cur")), int(match.group("max")))
    reason = match.group("reason")
    via = reason[4:].strip() if reason and reason.startswith("via ") else None
    return ServerStatus(text=text, state=match.group("state"),
                        progress=progress, reason=reason, via=via)


@dataclass(frozen=True)
class ServerState:
    """One server line of ``show servers state``.

    Fields: backend, server (names); backend_id, server_id (ints); address
    (str); op_state (int, OP_*); admin_state (int, bitmask of ADMF_*); uweight
    (int, current user weight 0-256); iweight (int, initial weight from the
    configuration); check_status, check_result, check_health (ints);
    check_state, agent_state (ints, bitmasks of CHK_ST_*); fields (dict
    str->str: every column, named by the header line of the answer, which
    differs between HAProxy versions).
    """

    backend: str
    server: str
    backend_id: Optional[int]
    server_id: Optional[int]
    address: Optional[str]
    op_state: int
    admin_state: int
    uweight: int
    iweight: int
    check_status: Optional[int] = None
    check_result: Optional[int] = None
    check_health: Optional[int] = None
    check_state: int = 0
    agent_state: int = 0
    fields: Dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def admin(self):
        """``maint``, ``drain`` or ``ready``, from admin_state (maintenance of
        any origin wins over drain, as in HAProxy)."""
        if self.admin_state & ADMF_MAINT:
            return "maint"
        if self.admin_state & ADMF_DRAIN:
            return "drain"
        return "ready"

    @property
    def operational(self):
        """``up``, ``down``, ``starting`` (slowstart) or ``stopping`` (NOLB)."""
        return _OP_NAMES.get(self.op_state, "unknown(%s)" % self.op_state)

    @property
    def admin_reasons(self):
        """Names of the admin_state bits set (list of str)."""
        return [name for bit, name in _ADMIN_FLAG_NAMES if self.admin_state & bit]

    @property
    def health_check_configured(self):
        """True when the server has a health check in the configuration."""
        return bool(self.check_state & CHK_ST_CONFIGURED)

    @property
    def health_check_enabled(self):
        """True when its health check is configured and not disabled at
        runtime (``disable health``)."""
        return bool(self.check_state & CHK_ST_CONFIGURED and self.check_state & CHK_ST_ENABLED)

    @property
    def agent_check_configured(self):
        """True when the server has an agent check in the configuration."""
        return bool(self.agent_state & CHK_ST_CONFIGURED)

    @property
    def agent_check_enabled(self):
        """True when its agent check is configured and not disabled."""
        return bool(self.agent_state & CHK_ST_CONFIGURED and self.agent_state & CHK_ST_ENABLED)

    @property
    def in_rotation(self):
        """True when HAProxy may send new requests to it: operationally up
        (or warming up in slowstart) and neither in maintenance nor drain.
        A server without health checks is up as soon as it is ready."""
        return (self.op_state in (OP_RUNNING, OP_STARTING)
                and not self.admin_state & (ADMF_MAINT | ADMF_DRAIN))


@dataclass(frozen=True)
class ServerStats:
    """One server row of ``show stat`` (CSV), with the columns a deploy needs.

    Fields: backend, server (names); status (ServerStatus); scur (current
    sessions), qcur (requests queued on this server), smax, stot, weight
    (effective weight), uweight (user weight; None before HAProxy 2.3),
    check_status (e.g. ``L7OK``, ``L4CON``; None without checks),
    check_in_progress (bool: HAProxy printed ``* `` before it), hrsp_1xx ..
    hrsp_5xx, hrsp_other (response counters), rtime, ttime (average response
    and total times over the last 1024 requests, milliseconds), pid (int);
    fields (dict str->str: every column of the row, named by the header).
    Counters HAProxy leaves empty are None.
    """

    backend: str
    server: str
    status: ServerStatus
    scur: int
    qcur: int
    smax: Optional[int] = None
    stot: Optional[int] = None
    weight: Optional[int] = None
    uweight: Optional[int] = None
    check_status: Optional[str] = None
    check_in_progress: bool = False
    hrsp_1xx: Optional[int] = None
    hrsp_2xx: Optional[int] = None
    hrsp_3xx: Optional[int] = None
    hrsp_4xx: Optional[int] = None
    hrsp_5xx: Optional[int] = None
    hrsp_other: Optional[int] = None
    rtime: Optional[int] = None
    ttime: Optional[int] = None
    pid: Optional[int] = None
    fields: Dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def sessions(self):
        """Current sessions plus requests queued on the server (int): what
        must reach 0 before the server can be taken away."""
        return self.scur + self.qcur

    @classmethod
    def from_row(cls, row):
        """Build from one ``show stat`` row given as dict column -> text.

        Raises: ValueError if the row lacks pxname/svname/status.
        """
        for key in ("pxname", "svname", "status"):
            if key not in row:
                raise ValueError("show stat row without %r column" % key)
        check = (row.get("check_status") or "").strip()
        in_progress = check.startswith("* ")
        if in_progress:
            check = check[2:].strip()
        return cls(
            backend=row["pxname"], server=row["svname"],
            status=parse_status(row["status"]),
            scur=_int(row.get("scur"), 0), qcur=_int(row.get("qcur"), 0),
            smax=_int(row.get("smax")), stot=_int(row.get("stot")),
            weight=_int(row.get("weight")), uweight=_int(row.get("uweight")),
            check_status=check or None, check_in_progress=in_progress,
            hrsp_1xx=_int(row.get("hrsp_1xx")), hrsp_2xx=_int(row.get("hrsp_2xx")),
            hrsp_3xx=_int(row.get("hrsp_3xx")), hrsp_4xx=_int(row.get("hrsp_4xx")),
            hrsp_5xx=_int(row.get("hrsp_5xx")), hrsp_other=_int(row.get("hrsp_other")),
            rtime=_int(row.get("rtime")), ttime=_int(row.get("ttime")),
            pid=_int(row.get("pid")), fields=dict(row))


def parse_show_info(text):
    """Parse the answer of ``show info``.

    Args: text (str): ``Key: value`` lines.
    Returns: HAProxyInfo (uptime in seconds from ``Uptime_sec``; when absent,
    from ``Uptime: 0d 0h00m01s``).
    Raises: ValueError if the answer has no ``Version`` or ``Pid`` line.
    """
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            fields[key.strip()] = value.strip()
    if "Version" not in fields or _int(fields.get("Pid")) is None:
        raise ValueError("not a 'show info' answer: %r" % _first_line(text))
    uptime = _int(fields.get("Uptime_sec"))
    if uptime is None:
        match = re.match(r"^(\d+)d (\d+)h(\d+)m(\d+)s$", fields.get("Uptime", ""))
        uptime = 0
        if match:
            d, h, m, s = (int(x) for x in match.groups())
            uptime = ((d * 24 + h) * 60 + m) * 60 + s
    return HAProxyInfo(version=fields["Version"], pid=int(fields["Pid"]),
                       uptime=uptime, fields=fields)


def parse_servers_state(text):
    """Parse the answer of ``show servers state [backend]``.

    The first line is the format version (``1``), the second names the
    columns (``# be_id be_name srv_id srv_name ...``); columns are read by
    those names because their list grows between HAProxy versions.

    Args: text (str).
    Returns: list of ServerState, in HAProxy's order (may be empty).
    Raises: ValueError if the header is missing or a line is malformed.
    """
    header = None
    servers = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            header = line.lstrip("#").split()
            continue
        if header is None:
            if re.match(r"^\d+$", line):
                continue  # format version line
            raise ValueError("not a 'show servers state' answer: %r" % _first_line(text))
        values = line.split()
        if len(values) < 7:
            raise ValueError("malformed 'show servers state' line: %r" % line)
        row = dict(zip(header, values))
        for key in ("be_name", "srv_name", "srv_op_state", "srv_admin_state"):
            if key not in row:
                raise ValueError("'show servers state' line without %s: %r" % (key, line))
        servers.append(ServerState(
            backend=row["be_name"], server=row["srv_name"],
            backend_id=_int(row.get("be_id")), server_id=_int(row.get("srv_id")),
            address=row.get("srv_addr"),
            op_state=int(row["srv_op_state"]), admin_state=int(row["srv_admin_state"]),
            uweight=_int(row.get("srv_uweight"), 0), iweight=_int(row.get("srv_iweight"), 0),
            check_status=_int(row.get("srv_check_status")),
            check_result=_int(row.get("srv_check_result")),
            check_health=_int(row.get("srv_check_health")),
            check_state=_int(row.get("srv_check_state"), 0),
            agent_state=_int(row.get("srv_agent_state"), 0),
            fields=row))
    if header is None:
        raise ValueError("not a 'show servers state' answer: %r" % _first_line(text))
    return servers


def parse_stat_csv(text):
    """Parse the CSV answer of ``show stat``.

    Args: text (str): header ``# pxname,svname,...`` then one row per
    frontend, server and backend.
    Returns: list of dicts column -> text (every row, FRONTEND and BACKEND
    included; filter on ``svname``). Use ServerStats.from_row for servers.
    Raises: ValueError if the header line is missing.
    """
    lines = text.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines or not lines[0].startswith("# pxname,"):
        raise ValueError("not a 'show stat' answer: %r" % _first_line(text))
    header = lines[0][2:].split(",")
    rows = []
    for values in csv.reader(line for line in lines[1:] if line.strip()):
        rows.append({k: v for k, v in zip(header, values) if k})
    return rows


def parse_weight(weight):
    """Parse a weight as given by a user.

    Args: weight (int or str): absolute ``0``..``256`` or relative ``"N%"``
    (percent of the server's initial weight, as ``set server weight``).
    Returns: (value, relative): (int, bool).
    Raises: HAProxyArgumentError for anything else (negative, above 256,
    not a number, a bool).
    """
    if isinstance(weight, bool):
        raise HAProxyArgumentError("invalid weight %r" % (weight,))
    if isinstance(weight, int):
        text = str(weight)
    elif isinstance(weight, str):
        text = weight
    else:
        raise HAProxyArgumentError("invalid weight %r: give 0-256 or N%%" % (weight,))
    match = _WEIGHT.match(text)
    if not match:
        raise HAProxyArgumentError("invalid weight %r: give 0-256 or N%%" % (weight,))
    value, relative = int(match.group("value")), bool(match.group("pct"))
    if not relative and value > 256:
        raise HAProxyArgumentError("invalid weight %r: absolute weights are 0-256" % (weight,))
    return value, relative


def expected_weight(weight, iweight):
    """The user weight HAProxy will hold after ``set server weight <weight>``.

    Args: weight (int or str, see parse_weight); iweight (int: the server's
    initial weight, ``srv_iweight``).
    Returns: int 0-256, computed as HAProxy does: ``N%`` is
    ``iweight * N / 100`` rounded down and capped at 256.
    Raises: HAProxyArgumentError (see parse_weight).
    """
    value, relative = parse_weight(weight)
    if not relative:
        return value
    return min(iweight * min(value, 25600) // 100, 256)


@dataclass(frozen=True)
class MapInfo:
    """One map of ``show map`` (no argument).

    Fields: id (int, usable as ``#<id>``), name (str: the file it was loaded
    from, the name the other map commands take), description (str, the rest
    of the line), entries (int from ``entry_cnt=``, or None when absent).
    """

    id: int
    name: str
    description: str = ""
    entries: Optional[int] = None


@dataclass(frozen=True)
class MapEntry:
    """One entry of ``show map <map>``.

    Fields: ref (str: HAProxy's reference of the entry, a pointer such as
    ``0x5586c1e0d2f0``; changes when an entry is deleted and added again),
    key (str), value (str; empty for a key without value).
    """

    ref: str
    key: str
    value: str


def parse_show_maps(text):
    """Parse the answer of ``show map`` without argument: the loaded maps.

    Args: text (str): a header ``# id (file) description``, then one line per
    map, then an empty line.
    Returns: list of MapInfo, in HAProxy's order (empty when no map is loaded).
    Raises: ValueError if the header is missing or a line is malformed.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# id"):
        raise ValueError("not a 'show map' answer: %r" % _first_line(text))
    maps = []
    for line in lines[1:]:
        match = _MAP_INFO.match(line.strip())
        if not match:
            raise ValueError("malformed 'show map' line: %r" % line)
        description = match.group("description") or ""
        count = re.search(r"\bentry_cnt=(\d+)", description)
        maps.append(MapInfo(id=int(match.group("id")), name=match.group("name"),
                            description=description,
                            entries=int(count.group(1)) if count else None))
    return maps


def parse_show_map(text):
    """Parse the answer of ``show map <map>``: the map's entries.

    Args: text (str): one ``<ref> <key> <value>`` line per entry, then an
    empty line; an empty map answers the empty line alone.
    Returns: list of MapEntry, in HAProxy's order (a key added twice appears
    twice).
    Raises: ValueError if a line is not an entry (an error text HAProxy
    printed instead).
    """
    entries = []
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _MAP_ENTRY.match(line.rstrip("\r"))
        if not match:
            raise ValueError("not a 'show map <map>' line: %r" % line)
        entries.append(MapEntry(ref=match.group("ref"), key=match.group("key"),
                                value=match.group("value") or ""))
    return entries


class HAProxyRuntime(object):
    """A connection factory and command set for one HAProxy stats socket.

    Each method opens a new connection, sends one command and reads the
    whole answer: nothing is kept open between calls.

    Args:
        socket (str): address, see parse_address.
        connect_timeout (float): seconds to wait for the connection.
        read_timeout (float): seconds to wait for HAProxy's complete answer
            once the command is sent.
        clock, sleep: monotonic clock and sleep functions (seconds); tests
            pass fakes to check the wait loops without waiting.
    Raises: HAProxyArgumentError for a malformed address or a timeout that
        is not a positive number.
    """

    def __init__(self, socket, connect_timeout=DEFAULT_CONNECT_TIMEOUT,
                 read_timeout=DEFAULT_READ_TIMEOUT, clock=time.monotonic,
                 sleep=time.sleep):
        self.socket = socket
        self.kind, self.address = parse_address(socket)
        for name, value in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise HAProxyArgumentError("%s must be a positive number of seconds, got %r"
                                           % (name, value))
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self._clock = clock
        self._sleep = sleep

    def now(self):
        """This client's monotonic clock, in seconds (float). Callers that
        share one deadline between several waits measure it with this."""
        return self._clock()

    def sleep(self, seconds):
        """Wait `seconds` (float) with this client's sleep function (tests
        give a fake one). Returns None."""
        if seconds > 0:
            self._sleep(seconds)

    # -- transport ---------------------------------------------------------

    def _connect(self, command):
        where = "HAProxy socket %s" % self.socket
        try:
            if self.kind == "unix":
                sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
                try:
                    sock.settimeout(self.connect_timeout)
                    sock.connect(self.address)
                except BaseException:
                    sock.close()
                    raise
                return sock
            return _socket.create_connection(self.address, timeout=self.connect_timeout)
        except FileNotFoundError:
            raise HAProxyConnectionError(
                "%s does not exist (is HAProxy running, and is 'stats socket' set to this path?)"
                % where, socket=self.socket, command=command)
        except PermissionError:
            raise HAProxyConnectionError(
                "permission denied opening %s (run as a user allowed to write the socket, "
                "e.g. with become: true)" % where, socket=self.socket, command=command)
        except ConnectionRefusedError:
            raise HAProxyConnectionError(
                "connection refused by %s (nothing listens there: is HAProxy running?)" % where,
                socket=self.socket, command=command)
        except _socket.timeout:
            raise HAProxyConnectionError(
                "timed out after %.1fs connecting to %s" % (self.connect_timeout, where),
                socket=self.socket, command=command)
        except BlockingIOError:
            # A unix socket whose accept queue is full fails at once.
            raise HAProxyConnectionError(
                "%s is busy: its connection queue is full (HAProxy overloaded or stuck?)" % where,
                socket=self.socket, command=command)
        except _socket.gaierror as exc:
            raise HAProxyConnectionError(
                "cannot resolve the host of %s: %s" % (where, exc),
                socket=self.socket, command=command)
        except OSError as exc:
            if exc.errno == errno.ENOTSOCK:
                raise HAProxyConnectionError(
                    "%s is not a listening socket (%s)" % (where, exc.strerror),
                    socket=self.socket, command=command)
            raise HAProxyConnectionError(
                "cannot connect to %s: %s" % (where, exc), socket=self.socket, command=command)

    def execute(self, command):
        """Send one command line and return HAProxy's raw answer.

        No error checking of the answer: use ``run`` or the typed methods.
        Args: command (str): one line, without newline.
        Returns: str: the whole answer (may be empty).
        Raises: HAProxyArgumentError if the command holds a newline;
            HAProxyConnectionError if the socket cannot be reached, or the
            answer is not complete within read_timeout seconds.
        """
        if "\n" in command or "\r" in command:
            raise HAProxyArgumentError("a command must be one line: %r" % command)
        sock = self._connect(command)
        deadline = self._clock() + self.read_timeout
        chunks = []
        try:
            try:
                sock.settimeout(self.read_timeout)
                sock.sendall(command.encode("utf-8") + b"\n")
                while True:
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        raise _socket.timeout()
                    sock.settimeout(remaining)
                    data = sock.recv(65536)
                    if not data:
                        break
                    chunks.append(data)
                    if self._answer_complete(b"".join(chunks)):
                        break
            except _socket.timeout:
                raise HAProxyConnectionError(
                    "HAProxy socket %s did not answer '%s' completely within %.1fs (read_timeout)"
                    % (self.socket, command, self.read_timeout),
                    socket=self.socket, command=command)
            except OSError as exc:
                raise HAProxyConnectionError(
                    "HAProxy socket %s failed while answering '%s': %s"
                    % (self.socket, command, exc), socket=self.socket, command=command)
        finally:
            sock.close()
        return b"".join(chunks).decode("utf-8", errors="replace")

    def _answer_complete(self, data):
        """Whether `data` (bytes read so far) is a whole answer although
        HAProxy has not closed the connection. Never for a stats socket,
        which closes after each answer; see _WorkerRuntime."""
        return False

    def _error(self, command, answer, kind=HAProxyCommandError):
        text = _strip_severity(answer)
        if text.startswith("Permission denied"):
            kind = HAProxyPermissionError
        shown = _first_line(answer) or "(empty answer)"
        return kind("HAProxy socket %s answered '%s' with: %s" % (self.socket, command, shown),
                    socket=self.socket, command=command, answer=text)

    def run(self, command):
        """Send a command that answers nothing on success (every write).

        Args: command (str).
        Returns: None.
        Raises: HAProxyPermissionError on ``Permission denied``;
            HAProxyCommandError on any other non-empty answer (HAProxy prints
            errors as plain text and nothing on success);
            HAProxyConnectionError (see execute).
        """
        answer = self.execute(command)
        if answer.strip():
            raise self._error(command, answer)

    def _read(self, command, parser):
        answer = self.execute(command)
        if is_error_answer(answer) or not answer.strip():
            raise self._error(command, answer)
        try:
            return parser(answer)
        except ValueError:
            raise self._error(command, answer)

    # -- reads -------------------------------------------------------------

    def show_info(self):
        """Version, pid and uptime of the HAProxy process (``show info``).

        Returns: HAProxyInfo (uptime in seconds).
        Raises: HAProxyCommandError, HAProxyConnectionError.
        """
        return self._read("show info", parse_show_info)

    def cli_level(self):
        """The access level of this socket (``show cli level``, HAProxy 2.0+).

        Returns: str ``admin``, ``operator`` or ``user``; None when HAProxy
            does not know the command.
        Raises: HAProxyConnectionError.
        """
        try:
            answer = self._read("show cli level", lambda text: text.strip().split()[0])
        except HAProxyCommandError:
            return None
        return answer if answer in ("admin", "operator", "user") else None

    def show_servers_state(self, backend=None):
        """Runtime state of the servers (``show servers state [backend]``).

        Args: backend (str or None for every backend).
        Returns: list of ServerState.
        Raises: HAProxyArgumentError for an invalid name; HAProxyCommandError
            (``Can't find backend.`` for an unknown backend);
            HAProxyConnectionError.
        """
        command = "show servers state"
        if backend is not None:
            command += " " + validate_name(backend, "backend")
        return self._read(command, parse_servers_state)

    def show_stat(self, backend=None, types=4):
        """Statistics rows (``show stat``, or ``show stat <backend> <types> -1``
        for one proxy).

        Args: backend (str, or None for every row of every proxy); types
            (int bitmask used with a backend: 1 frontend, 2 backend, 4
            servers; default 4, the servers only).
        Returns: list of dicts column -> text (see parse_stat_csv).
        Raises: HAProxyCommandError (``No such proxy.``),
            HAProxyConnectionError, HAProxyArgumentError.
        """
        command = "show stat"
        if backend is not None:
            command += " %s %d -1" % (validate_name(backend, "backend"), int(types))
        return self._read(command, parse_stat_csv)

    def servers_stats(self, backend=None):
        """Statistics of servers only (``show stat``), as ServerStats.

        Args: backend (str or None).
        Returns: list of ServerStats (FRONTEND/BACKEND rows left out).
        Raises: as show_stat.
        """
        return [ServerStats.from_row(row) for row in self.show_stat(backend)
                if row.get("svname") not in ("FRONTEND", "BACKEND")]

    def backends(self):
        """Names of every backend that has servers, in configuration order.

        Returns: list of str. Command: ``show servers state``.
        Raises: HAProxyCommandError, HAProxyConnectionError.
        """
        names = []
        for state in self.show_servers_state():
            if state.backend not in names:
                names.append(state.backend)
        return names

    def find_backends(self, server):
        """Every backend that contains a server of this name.

        Args: server (str).
        Returns: list of backend names (str), in configuration order; empty
            when no backend has it. Command: ``show servers state``.
        Raises: HAProxyArgumentError, HAProxyCommandError,
            HAProxyConnectionError.
        """
        validate_name(server, "server")
        names = []
        for state in self.show_servers_state():
            if state.server == server and state.backend not in names:
                names.append(state.backend)
        return names

    def _no_such_server(self, command, backend, server):
        return HAProxyCommandError(
            "HAProxy socket %s: backend '%s' has no server '%s'" % (self.socket, backend, server),
            socket=self.socket, command=command, answer="No such server.")

    def server_state(self, backend, server):
        """Runtime state of one server (``show servers state <backend>``).

        Args: backend, server (str).
        Returns: ServerState.
        Raises: HAProxyCommandError if the backend (``Can't find backend.``)
            or the server does not exist; HAProxyConnectionError;
            HAProxyArgumentError.
        """
        validate_name(server, "server")
        for state in self.show_servers_state(backend):
            if state.server == server:
                return state
        raise self._no_such_server("show servers state %s" % backend, backend, server)

    def server_stats(self, backend, server):
        """Statistics of one server (``show stat <backend> 4 -1``).

        Args: backend, server (str).
        Returns: ServerStats (scur, qcur, status, counters...).
        Raises: HAProxyCommandError (``No such proxy.``, or no such server);
            HAProxyConnectionError; HAProxyArgumentError.
        """
        validate_name(server, "server")
        for stats in self.servers_stats(backend):
            if stats.backend == backend and stats.server == server:
                return stats
        raise self._no_such_server("show stat %s 4 -1" % backend, backend, server)

    # -- writes ------------------------------------------------------------

    def _target(self, backend, server):
        return "%s/%s" % (validate_name(backend, "backend"), validate_name(server, "server"))

    def set_server_state(self, backend, server, state):
        """Set the administrative state (``set server <be>/<srv> state <state>``).

        ``ready`` puts it back in rotation, ``drain`` stops new requests
        (sessions in flight and persistent ones continue), ``maint`` stops all
        traffic and pauses health checks.
        Args: backend, server (str); state (``ready``, ``drain`` or ``maint``).
        Returns: None (HAProxy answers nothing on success).
        Raises: HAProxyPermissionError (socket level below admin),
            HAProxyCommandError (``No such server.``, ``No such backend.``...),
            HAProxyConnectionError, HAProxyArgumentError (unknown state).
        """
        if state not in ("ready", "drain", "maint"):
            raise HAProxyArgumentError("invalid server state %r: ready, drain or maint" % (state,))
        self.run("set server %s state %s" % (self._target(backend, server), state))

    def set_server_weight(self, backend, server, weight):
        """Set the weight (``set server <be>/<srv> weight <n|n%>``).

        Args: backend, server (str); weight (int 0-256 or str ``"N%"`` of the
            initial weight).
        Returns: None.
        Raises: HAProxyCommandError (e.g. ``Backend is using a static LB
            algorithm...``), HAProxyPermissionError, HAProxyConnectionError,
            HAProxyArgumentError (malformed weight).
        """
        value, relative = parse_weight(weight)
        self.run("set server %s weight %d%s" % (self._target(backend, server), value,
                                                "%" if relative else ""))

    def set_health_check(self, backend, server, enabled):
        """Enable or disable the health check (``enable|disable health
        <be>/<srv>``). A disabled check leaves the server considered UP.

        Args: backend, server (str); enabled (bool).
        Returns: None.
        Raises: HAProxyCommandError (``Health check was not configured on
            this server, cannot enable.``), HAProxyPermissionError,
            HAProxyConnectionError, HAProxyArgumentError.
        """
        self.run("%s health %s" % ("enable" if enabled else "disable", self._target(backend, server)))

    def set_agent_check(self, backend, server, enabled):
        """Enable or disable the agent check (``enable|disable agent
        <be>/<srv>``).

        Args: backend, server (str); enabled (bool).
        Returns: None.
        Raises: HAProxyCommandError (``Agent was not configured on this
            server, cannot enable.``), HAProxyPermissionError,
            HAProxyConnectionError, HAProxyArgumentError.
        """
        self.run("%s agent %s" % ("enable" if enabled else "disable", self._target(backend, server)))

    def set_server_health(self, backend, server, health):
        """Force the operational state the health check starts from
        (``set server <be>/<srv> health up|stopping|down``).

        Forced ``down`` on a server in MAINT makes HAProxy keep it DOWN when
        it leaves MAINT, until its health check has passed ``rise`` times:
        without it, a server leaving MAINT whose last check was good is UP at
        once and takes requests before it is checked (management guide,
        "set server"; server.c, leaving maintenance).

        Args: backend, server (str); health (``up``, ``stopping`` or ``down``).
        Returns: None.
        Raises: HAProxyArgumentError (another health), HAProxyCommandError,
            HAProxyPermissionError, HAProxyConnectionError.
        """
        if health not in ("up", "stopping", "down"):
            raise HAProxyArgumentError("health must be up, stopping or down, not %r" % (health,))
        self.run("set server %s health %s" % (self._target(backend, server), health))

    def shutdown_sessions(self, backend, server):
        """Kill every session on the server (``shutdown sessions server
        <be>/<srv>``).

        Args: backend, server (str).
        Returns: None.
        Raises: HAProxyCommandError, HAProxyPermissionError,
            HAProxyConnectionError, HAProxyArgumentError.
        """
        self.run("shutdown sessions server %s" % self._target(backend, server))

    # -- maps --------------------------------------------------------------

    def show_maps(self):
        """The maps HAProxy has loaded (``show map``).

        Returns: list of MapInfo.
        Raises: HAProxyCommandError, HAProxyConnectionError.
        """
        return self._read("show map", parse_show_maps)

    def show_map(self, map_name):
        """The entries of one map (``show map <map>``).

        Args: map_name (str): the map's file name as in the configuration, or
            ``#<id>``.
        Returns: list of MapEntry (empty for an empty map).
        Raises: HAProxyCommandError (``Unknown map identifier. Please use
            #<id> or <file>.``), HAProxyConnectionError, HAProxyArgumentError.
        """
        command = "show map %s" % validate_map_name(map_name)
        answer = self.execute(command)
        # Unlike the other reads, an empty answer is valid: an empty map.
        if is_error_answer(answer):
            raise self._error(command, answer)
        try:
            return parse_show_map(answer)
        except ValueError:
            raise self._error(command, answer)

    def map_values(self, map_name, key):
        """The values of ``key`` in a map, in HAProxy's order.

        Args: map_name, key (str).
        Returns: list of str: empty when the map has no such key, more than
            one value when the key was added several times.
        Raises: as show_map.
        """
        validate_map_token(key, "key")
        return [entry.value for entry in self.show_map(map_name) if entry.key == key]

    def set_map(self, map_name, key, value):
        """Change the value of every entry of ``key`` (``set map <map> <key>
        <value>``). Takes effect for the next lookup; no reload. HAProxy does
        not write the map file.

        Args: map_name (str), key (str), value (str).
        Returns: None (HAProxy answers an empty line on success).
        Raises: HAProxyCommandError (``entry not found.`` when the map has no
            such key, ``Unknown map identifier...``), HAProxyPermissionError,
            HAProxyConnectionError, HAProxyArgumentError.
        """
        self.run("set map %s %s %s" % (validate_map_name(map_name), validate_map_token(key, "key"),
                                       validate_map_token(value, "value")))

    def add_map(self, map_name, key, value):
        """Add an entry (``add map <map> <key> <value>``). A key already in
        the map gets a second entry; lookups then find the first one, so use
        set_map to change an existing key.

        Args: map_name (str), key (str), value (str).
        Returns: None.
        Raises: HAProxyCommandError (``Unknown map identifier...``),
            HAProxyPermissionError, HAProxyConnectionError,
            HAProxyArgumentError.
        """
        self.run("add map %s %s %s" % (validate_map_name(map_name), validate_map_token(key, "key"),
                                       validate_map_token(value, "value")))

    def del_map(self, map_name, key):
        """Delete every entry of ``key`` (``del map <map> <key>``).

        Args: map_name (str), key (str).
        Returns: None.
        Raises: HAProxyCommandError (``Key not found.``, ``Unknown map
            identifier...``), HAProxyPermissionError, HAProxyConnectionError,
            HAProxyArgumentError.
        """
        self.run("del map %s %s" % (validate_map_name(map_name), validate_map_token(key, "key")))

    # -- waits -------------------------------------------------------------

    def _poll(self, probe, done, timeout_s, interval_s, describe):
        """Call probe() until done(result) or the deadline.

        Polls at start, start + interval, start + 2*interval... and, if not
        done, one last time at the deadline itself: a wait of T seconds with
        interval I reads HAProxy 1 + ceil(T / I) times. Each poll is bounded
        by the socket timeouts, so the wait never hangs.
        """
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or timeout_s < 0:
            raise HAProxyArgumentError("timeout must be a number of seconds >= 0, got %r" % (timeout_s,))
        if isinstance(interval_s, bool) or not isinstance(interval_s, (int, float)) or interval_s <= 0:
            raise HAProxyArgumentError("poll interval must be > 0 seconds, got %r" % (interval_s,))
        start = self._clock()
        deadline = start + timeout_s
        # Below this gap a scheduled poll is the deadline poll: float sums
        # such as 0.7 * 3 = 2.0999999999999996 must not add an extra poll.
        epsilon = min(interval_s, 1.0) * 1e-6
        polls = 0
        while True:
            result = probe()
            polls += 1
            now = self._clock()
            if done(result):
                # Done at the first read: nothing was waited for.
                return (now - start if polls > 1 else 0.0), result
            if now >= deadline - epsilon:
                raise HAProxyTimeoutError(
                    "%s: not done after %.1fs (%d polls every %.2fs); last seen: %s"
                    % (describe, now - start, polls, interval_s, _describe_state(result)),
                    socket=self.socket, last_state=result, waited=now - start, polls=polls)
            next_poll = start + polls * interval_s
            if deadline - next_poll < epsilon:
                next_poll = deadline
            if next_poll > now:
                self._sleep(next_poll - now)

    def wait_for_drain(self, backend, server, timeout_s, interval_s=DEFAULT_POLL_INTERVAL):
        """Wait until the server carries no session and no queued request.

        Polls ``show stat <backend> 4 -1`` until scur + qcur == 0. A server
        whose status is DOWN or MAINT needs no wait and returns at once.
        Args: backend, server (str); timeout_s (float seconds >= 0);
            interval_s (float seconds > 0, default 0.2).
        Returns: float: seconds waited (0.0 when drained at the first read).
        Raises: HAProxyTimeoutError (``last_state`` is the last ServerStats,
            ``waited``, ``polls``) if sessions remain at the deadline, after
            a last poll at the deadline; HAProxyCommandError,
            HAProxyConnectionError, HAProxyArgumentError.
        """
        def drained(stats):
            return stats.status.state in ("DOWN", "MAINT") or stats.sessions == 0

        return self._poll(lambda: self.server_stats(backend, server), drained,
                          timeout_s, interval_s,
                          "HAProxy socket %s: draining %s/%s" % (self.socket, backend, server))[0]

    def wait_for_up(self, backend, server, timeout_s, interval_s=DEFAULT_POLL_INTERVAL):
        """Wait until the server is UP and in rotation.

        Polls ``show servers state <backend>`` and ``show stat <backend> 4 -1``
        until the operational state is running (or starting, in slowstart),
        the admin state is neither maint nor drain, and the status is a
        settled ``UP`` (not ``UP n/m``) or ``no check``. The status matters
        because HAProxy puts a server leaving maintenance straight UP with
        its health at ``rise`` ("start OK but check immediately"), shown as
        ``UP 1/3``: waiting for the plain ``UP`` makes sure checks passed
        since (with ``fall 1`` HAProxy shows ``UP`` at once). A server without
        health checks (``no check``) is up as soon as it is ready, so this
        returns at the first poll.
        Args: backend, server (str); timeout_s (float seconds >= 0);
            interval_s (float seconds > 0, default 0.2).
        Returns: float: seconds waited (0.0 when up at the first read).
        Raises: HAProxyTimeoutError if it is not up at the deadline
            (``last_state`` is the last ServerState, ``last_stats`` the last
            ServerStats); HAProxyCommandError, HAProxyConnectionError,
            HAProxyArgumentError.
        """
        def probe():
            return self.server_state(backend, server), self.server_stats(backend, server)

        def up(result):
            state, stats = result
            return (state.in_rotation and stats.status.state in ("UP", "no check")
                    and not stats.status.going_down)

        try:
            waited = self._poll(probe, up, timeout_s, interval_s,
                                "HAProxy socket %s: waiting for %s/%s to be UP"
                                % (self.socket, backend, server))[0]
        except HAProxyTimeoutError as exc:
            exc.last_state, exc.last_stats = exc.last_state
            raise
        return waited

    def wait_for_checked(self, backend, server, timeout_s, interval_s=DEFAULT_POLL_INTERVAL):
        """Wait until a server out of rotation passed its health check.

        For a server in DRAIN whose health was forced down (set_server_health
        ``down``): polls ``show servers state <backend>`` until its
        operational state is running again, which only a passing health
        check (``rise`` of them) brings. The server takes no new request
        meanwhile (DRAIN), so it can be set ready without ever being sent a
        request unchecked.

        Args: backend, server (str); timeout_s (float seconds >= 0);
            interval_s (float seconds > 0, default 0.2).
        Returns: float: seconds waited (0.0 when passed at the first read).
        Raises: HAProxyTimeoutError when it has not passed at the deadline
            (``last_state`` is the last ServerState); HAProxyCommandError,
            HAProxyConnectionError, HAProxyArgumentError.
        """
        return self._poll(lambda: self.server_state(backend, server),
                          lambda state: state.op_state in (OP_RUNNING, OP_STARTING),
                          timeout_s, interval_s,
                          "HAProxy socket %s: waiting for %s/%s to pass its health check"
                          % (self.socket, backend, server))[0]


def _describe_state(state):
    if isinstance(state, tuple):
        return "; ".join(_describe_state(part) for part in state)
    if isinstance(state, ServerStats):
        return "status %s, %d current sessions, %d queued" % (state.status.text, state.scur, state.qcur)
    if isinstance(state, ServerState):
        return "admin state %s, operational state %s" % (state.admin, state.operational)
    return repr(state)


@dataclass(frozen=True)
class HAProxyProcess:
    """One line of the master CLI's ``show proc``.

    Fields: pid (int); kind (str: ``master``, ``worker`` or a program's
    name); reloads (int: for the master, how many reloads it went through
    since it started, failed ones included; for a worker, how many reloads
    ago it was started); old (bool: listed under ``# old workers``, a worker
    that a reload replaced and that only finishes its connections); uptime
    (int seconds, or None when the line has none: the master's counts from
    its start and survives reloads, a worker's from its own start, so the
    current worker's restarts at each reload).
    """

    pid: int
    kind: str
    reloads: int
    old: bool
    uptime: Optional[int] = None


# "0d00h00m02s" in show proc (HAProxy 2.0 to 3.0).
_UPTIME = re.compile(r"^(?:(?P<d>\d+)d)?(?P<h>\d+)h(?P<m>\d+)m(?P<s>\d+)s$")


def parse_uptime(text):
    """Seconds of an uptime as ``show proc`` prints it (``0d00h00m02s``).

    Args: text (str).
    Returns: int seconds, or None when `text` is not such an uptime. HAProxy
        subtracts whole seconds, so the value may be up to 1 s more than the
        time really elapsed.
    """
    match = _UPTIME.match(text)
    if not match:
        return None
    return (((int(match.group("d") or 0) * 24 + int(match.group("h"))) * 60 + int(match.group("m"))) * 60
            + int(match.group("s")))


def parse_show_proc(text):
    """Parse the master CLI's ``show proc`` (HAProxy 2.0+; recorded from 2.6
    and 3.0, which print it alike).

    Args: text (str): the answer, sections ``# workers``, ``# old workers``
        and ``# programs`` after the master's line, each line ``<pid> <type>
        <reloads> <uptime> <version>``; the master's reloads are followed by
        ``[failed: N]``.
    Returns: list of HAProxyProcess (the master, current workers, old
        workers; programs are left out).
    Raises: HAProxyCommandError when no master line is found.
    """
    processes = []
    section = "master"
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            name = stripped.lstrip("#").strip().lower()
            if name.startswith("<pid>"):
                continue
            section = {"workers": "workers", "old workers": "old", "programs": "programs"}.get(name, section)
            continue
        if section == "programs":
            continue
        fields = stripped.split()
        if len(fields) < 3 or not fields[0].isdigit():
            continue
        uptime = next((parse_uptime(f) for f in fields[3:] if parse_uptime(f) is not None), None)
        processes.append(HAProxyProcess(pid=int(fields[0]), kind=fields[1], reloads=_int(fields[2], 0),
                                        old=section == "old", uptime=uptime))
    if not any(p.kind == "master" for p in processes):
        raise HAProxyCommandError("not an answer of the master CLI's 'show proc': %s" % _first_line(text),
                                  command="show proc", answer=text)
    return processes


class HAProxyMaster(HAProxyRuntime):
    """The master CLI of HAProxy in master-worker mode (``-S <socket>``,
    or ``master-worker`` with a ``stats socket`` of the master).

    The master answers one command and keeps the connection open, so each
    command is sent as ``<command>;quit``. ``processes()`` lists the
    workers, including the old ones a reload left running until their
    connections end; ``worker(pid)`` gives a HAProxyRuntime whose commands
    go to one worker (``@!<pid> <command>``), so the typed methods and the
    wait loops work on an old worker's view of its servers too (management
    guide, "9.4. Master CLI").

    Args: as HAProxyRuntime.
    """

    # A reload re-executes the master, which binds its CLI again: for a
    # moment connections are refused (seen on 2.6).
    REFUSED_RETRIES = 10
    REFUSED_INTERVAL_S = 0.2

    def execute(self, command):
        """As HAProxyRuntime.execute, for the master CLI (``;quit`` added),
        trying again for up to about 2 seconds while the socket refuses
        connections (the master re-executing itself at a reload)."""
        for attempt in range(self.REFUSED_RETRIES + 1):
            try:
                return super().execute(command + ";quit")
            except HAProxyConnectionError as exc:
                if "connection refused" not in str(exc) or attempt == self.REFUSED_RETRIES:
                    raise
                self.sleep(self.REFUSED_INTERVAL_S)
        return ""  # not reached

    def processes(self):
        """``show proc``: list of HAProxyProcess.

        Raises: HAProxyCommandError, HAProxyConnectionError.
        """
        return parse_show_proc(self.execute("show proc"))

    def old_workers(self):
        """The workers a reload replaced that still run: list of int pids.

        Raises: HAProxyCommandError, HAProxyConnectionError.
        """
        return [p.pid for p in self.processes() if p.old and p.kind == "worker"]

    def worker(self, pid):
        """A HAProxyRuntime that sends every command to worker `pid` (int)
        through this master CLI, with this client's timeouts and clock."""
        return _WorkerRuntime(self, pid)


class _WorkerRuntime(HAProxyMaster):
    """HAProxyRuntime whose commands reach one worker via the master CLI.

    A command to a worker that has exited is answered ``Can't find the
    target PID matching the prefix '@!<pid>'``: HAProxy 2.6 then closes the
    connection, 3.0 leaves it open (the ``;quit`` is dropped with the
    command), so the answer is taken as complete at its end of line instead
    of waiting read_timeout for the close (recorded in
    tests/unit/plugins/module_utils/fixtures/haproxy-3.0-master).
    """

    _GONE = b"Can't find the target PID"

    def __init__(self, master, pid):
        super().__init__(master.socket, connect_timeout=master.connect_timeout,
                         read_timeout=master.read_timeout, clock=master._clock, sleep=master._sleep)
        self.pid = int(pid)
        self.socket = "%s (worker %d)" % (master.socket, self.pid)
        self._master_socket = master.socket

    def _answer_complete(self, data):
        return data.startswith(self._GONE) and data.endswith(b"\n")

    def execute(self, command):
        """As HAProxyRuntime.execute, prefixed ``@!<pid>`` and ended ``;quit``.

        Raises: HAProxyWorkerGoneError when the worker has exited; as
        HAProxyRuntime.execute otherwise.
        """
        answer = super().execute("@!%d %s" % (self.pid, command))
        if answer.startswith(self._GONE.decode()):
            raise HAProxyWorkerGoneError("HAProxy worker %d is gone (master CLI %s)" % (self.pid, self._master_socket),
                                         socket=self._master_socket, command=command, answer=answer, pid=self.pid)
        return answer
