"""Helpers for the sensor's user-space tests: a fixture /proc, events to feed the process tree,
and a ring buffer and event loop that run in virtual time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vigil.models import Event, EventType, ProcessInfo

DATA = Path(__file__).parent / "data"
T0 = datetime(2024, 5, 2, tzinfo=UTC)


def fake_proc(root: Path, pid: int, ppid: int, exe: str, argv: list[str], start: int) -> None:
    base = root / str(pid)
    base.mkdir(parents=True)
    fields = ["S", str(ppid)] + ["0"] * 17 + [str(start)]
    (base / "stat").write_text(f"{pid} (x y) " + " ".join(fields) + " 0 0\n")
    (base / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (base / "exe").symlink_to(exe)


def ev(kind: EventType, pid: int, ppid: int, start: int, exe: str = "", cgroup: int = 7) -> Event:
    return Event(
        type=kind,
        time=T0,
        ktime_ns=1,
        cgroup_id=cgroup,
        process=ProcessInfo(pid=pid, ppid=ppid, uid=0, exe=exe, cmdline=exe, start_ns=start),
    )


class FakeRing:
    """A ring buffer whose records arrive when the test says, without waking anyone."""

    def __init__(self, handler: Callable[[bytes], int | None]) -> None:
        self.handler = handler
        self.waiting: list[bytes] = []

    def consume(self) -> int:
        taken, self.waiting = self.waiting, []
        for record in taken:
            self.handler(record)
        return len(taken)

    def pending(self) -> bool:
        return False

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        pass


@dataclass
class VirtualTimer:
    when_ns: int
    callback: Callable[[], object]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualLoop:
    """The timers and readers of an event loop, in virtual time (CLOCK_MONOTONIC ns): time passes
    only in :meth:`advance`, which runs each timer exactly when it falls due."""

    def __init__(self, now_ns: int = 1_000_000_000) -> None:
        self.now_ns = now_ns
        self.timers: list[VirtualTimer] = []
        self.readers: dict[int, Callable[[], object]] = {}

    def clock_ns(self) -> int:
        return self.now_ns

    def add_reader(self, fd: int, callback: Callable[[], object]) -> None:
        self.readers[fd] = callback

    def remove_reader(self, fd: int) -> bool:
        return self.readers.pop(fd, None) is not None

    def call_later(self, delay: float, callback: Callable[[], object]) -> VirtualTimer:
        timer = VirtualTimer(self.now_ns + round(delay * 1e9), callback)
        self.timers.append(timer)
        return timer

    def call_soon(self, callback: Callable[[], object]) -> VirtualTimer:
        return self.call_later(0, callback)

    def advance(self, seconds: float) -> None:
        end = self.now_ns + round(seconds * 1e9)
        while due := [t for t in self.timers if not t.cancelled and t.when_ns <= end]:
            first = min(due, key=lambda timer: timer.when_ns)
            self.timers.remove(first)
            self.now_ns = max(self.now_ns, first.when_ns)
            first.callback()
        self.timers = [t for t in self.timers if not t.cancelled]
        self.now_ns = end
