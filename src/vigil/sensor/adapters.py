"""Other sensors' JSON event streams (Falco, Tetragon) as vigil events, behind the same interface.

Each reads JSON lines from a file or stdin (``-``). A line that is not JSON, or not an event
this adapter maps, is counted (``malformed``) and skipped; the stream goes on.

- Falco (``json_output: true``): each line is an alert whose ``output_fields`` carry the event
  (``evt.type``, ``proc.*``, ``fd.*``, ``container.*``, ``k8s.*``); the fields a rule's output
  does not name are simply absent, so mapped events are as complete as the rule's output.
- Tetragon (``tetra getevents -o json`` / export files): ``process_exec``, ``process_exit`` and
  ``process_kprobe`` (``tcp_connect``, file hooks with a ``file_arg``), with pod metadata.

Container and workload come from the source (Falco's ``container.*``/``k8s.*``, Tetragon's
``pod``), so identity resolution is skipped for these events.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from vigil.errors import SensorError, truncate
from vigil.models import (
    ContainerInfo,
    Event,
    EventType,
    FileInfo,
    NetworkInfo,
    ProcessInfo,
    Workload,
    parse_rfc3339,
)
from vigil.sensor import SensorStats
from vigil.sensor.text import safe_text

log = logging.getLogger(__name__)

MAX_LINE = 1 << 20  # longer lines are cut, then fail to parse: counted, never buffered whole

Mapper = Callable[[dict[str, Any]], Event | None]


def _text(value: Any) -> str:
    return safe_text(str(value).encode("utf-8", "surrogateescape"))[0] if value is not None else ""


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _time(value: Any) -> datetime:
    if isinstance(value, int | float):  # ns since the epoch
        return datetime.fromtimestamp(value / 1e9, UTC)
    text = str(value or "")
    if not text:
        return datetime.now(UTC)
    head, dot, rest = text.partition(".")
    if dot:  # Python takes at most 6 fractional digits; Falco writes 9
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    parsed = parse_rfc3339(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- Falco -------------------------------------------------------------------------------------
FALCO_TYPES = {
    "execve": EventType.EXEC,
    "execveat": EventType.EXEC,
    "procexit": EventType.EXIT,
    "clone": EventType.FORK,
    "clone3": EventType.FORK,
    "fork": EventType.FORK,
    "vfork": EventType.FORK,
    "connect": EventType.CONNECT,
    "accept": EventType.ACCEPT,
    "accept4": EventType.ACCEPT,
    "listen": EventType.LISTEN,
    "open": EventType.OPEN,
    "openat": EventType.OPEN,
    "openat2": EventType.OPEN,
    "creat": EventType.OPEN,
    "symlink": EventType.SYMLINK,
    "symlinkat": EventType.SYMLINK,
    "link": EventType.LINK,
    "linkat": EventType.LINK,
    "rename": EventType.RENAME,
    "renameat": EventType.RENAME,
    "renameat2": EventType.RENAME,
    "unlink": EventType.UNLINK,
    "unlinkat": EventType.UNLINK,
    "chmod": EventType.CHMOD,
    "fchmod": EventType.CHMOD,
    "fchmodat": EventType.CHMOD,
    "setuid": EventType.SETUID,
    "setresuid": EventType.SETUID,
    "setgid": EventType.SETGID,
    "setresgid": EventType.SETGID,
    "ptrace": EventType.PTRACE,
    "mount": EventType.MOUNT,
    "umount": EventType.UMOUNT,
    "umount2": EventType.UMOUNT,
    "unshare": EventType.UNSHARE,
    "setns": EventType.SETNS,
    "memfd_create": EventType.MEMFD_CREATE,
    "bpf": EventType.BPF,
    "init_module": EventType.MODULE_LOAD,
    "finit_module": EventType.MODULE_LOAD,
}


def falco_event(line: dict[str, Any]) -> Event | None:
    fields = line.get("output_fields")
    if not isinstance(fields, dict):
        return None
    kind = FALCO_TYPES.get(str(fields.get("evt.type", "")))
    if kind is None:
        return None
    process = ProcessInfo(
        pid=_int(fields.get("proc.pid")),
        ppid=_int(fields.get("proc.ppid")),
        uid=_int(fields.get("user.uid")),
        exe=_text(fields.get("proc.exepath") or fields.get("proc.exe") or ""),
        cmdline=_text(fields.get("proc.cmdline", "")),
        cwd=_text(fields.get("proc.cwd", "")),
        parent_exe=_text(fields.get("proc.pexepath") or fields.get("proc.pname") or ""),
    )
    network = None
    file = None
    if kind in (EventType.CONNECT, EventType.ACCEPT, EventType.LISTEN):
        ipv6 = str(fields.get("fd.type", "")) == "ipv6" or ":" in str(fields.get("fd.sip", ""))
        network = NetworkInfo(
            protocol=_text(fields.get("fd.l4proto") or "tcp"),
            family="ipv6" if ipv6 else "ipv4",
            dest_ip=_text(fields.get("fd.sip") or fields.get("fd.rip") or ""),
            dest_port=_int(fields.get("fd.sport") or fields.get("fd.rport")),
        )
    elif "fd.name" in fields or "evt.arg.path" in fields or "fs.path.name" in fields:
        path = fields.get("fs.path.name") or fields.get("fd.name") or fields.get("evt.arg.path")
        file = FileInfo(path=_text(path), operation=str(kind))
    container_id = _text(fields.get("container.id") or "")
    container = None
    if container_id and container_id != "host":
        image = _text(fields.get("container.image.repository") or "")
        tag = fields.get("container.image.tag")
        container = ContainerInfo(
            id=container_id,
            name=_text(fields.get("container.name") or container_id),
            image=f"{image}:{_text(tag)}" if image and tag else image,
            runtime="falco",
        )
    workload = None
    if fields.get("k8s.pod.name"):
        workload = Workload(
            namespace=_text(fields.get("k8s.ns.name") or ""),
            kind="Pod",
            name=_text(fields["k8s.pod.name"]),
            container=_text(fields.get("container.name") or ""),
        )
    return _adapted_event(
        line,
        kind,
        process,
        (container, workload),
        ktime_ns=_int(fields.get("evt.rawtime")),
        network=network,
        file=file,
    )


def _adapted_event(
    line: dict[str, Any],
    kind: EventType,
    process: ProcessInfo,
    identity: tuple[ContainerInfo | None, Workload | None],
    *,
    ktime_ns: int = 0,
    network: NetworkInfo | None = None,
    file: FileInfo | None = None,
) -> Event:
    """An event from another tool's JSON: its own time; no cgroup id (it names the container)."""
    container, workload = identity
    return Event(
        type=kind,
        time=_time(line.get("time")),
        ktime_ns=ktime_ns,
        cgroup_id=0,
        process=process,
        network=network,
        file=file,
        container=container,
        workload=workload,
    )


