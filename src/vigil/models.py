"""Typed records that flow through the pipeline: sensor → identity → detect → respond → record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    # processes
    EXEC = "exec"
    EXIT = "exit"
    FORK = "fork"
    # network
    CONNECT = "connect"
    ACCEPT = "accept"
    LISTEN = "listen"  # bind + listen of a server socket
    DNS = "dns"  # a UDP query to port 53, parsed
    PACKET_SOCKET = "packet_socket"  # AF_PACKET socket (raw sniffing or crafting)
    # files
    OPEN = "open"  # reads of sensitive paths; writes/creates/truncates below watched dirs
    SYMLINK = "symlink"
    LINK = "link"
    RENAME = "rename"
    UNLINK = "unlink"
    CHMOD = "chmod"  # only when it adds exec or setuid/setgid bits
    # privilege and kernel
    SETUID = "setuid"
    SETGID = "setgid"
    PTRACE = "ptrace"
    MOUNT = "mount"
    UMOUNT = "umount"
    UNSHARE = "unshare"
    SETNS = "setns"
    MEMFD_CREATE = "memfd_create"
    BPF = "bpf"
    MODULE_LOAD = "module_load"
    # the sensor itself: events were lost (kernel ring buffer or user-space queue full)
    SENSOR_LOSS = "sensor_loss"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


# Events are values. The classes built once per kernel event (Event and the process, network,
# file, DNS and syscall details) are not frozen only because a frozen dataclass sets each field
# through object.__setattr__, which made building one event 4x dearer on the agent's hottest
# path. The rule stays: a sensor completes an event (process tree lineage) and the agent
# attributes it (container, workload) before anyone else sees it; after that nobody mutates
# it, and a changed copy is made with dataclasses.replace.


def _compact(data: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Drop optional keys that still hold their default, so JSON lines stay short."""
    return {k: v for k, v in data.items() if k not in defaults or v != defaults[k]}


@dataclass(slots=True)  # built per kernel event: see "Events are values" above
class ProcessInfo:
    pid: int
    ppid: int
    uid: int
    exe: str
    cmdline: str
    #: argv was longer than the sensor's bound (or held bytes that had to be escaped)
    cmdline_truncated: bool = False
    euid: int | None = None
    gid: int | None = None
    cwd: str = ""
    #: the parent's executable; and every ancestor's, nearest first (so ``ancestors[0]`` is the
    #: parent again), where the process tree knows them
    parent_exe: str = ""
    ancestors: tuple[str, ...] = ()
    #: process start time (ns since boot); with pid, names one process across pid reuse
    start_ns: int = 0
    #: exec only: where the executable came from
    exe_on_writable_layer: bool = False  # the container's upper (writable) layer
    exe_changed_after_start: bool = False  # created or modified after the container started
    exe_from_memfd: bool = False
    exe_from_dev_shm: bool = False
    #: exit only
    exit_code: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "pid": self.pid,
            "ppid": self.ppid,
            "exe": self.exe,
            "cmdline": self.cmdline,
            "uid": self.uid,
            "cmdline_truncated": self.cmdline_truncated,
            "euid": self.euid,
            "gid": self.gid,
            "cwd": self.cwd,
            "parent_exe": self.parent_exe,
            "ancestors": list(self.ancestors),
            "start_ns": self.start_ns,
            "exe_on_writable_layer": self.exe_on_writable_layer,
            "exe_changed_after_start": self.exe_changed_after_start,
            "exe_from_memfd": self.exe_from_memfd,
            "exe_from_dev_shm": self.exe_from_dev_shm,
            "exit_code": self.exit_code,
        }
        return _compact(data, _PROCESS_DEFAULTS)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessInfo:
        return cls(
            pid=int(data["pid"]),
            ppid=int(data.get("ppid", 0)),
            uid=int(data.get("uid", 0)),
            exe=str(data.get("exe", "")),
            cmdline=str(data.get("cmdline", "")),
            cmdline_truncated=bool(data.get("cmdline_truncated", False)),
            euid=_opt_int(data.get("euid")),
            gid=_opt_int(data.get("gid")),
            cwd=str(data.get("cwd", "")),
            parent_exe=str(data.get("parent_exe", "")),
            ancestors=tuple(str(a) for a in data.get("ancestors", ())),
            start_ns=int(data.get("start_ns", 0)),
            exe_on_writable_layer=bool(data.get("exe_on_writable_layer", False)),
            exe_changed_after_start=bool(data.get("exe_changed_after_start", False)),
            exe_from_memfd=bool(data.get("exe_from_memfd", False)),
            exe_from_dev_shm=bool(data.get("exe_from_dev_shm", False)),
            exit_code=_opt_int(data.get("exit_code")),
        )


