"""A raw record as the event the rules see: decoded, named from the process tree, and an exec's
executable placed (writable layer, changed since the container began)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from vigil.identity.cgroups import cgroup2_root
from vigil.models import Event
from vigil.sensor.decode import WallClock, record_event
from vigil.sensor.layers import WritableLayers
from vigil.sensor.process_tree import ProcessTree
from vigil.sensor.records import ExecRecord, parse_record
from vigil.sensor.text import walked_path


def _ignore_exec(_record: ExecRecord) -> None:
    pass


class RecordDecoder:
    """Decodes records in the order they were written (the process tree follows them).

    ``on_exec`` sees each exec record once decoded (the kernel filter keeps its hash)."""

    def __init__(
        self,
        proc_root: Path = Path("/proc"),
        *,
        on_exec: Callable[[ExecRecord], None] = _ignore_exec,
    ) -> None:
        self.on_exec = on_exec
        self.clock = WallClock.now()
        self._boot_wall_ns = 0
        self.processes = ProcessTree(proc_root=proc_root, cgroup2_root=cgroup2_root())
        self.layers = WritableLayers(
            proc_root,
            cgroup_of=lambda pid: self.processes.cgroup_id_of(proc_root / str(pid)),
        )

    def set_clocks(self) -> None:
        """Take the kernel clocks' offsets to wall-clock time now (when reading starts)."""
        self.clock = WallClock.now()
        self._boot_wall_ns = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)

    def decode(self, data: bytes) -> Event:
        """The record's event; :class:`~vigil.sensor.decode.MalformedRecord` if it is not one."""
        record = parse_record(data)
        event = self.processes.observe(record_event(record, self.clock))
        if isinstance(record, ExecRecord):
            event = self._exec_origin(record, event)
            self.on_exec(record)
        return event

    def _exec_origin(self, record: ExecRecord, event: Event) -> Event:
        """Where the executable came from: writable layer, changed since the container began."""
        header = record.header
        opened = walked_path(record.file) if record.file and record.file_complete else ""
        started = self.processes.cgroup_started_ns(header.cgroup_id)
        changed = (
            started is not None
            and record.file_ctime_s * 1_000_000_000 > self._boot_wall_ns + started
        )
        # the exec's own process first (the tree has just stored it: the most recent), then,
        # as it may be gone by now, any other process of the container
        pids = self.processes.pids_in_cgroup(header.cgroup_id)
        writable = self.layers.on_writable_layer(record.file_magic, opened, header.cgroup_id, pids)
        # in place, as the process tree fills lineage: the event is still the sensor's own
        event.process.exe_changed_after_start = changed
        event.process.exe_on_writable_layer = writable
        return event
