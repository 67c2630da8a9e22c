"""Which program each live process runs, so connect events name their process like exec events.

The kernel sends exe and argv only at exec. Entries are keyed by (pid, start time), which names
one process for its whole life, so a recycled pid never inherits another process's identity.
Processes that exec'd before the sensor started (or whose exec was lost) are looked up once in
/proc, with the same start-time check.
"""

from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from vigil.models import Event
from vigil.sensor.decode import ARGS_MAX, EXE_MAX, argv_text, safe_text

NSEC_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
#: field 22 of /proc/<pid>/stat, counted from the first field after the ")" of comm
STARTTIME_INDEX = 22 - 3


@dataclass(frozen=True, slots=True)
class Program:
    exe: str
    cmdline: str
    #: argv was cut or escaped (same meaning as ProcessInfo.cmdline_truncated)
    truncated: bool

    @classmethod
    def of(cls, event: Event) -> Program:
        p = event.process
        return cls(p.exe, p.cmdline, p.cmdline_truncated)


class ProcessTable:
    """A bounded (least recently used out) map of (pid, start_ns) → :class:`Program`."""

    def __init__(self, capacity: int = 32768, proc_root: Path = Path("/proc")) -> None:
        self.capacity = capacity
        self.proc_root = proc_root
        self._programs: OrderedDict[tuple[int, int], Program | None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._programs)

    def remember(self, pid: int, start_ns: int, program: Program) -> None:
        self._store((pid, start_ns), program)

    def lookup(self, pid: int, start_ns: int) -> Program | None:
        key = (pid, start_ns)
        if key in self._programs:
            self._programs.move_to_end(key)
            return self._programs[key]
        program = self._from_proc(pid, start_ns)
        self._store(key, program)  # misses too: /proc is read once per process
        return program

    def _store(self, key: tuple[int, int], program: Program | None) -> None:
        self._programs[key] = program
        self._programs.move_to_end(key)
        while len(self._programs) > self.capacity:
            self._programs.popitem(last=False)

    def _from_proc(self, pid: int, start_ns: int) -> Program | None:
        base = self.proc_root / str(pid)
        if not self._same_process(base, start_ns):
            return None
        try:
            with (base / "cmdline").open("rb") as f:
                raw_args = f.read(ARGS_MAX + 1)
            exe_raw = os.fsencode(os.readlink(base / "exe"))[:EXE_MAX]
        except OSError:  # gone, or a kernel thread without exe
            return None
        if not self._same_process(base, start_ns):  # the pid was recycled while we read
            return None
        cmdline, args_escaped = argv_text(raw_args[:ARGS_MAX])
        exe, exe_escaped = safe_text(exe_raw)
        return Program(exe, cmdline, len(raw_args) > ARGS_MAX or args_escaped or exe_escaped)

    @staticmethod
    def _same_process(base: Path, start_ns: int) -> bool:
        try:
            stat = (base / "stat").read_bytes()
        except OSError:
            return False
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) <= STARTTIME_INDEX:
            return False
        return int(fields[STARTTIME_INDEX]) == start_ns // NSEC_PER_TICK


def with_program(event: Event, program: Program) -> Event:
    """``event`` with its process's exe and cmdline filled in from ``program``."""
    process = dataclasses.replace(
        event.process,
        exe=program.exe,
        cmdline=program.cmdline,
        cmdline_truncated=program.truncated,
    )
    return dataclasses.replace(event, process=process)
