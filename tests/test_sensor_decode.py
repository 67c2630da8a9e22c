"""Ring-buffer record decoding, on synthetic records laid out as bpf/events.h lays them out."""

from __future__ import annotations

import socket
import struct
from datetime import UTC, datetime

import pytest

from vigil.models import EventType
from vigil.sensor import decode
from vigil.sensor.decode import (
    ARGS_MAX,
    CONNECT_SIZE,
    EXEC_SIZE,
    MalformedRecord,
    WallClock,
    decode_record,
)

CLOCK = WallClock(offset_ns=1_700_000_000_000_000_000)
HEADER = dict(
    pid=4242, ppid=1, uid=1000, cgroup_id=98765, ktime_ns=5_123_456_789, start_ns=4_000_000_000
)


def header(kind: int, **fields: int) -> bytes:
    f = {**HEADER, **fields}
    return struct.pack(
        "=IIIIQQQ",
        kind,
        f["pid"],
        f["ppid"],
        f["uid"],
        f["cgroup_id"],
        f["ktime_ns"],
        f["start_ns"],
    )


def exec_record(
    exe: bytes = b"/bin/cat",
    args: bytes = b"/bin/cat\0/etc/hostname\0",
    flags: int = 0,
    exe_len: int | None = None,
    args_len: int | None = None,
) -> bytes:
    body = struct.pack(
        "=IHH256s1024s",
        flags,
        len(exe) if exe_len is None else exe_len,
        len(args) if args_len is None else args_len,
        exe,
        args,
    )
    return header(decode.EVENT_EXEC) + body


def connect_record(
    family: int = socket.AF_INET,
    addr: bytes = socket.inet_pton(socket.AF_INET, "127.0.0.1"),
    port: int = 8080,
    protocol: int = decode.PROTO_TCP,
    ret: int = 0,
) -> bytes:
    body = struct.pack("=iHHB3x16s", ret, family, port, protocol, addr)
    return header(decode.EVENT_CONNECT) + body + b"\0" * 4  # sizeof() rounds up to 8


def test_record_sizes_match_the_c_structs() -> None:
    # sizeof(struct vigil_exec) == 1328, sizeof(struct vigil_connect) == 72 (68 + tail padding);
    # test_sensor_build checks these against the compiled object's BTF
    assert EXEC_SIZE == 1328
    assert CONNECT_SIZE == 68
    assert len(exec_record()) == EXEC_SIZE
    assert len(connect_record()) == 72


def test_exec_record_becomes_an_exec_event() -> None:
    event = decode_record(exec_record(), CLOCK)
    assert event.type is EventType.EXEC
    assert event.process.pid == 4242
    assert event.process.ppid == 1
    assert event.process.uid == 1000
    assert event.process.exe == "/bin/cat"
    assert event.process.cmdline == "/bin/cat /etc/hostname"
    assert not event.process.cmdline_truncated
    assert event.cgroup_id == 98765
    assert event.ktime_ns == 5_123_456_789
    assert event.network is None


def test_time_is_wall_clock_from_the_monotonic_offset() -> None:
    event = decode_record(exec_record(), CLOCK)
    expected = datetime.fromtimestamp(1_700_000_005, UTC).replace(microsecond=123456)
    assert event.time == expected
    assert event.time.tzinfo is UTC


def test_wall_clock_now_tracks_time() -> None:
    import time

    clock = WallClock.now()
    now = clock.to_datetime(time.monotonic_ns())
    assert abs((now - datetime.now(UTC)).total_seconds()) < 1.0


def test_truncated_argv_is_flagged_and_has_no_trailing_nul() -> None:
    args = (b"A" * 600 + b"\0" + b"B" * 600)[:ARGS_MAX]
    event = decode_record(exec_record(args=args, flags=decode.EXEC_ARGS_TRUNCATED), CLOCK)
    assert event.process.cmdline == "A" * 600 + " " + "B" * (ARGS_MAX - 601)
    assert event.process.cmdline_truncated


def test_exe_truncation_is_flagged() -> None:
    event = decode_record(
        exec_record(exe=b"/x" * 127 + b"y", flags=decode.EXEC_EXE_TRUNCATED), CLOCK
    )
    assert event.process.cmdline_truncated


def test_non_utf8_argv_is_backslash_escaped_and_flagged() -> None:
    event = decode_record(exec_record(args=b"/bin/echo\0caf\xe9\0\xff\xfe\0"), CLOCK)
    assert event.process.cmdline == "/bin/echo caf\\xe9 \\xff\\xfe"
    assert event.process.cmdline_truncated


