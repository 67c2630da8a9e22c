"""Ring-buffer records (vigil.sensor.records) → :class:`vigil.models.Event`. Pure functions.

Everything in a record is attacker-influenced (argv, paths, DNS names), so text is decoded
defensively (vigil.sensor.text), and any rewriting is flagged (``cmdline_truncated`` /
``path_truncated``) along with real truncation.

What ``process.exe`` is for an exec: the path given to execve (``bprm->filename``), which is
what people and profiles name (``/bin/cat`` even when it is a busybox symlink). When that path
does not name the program — ``/proc/self/exe`` re-execs, ``fexecve`` (``/dev/fd/N``), relative
paths — it is replaced by the opened file's own path, walked from its dentry in the kernel
(``/bin/busybox``, ``/memfd:payload``); when the walk is incomplete the given path stays.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from vigil.models import (
    DnsInfo,
    Event,
    EventType,
    FileInfo,
    NetworkInfo,
    ProcessInfo,
    SyscallInfo,
)
from vigil.sensor.records import (
    AF_INET,
    EVENT_ACCEPT,
    EVENT_EXIT,
    EXEC_ARGS_TRUNCATED,
    EXEC_EXE_TRUNCATED,
    FAMILIES,
    KINDS,
    PROTOCOLS,
    STR0_TRUNCATED,
    STR1_TRUNCATED,
    STR2_TRUNCATED,
    ConnectRecord,
    ExecRecord,
    Header,
    Record,
    SocketRecord,
    SyscallRecord,
    TaskRecord,
    parse_record,
)
from vigil.sensor.text import argv_text, ip_text, os_bytes, safe_text, walked_path

O_ACCMODE, O_CREAT, O_TRUNC = 3, 0o100, 0o1000
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


# -- records → events ------------------------------------------------------------------------------


def decode_record(data: bytes, clock: WallClock) -> Event:
    """One ring-buffer record as an :class:`Event`; ``MalformedRecord`` if it is not one."""
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