_PROCESS_DEFAULTS: dict[str, Any] = {
    "cmdline_truncated": False,
    "euid": None,
    "gid": None,
    "cwd": "",
    "parent_exe": "",
    "ancestors": [],
    "start_ns": 0,
    "exe_on_writable_layer": False,
    "exe_changed_after_start": False,
    "exe_from_memfd": False,
    "exe_from_dev_shm": False,
    "exit_code": None,
}


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(slots=True)  # built per kernel event: see "Events are values" above
class NetworkInfo:
    """A socket's endpoints. ``dest_*`` is the remote end (the server for a connect, the client
    for an accept); ``local_*`` is this side (the listening address for a listen)."""

    protocol: str  # "tcp" | "udp" | "raw" | "packet"
    family: str  # "ipv4" | "ipv6" | "packet"
    dest_ip: str
    dest_port: int
    local_ip: str = ""
    local_port: int = 0
    #: the syscall's result: 0 or a negative errno (-115 EINPROGRESS for non-blocking connects)
    result: int | None = None

    @property
    def destination(self) -> str:
        """Profile key of this destination, e.g. ``tcp/10.0.0.1:443`` or ``udp/[::1]:53``."""
        host = f"[{self.dest_ip}]" if self.family == "ipv6" else self.dest_ip
        return f"{self.protocol}/{host}:{self.dest_port}"

    def to_json(self) -> dict[str, Any]:
        data = {
            "protocol": self.protocol,
            "family": self.family,
            "dest_ip": self.dest_ip,
            "dest_port": self.dest_port,
            "local_ip": self.local_ip,
            "local_port": self.local_port,
            "result": self.result,
        }
        return _compact(data, {"local_ip": "", "local_port": 0, "result": None})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NetworkInfo:
        return cls(
            protocol=str(data["protocol"]),
            family=str(data["family"]),
            dest_ip=str(data.get("dest_ip", "")),
            dest_port=int(data.get("dest_port", 0)),
            local_ip=str(data.get("local_ip", "")),
            local_port=int(data.get("local_port", 0)),
            result=_opt_int(data.get("result")),
        )


@dataclass(slots=True)  # built per kernel event: see "Events are values" above
class DnsInfo:
    name: str  # the queried name, escaped like any other hostile text
    qtype: str  # "A", "AAAA", "TXT", … or the number when unknown

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "qtype": self.qtype}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DnsInfo:
        return cls(name=str(data["name"]), qtype=str(data.get("qtype", "")))


@dataclass(slots=True)  # built per kernel event: see "Events are values" above
class FileInfo:
    path: str
    #: open: "read" | "write" | "create" | "truncate" (the strongest of the flags);
    #: other file events repeat the event type
    operation: str = ""
    #: open(2) flags as the kernel saw them
    flags: int = 0
    #: chmod: the new mode
    mode: int | None = None
    #: symlink/link/rename: the new name (``path`` is the old name or the link's target)
    target: str = ""
    path_truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        data = {
            "path": self.path,
            "operation": self.operation,
            "flags": self.flags,
            "mode": self.mode,
            "target": self.target,
            "path_truncated": self.path_truncated,
        }
        return _compact(
            data, {"operation": "", "flags": 0, "mode": None, "target": "", "path_truncated": False}
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileInfo:
        return cls(
            path=str(data["path"]),
            operation=str(data.get("operation", "")),
            flags=int(data.get("flags", 0)),
            mode=_opt_int(data.get("mode")),
            target=str(data.get("target", "")),
            path_truncated=bool(data.get("path_truncated", False)),
        )


@dataclass(slots=True)  # built per kernel event: see "Events are values" above
class SyscallInfo:
    """Arguments of privilege and kernel events (setuid, ptrace, mount, bpf, …), by name:
    e.g. ``{"uid": 0}``, ``{"request": 16, "target_pid": 42}``, ``{"cmd": 5}``,
    ``{"source": "/dev/sda1", "target": "/mnt", "fstype": "ext4", "flags": 0}``."""

    name: str
    args: dict[str, int | str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "args": dict(self.args)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SyscallInfo:
        args = data.get("args", {})
        return cls(
            name=str(data["name"]),
            args={str(k): v if isinstance(v, int) else str(v) for k, v in args.items()},
        )


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    id: str
    name: str
    image: str
    runtime: str  # runc, crun, containerd, cri-o, docker, podman, or "host"

    @property
    def is_host(self) -> bool:
        return self.runtime == "host"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "image": self.image, "runtime": self.runtime}


HOST_CONTAINER = ContainerInfo(id="host", name="host", image="", runtime="host")


@dataclass(frozen=True, slots=True)
class Workload:
    namespace: str
    kind: str
    name: str
    container: str
    #: derived from names (e.g. a pod name's hash suffixes) rather than read from an owner
    inferred: bool = False

    @property
    def key(self) -> str:
        """Identifier shared by all the workload's replicas: ``ns/Kind/name/container``."""
        return f"{self.namespace}/{self.kind}/{self.name}/{self.container}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "namespace": self.namespace,
            "kind": self.kind,
            "name": self.name,
            "container": self.container,
        }
        if self.inferred:
            data["inferred"] = True
        return data


HOST_WORKLOAD = Workload(namespace="", kind="Host", name="host", container="")


