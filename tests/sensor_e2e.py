"""Helpers for the end-to-end sensor tests: the marks, a busybox container with the action
helper, a TCP server, and collecting the events of one container."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from vigil.lab import RuncContainer, build_busybox_rootfs, runc_available
from vigil.models import Event
from vigil.sensor.ebpf import EbpfSensor

MISSING = [tool for tool in ("clang", "bpftool", "runc") if shutil.which(tool) is None]
E2E_MARKS = (
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="the eBPF sensor needs root"),
    pytest.mark.skipif(bool(MISSING), reason=f"missing tools: {', '.join(MISSING)}"),
    pytest.mark.skipif(not Path("/sys/kernel/btf/vmlinux").is_file(), reason="kernel without BTF"),
)
#: every program of vigil.bpf.c this kernel has tracepoints for (no module loading here)
PROGRAMS = set(
    re.findall(
        r'SEC\("[^"]+"\)\s*int (?:BPF_PROG\()?(\w+)',
        (Path(__file__).parent.parent / "src/vigil/sensor/bpf/vigil.bpf.c").read_text(),
    )
) - {"vigil_init_module", "vigil_finit_module"}


HELPER_SOURCE = Path(__file__).parent / "data" / "sensor_actions.c"

F = TypeVar("F", bound=Callable[..., None])


def e2e(test: F) -> F:
    """Marked e2e, and skipped with the reason when this machine cannot run the real sensor."""
    for mark in E2E_MARKS:
        test = mark(test)
    return test


async def collect(
    sensor: EbpfSensor, done: Callable[[list[Event]], bool], timeout: float = 5.0
) -> list[Event]:
    """Events from the sensor until ``done(events)`` holds or ``timeout`` passes."""
    seen: list[Event] = []

    async def read() -> None:
        async for event in sensor.events():
            seen.append(event)
            if done(seen):
                return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(read(), timeout)
    return seen


def bpf_fds() -> list[str]:
    """This process's BPF program/map/link fds, by their anon-inode kind."""
    kinds = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("anon_inode:bpf"):
            kinds.append(target)
    return kinds


def program_loaded(prog_id: int) -> bool:
    probe = subprocess.run(
        ["bpftool", "prog", "show", "id", str(prog_id)], capture_output=True, check=False
    )
    return probe.returncode == 0


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def tcp_server() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        server.close()


@contextlib.contextmanager
def actions_container(tmp: Path, prepare: bool = True) -> Iterator[RuncContainer]:
    """A running busybox container on the host's network; ``prepare``: with an /etc/shadow to
    read and the action helper (tests/data/sensor_actions.c) built into it."""
    if not runc_available():
        pytest.skip("runc is not installed")
    rootfs = build_busybox_rootfs(tmp / "rootfs")
    if prepare:
        (rootfs / "etc" / "shadow").write_text("root:*:19000:0:99999:7:::\n")
        subprocess.run(
            [
                "clang",
                "-static",
                "-O1",
                "-o",
                str(rootfs / "bin" / "vigil-actions"),
                str(HELPER_SOURCE),
            ],
            check=True,
            capture_output=True,
        )
    name = f"vigil-events-{uuid.uuid4().hex[:8]}"
    with RuncContainer(
        name, rootfs, tmp / "bundle", ["/bin/sleep", "120"], host_network=True
    ) as running:
        assert running.wait_for_status("running")
        yield running


async def gather_cgroup(sensor: EbpfSensor, cgroup_id: int, into: list[Event]) -> None:
    async for event in sensor.events():
        if event.cgroup_id == cgroup_id:
            into.append(event)


async def act_and_watch(
    sensor: EbpfSensor, container: RuncContainer, cgroup_id: int, script: str
) -> list[Event]:
    """Run ``script`` in the container while collecting the container's events."""
    seen: list[Event] = []
    collector = asyncio.create_task(gather_cgroup(sensor, cgroup_id, seen))
    proc = await asyncio.create_subprocess_exec(
        "runc",
        "exec",
        container.id,
        "sh",
        "-c",
        script,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await asyncio.wait_for(proc.wait(), 60)
    await asyncio.sleep(1.0)  # let the last records through
    collector.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await collector
    return seen
