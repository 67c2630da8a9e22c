"""Raw ring-buffer records (see bpf/events.h) → :class:`vigil.models.Event`. Pure functions.

Everything in a record is attacker-influenced (argv, paths, DNS names), so text is decoded
defensively: invalid UTF-8 is backslash-escaped, control characters are escaped, and any such
rewriting is flagged (``cmdline_truncated`` / ``path_truncated``) along with real truncation.

What ``process.exe`` is for an exec: the path given to execve (``bprm->filename``), which is
what people and profiles name (``/bin/cat`` even when it is a busybox symlink). When that path
does not name the program — ``/proc/self/exe`` re-execs, ``fexecve`` (``/dev/fd/N``), relative
paths — it is replaced by the opened file's own path, walked from its dentry in the kernel
(``/bin/busybox``, ``/memfd:payload``); when the walk is incomplete the given path stays.
"""

from __future__ import annotations

import ipaddress
import struct
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from vigil.models import (
    DnsInfo,
    Event,
    EventType,
    FileInfo,
    NetworkInfo,
    ProcessInfo,
    SyscallInfo,
)

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
O_ACCMODE, O_CREAT, O_TRUNC = 3, 0o100, 0o1000

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
#: exec paths that do not name the program: the opened file's own path says more
INDIRECT_EXE_PREFIXES = ("/proc/", "/dev/fd/")

