"""When the BPF programs wake the agent's ring-buffer reader, and when it drains on its own.

Waking the reader costs the traced process far more than writing its record: an irq_work, a
self-IPI, which on a virtual machine is a VM exit (about 30 us on our machines, against 1.5 us
for an exit record). So the programs and the reader share one number, the time until which the
reader promises to drain on its own: "quiet until", in CLOCK_MONOTONIC nanoseconds (the clock
of bpf_ktime_get_ns), in a one-slot array map mapped into the agent.

- A program writing a record before that time does not wake the reader. After it, the program
  wakes it and moves the time VIGIL_WAKEUP_NS ahead (vigil.bpf.c), so that even a reader slow to
  come is not woken more than every 2 ms.
- The reader, after a drain that found records, drains again ``interval`` later and moves the
  time ``interval + slack`` ahead: while records keep coming it polls and is never woken. After
  a drain that found none, it polls every ``interval`` until the time has passed, then sleeps
  until woken (no timer when idle).

So a record written without a wake-up was written before a time the reader had set or the
program had set when it woke the reader, and the reader always drains once at or after that
time: no record waits for much longer than ``interval``. ``slack`` keeps a reader whose timer
runs late (a busy event loop) from being woken for nothing.
"""

from __future__ import annotations

import mmap
import struct
import time
from collections.abc import Callable
from typing import Protocol

#: the reader's promise: nanoseconds, native byte order (the map is read by the kernel)
QUIET_UNTIL = struct.Struct("=Q")
#: a drain at the promised time itself could just miss a record written a moment before it:
#: the drain comes this much later
MARGIN_NS = 500_000


class QuietCell(Protocol):
    """Where the programs and the reader keep the "quiet until" time."""

    def get(self) -> int: ...

    def set(self, ns: int) -> None: ...

    def close(self) -> None: ...


class MemoryCell:
    """A cell no program reads: before the programs are loaded, and for tests."""

    def __init__(self) -> None:
        self.ns = 0

    def get(self) -> int:
        return self.ns

    def set(self, ns: int) -> None:
        self.ns = ns

    def close(self) -> None:
        pass


class MappedCell:
    """Slot 0 of a BPF array map created with BPF_F_MMAPABLE, read and written in place (no
    system call per drain). An aligned 8-byte store is never torn."""

    def __init__(self, map_fd: int) -> None:
        self._map = mmap.mmap(
            map_fd, mmap.PAGESIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
        )
        self._slot = memoryview(self._map)[: QUIET_UNTIL.size].cast("Q")

    def get(self) -> int:
        return int(self._slot[0])

    def set(self, ns: int) -> None:
        self._slot[0] = ns

    def close(self) -> None:
        self._slot.release()
        self._map.close()


class ReaderSchedule:
    """The reader's side of the agreement: after each drain, when to drain next."""

    def __init__(
        self,
        cell: QuietCell,
        *,
        interval: float,
        slack: float,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.cell = cell
        self.interval_ns = int(interval * 1e9)
        self.slack_ns = int(slack * 1e9)
        self.clock_ns = clock_ns

    def after_drain(self, found: bool) -> float | None:
        """Seconds until the next drain, or None: sleep until a program wakes the reader."""
        now = self.clock_ns()
        if found:
            self.cell.set(now + self.interval_ns + self.slack_ns)
            return self.interval_ns / 1e9
        promised = self.cell.get()
        if promised <= now:
            return None
        return min(promised - now + MARGIN_NS, self.interval_ns) / 1e9
