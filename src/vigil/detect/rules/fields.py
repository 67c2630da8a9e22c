"""The fields a condition or output may name, and how each is read from a vigil Event.

Names and meanings follow Falco's (``proc.name``, ``proc.aname[2]``, ``fd.sport``, …) so that
Falco rules load unchanged. Falco fields that vigil's events cannot fill are *known but
unsupported*: they compile, always read as absent (every comparison on them is false, ``exists``
is false), and the compatibility report lists them. Unknown names are errors.

A getter returns ``None`` when the field is absent for that event. Multi-valued fields (e.g.
``proc.aname`` without an index: every ancestor) return a tuple; a comparison on them holds
when it holds for any value, as in Falco.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from vigil.detect.rules.evttypes import falco_name
from vigil.models import Event, EventType

Getter = Callable[[Event], Any]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Kind(StrEnum):
    STR = "string"
    INT = "number"
    BOOL = "bool"
    NET = "ip address"  # compared with addresses or CIDR networks


class Arg(StrEnum):
    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


@dataclass(frozen=True, slots=True)
class FieldDef:
    name: str
    kind: Kind
    #: arg → getter; ``None`` for known Falco fields vigil's events cannot fill
    make: Callable[[str | None], Getter] | None
    doc: str = ""
    arg: Arg = Arg.NONE
    multi: bool = False

    @property
    def supported(self) -> bool:
        return self.make is not None


def _basename(path: str) -> str:
    return path.rpartition("/")[2]


def _g(func: Getter) -> Callable[[str | None], Getter]:
    return lambda _arg: func


# -- evt.* ----------------------------------------------------------------------------------
_OPEN_FLAGS = (
    (0o1, "O_WRONLY"),
    (0o2, "O_RDWR"),
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o2000000, "O_CLOEXEC"),
    (0o20000000, "O_PATH"),
    (0o20200000, "O_TMPFILE"),
)
_MODE_BITS = (
    (0o4000, "S_ISUID"),
    (0o2000, "S_ISGID"),
    (0o1000, "S_ISVTX"),
    (0o400, "S_IRUSR"),
    (0o200, "S_IWUSR"),
    (0o100, "S_IXUSR"),
    (0o40, "S_IRGRP"),
    (0o20, "S_IWGRP"),
    (0o10, "S_IXGRP"),
    (0o4, "S_IROTH"),
    (0o2, "S_IWOTH"),
    (0o1, "S_IXOTH"),
)
_ERRNO_NAMES = {-115: "EINPROGRESS", -111: "ECONNREFUSED", -13: "EACCES", -1: "EPERM", -2: "ENOENT"}


def open_flags_text(flags: int) -> str:
    names = [name for bit, name in _OPEN_FLAGS if flags & bit == bit]
    if not flags & 0o3:
        names.insert(0, "O_RDONLY")
    return "|".join(names)


def mode_text(mode: int) -> str:
    return "|".join(name for bit, name in _MODE_BITS if mode & bit)


def _exe_flags(event: Event) -> str:
    p = event.process
    flags = [
        name
        for present, name in (
            (p.exe_on_writable_layer, "EXE_UPPER_LAYER"),
            (p.exe_from_memfd, "EXE_FROM_MEMFD"),
            (p.exe_changed_after_start, "EXE_WRITABLE"),
        )
        if present
    ]
    return "|".join(flags) if flags else "0"


def _evt_flags(event: Event) -> str | None:
    if event.type is EventType.EXEC:
        return _exe_flags(event)
    if event.file is not None and event.type is EventType.OPEN:
        return open_flags_text(event.file.flags)
    if event.syscall is not None and "flags" in event.syscall.args:
        return str(event.syscall.args["flags"])
    return None


def _rawres(event: Event) -> int:
    if event.network is not None and event.network.result is not None:
        return event.network.result
    return 0


def _res(event: Event) -> str:
    raw = _rawres(event)
    if raw >= 0:
        return "SUCCESS"
    return _ERRNO_NAMES.get(raw, str(raw))


def _evt_arg(name: str | None) -> Getter:
    """``evt.arg.NAME`` / ``evt.arg[NAME]``: syscall arguments rendered as text."""
    key = name or ""

    def get(event: Event) -> Any:  # noqa: PLR0911 - one return per argument name
        if event.syscall is not None and key in event.syscall.args:
            value = event.syscall.args[key]
            if key == "mode" and isinstance(value, int):
                return mode_text(value)
            return str(value)
        f = event.file
        if f is not None:
            if key in ("path", "name", "filename", "pathname"):
                return f.path
            if key in ("oldpath", "target") and event.type is not EventType.SYMLINK:
                return f.path
            if key in ("newpath", "linkpath"):
                return f.target or None
            if key == "target":  # symlink(target, linkpath)
                return f.path
            if key == "mode" and f.mode is not None:
                return mode_text(f.mode)
            if key == "flags":
                return _evt_flags(event)
        if key == "flags":
            return _evt_flags(event)
        if key == "domain" and event.type is EventType.PACKET_SOCKET:
            return "AF_PACKET"
        if key in ("res", "res_or_fd"):
            return str(_rawres(event))
        return None

    return get


# -- proc.* ---------------------------------------------------------------------------------
def _args(event: Event) -> str:
    return event.process.cmdline.partition(" ")[2]


def _cmdline(event: Event) -> str:
    # Falco's proc.cmdline is "name args": the program's name, not argv[0]'s path.
    rest = event.process.cmdline.partition(" ")[2]
    name = _basename(event.process.exe)
    return f"{name} {rest}" if rest else name


def _lineage(event: Event) -> tuple[str, ...]:
    """Executables of self, parent, grandparent, … (nearest first).

    ``ProcessInfo.ancestors`` starts with the parent (the sensor's process tree); an event that
    only knows ``parent_exe`` still has a parent."""
    p = event.process
    if p.ancestors:
        return (p.exe, *p.ancestors)
    return (p.exe, p.parent_exe) if p.parent_exe else (p.exe,)


def _ancestor(transform: Callable[[str], str]) -> Callable[[str | None], Getter]:
    def make(arg: str | None) -> Getter:
        if arg is None:
            # every ancestor (not the process itself), as Falco's proc.aname without index
            def every(event: Event) -> Any:
                found = tuple(transform(exe) for exe in _lineage(event)[1:] if exe)
                return found or None

            return every
        depth = int(arg)

        def nth(event: Event) -> Any:
            lineage = _lineage(event)
            if depth < len(lineage) and lineage[depth]:
                return transform(lineage[depth])
            return None

        return nth

    return make


def _identity(text: str) -> str:
    return text


# -- fd.* -----------------------------------------------------------------------------------
def _endpoints(event: Event) -> tuple[str, int, str, int] | None:
    """(client ip, client port, server ip, server port) of a network event."""
    n = event.network
    if n is None:
        return None
    if event.type in (EventType.ACCEPT, EventType.LISTEN):
        return n.dest_ip, n.dest_port, n.local_ip, n.local_port
    return n.local_ip, n.local_port, n.dest_ip, n.dest_port


def _fd_name(event: Event) -> str | None:
    if event.file is not None:
        return event.file.path
    ends = _endpoints(event)
    if ends is None:
        return None
    cip, cport, sip, sport = ends
    return f"{cip}:{cport}->{sip}:{sport}"


def _ip(text: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _endpoint(index: int, as_net: bool) -> Getter:
    def get(event: Event) -> Any:
        ends = _endpoints(event)
        if ends is None:
            return None
        value = ends[index]
        if index % 2 == 1:
            return value if value else None
        if not value:
            return None
        return _ip(str(value)) if as_net else value

    return get


def _local_remote(local: bool, port: bool, as_net: bool = False) -> Getter:
    def get(event: Event) -> Any:
        n = event.network
        if n is None:
            return None
        if port:
            value: Any = n.local_port if local else n.dest_port
            return value or None
        text = n.local_ip if local else n.dest_ip
        if not text:
            return None
        return _ip(text) if as_net else text

    return get


def _both(port: bool, as_net: bool = False) -> Getter:
    def get(event: Event) -> Any:
        ends = _endpoints(event)
        if ends is None:
            return None
        if port:
            return tuple(p for p in (ends[1], ends[3]) if p) or None
        ips = [ip for ip in (ends[0], ends[2]) if ip]
        values = tuple(_ip(str(ip)) for ip in ips) if as_net else tuple(ips)
        return tuple(v for v in values if v is not None) or None

    return get


def _typechar(event: Event) -> str | None:
    if event.file is not None:
        return "f"
    if event.network is not None:
        return {"ipv4": "4", "ipv6": "6"}.get(event.network.family, "u")
    return None


def _fd_type(event: Event) -> str | None:
    if event.file is not None:
        return "file"
    if event.network is not None:
        return {"ipv4": "ipv4", "ipv6": "ipv6"}.get(event.network.family, "unix")
    return None


def _fd_num(event: Event) -> int | None:
    # The sensor reports descriptors that were obtained (opens and sockets that worked or are
    # in progress); their number is not carried, so 0 stands for "a valid descriptor".
    if event.file is not None:
        return 0
    if event.network is not None:
        return 0 if _rawres(event) >= 0 or _rawres(event) == -115 else -1
    return None


def _is_open(read: bool) -> Getter:
    def get(event: Event) -> Any:
        if event.type is not EventType.OPEN or event.file is None:
            return None
        is_read = event.file.operation == "read"
        return is_read if read else not is_read

    return get


# -- container.*, k8s.*, user.* --------------------------------------------------------------
def _container(attr: str) -> Getter:
    def get(event: Event) -> Any:
        c = event.container
        if c is None:
            return None
        if c.is_host:
            return "host" if attr == "id" else None
        value = getattr(c, attr)
        return value or None

    return get


def _image_part(tag: bool) -> Getter:
    def get(event: Event) -> Any:
        c = event.container
        if c is None or not c.image:
            return None
        image = c.image.partition("@")[0]
        slash = image.rfind("/")
        colon = image.rfind(":")
        if colon > slash:
            return image[colon + 1 :] if tag else image[:colon]
        return None if tag else image

    return get


def _workload(attr: str) -> Getter:
    def get(event: Event) -> Any:
        w = event.workload
        if w is None or w.kind == "Host":
            return None
        value = getattr(w, attr)
        return value or None

    return get


def _user_name(event: Event) -> str | None:
    # Names of other users live in the container's own /etc/passwd, which is not read here.
    return "root" if event.process.uid == 0 else None


def _group_name(event: Event) -> str | None:
    return "root" if event.process.gid == 0 else None


def _opt(value: Any) -> Any:
    return value if value not in ("", None) else None


def _hostname_getter(hostname: str) -> Getter:
    return lambda _event: hostname


def _build(hostname: str) -> dict[str, FieldDef]:
    f = FieldDef
    S, I, B, N = Kind.STR, Kind.INT, Kind.BOOL, Kind.NET  # noqa: E741 - short for the table
    supported = [
        f("evt.type", S, _g(falco_name), "syscall name (Falco's), e.g. execve, openat, connect"),
        f("evt.dir", S, _g(lambda e: "<"), "always '<': vigil reports finished syscalls"),
        f("evt.time", S, _g(lambda e: e.time.isoformat()), "event time"),
        f("evt.hostname", S, _g(_hostname_getter(hostname)), "this node's host name"),
        f("evt.res", S, _g(_res), "SUCCESS or an errno name (EINPROGRESS, …)"),
        f("evt.rawres", I, _g(_rawres), "the syscall's return value"),
        f("evt.arg", S, _evt_arg, "syscall argument by name", Arg.REQUIRED),
        f("evt.is_open_read", B, _g(_is_open(read=True)), "open for reading"),
        f("evt.is_open_write", B, _g(_is_open(read=False)), "open for writing/create/truncate"),
        f("proc.name", S, _g(lambda e: _basename(e.process.exe)), "program name"),
        f("proc.exe", S, _g(lambda e: e.process.cmdline.partition(" ")[0] or e.process.exe)),
        f("proc.exepath", S, _g(lambda e: e.process.exe), "full path of the executable"),
        f("proc.cmdline", S, _g(_cmdline), "name and arguments"),
        f("proc.args", S, _g(_args), "arguments"),
        f("proc.pid", I, _g(lambda e: e.process.pid)),
        f("proc.ppid", I, _g(lambda e: e.process.ppid)),
        f("proc.cwd", S, _g(lambda e: _opt(e.process.cwd))),
        f("proc.pname", S, _g(lambda e: _opt(_basename(e.process.parent_exe))), "parent's name"),
        f("proc.pexe", S, _g(lambda e: _opt(e.process.parent_exe))),
        f("proc.pexepath", S, _g(lambda e: _opt(e.process.parent_exe))),
        f(
            "proc.aname",
            S,
            _ancestor(_basename),
            "ancestor's name: [0] self, [1] parent, …",
            Arg.OPTIONAL,
            multi=True,
        ),
        f("proc.aexe", S, _ancestor(_identity), "ancestor's executable", Arg.OPTIONAL, True),
        f("proc.aexepath", S, _ancestor(_identity), "ancestor's path", Arg.OPTIONAL, True),
        f("proc.is_exe_upper_layer", B, _g(lambda e: e.process.exe_on_writable_layer)),
        f("proc.is_exe_from_memfd", B, _g(lambda e: e.process.exe_from_memfd)),
        f("proc.is_exe_from_dev_shm", B, _g(lambda e: e.process.exe_from_dev_shm), "vigil"),
        f(
            "proc.is_exe_new",
            B,
            _g(lambda e: e.process.exe_changed_after_start),
            "vigil: executable created or changed after the container started (drift)",
        ),
        f("user.uid", I, _g(lambda e: e.process.uid)),
        f("user.euid", I, _g(lambda e: e.process.euid), "vigil: effective uid"),
        f("user.name", S, _g(_user_name), "root for uid 0, else absent"),
        f("group.gid", I, _g(lambda e: e.process.gid)),
        f("group.name", S, _g(_group_name), "root for gid 0, else absent"),
        f("container.id", S, _g(_container("id")), "'host' outside containers"),
        f("container.name", S, _g(_container("name"))),
        f("container.image", S, _g(_container("image"))),
        f("container.image.repository", S, _g(_image_part(tag=False))),
        f("container.image.tag", S, _g(_image_part(tag=True))),
        f("container.type", S, _g(_container("runtime"))),
        f("k8s.ns.name", S, _g(_workload("namespace"))),
        f("k8s.workload.kind", S, _g(_workload("kind")), "vigil: Deployment, StatefulSet, …"),
        f("k8s.workload.name", S, _g(_workload("name")), "vigil"),
        f("k8s.container.name", S, _g(_workload("container")), "vigil"),
        f(
            "vigil.workload",
            S,
            _g(lambda e: e.workload.key if e.workload else None),
            "vigil: workload key ns/Kind/name/container",
        ),
        f("fd.name", S, _g(_fd_name), "file path, or client:port->server:port"),
        f("fd.nameraw", S, _g(lambda e: e.file.path if e.file else None)),
        f(
            "fd.directory",
            S,
            _g(lambda e: e.file.path.rpartition("/")[0] or "/" if e.file else None),
        ),
        f("fd.filename", S, _g(lambda e: _basename(e.file.path) if e.file else None)),
        f("fd.typechar", S, _g(_typechar)),
        f("fd.type", S, _g(_fd_type)),
        f("fd.num", I, _g(_fd_num), "0 for any valid descriptor (the number is not carried)"),
        f("fd.l4proto", S, _g(lambda e: e.network.protocol if e.network else None)),
        f(
            "fd.sockfamily",
            S,
            _g(lambda e: "ip" if e.network and e.network.family != "packet" else None),
        ),
        f("fd.connected", B, _g(lambda e: e.type is EventType.CONNECT if e.network else None)),
        f("fd.name_changed", B, _g(lambda e: False if e.network or e.file else None)),
        f("fd.cip", S, _g(_endpoint(0, False)), "client address"),
        f("fd.cport", I, _g(_endpoint(1, False))),
        f("fd.sip", S, _g(_endpoint(2, False)), "server address"),
        f("fd.sport", I, _g(_endpoint(3, False))),
        f("fd.lip", S, _g(_local_remote(True, False))),
        f("fd.lport", I, _g(_local_remote(True, True))),
        f("fd.rip", S, _g(_local_remote(False, False))),
        f("fd.rport", I, _g(_local_remote(False, True))),
        f("fd.ip", S, _g(_both(port=False)), "either end's address", multi=True),
        f("fd.port", I, _g(_both(port=True)), "either end's port", multi=True),
        f("fd.net", N, _g(_both(port=False, as_net=True)), "either end, vs CIDR", multi=True),
        f("fd.cnet", N, _g(_endpoint(0, True))),
        f("fd.snet", N, _g(_endpoint(2, True))),
        f("fd.lnet", N, _g(_local_remote(True, False, True))),
        f("fd.rnet", N, _g(_local_remote(False, False, True))),
        f("dns.name", S, _g(lambda e: e.dns.name.rstrip(".").lower() if e.dns else None), "vigil"),
        f("dns.qtype", S, _g(lambda e: e.dns.qtype if e.dns else None), "vigil"),
        f("syscall.type", S, _g(falco_name)),
    ]
    unsupported_names = {
        S: (
            "evt.args",
            "evt.buffer",
            "evt.info",
            "proc.tty",
            "proc.env",
            "proc.pcmdline",
            "proc.sname",
            "proc.vpgid.name",
            "proc.vpgid.exe",
            "proc.exe_ino.mtime",
            "proc.exe_ino.ctime",
            "proc.pcmdline",
            "proc.acmdline",
            "proc.cmdnargs",
            "user.loginname",
            "user.homedir",
            "user.shell",
            "thread.cap_permitted",
            "thread.cap_effective",
            "thread.cap_inheritable",
            "container.mounts",
            "container.mount.dest",
            "container.mount.source",
            "container.image.id",
            "container.image.digest",
            "container.healthcheck",
            "k8s.pod.name",
            "k8s.pod.id",
            "k8s.pod.label",
            "k8s.pod.labels",
            "k8s.ns.label",
            "k8s.deployment.name",
            "fd.sip.name",
            "fd.cip.name",
            "fd.rip.name",
            "fd.lip.name",
            "fd.types",
            "fs.path.name",
            "fs.path.source",
            "fs.path.target",
        ),
        I: (
            "evt.num",
            "proc.vpid",
            "proc.pvpid",
            "proc.sid",
            "proc.vpgid",
            "proc.duration",
            "proc.ppid.duration",
            "proc.exe_ino",
            "proc.exe_ino.ctime_duration_proc_start",
            "user.loginuid",
            "container.start_ts",
            "container.duration",
            "fd.dev",
            "fd.ino",
        ),
        B: (
            "evt.is_open_exec",
            "proc.is_vpgid_leader",
            "proc.is_exe_writable",
            "proc.is_sid_leader",
            "container.privileged",
            "proc.is_container_healthcheck",
            "proc.is_container_liveness_probe",
            "proc.is_container_readiness_probe",
        ),
    }
    fields = {d.name: d for d in supported}
    for kind, names in unsupported_names.items():
        for name in names:
            fields.setdefault(
                name,
                FieldDef(
                    name, kind, None, "Falco field vigil cannot fill", Arg.OPTIONAL, multi=False
                ),
            )
    return fields


class FieldRegistry:
    """Every field name a rule may use; ``hostname`` is injectable for tests."""

    def __init__(self, hostname: str | None = None) -> None:
        self._fields = _build(hostname if hostname is not None else os.uname().nodename)

    def lookup(self, name: str) -> tuple[FieldDef, str | None] | None:
        """The field ``name`` names, with the argument carried in the name (``evt.arg.path``)."""
        found = self._fields.get(name)
        if found is not None:
            return found, None
        if name.startswith("evt.arg."):
            return self._fields["evt.arg"], name.removeprefix("evt.arg.")
        return None

    def all(self) -> list[FieldDef]:
        return sorted(self._fields.values(), key=lambda d: d.name)
