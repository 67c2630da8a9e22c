"""Test doubles for OS boundaries: an in-memory sensor and a fixed identity table."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Generic, Self, TypeVar

from vigil.models import (
    HOST_CONTAINER,
    HOST_WORKLOAD,
    ContainerInfo,
    Event,
    EventType,
    NetworkInfo,
    ProcessInfo,
    Workload,
)
from vigil.sensor import SensorStats

# what a clock under test reads: seconds (monotonic), nanoseconds, or the wall-clock time
Instant = TypeVar("Instant", int, float, datetime)


class FakeClock(Generic[Instant]):
    """Time that moves only when the test moves it: call for ``now``; ``advance()`` steps it.

    ``FakeClock(1000.0)`` stands in for ``time.monotonic``, ``FakeClock(1_000_000_000)`` for
    ``time.monotonic_ns`` and ``FakeClock(T0)`` for a wall clock; ``now`` may also be set.
    """

    def __init__(self, start: Instant) -> None:
        self.now: Instant = start

    def __call__(self) -> Instant:
        return self.now

    def advance(self, step: float) -> None:
        """Move forward by ``step`` in the clock's own unit (seconds for a wall clock)."""
        if isinstance(self.now, datetime):
            self.now = self.now + timedelta(seconds=step)
        elif isinstance(self.now, int):
            # whole units only: an int clock that silently dropped a fraction would lie
            if step != int(step):
                raise ValueError(f"an integer clock cannot advance by {step}")
            self.now = self.now + int(step)
        else:
            self.now = self.now + step


class QueueSensor:
    """Events pushed by the test; ends when ``close()`` is called."""

    name = "queue"

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._stats = SensorStats()
        self.entered = False
        self.exited = False

    async def __aenter__(self) -> Self:
        self.entered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.exited = True

    def push(self, event: Event) -> None:
        self.queue.put_nowait(event)

    def close(self) -> None:
        self.queue.put_nowait(None)

    async def events(self) -> AsyncIterator[Event]:
        while (event := await self.queue.get()) is not None:
            self._stats.received += 1
            yield event

    def stats(self) -> SensorStats:
        return self._stats


@dataclass(frozen=True)
class FixedIdentity:
    container: ContainerInfo
    workload: Workload


@dataclass
class FakeRecord:
    cgroup_paths: Mapping[str, str]


@dataclass
class TableIdentity:
    """cgroup id → identity, from a dict; unknown ids are the host."""

    by_cgroup: dict[int, FixedIdentity] = field(default_factory=dict)
    records: dict[str, FakeRecord] = field(default_factory=dict)

    def resolve(self, cgroup_id: int, pid: int, *, recheck: bool = False) -> FixedIdentity:
        return self.by_cgroup.get(cgroup_id, FixedIdentity(HOST_CONTAINER, HOST_WORKLOAD))

    def lookup(self, container_id: str) -> FakeRecord | None:
        return self.records.get(container_id)


WEB = Workload("shop", "Deployment", "web", "nginx", inferred=True)
WEB_1 = ContainerInfo("web-1", "nginx", "nginx:1.27", "runc")
WEB_2 = ContainerInfo("web-2", "nginx", "nginx:1.27", "runc")
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def exec_event(exe: str, *, cgroup_id: int = 100, pid: int = 4242, cmdline: str = "") -> Event:
    return Event(
        type=EventType.EXEC,
        time=T0,
        ktime_ns=1,
        cgroup_id=cgroup_id,
        process=ProcessInfo(pid=pid, ppid=1, uid=0, exe=exe, cmdline=cmdline or exe),
    )


def connect_event(ip: str, port: int, *, cgroup_id: int = 100, protocol: str = "tcp") -> Event:
    family = "ipv6" if ":" in ip else "ipv4"
    return Event(
        type=EventType.CONNECT,
        time=T0,
        ktime_ns=1,
        cgroup_id=cgroup_id,
        process=ProcessInfo(pid=4243, ppid=1, uid=0, exe="/bin/wget", cmdline="wget"),
        network=NetworkInfo(protocol, family, ip, port),
    )


def wait_until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll ``condition`` from a worker thread while the agent's loop runs; fail on timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.01)
