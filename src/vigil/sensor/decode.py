"""Raw ring-buffer records (see bpf/events.h) → :class:`vigil.models.Event`. Pure functions.

Everything in a record is attacker-influenced (argv, paths), so text is decoded defensively:
invalid UTF-8 is backslash-escaped, control characters are escaped, and any such rewriting is
flagged in ``ProcessInfo.cmdline_truncated`` along with real truncation.
"""

from __future__ import annotations

import ipaddress
import struct
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from vigil.models import Event, EventType, NetworkInfo, ProcessInfo

# Mirrors of bpf/events.h. Native byte order: the kernel writing them runs on this CPU.
EVENT_EXEC = 1
EVENT_CONNECT = 2
EVENT_TYPES = 3
EXE_MAX = 256
ARGS_MAX = 1024
EXEC_ARGS_TRUNCATED = 1
EXEC_EXE_TRUNCATED = 2
PROTO_TCP = 1
PROTO_UDP = 2
AF_INET = 2
AF_INET6 = 10

HEADER = struct.Struct("=IIIIQQQ")  # type, pid, ppid, uid, cgroup_id, ktime_ns, start_ns
EXEC_BODY = struct.Struct(f"=IHH{EXE_MAX}s{ARGS_MAX}s")  # flags, exe_len, args_len, exe, args
CONNECT_BODY = struct.Struct("=iHHB3x16s")  # ret, family, port, protocol, pad, addr
EXEC_SIZE = HEADER.size + EXEC_BODY.size
CONNECT_SIZE = HEADER.size + CONNECT_BODY.size

PROTOCOLS = {PROTO_TCP: "tcp", PROTO_UDP: "udp"}
FAMILIES = {AF_INET: "ipv4", AF_INET6: "ipv6"}


class MalformedRecord(ValueError):
    """A ring-buffer record that cannot be decoded: counted as ``malformed`` and skipped."""


@dataclass(frozen=True, slots=True)
class WallClock:
    """Converts kernel CLOCK_MONOTONIC timestamps to wall-clock time with one fixed offset."""

    offset_ns: int

    @classmethod
    def now(cls) -> WallClock:
        return cls(time.time_ns() - time.monotonic_ns())

    def to_datetime(self, ktime_ns: int) -> datetime:
        seconds, nanos = divmod(ktime_ns + self.offset_ns, 1_000_000_000)
        return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=nanos // 1000)


@dataclass(frozen=True, slots=True)
class Header:
    type: int
    pid: int
    ppid: int
    uid: int
    cgroup_id: int
    ktime_ns: int
    start_ns: int


@dataclass(frozen=True, slots=True)
class ExecRecord:
    header: Header
    flags: int
    exe: bytes
    args: bytes


@dataclass(frozen=True, slots=True)
class ConnectRecord:
    header: Header
    #: connect(2)'s return value (0, -EINPROGRESS, -ECONNREFUSED, …): attempts are reported too
    ret: int
    family: int
    port: int
    protocol: int
    addr: bytes


def parse_record(data: bytes) -> ExecRecord | ConnectRecord:
    """Split a record into its fields, checking every length against the bytes present."""
    if len(data) < HEADER.size:
        raise MalformedRecord(f"record of {len(data)} bytes is shorter than a header")
    header = Header(*HEADER.unpack_from(data))
    if header.type == EVENT_EXEC:
        return _parse_exec(header, data)
    if header.type == EVENT_CONNECT:
        return _parse_connect(header, data)
    raise MalformedRecord(f"unknown record type {header.type}")


def _parse_exec(header: Header, data: bytes) -> ExecRecord:
    if len(data) < EXEC_SIZE:
        raise MalformedRecord(f"exec record of {len(data)} bytes, expected {EXEC_SIZE}")
    flags, exe_len, args_len, exe, args = EXEC_BODY.unpack_from(data, HEADER.size)
    if exe_len > EXE_MAX or args_len > ARGS_MAX:
        raise MalformedRecord(f"exec record lengths out of bounds: {exe_len}, {args_len}")
    return ExecRecord(header, flags, exe[:exe_len], args[:args_len])


def _parse_connect(header: Header, data: bytes) -> ConnectRecord:
    if len(data) < CONNECT_SIZE:
        raise MalformedRecord(f"connect record of {len(data)} bytes, expected {CONNECT_SIZE}")
    ret, family, port, protocol, addr = CONNECT_BODY.unpack_from(data, HEADER.size)
    if family not in FAMILIES:
        raise MalformedRecord(f"connect record with address family {family}")
    if protocol not in PROTOCOLS:
        raise MalformedRecord(f"connect record with protocol {protocol}")
    return ConnectRecord(header, ret, family, port, protocol, addr)


def decode_record(data: bytes, clock: WallClock) -> Event:
    """One ring-buffer record as an :class:`Event`; :class:`MalformedRecord` if it is not one."""
    record = parse_record(data)
    if isinstance(record, ExecRecord):
        return exec_event(record, clock)
    return connect_event(record, clock)


def exec_event(record: ExecRecord, clock: WallClock) -> Event:
    exe, exe_escaped = safe_text(record.exe)
    cmdline, args_escaped = argv_text(record.args)
    truncated = bool(record.flags & (EXEC_ARGS_TRUNCATED | EXEC_EXE_TRUNCATED))
    return _event(
        EventType.EXEC,
        record.header,
        clock,
        exe=exe,
        cmdline=cmdline,
        cmdline_truncated=truncated or exe_escaped or args_escaped,
    )


def connect_event(record: ConnectRecord, clock: WallClock) -> Event:
    network = NetworkInfo(
        protocol=PROTOCOLS[record.protocol],
        family=FAMILIES[record.family],
        dest_ip=ip_text(record.family, record.addr),
        dest_port=record.port,
    )
    return _event(EventType.CONNECT, record.header, clock, network=network)


def _event(
    kind: EventType,
    header: Header,
    clock: WallClock,
    *,
    exe: str = "",
    cmdline: str = "",
    cmdline_truncated: bool = False,
    network: NetworkInfo | None = None,
) -> Event:
    return Event(
        type=kind,
        time=clock.to_datetime(header.ktime_ns),
        ktime_ns=header.ktime_ns,
        cgroup_id=header.cgroup_id,
        process=ProcessInfo(
            pid=header.pid,
            ppid=header.ppid,
            uid=header.uid,
            exe=exe,
            cmdline=cmdline,
            cmdline_truncated=cmdline_truncated,
        ),
        network=network,
    )


def argv_text(args: bytes) -> tuple[str, bool]:
    """NUL-separated argv → one space-separated line, and whether anything had to be escaped."""
    if args.endswith(b"\0"):
        args = args[:-1]  # the last argument's terminator; a truncated argv has none
    return safe_text(args.replace(b"\0", b" "))


def safe_text(raw: bytes) -> tuple[str, bool]:
    """Printable text from untrusted bytes, and whether any byte had to be escaped."""
    try:
        text = raw.decode("utf-8")
        escaped = False
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "backslashreplace")
        escaped = True
    if text.isprintable():
        return text, escaped
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text), True


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def ip_text(family: int, addr: bytes) -> str:
    if family == AF_INET:
        return str(ipaddress.IPv4Address(addr[:4]))
    ip = ipaddress.IPv6Address(addr[:16])
    if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d, spelled the way people write it
        return f"::ffff:{ip.ipv4_mapped}"
    return str(ip)
