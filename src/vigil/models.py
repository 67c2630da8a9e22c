"""Typed records that flow through the pipeline: sensor → identity → detect → respond → record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    EXEC = "exec"
    CONNECT = "connect"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    pid: int
    ppid: int
    uid: int
    exe: str
    cmdline: str
    #: argv was longer than the sensor's bound (or held bytes that had to be escaped)
    cmdline_truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "pid": self.pid,
            "ppid": self.ppid,
            "exe": self.exe,
            "cmdline": self.cmdline,
            "uid": self.uid,
        }
        if self.cmdline_truncated:
            data["cmdline_truncated"] = True
        return data


@dataclass(frozen=True, slots=True)
class NetworkInfo:
    protocol: str  # "tcp" | "udp"
    family: str  # "ipv4" | "ipv6"
    dest_ip: str
    dest_port: int

    @property
    def destination(self) -> str:
        """Profile key of this destination, e.g. ``tcp/10.0.0.1:443`` or ``udp/[::1]:53``."""
        host = f"[{self.dest_ip}]" if self.family == "ipv6" else self.dest_ip
        return f"{self.protocol}/{host}:{self.dest_port}"

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "family": self.family,
            "dest_ip": self.dest_ip,
            "dest_port": self.dest_port,
        }


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
        return {
            "namespace": self.namespace,
            "kind": self.kind,
            "name": self.name,
            "container": self.container,
        }


HOST_WORKLOAD = Workload(namespace="", kind="Host", name="host", container="")


@dataclass(frozen=True, slots=True)
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

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": str(self.type),
            "time": rfc3339(self.time),
            "ktime_ns": self.ktime_ns,
            "cgroup_id": self.cgroup_id,
            "process": self.process.to_json(),
        }
        if self.network is not None:
            data["network"] = self.network.to_json()
        if self.container is not None:
            data["container"] = self.container.to_json()
        if self.workload is not None:
            data["workload"] = self.workload.to_json()
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
        if ev.network is not None:
            data["network"] = ev.network.to_json()
        data["response"] = {
            "playbook": self.playbook,
            "actions": [a.to_json() for a in self.actions],
        }
        return data


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a ``Z`` suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utcnow() -> datetime:
    return datetime.now(UTC)


def event_from_json(data: dict[str, Any]) -> Event:
    """Rebuild an :class:`Event` from its JSON form (``vigil record`` lines, test traces).

    Raises ``KeyError``/``ValueError``/``TypeError`` on malformed input; callers count and skip.
    """
    proc = data["process"]
    network = data.get("network")
    container = data.get("container")
    workload = data.get("workload")
    return Event(
        type=EventType(data["type"]),
        time=datetime.fromisoformat(data["time"].replace("Z", "+00:00")),
        ktime_ns=int(data.get("ktime_ns", 0)),
        cgroup_id=int(data.get("cgroup_id", 0)),
        process=ProcessInfo(
            pid=int(proc["pid"]),
            ppid=int(proc.get("ppid", 0)),
            uid=int(proc.get("uid", 0)),
            exe=str(proc["exe"]),
            cmdline=str(proc.get("cmdline", "")),
            cmdline_truncated=bool(proc.get("cmdline_truncated", False)),
        ),
        network=NetworkInfo(
            protocol=str(network["protocol"]),
            family=str(network["family"]),
            dest_ip=str(network["dest_ip"]),
            dest_port=int(network["dest_port"]),
        )
        if network
        else None,
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
        )
        if workload
        else None,
    )