def test_valid_utf8_passes_through_untouched() -> None:
    event = decode_record(exec_record(args="/bin/echo héllo 日本\0".encode()), CLOCK)
    assert event.process.cmdline == "/bin/echo héllo 日本"
    assert not event.process.cmdline_truncated


def test_control_characters_are_escaped() -> None:
    hostile = b"/bin/sh\0-c\0echo ok\n\x1b[2J\rfake line\x7f\0"
    event = decode_record(exec_record(args=hostile), CLOCK)
    cmdline = event.process.cmdline
    assert cmdline == "/bin/sh -c echo ok\\x0a\\x1b[2J\\x0dfake line\\x7f"
    assert all(ch.isprintable() for ch in cmdline)
    assert event.process.cmdline_truncated


def test_unicode_line_separators_are_escaped() -> None:
    event = decode_record(exec_record(args="a\u2028b\0".encode()), CLOCK)
    assert event.process.cmdline == "a\\u2028b"


def test_hostile_exe_is_escaped() -> None:
    event = decode_record(exec_record(exe=b"/tmp/\x1b]0;evil\x07\xff"), CLOCK)
    assert event.process.exe == "/tmp/\\x1b]0;evil\\x07\\xff"
    assert event.process.cmdline_truncated


def test_empty_argv_is_an_empty_cmdline() -> None:
    event = decode_record(exec_record(args=b""), CLOCK)
    assert event.process.cmdline == ""


def test_empty_arguments_keep_their_place() -> None:
    event = decode_record(exec_record(args=b"prog\0\0last\0"), CLOCK)
    assert event.process.cmdline == "prog  last"


def test_huge_lengths_are_malformed() -> None:
    with pytest.raises(MalformedRecord, match="out of bounds"):
        decode_record(exec_record(args_len=ARGS_MAX + 1), CLOCK)
    with pytest.raises(MalformedRecord, match="out of bounds"):
        decode_record(exec_record(exe_len=0xFFFF), CLOCK)


def test_only_the_declared_lengths_are_read() -> None:
    event = decode_record(exec_record(args=b"ls\0secret-left-over\0", args_len=3), CLOCK)
    assert event.process.cmdline == "ls"


def test_ipv4_tcp_connect() -> None:
    event = decode_record(connect_record(), CLOCK)
    assert event.type is EventType.CONNECT
    assert event.network is not None
    assert event.network.to_json() == {
        "protocol": "tcp",
        "family": "ipv4",
        "dest_ip": "127.0.0.1",
        "dest_port": 8080,
    }
    assert event.process.pid == 4242
    assert event.cgroup_id == 98765


def test_ipv6_udp_connect() -> None:
    addr = socket.inet_pton(socket.AF_INET6, "2001:db8::53")
    event = decode_record(
        connect_record(socket.AF_INET6, addr, port=53, protocol=decode.PROTO_UDP), CLOCK
    )
    assert event.network is not None
    assert event.network.protocol == "udp"
    assert event.network.family == "ipv6"
    assert event.network.dest_ip == "2001:db8::53"
    assert event.network.destination == "udp/[2001:db8::53]:53"


def test_ipv4_mapped_ipv6_is_spelled_with_a_dotted_quad() -> None:
    addr = socket.inet_pton(socket.AF_INET6, "::ffff:10.1.2.3")
    event = decode_record(connect_record(socket.AF_INET6, addr), CLOCK)
    assert event.network is not None
    assert event.network.dest_ip == "::ffff:10.1.2.3"


def test_failed_connect_attempts_are_still_reported() -> None:
    record = decode.parse_record(connect_record(ret=-111))
    assert isinstance(record, decode.ConnectRecord)
    assert record.ret == -111
    assert decode_record(connect_record(ret=-111), CLOCK).network is not None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "shorter than a header"),
        (b"\x01\x00\x00", "shorter than a header"),
        (header(decode.EVENT_EXEC), "exec record of 40 bytes"),
        (exec_record()[:-1], "exec record of 1327 bytes"),
        (connect_record()[:40], "connect record of 40 bytes"),
        (header(99) + b"\0" * 100, "unknown record type 99"),
        (header(0), "unknown record type 0"),
        (connect_record(family=1), "address family 1"),
        (connect_record(protocol=7), "protocol 7"),
    ],
)
def test_malformed_records_raise(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedRecord, match=reason):
        decode_record(data, CLOCK)


def test_malformed_record_is_a_value_error() -> None:
    assert issubclass(MalformedRecord, ValueError)
