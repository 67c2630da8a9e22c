"""Builders of synthetic events for rule tests (the models the sensor fills)."""

from __future__ import annotations

from typing import Any

from tests.fakes import T0
from vigil.models import (
    HOST_CONTAINER,
    ContainerInfo,
    DnsInfo,
    Event,
    EventType,
    FileInfo,
    NetworkInfo,
    ProcessInfo,
    SyscallInfo,
    Workload,
)

APP = ContainerInfo("app-1", "app", "registry.example/app:1.0", "runc")
APP_WORKLOAD = Workload("shop", "Deployment", "app", "app")


def ev(
    etype: EventType | str,
    *,
    exe: str = "/usr/bin/app",
    cmdline: str | None = None,
    parent: str = "/usr/bin/app",
    ancestors: tuple[str, ...] = (),
    uid: int = 0,
    euid: int | None = None,
    host: bool = False,
    path: str | None = None,
    op: str = "",
    flags: int = 0,
    mode: int | None = None,
    target: str = "",
    ip: str | None = None,
    port: int = 0,
    result: int | None = None,
    dns: str | None = None,
    args: dict[str, Any] | None = None,
    **process: Any,
) -> Event:
    etype = EventType(etype)
    network = None
    if ip is not None:
        family = "ipv6" if ":" in ip else "ipv4"
        network = NetworkInfo("tcp", family, ip, port, "10.0.0.5", 41000, result)
        if etype is EventType.LISTEN:
            network = NetworkInfo("tcp", family, "", 0, ip, port, result)
    file = None
    if path is not None:
        file = FileInfo(path, op or etype.value, flags, mode, target)
    return Event(
        type=etype,
        time=T0,
        ktime_ns=1,
        cgroup_id=100,
        process=ProcessInfo(
            pid=4242,
            ppid=4241,
            uid=uid,
            euid=euid,
            gid=0,
            exe=exe,
            cmdline=cmdline if cmdline is not None else exe,
            parent_exe=parent,
            # as the sensor's process tree gives them: the parent first, then further up
            ancestors=(parent, *ancestors) if parent else ancestors,
            **process,
        ),
        network=network,
        file=file,
        dns=DnsInfo(dns, "A") if dns is not None else None,
        syscall=SyscallInfo(etype.value, dict(args)) if args is not None else None,
        container=HOST_CONTAINER if host else APP,
        workload=None if host else APP_WORKLOAD,
    )


def write(path: str, **kw: Any) -> Event:
    return ev("open", path=path, op="write", flags=0o1, **kw)


def create(path: str, **kw: Any) -> Event:
    return ev("open", path=path, op="create", flags=0o101, **kw)


def read(path: str, **kw: Any) -> Event:
    return ev("open", path=path, op="read", **kw)


def run(cmdline: str, **kw: Any) -> Event:
    exe = cmdline.split(maxsplit=1)[0]
    if not exe.startswith("/"):
        exe = f"/usr/bin/{exe}"
    return ev("exec", exe=exe, cmdline=cmdline, **kw)
