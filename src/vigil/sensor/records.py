"""The records the BPF programs write to the ring buffer (bpf/events.h), split into fields.

Everything in a record is attacker-influenced, so every length is checked against the bytes
present before anything is read: a record that does not add up is :class:`MalformedRecord`.
Turning a record into an event is vigil.sensor.decode's.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from vigil.models import EventType

# Mirrors of bpf/events.h. Native byte order: the kernel writing them runs on this CPU.
EVENT_EXEC = 1
EVENT_CONNECT = 2
EVENT_EXIT = 3
EVENT_FORK = 4
EVENT_ACCEPT = 5
EVENT_LISTEN = 6
EVENT_DNS = 7
EVENT_PACKET_SOCKET = 8
EVENT_OPEN = 9
EVENT_SYMLINK = 10
EVENT_LINK = 11
EVENT_RENAME = 12
EVENT_UNLINK = 13
EVENT_CHMOD = 14
EVENT_SETUID = 15
EVENT_SETGID = 16
EVENT_PTRACE = 17
EVENT_MOUNT = 18
EVENT_UMOUNT = 19
EVENT_UNSHARE = 20
EVENT_SETNS = 21
EVENT_MEMFD_CREATE = 22
EVENT_BPF = 23
EVENT_MODULE_LOAD = 24
EVENT_TYPES = 25

#: record type → the event type it becomes
KINDS: dict[int, EventType] = {
    EVENT_EXEC: EventType.EXEC,
    EVENT_CONNECT: EventType.CONNECT,
    EVENT_EXIT: EventType.EXIT,
    EVENT_FORK: EventType.FORK,
    EVENT_ACCEPT: EventType.ACCEPT,
    EVENT_LISTEN: EventType.LISTEN,
    EVENT_DNS: EventType.DNS,
    EVENT_PACKET_SOCKET: EventType.PACKET_SOCKET,
    EVENT_OPEN: EventType.OPEN,
    EVENT_SYMLINK: EventType.SYMLINK,
    EVENT_LINK: EventType.LINK,
    EVENT_RENAME: EventType.RENAME,
    EVENT_UNLINK: EventType.UNLINK,
    EVENT_CHMOD: EventType.CHMOD,
    EVENT_SETUID: EventType.SETUID,
    EVENT_SETGID: EventType.SETGID,
    EVENT_PTRACE: EventType.PTRACE,
    EVENT_MOUNT: EventType.MOUNT,
    EVENT_UMOUNT: EventType.UMOUNT,
    EVENT_UNSHARE: EventType.UNSHARE,
    EVENT_SETNS: EventType.SETNS,
    EVENT_MEMFD_CREATE: EventType.MEMFD_CREATE,
    EVENT_BPF: EventType.BPF,
    EVENT_MODULE_LOAD: EventType.MODULE_LOAD,
}

EXE_MAX = 256
ARGS_MAX = 1024
PATH_MAX = 256
SHORT_MAX = 64
EXEC_ARGS_TRUNCATED = 1
EXEC_EXE_TRUNCATED = 2
EXEC_CWD_TRUNCATED = 4
EXEC_FILE_TRUNCATED = 8
STR0_TRUNCATED, STR1_TRUNCATED, STR2_TRUNCATED = 1, 2, 4
PROTO_TCP = 1
PROTO_UDP = 2
AF_INET = 2
AF_INET6 = 10
WALK_INCOMPLETE = 0xFFFF
OVERLAYFS_MAGIC = 0x794C7630

# type, pid, ppid, uid, euid, gid, cgroup_id, ktime_ns, start_ns
HEADER = struct.Struct("=IIIIIIQQQ")
# flags, exe_len, args_len, cwd_len, file_len, interp_len, file_depth, ctime, magic, nlink, pad,
# exec_hash
EXEC_FIXED = struct.Struct("=IHHHHHHQQIIQ")
#: where an exec record's packed strings begin: exe, args, interp, cwd, file, back to back
EXEC_DATA = HEADER.size + EXEC_FIXED.size
CONNECT_BODY = struct.Struct("=iHHB3x16s")  # ret, family, port, protocol, pad, addr
SOCKET_BODY = struct.Struct("=iHBxHH16s16s")  # ret, family, protocol, pad, ports, addrs
SYSCALL_FIXED = struct.Struct("=q4QIHHH6x")  # ret, args[4], flags, str lengths, pad
#: where a syscall record's packed strings begin: str0, str1, str2, back to back
SYSCALL_DATA = HEADER.size + SYSCALL_FIXED.size
TASK_BODY = struct.Struct("=iI")  # exit_code, pad
CONNECT_SIZE = HEADER.size + CONNECT_BODY.size
SOCKET_SIZE = HEADER.size + SOCKET_BODY.size
TASK_SIZE = HEADER.size + TASK_BODY.size
#: the largest records: every string at its bound (records are sent at their used size)
EXEC_SIZE = EXEC_DATA + 2 * EXE_MAX + 2 * PATH_MAX + ARGS_MAX
SYSCALL_SIZE = SYSCALL_DATA + 2 * PATH_MAX + SHORT_MAX

PROTOCOLS = {PROTO_TCP: "tcp", PROTO_UDP: "udp"}
FAMILIES = {AF_INET: "ipv4", AF_INET6: "ipv6"}


class MalformedRecord(ValueError):
    """A ring-buffer record that cannot be decoded: counted as ``malformed`` and skipped."""


# The records are named tuples: immutable like frozen dataclasses, and built once per record at
# a sixth of their cost (a frozen dataclass sets each field through object.__setattr__).
class Header(NamedTuple):
    type: int
    pid: int
    ppid: int
    uid: int
    euid: int
    gid: int
    cgroup_id: int
    ktime_ns: int
    start_ns: int


class ExecRecord(NamedTuple):
    header: Header
    flags: int
    exe: bytes
    args: bytes
    cwd: bytes = b""  # components, leaf first, NUL-terminated (see events.h)
    file: bytes = b""
    interp: bytes = b""
    file_complete: bool = False
    file_ctime_s: int = 0
    file_magic: int = 0
    file_nlink: int = 1
    #: what a verdict on this exec depends on, hashed in the kernel (see events.h); the key of
    #: the kernel's allowed-exec cache; 0 when the cgroup is not filtered (nothing to remember)
    exec_hash: int = 0


class ConnectRecord(NamedTuple):
    header: Header
    #: connect(2)'s return value (0, -EINPROGRESS, -ECONNREFUSED, …): attempts are reported too
    ret: int
    family: int
    port: int
    protocol: int
    addr: bytes


class SocketRecord(NamedTuple):
    header: Header
    ret: int
    family: int
    protocol: int
    local_port: int
    remote_port: int
    local_addr: bytes
    remote_addr: bytes


class SyscallRecord(NamedTuple):
    header: Header
    ret: int
    args: tuple[int, int, int, int]
    flags: int
    strings: tuple[bytes, bytes, bytes]


class TaskRecord(NamedTuple):
    header: Header
    exit_code: int


Record = ExecRecord | ConnectRecord | SocketRecord | SyscallRecord | TaskRecord


def parse_record(data: bytes) -> Record:
    """Split a record into its fields, checking every length against the bytes present."""
    if len(data) < HEADER.size:
        raise MalformedRecord(f"record of {len(data)} bytes is shorter than a header")
    header = Header(*HEADER.unpack_from(data))
    kind = header.type
    if kind == EVENT_EXEC:
        return _parse_exec(header, data)
    if kind == EVENT_CONNECT:
        return _parse_connect(header, data)
    if kind in (EVENT_ACCEPT, EVENT_LISTEN):
        return _parse_socket(header, data)
    if kind in (EVENT_EXIT, EVENT_FORK):
        _need(data, TASK_SIZE, "task")
        return TaskRecord(header, TASK_BODY.unpack_from(data, HEADER.size)[0])
    if kind in KINDS:
        return _parse_syscall(header, data)
    raise MalformedRecord(f"unknown record type {kind}")


def _need(data: bytes, size: int, what: str) -> None:
    if len(data) < size:
        raise MalformedRecord(f"{what} record of {len(data)} bytes, expected {size}")


def _packed(data: bytes, at: int, lengths: tuple[int, ...], what: str) -> list[bytes]:
    """The strings packed back to back from ``at``, after checking they are all there."""
    end = at + sum(lengths)
    if len(data) < end:
        raise MalformedRecord(
            f"{what} record of {len(data)} bytes misses its strings ({end - at} bytes from {at})"
        )
    strings = []
    for length in lengths:
        strings.append(data[at : at + length])
        at += length
    return strings


def _parse_exec(header: Header, data: bytes) -> ExecRecord:
    _need(data, EXEC_DATA, "exec")
    (
        flags,
        exe_len,
        args_len,
        cwd_len,
        file_len,
        interp_len,
        depth,
        ctime,
        magic,
        nlink,
        _,
        exec_hash,
    ) = EXEC_FIXED.unpack_from(data, HEADER.size)
    if exe_len > EXE_MAX or interp_len > EXE_MAX or args_len > ARGS_MAX:
        raise MalformedRecord(f"exec record lengths out of bounds: {exe_len}, {args_len}")
    if cwd_len > PATH_MAX or file_len > PATH_MAX:
        raise MalformedRecord(f"exec record path lengths out of bounds: {cwd_len}, {file_len}")
    exe, args, interp, cwd, file = _packed(
        data, EXEC_DATA, (exe_len, args_len, interp_len, cwd_len, file_len), "exec"
    )
    return ExecRecord(
        header,
        flags,
        exe,
        args,
        cwd=cwd,
        file=file,
        interp=interp,
        file_complete=depth != WALK_INCOMPLETE,
        file_ctime_s=ctime,
        file_magic=magic,
        file_nlink=nlink,
        exec_hash=exec_hash,
    )


def _parse_connect(header: Header, data: bytes) -> ConnectRecord:
    _need(data, CONNECT_SIZE, "connect")
    ret, family, port, protocol, addr = CONNECT_BODY.unpack_from(data, HEADER.size)
    if family not in FAMILIES:
        raise MalformedRecord(f"connect record with address family {family}")
    if protocol not in PROTOCOLS:
        raise MalformedRecord(f"connect record with protocol {protocol}")
    return ConnectRecord(header, ret, family, port, protocol, addr)


def _parse_socket(header: Header, data: bytes) -> SocketRecord:
    _need(data, SOCKET_SIZE, "socket")
    ret, family, protocol, lport, rport, laddr, raddr = SOCKET_BODY.unpack_from(data, HEADER.size)
    if family not in FAMILIES or protocol not in PROTOCOLS:
        raise MalformedRecord(f"socket record with family {family}, protocol {protocol}")
    return SocketRecord(header, ret, family, protocol, lport, rport, laddr, raddr)


def _parse_syscall(header: Header, data: bytes) -> SyscallRecord:
    _need(data, SYSCALL_DATA, "syscall")
    ret, a0, a1, a2, a3, flags, len0, len1, len2 = SYSCALL_FIXED.unpack_from(data, HEADER.size)
    if len0 > PATH_MAX or len1 > PATH_MAX or len2 > SHORT_MAX:
        raise MalformedRecord(
            f"syscall record string lengths out of bounds: {len0}, {len1}, {len2}"
        )
    str0, str1, str2 = _packed(data, SYSCALL_DATA, (len0, len1, len2), "syscall")
    return SyscallRecord(header, ret, (a0, a1, a2, a3), flags, (str0, str1, str2))
