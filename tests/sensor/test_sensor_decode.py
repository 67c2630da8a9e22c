"""Ring-buffer record decoding, on synthetic records laid out as bpf/events.h lays them out."""

from __future__ import annotations

import socket
import struct
from datetime import UTC, datetime

import pytest

from tests.fixtures.sensor_records import (
    connect_record,
    dns_payload,
    exec_record,
    header,
    syscall_record,
)
from vigil.models import EventType
from vigil.sensor import decode, records, text
from vigil.sensor.decode import WallClock, decode_record
from vigil.sensor.records import ARGS_MAX, CONNECT_SIZE, EXEC_SIZE, MalformedRecord

CLOCK = WallClock(offset_ns=1_700_000_000_000_000_000)


def test_record_sizes_match_the_c_structs() -> None:
    # the fixed part of struct vigil_exec is 96 bytes, sizeof(struct vigil_connect) == 80 (76 +
    # tail padding); test_sensor_build checks these against events.h compiled by clang
    assert records.EXEC_DATA == 96
    assert EXEC_SIZE == 96 + 2048
    assert CONNECT_SIZE == 76
    assert len(connect_record()) == 80


def test_records_carry_only_the_bytes_their_strings_use() -> None:
    record = exec_record(exe=b"/bin/cat", args=b"cat\0x\0", cwd="/tmp", file="/bin/busybox")
    assert len(record) == records.EXEC_DATA + 8 + 6 + 4 + 12  # exe, args, "tmp\0", "busybox\0bin\0"
    opened = syscall_record(records.EVENT_OPEN, (0,), (b"/etc/shadow",))
    assert len(opened) == records.SYSCALL_DATA + 11


def test_every_exec_field_survives_packing() -> None:
    record = records.parse_record(
        exec_record(
            exe=b"/opt/x.sh",
            interp=b"/bin/sh",
            args=b"x.sh\0-v\0",
            cwd="/srv/app",
            file="/opt/x.sh",
            depth=2,
            ctime=1_700_000_000,
            magic=records.OVERLAYFS_MAGIC,
            nlink=0,
            flags=records.EXEC_CWD_TRUNCATED,
        )
    )
    assert isinstance(record, records.ExecRecord)
    assert (record.exe, record.interp, record.args) == (b"/opt/x.sh", b"/bin/sh", b"x.sh\0-v\0")
    assert text.walked_path(record.cwd) == "/srv/app"
    assert text.walked_path(record.file) == "/opt/x.sh"
    assert record.file_complete
    assert (record.file_ctime_s, record.file_magic, record.file_nlink) == (
        1_700_000_000,
        records.OVERLAYFS_MAGIC,
        0,
    )
    assert record.flags == records.EXEC_CWD_TRUNCATED


def test_the_largest_exec_record_decodes() -> None:
    args = b"a" * ARGS_MAX
    long_dir = "/" + "/".join(["d" * 50] * 5)[:250]
    record = exec_record(exe=b"/" + b"e" * 255, interp=b"/" + b"i" * 255, args=args, cwd=long_dir)
    event = decode_record(record, CLOCK)
    assert event.process.cmdline == "a" * ARGS_MAX
    assert event.process.cwd == long_dir


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
    event = decode_record(exec_record(args=args, flags=records.EXEC_ARGS_TRUNCATED), CLOCK)
    assert event.process.cmdline == "A" * 600 + " " + "B" * (ARGS_MAX - 601)
    assert event.process.cmdline_truncated


def test_exe_truncation_is_flagged() -> None:
    event = decode_record(
        exec_record(exe=b"/x" * 127 + b"y", flags=records.EXEC_EXE_TRUNCATED), CLOCK
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
        "result": 0,
    }
    assert event.process.pid == 4242
    assert event.cgroup_id == 98765


