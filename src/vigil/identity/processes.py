"""Which program a pid runs: remembered from exec events, read from /proc for older processes.

Only exec events carry the executable and argv; a connect names just the pid. This table fills
in the rest so that every alert says which program did it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace

from vigil.identity.cache import BoundedCache
from vigil.models import Event, EventType, ProcessInfo

_MAX_CMDLINE = 1024


class ProcessTable:
    def __init__(
        self,
        proc_root: str = "/proc",
        *,
        max_size: int = 32768,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.proc_root = proc_root
        self._programs: BoundedCache[int, tuple[str, str]] = BoundedCache(max_size, clock)

    def complete(self, event: Event) -> Event:
        """Remember an exec's program; give other events the program of their pid."""
        proc = event.process
        if event.type is EventType.EXEC:
            self._programs.put(proc.pid, (proc.exe, proc.cmdline))
            return event
        if proc.exe:
            return event
        known = self._programs.get(proc.pid) or self._from_proc(proc.pid)
        if known is None:
            return event
        exe, cmdline = known
        return replace(event, process=_with_program(proc, exe, cmdline))

    def _from_proc(self, pid: int) -> tuple[str, str] | None:
        base = os.path.join(self.proc_root, str(pid))
        try:
            exe = os.readlink(os.path.join(base, "exe"))
            with open(os.path.join(base, "cmdline"), "rb") as handle:
                raw = handle.read(_MAX_CMDLINE)
        except OSError:
            return None
        cmdline = raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "backslashreplace")
        found = (exe, cmdline)
        self._programs.put(pid, found)
        return found


def _with_program(proc: ProcessInfo, exe: str, cmdline: str) -> ProcessInfo:
    return replace(proc, exe=exe, cmdline=proc.cmdline or cmdline)
