"""Lost events: counted per event type and per cgroup, turned into alerts, never silent.

The kernel counts failed ring-buffer writes per (cgroup, type) with the time of the first and
the last; user space counts what its queue could not hold the same way. The sensor turns each
new batch of losses into a ``sensor_loss`` event for the cgroup, which goes through identity
like any event, and :class:`LossDetector` raises the ``sensor.events_lost`` alert naming the
container and the window it was unmonitored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from vigil.models import (
    HOST_CONTAINER,
    Event,
    EventType,
    ProcessInfo,
    Severity,
    SyscallInfo,
    rfc3339,
)

LOSS_RULE = "sensor.events_lost"
#: bound on the cgroups tracked between two reports
MAX_TRACKED = 4096


@dataclass(slots=True)
class Loss:
    count: int = 0
    first_ns: int = 0
    last_ns: int = 0
    by_type: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, count: int, first_ns: int, last_ns: int) -> None:
        self.count += count
        self.first_ns = min(self.first_ns, first_ns) if self.first_ns else first_ns
        self.last_ns = max(self.last_ns, last_ns)
        self.by_type[kind] = self.by_type.get(kind, 0) + count


class LossTracker:
    """Losses since the last report, per cgroup, from the kernel's totals and user space."""

    def __init__(self) -> None:
        self._kernel_seen: dict[tuple[int, str], int] = {}
        self._pending: dict[int, Loss] = {}
        self.total_by_type: dict[str, int] = {}
        self.total_by_cgroup: dict[int, int] = {}

    def kernel_totals(self, cgroup_id: int, kind: str, total: int, first: int, last: int) -> None:
        """The kernel's running total for (cgroup, kind): only the increase is new."""
        key = (cgroup_id, kind)
        new = total - self._kernel_seen.get(key, 0)
        if new <= 0:
            return
        if len(self._kernel_seen) >= MAX_TRACKED and key not in self._kernel_seen:
            self._kernel_seen.clear()  # the kernel map is LRU too; a reset only over-reports
        self._kernel_seen[key] = total
        self.add(cgroup_id, kind, new, first if new == total else last, last)

    def add(self, cgroup_id: int, kind: str, count: int, first_ns: int, last_ns: int) -> None:
        loss = self._pending.get(cgroup_id)
        if loss is None:
            if len(self._pending) >= MAX_TRACKED:
                cgroup_id = 0  # attributed to no container rather than dropped
            loss = self._pending.setdefault(cgroup_id, Loss())
        loss.add(kind, count, first_ns, last_ns)
        self.total_by_type[kind] = self.total_by_type.get(kind, 0) + count
        if cgroup_id in self.total_by_cgroup or len(self.total_by_cgroup) < MAX_TRACKED:
            self.total_by_cgroup[cgroup_id] = self.total_by_cgroup.get(cgroup_id, 0) + count

    def take(self) -> dict[int, Loss]:
        pending, self._pending = self._pending, {}
        return pending


def loss_event(cgroup_id: int, loss: Loss, to_datetime: Callable[[int], datetime]) -> Event:
    start, end = to_datetime(loss.first_ns), to_datetime(loss.last_ns)
    types = ",".join(f"{kind}:{n}" for kind, n in sorted(loss.by_type.items()))
    return Event(
        type=EventType.SENSOR_LOSS,
        time=end,
        ktime_ns=loss.last_ns,
        cgroup_id=cgroup_id,
        process=ProcessInfo(pid=0, ppid=0, uid=0, exe="", cmdline=""),
        syscall=SyscallInfo(
            "events_lost",
            {"count": loss.count, "types": types, "from": rfc3339(start), "to": rfc3339(end)},
        ),
    )


@dataclass(frozen=True, slots=True)
class LossFinding:
    event: Event

    @property
    def kind(self) -> str:
        return "rule"

    @property
    def rule(self) -> str:
        return LOSS_RULE

    @property
    def severity(self) -> Severity:
        return Severity.HIGH

    @property
    def mitre(self) -> list[str]:
        return ["T1562"]  # Impair Defenses: a flood can be used to blind the sensor

    @property
    def message(self) -> str:
        args = self.event.syscall.args if self.event.syscall else {}
        container = self.event.container or HOST_CONTAINER
        who = "the host" if container.is_host else f"container {container.name} ({container.id})"
        return (
            f"{args.get('count', '?')} events lost ({args.get('types', '')}) for {who}: "
            f"unmonitored from {args.get('from', '?')} to {args.get('to', '?')}"
        )


class LossDetector:
    """Raises ``sensor.events_lost`` for each loss report the sensor emits."""

    def observe(self, event: Event) -> Sequence[LossFinding]:
        if event.type is EventType.SENSOR_LOSS:
            return [LossFinding(event)]
        return []