def test_ipv6_udp_connect() -> None:
    addr = socket.inet_pton(socket.AF_INET6, "2001:db8::53")
    event = decode_record(
        connect_record(socket.AF_INET6, addr, port=53, protocol=records.PROTO_UDP), CLOCK
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
    record = records.parse_record(connect_record(ret=-111))
    assert isinstance(record, records.ConnectRecord)
    assert record.ret == -111
    assert decode_record(connect_record(ret=-111), CLOCK).network is not None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "shorter than a header"),
        (b"\x01\x00\x00", "shorter than a header"),
        (header(records.EVENT_EXEC), "exec record of 48 bytes"),
        (exec_record(args=b"ab", args_len=10), "exec record of .* misses its strings"),
        (exec_record()[: records.EXEC_DATA + 3], "exec record of .* misses its strings"),
        (connect_record()[:60], "connect record of 60 bytes"),
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


# -- the rest of the event types ---------------------------------------------------------------
def test_exec_carries_cwd_ids_and_the_given_path() -> None:
    event = decode_record(exec_record(), CLOCK)
    p = event.process
    assert (p.cwd, p.euid, p.gid, p.start_ns) == ("/tmp", 0, 1000, 4_000_000_000)
    assert p.exe == "/bin/cat"  # the symlink the caller named, not busybox behind it


@pytest.mark.parametrize(
    ("given", "opened", "expected"),
    [
        (b"/proc/self/exe", "/bin/busybox", "/bin/busybox"),
        (b"/dev/fd/3", "/memfd:payload (deleted)", "/memfd:payload (deleted)"),
        (b"./run.sh", "/opt/app/run.sh", "/opt/app/run.sh"),
        (b"/usr/bin/python3", "/usr/bin/python3.11", "/usr/bin/python3"),
    ],
)
def test_indirect_exec_paths_report_the_opened_file(
    given: bytes, opened: str, expected: str
) -> None:
    event = decode_record(exec_record(exe=given, file=opened, depth=3), CLOCK)
    assert event.process.exe == expected


def test_incomplete_walk_keeps_the_given_path() -> None:
    event = decode_record(exec_record(exe=b"/proc/self/exe", depth=0xFFFF), CLOCK)
    assert event.process.exe == "/proc/self/exe"


def test_memfd_and_dev_shm_origins() -> None:
    memfd = decode_record(exec_record(exe=b"/dev/fd/4", file="/memfd:x (deleted)"), CLOCK)
    assert memfd.process.exe_from_memfd and not memfd.process.exe_from_dev_shm
    shm = decode_record(exec_record(exe=b"/dev/shm/x", file="/dev/shm/x"), CLOCK)
    assert shm.process.exe_from_dev_shm and not shm.process.exe_from_memfd


def test_exit_code_and_killing_signal() -> None:
    body = struct.pack("=iI", 5 << 8, 0)
    assert decode_record(header(records.EVENT_EXIT) + body, CLOCK).process.exit_code == 5
    killed = struct.pack("=iI", 9, 0)
    assert decode_record(header(records.EVENT_EXIT) + killed, CLOCK).process.exit_code == 137
    fork = decode_record(header(records.EVENT_FORK) + body, CLOCK)
    assert fork.type is EventType.FORK and fork.process.exit_code is None


def test_accept_names_both_ends() -> None:
    local, remote = socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.9")
    body = struct.pack(
        "=iHBxHH16s16s", 0, socket.AF_INET, records.PROTO_TCP, 8080, 51000, local, remote
    )
    event = decode_record(header(records.EVENT_ACCEPT) + body + b"\0" * 4, CLOCK)
    assert event.network is not None
    assert (event.network.dest_ip, event.network.dest_port) == ("10.0.0.9", 51000)
    assert (event.network.local_ip, event.network.local_port) == ("10.0.0.1", 8080)


def test_dns_query_name_and_type() -> None:
    record = syscall_record(
        records.EVENT_DNS,
        (53, socket.AF_INET),
        (dns_payload("example.com", 28), b"", b"\x7f\0\0\x01"),
    )
    event = decode_record(record, CLOCK)
    assert event.dns is not None and (event.dns.name, event.dns.qtype) == ("example.com", "AAAA")
    assert event.network is not None and event.network.dest_ip == "127.0.0.1"


