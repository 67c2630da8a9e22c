"""Sensors turn kernel activity (or a recording of it) into typed :class:`~vigil.models.Event`s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, Self

from vigil.models import Event


@dataclass(slots=True)
class SensorStats:
    """Counters every sensor reports. Nothing is lost silently: each drop is counted somewhere."""

    received: int = 0
    #: ring-buffer reservations that failed in the kernel (event never left the kernel)
    lost_kernel: int = 0
    #: events user space could not keep up with (queue full) and dropped
    lost_user: int = 0
    #: records that could not be decoded (counted, skipped; the sensor keeps going)
    malformed: int = 0
    #: events a locked profile allows, dropped on purpose in the kernel
    filtered: int = 0
    #: every loss (kernel and user space) by event type, and by cgroup id
    lost_by_type: dict[str, int] = field(default_factory=dict)
    lost_by_cgroup: dict[int, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "received": self.received,
            "lost_kernel": self.lost_kernel,
            "lost_user": self.lost_user,
            "malformed": self.malformed,
            "filtered": self.filtered,
            "lost_by_type": dict(self.lost_by_type),
            "lost_by_cgroup": {str(k): v for k, v in self.lost_by_cgroup.items()},
        }


class Sensor(Protocol):
    """An event source. Used as ``async with sensor: async for event in sensor.events(): ...``."""

    name: str

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    def events(self) -> AsyncIterator[Event]:
        """Yield events until the sensor is closed (or, for a recording, until it ends)."""
        ...

    def stats(self) -> SensorStats: ...
