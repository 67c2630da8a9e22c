"""Ring-buffer records built as the BPF programs lay them out (bpf/events.h), for the tests."""

from __future__ import annotations

import socket
import struct

from vigil.sensor import records

HEADER = dict(
    pid=4242,
    ppid=1,
    uid=1000,
    euid=0,
    gid=1000,
    cgroup_id=98765,
    ktime_ns=5_123_456_789,
    start_ns=4_000_000_000,
)


def header(kind: int, **fields: int) -> bytes:
    f = {**HEADER, **fields}
    return struct.pack(
        "=IIIIIIQQQ",
        kind,
        f["pid"],
        f["ppid"],
        f["uid"],
        f["euid"],
        f["gid"],
        f["cgroup_id"],
        f["ktime_ns"],
        f["start_ns"],
    )


def components(path: str) -> bytes:
    """A dentry walk's output for ``path``: components leaf first, NUL-terminated."""
    parts = [p for p in path.split("/") if p]
    return b"".join(p.encode() + b"\0" for p in reversed(parts))


def exec_record(
    exe: bytes = b"/bin/cat",
    args: bytes = b"/bin/cat\0/etc/hostname\0",
    flags: int = 0,
    exe_len: int | None = None,
    args_len: int | None = None,
    cwd: str = "/tmp",
    file: str = "/bin/busybox",
    depth: int = 2,
    ctime: int = 0,
    magic: int = 0xEF53,
    interp: bytes = b"",
    nlink: int = 1,
    exec_hash: int = 0,
) -> bytes:
    """An exec record as the kernel sends it: the fixed part, then the strings packed."""
    cwd_raw, file_raw = components(cwd), components(file)
    fixed = struct.pack(
        "=IHHHHHHQQIIQ",
        flags,
        len(exe) if exe_len is None else exe_len,
        len(args) if args_len is None else args_len,
        len(cwd_raw),
        len(file_raw),
        len(interp),
        depth,
        ctime,
        magic,
        nlink,
        0,
        exec_hash,
    )
    return header(records.EVENT_EXEC) + fixed + exe + args + interp + cwd_raw + file_raw


def connect_record(
    family: int = socket.AF_INET,
    addr: bytes = socket.inet_pton(socket.AF_INET, "127.0.0.1"),
    port: int = 8080,
    protocol: int = records.PROTO_TCP,
    ret: int = 0,
) -> bytes:
    body = struct.pack("=iHHB3x16s", ret, family, port, protocol, addr)
    return header(records.EVENT_CONNECT) + body + b"\0" * 4  # sizeof() rounds up to 8


def syscall_record(
    kind: int, args: tuple[int, ...] = (0, 0, 0, 0), strings: tuple[bytes, ...] = (), flags: int = 0
) -> bytes:
    """A syscall record as the kernel sends it: the fixed part, then the strings packed."""
    padded = (*strings, b"", b"", b"")[:3]
    lengths = [len(x) for x in padded]
    body = struct.pack("=q4QIHHH6x", 0, *(*args, 0, 0, 0, 0)[:4], flags, *lengths)
    return header(kind) + body + b"".join(padded)


def dns_payload(name: str, qtype: int = 1) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return (
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        + labels
        + b"\0"
        + qtype.to_bytes(2, "big")
        + b"\0\x01"
    )
