"""The eBPF sensor's account of what it did not deliver: nothing is lost silently.

Kernel losses are read from the programs' maps (a per-CPU total per event type, and a total per
cgroup and type with its first and last time); user-space losses (no room in the queue) and
malformed records are counted here. Each new batch of losses becomes a ``sensor_loss`` event
(vigil.sensor.loss).
"""

from __future__ import annotations

import contextlib
import logging
import struct
from collections.abc import Callable
from datetime import datetime

from vigil.errors import SensorError, VigilError
from vigil.models import Event
from vigil.sensor import libbpf as bpf
from vigil.sensor.bpf_object import BpfObject
from vigil.sensor.loss import LossTracker, loss_event
from vigil.sensor.records import EVENT_TYPES, KINDS, MalformedRecord, parse_record

log = logging.getLogger("vigil.sensor.ebpf")

LOST_MAP = "lost_events"
FILTERED_MAP = "filtered_events"
CGROUP_LOSS_MAP = "cgroup_losses"
LOSS_KEY = struct.Struct("=QI4x")  # cgroup_id, type
LOSS_VALUE = struct.Struct("=QQQ")  # count, first_ns, last_ns
MAX_LOSS_ENTRIES = 4096

#: where a loss report goes: True when it was queued
Offer = Callable[[Event], bool]


class LossAccounts:
    """Counts and reports losses; reads the kernel's counters while :attr:`maps` is loaded."""

    def __init__(self) -> None:
        self.tracker = LossTracker()
        self.lost_user = 0
        self.malformed = 0
        #: loss reports that found the queue full, delivered after the next event
        self.pending: list[Event] = []
        self.maps: BpfObject | None = None
        self._lost_kernel_at_close = 0

    def lose(self, data: bytes) -> None:
        """Count a record there is no room for: per cgroup and type when it can be read."""
        try:
            record = parse_record(data)
        except MalformedRecord as exc:
            self.count_malformed(exc)
            return
        header = record.header
        self.lost_user += 1
        kind = str(KINDS[header.type])
        self.tracker.add(header.cgroup_id, kind, 1, header.ktime_ns, header.ktime_ns)

    def count_malformed(self, exc: MalformedRecord) -> None:
        self.malformed += 1
        log.debug("skipping malformed record: %s", exc)

    def poll(self, to_datetime: Callable[[int], datetime], offer: Offer) -> None:
        """Turn new losses (kernel and user space) into sensor_loss events."""
        if self.maps is not None:
            fd = self.maps.map_fd(CGROUP_LOSS_MAP)
            for key, value in bpf.map_items(fd, LOSS_KEY.size, LOSS_VALUE.size, MAX_LOSS_ENTRIES):
                cgroup_id, kind = LOSS_KEY.unpack(key)
                count, first, last = LOSS_VALUE.unpack(value)
                name = str(KINDS[kind]) if kind in KINDS else str(kind)
                self.tracker.kernel_totals(cgroup_id, name, count, first, last)
        for cgroup_id, loss in self.tracker.take().items():
            event = loss_event(cgroup_id, loss, to_datetime)
            if not offer(event):
                self.pending.append(event)
            log.warning(
                "%d events lost for cgroup %d (%s)",
                loss.count,
                cgroup_id,
                ", ".join(f"{k}: {n}" for k, n in sorted(loss.by_type.items())),
            )

    def lost_kernel(self) -> int:
        if self.maps is None:
            return self._lost_kernel_at_close
        return _per_type_sum(self.maps.map_fd(LOST_MAP))

    def filtered(self) -> int:
        """Events a locked profile allows, dropped in the kernel (0 once closed)."""
        return 0 if self.maps is None else _per_type_sum(self.maps.map_fd(FILTERED_MAP))

    def close(self, to_datetime: Callable[[int], datetime], offer: Offer) -> None:
        """Read the kernel's counters a last time, before the maps go."""
        if self.maps is None:
            return
        try:
            self._lost_kernel_at_close = self.lost_kernel()
        except SensorError as exc:
            log.warning("could not read the lost-event counters: %s", exc)
        # the last losses still become reports; an error here must not hide the one that brought
        # us here
        with contextlib.suppress(VigilError):
            self.poll(to_datetime, offer)
        self.maps = None


def _per_type_sum(fd: int) -> int:
    return sum(bpf.percpu_u64_sum(fd, kind) for kind in range(EVENT_TYPES))