DNS_TYPES = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    15: "MX",
    16: "TXT",
    28: "AAAA",
    33: "SRV",
    65: "HTTPS",
    255: "ANY",
}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
        # one timedelta from a fixed epoch: a third of the cost of fromtimestamp + timedelta
        return _EPOCH + timedelta(microseconds=(ktime_ns + self.offset_ns) // 1000)


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


# -- records → events ------------------------------------------------------------------------------


def decode_record(data: bytes, clock: WallClock) -> Event:
    """One ring-buffer record as an :class:`Event`; :class:`MalformedRecord` if it is not one."""
    return record_event(parse_record(data), clock)


def record_event(record: Record, clock: WallClock) -> Event:
    if isinstance(record, ExecRecord):
        return exec_event(record, clock)
    if isinstance(record, ConnectRecord):
        return connect_event(record, clock)
    if isinstance(record, SocketRecord):
        return socket_event(record, clock)
    if isinstance(record, TaskRecord):
        return task_event(record, clock)
    return syscall_event(record, clock)


def walked_path(components: bytes) -> str:
    """A dentry walk's components (leaf first, NUL-terminated) as an absolute path."""
    parts = [p for p in components.split(b"\0") if p]
    return "/" + "/".join(part.decode("utf-8", "surrogateescape") for part in reversed(parts))


def program_path(given: str, opened: str) -> str:
    """What to call an exec's program: the given path unless it does not name the program."""
    if opened and (not given.startswith("/") or given.startswith(INDIRECT_EXE_PREFIXES)):
        return opened
    return given


def exec_event(record: ExecRecord, clock: WallClock) -> Event:
    given, exe_escaped = safe_text(record.exe)
    opened, file_escaped = (
        safe_text(os_bytes(walked_path(record.file))) if record.file else ("", False)
    )
    if not record.file_complete:
        opened = ""
    cwd, _ = safe_text(os_bytes(walked_path(record.cwd))) if record.cwd else ("", False)
    cmdline, args_escaped = argv_text(record.args)
    truncated = bool(record.flags & (EXEC_ARGS_TRUNCATED | EXEC_EXE_TRUNCATED))
    exe = program_path(given, opened)
    return _event(
        EventType.EXEC,
        record.header,
        clock,
        process=_process(
            record.header,
            exe=exe,
            cmdline=cmdline,
            cmdline_truncated=truncated or exe_escaped or args_escaped or file_escaped,
            cwd=cwd,
            exe_from_memfd=opened.startswith("/memfd:"),
            exe_from_dev_shm=opened.startswith("/dev/shm/") or given.startswith("/dev/shm/"),
        ),
    )


def os_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def connect_event(record: ConnectRecord, clock: WallClock) -> Event:
    network = NetworkInfo(
        protocol=PROTOCOLS[record.protocol],
        family=FAMILIES[record.family],
        dest_ip=ip_text(record.family, record.addr),
        dest_port=record.port,
        result=record.ret,
    )
    return _event(EventType.CONNECT, record.header, clock, network=network)


def socket_event(record: SocketRecord, clock: WallClock) -> Event:
    accept = record.header.type == EVENT_ACCEPT
    network = NetworkInfo(
        protocol=PROTOCOLS[record.protocol],
        family=FAMILIES[record.family],
        dest_ip=ip_text(record.family, record.remote_addr) if accept else "",
        dest_port=record.remote_port if accept else 0,
        local_ip=ip_text(record.family, record.local_addr),
        local_port=record.local_port,
        result=0 if accept else None,
    )
    return _event(KINDS[record.header.type], record.header, clock, network=network)


def task_event(record: TaskRecord, clock: WallClock) -> Event:
    header = record.header
    if header.type == EVENT_EXIT:
        process = _process(header, exit_code=exit_status(record.exit_code))
        return _event(EventType.EXIT, header, clock, process=process)
    return _event(EventType.FORK, header, clock)


def exit_status(status: int) -> int:
    """The kernel's wait status as a shell reports it: the code, or 128 + the killing signal."""
    signal = status & 0x7F
    return 128 + signal if signal else (status >> 8) & 0xFF


def _syscall_text(raw: bytes, truncated: bool) -> tuple[str, bool]:
    if not raw:
        return "", truncated
    text, escaped = safe_text(raw)
    return text, escaped or truncated


def syscall_event(record: SyscallRecord, clock: WallClock) -> Event:  # noqa: PLR0911 - a dispatch
    header = record.header
    kind = KINDS[header.type]
    a0, a1, _, _ = record.args
    s0, t0 = _syscall_text(record.strings[0], bool(record.flags & STR0_TRUNCATED))
    s1, t1 = _syscall_text(record.strings[1], bool(record.flags & STR1_TRUNCATED))
    s2, _ = _syscall_text(record.strings[2], bool(record.flags & STR2_TRUNCATED))
    if kind is EventType.OPEN:
        info = FileInfo(path=s0, operation=open_operation(a0), flags=a0, path_truncated=t0)
        return _event(kind, header, clock, file=info)
    if kind in (EventType.SYMLINK, EventType.LINK, EventType.RENAME):
        info = FileInfo(path=s0, operation=str(kind), target=s1, path_truncated=t0 or t1)
        return _event(kind, header, clock, file=info)
    if kind is EventType.UNLINK:
        info = FileInfo(path=s0, operation="unlink", flags=a0, path_truncated=t0)
        return _event(kind, header, clock, file=info)
    if kind is EventType.CHMOD:
        info = FileInfo(path=s0, operation="chmod", mode=a0 & 0o7777, path_truncated=t0)
        return _event(kind, header, clock, file=info)
    if kind is EventType.DNS:
        family = a1 if a1 in FAMILIES else AF_INET
        network = NetworkInfo(
            protocol="udp",
            family=FAMILIES[family],
            dest_ip=ip_text(family, record.strings[2].ljust(16, b"\0")),
            dest_port=a0,
        )
        return _event(kind, header, clock, network=network, dns=dns_query(record.strings[0]))
    if kind is EventType.PACKET_SOCKET:
        network = NetworkInfo(protocol="packet", family="packet", dest_ip="", dest_port=0)
        args: dict[str, int | str] = {"type": a0 & 0xF, "protocol": _ntohs(a1)}
        return _event(kind, header, clock, network=network, syscall=SyscallInfo("socket", args))
    return _event(kind, header, clock, syscall=_syscall_info(kind, record.args, (s0, s1, s2)))


_ID_CALLS = {
    EventType.SETUID: (
        ("setuid", ("uid",)),
        ("setreuid", ("ruid", "euid")),
        ("setresuid", ("ruid", "euid", "suid")),
        ("setfsuid", ("fsuid",)),
    ),
    EventType.SETGID: (
        ("setgid", ("gid",)),
        ("setregid", ("rgid", "egid")),
        ("setresgid", ("rgid", "egid", "sgid")),
        ("setfsgid", ("fsgid",)),
    ),
}


def _id(value: int) -> int:
    """A uid/gid argument: -1 ("leave unchanged") stays -1 rather than 4294967295."""
    value &= 0xFFFFFFFF
    return -1 if value == 0xFFFFFFFF else value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _syscall_info(  # noqa: PLR0911 - one return per syscall, a dispatch
    kind: EventType, args: tuple[int, int, int, int], strings: tuple[str, str, str]
) -> SyscallInfo:
    a0, a1, a2, a3 = args
    s0, s1, s2 = strings
    if kind in _ID_CALLS:
        name, names = _ID_CALLS[kind][a3 & 3]
        return SyscallInfo(name, {n: _id(v) for n, v in zip(names, (a0, a1, a2), strict=False)})
    if kind is EventType.PTRACE:
        return SyscallInfo("ptrace", {"request": _signed(a0), "target_pid": _signed(a1)})
    if kind is EventType.MOUNT:
        return SyscallInfo("mount", {"source": s0, "target": s1, "fstype": s2, "flags": a0})
    if kind is EventType.UMOUNT:
        return SyscallInfo("umount2", {"target": s0, "flags": a0})
    if kind is EventType.UNSHARE:
        return SyscallInfo("unshare", {"flags": a0})
    if kind is EventType.SETNS:
        return SyscallInfo("setns", {"fd": _signed(a0), "nstype": a1})
    if kind is EventType.MEMFD_CREATE:
        return SyscallInfo("memfd_create", {"name": s0, "flags": a0})
    if kind is EventType.BPF:
        return SyscallInfo("bpf", {"cmd": a0, "size": a1})
    if _signed(a1) == -1:
        return SyscallInfo("init_module", {"length": a0, "params": s0})
    return SyscallInfo("finit_module", {"fd": _signed(a1), "flags": a2, "params": s0})


def _ntohs(value: int) -> int:
    value &= 0xFFFF
    return ((value & 0xFF) << 8) | (value >> 8)


def open_operation(flags: int) -> str:
    """The strongest thing an open(2) with ``flags`` does."""
    if flags & O_CREAT:
        return "create"
    if flags & O_TRUNC:
        return "truncate"
    if flags & O_ACCMODE:
        return "write"
    return "read"


def dns_query(payload: bytes) -> DnsInfo:
    """The first question of a DNS query: its name (escaped) and type; best effort on bad input."""
    labels: list[str] = []
    at = 12
    while at < len(payload):
        size = payload[at]
        if size == 0 or size & 0xC0:  # end of name, or a compression pointer (not in queries)
            at += 1 if size == 0 else 2
            break
        label, _ = safe_text(payload[at + 1 : at + 1 + size])
        labels.append(label.replace(".", "\\."))
        at += 1 + size
    else:
        return DnsInfo(name=".".join(labels), qtype="")  # cut before the type
    qtype = ""
    if at + 2 <= len(payload):
        number = int.from_bytes(payload[at : at + 2], "big")
        qtype = DNS_TYPES.get(number, str(number))
    return DnsInfo(name=".".join(labels), qtype=qtype)


def _process(
    header: Header,
    *,
    exe: str = "",
    cmdline: str = "",
    cmdline_truncated: bool = False,
    cwd: str = "",
    exe_from_memfd: bool = False,
    exe_from_dev_shm: bool = False,
    exit_code: int | None = None,
) -> ProcessInfo:
    return ProcessInfo(
        pid=header.pid,
        ppid=header.ppid,
        uid=header.uid,
        exe=exe,
        cmdline=cmdline,
        cmdline_truncated=cmdline_truncated,
        euid=header.euid,
        gid=header.gid,
        cwd=cwd,
        start_ns=header.start_ns,
        exe_from_memfd=exe_from_memfd,
        exe_from_dev_shm=exe_from_dev_shm,
        exit_code=exit_code,
    )


def _event(
    kind: EventType,
    header: Header,
    clock: WallClock,
    *,
    process: ProcessInfo | None = None,
    network: NetworkInfo | None = None,
    file: FileInfo | None = None,
    dns: DnsInfo | None = None,
    syscall: SyscallInfo | None = None,
) -> Event:
    return Event(
        type=kind,
        time=clock.to_datetime(header.ktime_ns),
        ktime_ns=header.ktime_ns,
        cgroup_id=header.cgroup_id,
        process=process or _process(header),
        network=network,
        file=file,
        dns=dns,
        syscall=syscall,
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