# -- Tetragon ----------------------------------------------------------------------------------
def _tetragon_process(process: dict[str, Any], parent: dict[str, Any] | None) -> ProcessInfo:
    binary = _text(process.get("binary", ""))
    arguments = _text(process.get("arguments", ""))
    return ProcessInfo(
        pid=_int(process.get("pid")),
        ppid=_int((parent or {}).get("pid")),
        uid=_int(process.get("uid")),
        exe=binary,
        cmdline=f"{binary} {arguments}".strip(),
        cwd=_text(process.get("cwd", "")),
        parent_exe=_text((parent or {}).get("binary", "")),
    )


def _tetragon_identity(process: dict[str, Any]) -> tuple[ContainerInfo | None, Workload | None]:
    pod = process.get("pod")
    if not isinstance(pod, dict):
        return None, None
    container = pod.get("container") or {}
    image = container.get("image") or {}
    info = ContainerInfo(
        id=_text(container.get("id", "")).removeprefix("containerd://"),
        name=_text(container.get("name", "")),
        image=_text(image.get("name", "")),
        runtime="tetragon",
    )
    workload = Workload(
        namespace=_text(pod.get("namespace", "")),
        kind=_text(pod.get("workload_kind") or "Pod"),
        name=_text(pod.get("workload") or pod.get("name", "")),
        container=_text(container.get("name", "")),
    )
    return info, workload