def test_hostile_dns_names_are_escaped_and_cut_payloads_survive() -> None:
    hostile = decode.dns_query(dns_payload("a\x1bb.cd"))
    assert hostile.name == "a\\x1bb.cd"
    cut = decode.dns_query(dns_payload("example.com")[:20])
    assert cut.name == "example" and cut.qtype == ""
    assert decode.dns_query(b"").name == ""


def test_open_operations_and_truncated_paths() -> None:
    event = decode_record(
        syscall_record(records.EVENT_OPEN, (0o1001,), (b"/etc/" + b"a" * 251,), flags=1), CLOCK
    )
    assert event.file is not None
    assert event.file.operation == "truncate" and event.file.path_truncated
    assert decode.open_operation(0) == "read"
    assert decode.open_operation(0o100 | 1) == "create"
    assert decode.open_operation(2) == "write"


def test_setuid_family_and_unchanged_ids() -> None:
    record = syscall_record(records.EVENT_SETUID, (0xFFFFFFFF, 0, 0, 2))
    event = decode_record(record, CLOCK)
    assert event.syscall is not None
    assert (event.syscall.name, event.syscall.args) == (
        "setresuid",
        {"ruid": -1, "euid": 0, "suid": 0},
    )


def test_mount_and_module_load() -> None:
    mount = decode_record(
        syscall_record(records.EVENT_MOUNT, (0,), (b"/dev/sda1", b"/mnt", b"ext4")), CLOCK
    )
    assert mount.syscall is not None
    assert mount.syscall.args == {
        "source": "/dev/sda1",
        "target": "/mnt",
        "fstype": "ext4",
        "flags": 0,
    }
    module = decode_record(
        syscall_record(records.EVENT_MODULE_LOAD, (0, 3, 0), (b"debug=1",)), CLOCK
    )
    assert module.syscall is not None and module.syscall.name == "finit_module"


def test_syscall_record_missing_its_strings_is_malformed() -> None:
    record = syscall_record(records.EVENT_RENAME, (), (b"/etc/a", b"/etc/b"))
    with pytest.raises(MalformedRecord, match="misses its strings"):
        decode_record(record[:-1], CLOCK)
    with pytest.raises(MalformedRecord, match="syscall record of 100 bytes"):
        decode_record(record[:100], CLOCK)


@pytest.mark.parametrize(
    "lengths", [(257, 0, 0), (0, 257, 0), (0, 0, 65), (0xFFFF, 0xFFFF, 0xFFFF)]
)
def test_syscall_string_lengths_past_their_bounds_are_malformed(
    lengths: tuple[int, int, int],
) -> None:
    body = struct.pack("=q4QIHHH6x", 0, 0, 0, 0, 0, 0, *lengths)
    record = header(records.EVENT_OPEN) + body + b"x" * 1024
    with pytest.raises(MalformedRecord, match="out of bounds"):
        decode_record(record, CLOCK)


def test_mount_strings_follow_each_other_when_some_are_empty() -> None:
    # mount(NULL, "/mnt", NULL): str0 and str2 empty, str1 starts right after the fixed part
    record = syscall_record(records.EVENT_MOUNT, (7,), (b"", b"/mnt", b""))
    assert len(record) == records.SYSCALL_DATA + 4
    event = decode_record(record, CLOCK)
    assert event.syscall is not None
    assert event.syscall.args == {"source": "", "target": "/mnt", "fstype": "", "flags": 7}


def test_dns_address_follows_the_payload() -> None:
    payload = dns_payload("vigil.example", 1)
    record = syscall_record(
        records.EVENT_DNS,
        (53, socket.AF_INET6),
        (payload, b"", socket.inet_pton(socket.AF_INET6, "fd00::1")),
    )
    event = decode_record(record, CLOCK)
    assert event.dns is not None and event.dns.name == "vigil.example"
    assert event.network is not None and event.network.dest_ip == "fd00::1"
