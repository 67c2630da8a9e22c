"""The kernel filter's maps: what a locked profile allows is dropped before it leaves the kernel.

``allow`` marks a cgroup filtered (its fork/exit stop) and lists its allowed destinations;
``remember_exec`` adds an exec the agent judged allowed, keyed by the kernel's hash of it, so
its exact repeats stop too; ``forget`` undoes all of it for a cgroup. What decides is
vigil.sensor.kernel_filter (FilterSync) and the agent; this writes their verdicts.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable

from vigil.caches import BoundedCache
from vigil.errors import SensorError
from vigil.models import Event
from vigil.sensor import libbpf as bpf
from vigil.sensor.bpf_object import BpfObject
from vigil.sensor.kernel_filter import EXEC_KEY, FILTER_ALL, dest_key
from vigil.sensor.records import ExecRecord

log = logging.getLogger("vigil.sensor.ebpf")

FILTER_VALUE = struct.Struct("=I")
CGROUP_KEY = struct.Struct("=Q")
ALLOWED = b"\x01"
#: execs remembered as allowed, per cgroup (the kernel map holds 65536 in all)
MAX_EXECS_PER_CGROUP = 1024
#: execs waiting for the agent's verdict (see remember_exec): a bounded table
PENDING_EXECS = 4096


class FilterMaps:
    """Writes allowed destinations and execs of filtered cgroups into :attr:`maps` once loaded."""

    def __init__(self) -> None:
        self.maps: BpfObject | None = None
        #: filtered cgroup → the keys written for it (execs, destinations), to forget them
        self._allowed: dict[int, tuple[list[bytes], list[bytes]]] = {}
        #: (pid, ktime) of each recent exec → (cgroup, the kernel's hash of it)
        self._exec_hashes: BoundedCache[tuple[int, int], tuple[int, int]] = BoundedCache(
            PENDING_EXECS
        )

    def _fd(self, name: str) -> int:
        if self.maps is None:
            raise SensorError("the eBPF sensor is not started")
        return self.maps.map_fd(name)

    def allow(self, cgroup_ids: Iterable[int], destinations: Iterable[str]) -> None:
        dests = list(destinations)
        for cgroup_id in cgroup_ids:
            dest_keys = [k for k in (dest_key(cgroup_id, d) for d in dests) if k is not None]
            for key in dest_keys:
                bpf.map_update(self._fd("allowed_dests"), key, ALLOWED, "allow destination")
            known = self._allowed.setdefault(cgroup_id, ([], []))
            known[1].extend(dest_keys)
            bpf.map_update(
                self._fd("filter_cgroups"),
                CGROUP_KEY.pack(cgroup_id),
                FILTER_VALUE.pack(FILTER_ALL),
                "filter cgroup",
            )

    def note_exec(self, record: ExecRecord) -> None:
        """Keep a decoded exec's hash until the agent's verdict on it (:meth:`remember_exec`)."""
        # only a filtered cgroup's execs can be remembered (host execs never are)
        header = record.header
        if record.exec_hash and header.cgroup_id in self._allowed:
            pending = (header.cgroup_id, record.exec_hash)
            self._exec_hashes.put((header.pid, header.ktime_ns), pending)

    def remember_exec(self, event: Event) -> None:
        pending = self._exec_hashes.pop((event.process.pid, event.ktime_ns))
        if pending is None or self.maps is None:
            return  # not one of ours, or already gone from the bounded table
        cgroup_id, exec_hash = pending
        known = self._allowed.get(cgroup_id)
        if known is None or len(known[0]) >= MAX_EXECS_PER_CGROUP:
            return  # not filtered (yet), or enough remembered: it goes on reaching user space
        key = EXEC_KEY.pack(cgroup_id, exec_hash)
        try:
            bpf.map_update(self._fd("allowed_execs"), key, ALLOWED, "remember exec")
        except SensorError as exc:  # e.g. the map is full: only a saving is missed
            log.debug("could not remember an allowed exec: %s", exc)
            return
        known[0].append(key)

    def forget(self, cgroup_id: int) -> None:
        if self.maps is None:
            return
        bpf.map_delete(self._fd("filter_cgroups"), CGROUP_KEY.pack(cgroup_id))
        exec_keys, dest_keys = self._allowed.pop(cgroup_id, ([], []))
        for key in exec_keys:
            bpf.map_delete(self._fd("allowed_execs"), key)
        for key in dest_keys:
            bpf.map_delete(self._fd("allowed_dests"), key)

    def close(self) -> None:
        """The maps are gone: nothing written is remembered."""
        self.maps = None
        self._allowed.clear()
        self._exec_hashes = BoundedCache(PENDING_EXECS)