def tetragon_event(line: dict[str, Any]) -> Event | None:
    for key, kind in (("process_exec", EventType.EXEC), ("process_exit", EventType.EXIT)):
        body = line.get(key)
        if isinstance(body, dict) and isinstance(body.get("process"), dict):
            process = _tetragon_process(body["process"], body.get("parent"))
            if kind is EventType.EXIT:
                process = replace(process, exit_code=_int(body.get("status")))
            return _adapted_event(line, kind, process, _tetragon_identity(body["process"]))
    body = line.get("process_kprobe")
    if not isinstance(body, dict) or not isinstance(body.get("process"), dict):
        return None
    process = _tetragon_process(body["process"], body.get("parent"))
    identity = _tetragon_identity(body["process"])
    args = [a for a in body.get("args", []) if isinstance(a, dict)]
    function = str(body.get("function_name", ""))
    for arg in args:
        sock = arg.get("sock_arg")
        if isinstance(sock, dict) and function in ("tcp_connect", "__sys_connect"):
            ipv6 = str(sock.get("family", "")) == "AF_INET6"
            network = NetworkInfo(
                protocol="udp" if "UDP" in str(sock.get("protocol", "")) else "tcp",
                family="ipv6" if ipv6 else "ipv4",
                dest_ip=_text(sock.get("daddr", "")),
                dest_port=_int(sock.get("dport")),
                local_ip=_text(sock.get("saddr", "")),
                local_port=_int(sock.get("sport")),
            )
            return _adapted_event(line, EventType.CONNECT, process, identity, network=network)
        file_arg = arg.get("file_arg") or arg.get("path_arg")
        if isinstance(file_arg, dict):
            writes = "w" in str(file_arg.get("permission", "")) or "write" in function
            operation = "write" if writes else "read"
            opened = FileInfo(path=_text(file_arg.get("path", "")), operation=operation)
            return _adapted_event(line, EventType.OPEN, process, identity, file=opened)
    return None


# -- the sensor --------------------------------------------------------------------------------
class JsonStreamSensor:
    """JSON lines from ``path`` (``-`` = stdin), each mapped by ``mapper``."""

    def __init__(self, name: str, path: str, mapper: Mapper) -> None:
        self.name = name
        self.path = path
        self.mapper = mapper
        self._stats = SensorStats()

    async def __aenter__(self) -> Self:
        if self.path != "-" and not Path(self.path).is_file():
            raise SensorError(f"{self.name} event file {self.path} not found")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def events(self) -> AsyncIterator[Event]:
        stream = (
            sys.stdin.buffer if self.path == "-" else Path(self.path).open("rb")  # noqa: SIM115 - closed below
        )
        try:
            number = 0
            while True:
                raw = await asyncio.to_thread(stream.readline, MAX_LINE)
                if not raw:
                    return
                number += 1
                if not raw.strip():
                    continue
                self._stats.received += 1
                try:
                    data = json.loads(raw)
                    event = self.mapper(data) if isinstance(data, dict) else None
                except (ValueError, TypeError, KeyError) as exc:
                    self._stats.malformed += 1
                    log.warning("%s:%d: skipped: %s", self.path, number, truncate(exc, 100))
                    continue
                if event is None:
                    self._stats.malformed += 1
                    continue
                yield event
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()

    def stats(self) -> SensorStats:
        return self._stats


def falco_sensor(path: str) -> JsonStreamSensor:
    return JsonStreamSensor("falco", path, falco_event)


def tetragon_sensor(path: str) -> JsonStreamSensor:
    return JsonStreamSensor("tetragon", path, tetragon_event)