@dataclass(slots=True)  # built per kernel event: see "Events are values" above
class Event:
    """One thing a process did, as the sensor saw it, plus identity once it is attributed."""

    type: EventType
    time: datetime  # wall clock, UTC
    ktime_ns: int  # kernel CLOCK_MONOTONIC timestamp (for latency measurement)
    cgroup_id: int
    process: ProcessInfo
    network: NetworkInfo | None = None
    container: ContainerInfo | None = None
    workload: Workload | None = None
    file: FileInfo | None = None
    dns: DnsInfo | None = None
    syscall: SyscallInfo | None = None
    #: the cgroup the process's program was exec'd in, when it has moved into ``cgroup_id``
    #: since without exec'ing (set by the sensor's process tree); 0 otherwise
    entered_from_cgroup: int = 0
    #: done by a container runtime setting the container up, before the container's process
    #: was exec'd (see vigil.identity.runtime_setup): recorded, never judged nor learned
    runtime_setup: bool = False

    def details_json(self) -> dict[str, Any]:
        """The event-type-specific objects (network, dns, file, syscall) that are present."""
        data: dict[str, Any] = {}
        for name in ("network", "dns", "file", "syscall"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value.to_json()
        return data

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": str(self.type),
            "time": rfc3339(self.time),
            "ktime_ns": self.ktime_ns,
            "cgroup_id": self.cgroup_id,
            "process": self.process.to_json(),
        }
        data.update(self.details_json())
        if self.container is not None:
            data["container"] = self.container.to_json()
        if self.workload is not None:
            data["workload"] = self.workload.to_json()
        if self.runtime_setup:
            data["runtime_setup"] = True
        return data


@dataclass(slots=True)
class ActionResult:
    action: str
    outcome: str  # "done" | "failed" | "skipped"
    detail: str = ""
    #: kernel event → action finished, in milliseconds
    latency_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"action": self.action, "outcome": self.outcome}
        if self.detail:
            data["detail"] = self.detail
        if self.latency_ms is not None:
            data["latency_ms"] = round(self.latency_ms, 3)
        return data


@dataclass(slots=True)
class Alert:
    id: str
    time: datetime
    kind: str  # "rule" | "deviation"
    rule: str
    severity: Severity
    message: str
    event: Event
    mitre: list[str] = field(default_factory=list)
    playbook: str | None = None
    actions: list[ActionResult] = field(default_factory=list)
    #: the finding's tags (e.g. a rule's), matched by playbooks along with ``mitre``
    tags: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        ev = self.event
        container = ev.container or HOST_CONTAINER
        workload = ev.workload or HOST_WORKLOAD
        data: dict[str, Any] = {
            "id": self.id,
            "time": rfc3339(self.time),
            "kind": self.kind,
            "rule": self.rule,
            "severity": str(self.severity),
            "message": self.message,
            "mitre": list(self.mitre),
            "event_type": str(ev.type),
            "container": container.to_json(),
            "workload": workload.to_json(),
            "process": ev.process.to_json(),
        }
        data.update(ev.details_json())
        if self.tags:
            data["tags"] = list(self.tags)
        data["response"] = {
            "playbook": self.playbook,
            "actions": [a.to_json() for a in self.actions],
        }
        return data


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a ``Z`` suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> datetime:
    """The moment an RFC 3339 / ISO 8601 text names (``Z`` accepted for UTC); ValueError if none."""
    return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))


def utcnow() -> datetime:
    return datetime.now(UTC)


def event_from_json(data: dict[str, Any]) -> Event:
    """Rebuild an :class:`Event` from its JSON form (``vigil record`` lines, test traces).

    Raises ``KeyError``/``ValueError``/``TypeError`` on malformed input; callers count and skip.
    """
    container = data.get("container")
    workload = data.get("workload")
    return Event(
        type=EventType(data["type"]),
        time=parse_rfc3339(data["time"]),
        ktime_ns=int(data.get("ktime_ns", 0)),
        cgroup_id=int(data.get("cgroup_id", 0)),
        process=ProcessInfo.from_json(data["process"]),
        network=NetworkInfo.from_json(data["network"]) if data.get("network") else None,
        dns=DnsInfo.from_json(data["dns"]) if data.get("dns") else None,
        file=FileInfo.from_json(data["file"]) if data.get("file") else None,
        syscall=SyscallInfo.from_json(data["syscall"]) if data.get("syscall") else None,
        container=ContainerInfo(
            id=str(container["id"]),
            name=str(container.get("name", container["id"])),
            image=str(container.get("image", "")),
            runtime=str(container.get("runtime", "")),
        )
        if container
        else None,
        workload=Workload(
            namespace=str(workload.get("namespace", "")),
            kind=str(workload["kind"]),
            name=str(workload["name"]),
            container=str(workload.get("container", "")),
            inferred=bool(workload.get("inferred", False)),
        )
        if workload
        else None,
        runtime_setup=bool(data.get("runtime_setup", False)),
    )
