"""eBPF first; when it cannot load, say why in one line and use a lesser sensor, with a warning."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Self

from vigil.errors import SensorError, VigilError
from vigil.models import Event
from vigil.sensor import Sensor, SensorStats
from vigil.sensor.kernel_filter import ExecVerdicts, KernelFilter
from vigil.sensor.proc_connector import BLIND_SPOTS

log = logging.getLogger(__name__)


class FallbackSensor:
    def __init__(self, primary: Sensor, fallback: Callable[[], Sensor]) -> None:
        self.primary = primary
        self._make_fallback = fallback
        self.active: Sensor = primary
        #: why the primary sensor did not start, once it fell back
        self.reason: str | None = None

    name = "ebpf"  # until __aenter__ knows which sensor runs

    async def __aenter__(self) -> Self:
        try:
            await self.primary.__aenter__()
            self.active = self.primary
            self.name = self.primary.name
        except VigilError as exc:
            self.reason = str(exc)
            log.error("eBPF sensor cannot load: %s", exc)
            self.active = self._make_fallback()
            await self.active.__aenter__()
            self.name = self.active.name
            log.warning("falling back to %s: %s", self.active.name, BLIND_SPOTS)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.active.__aexit__(*exc_info)

    def events(self) -> AsyncIterator[Event]:
        return self.active.events()

    def stats(self) -> SensorStats:
        return self.active.stats()

    # the kernel filter, when the active sensor has one
    def allow(self, cgroup_ids: Iterable[int], destinations: Iterable[str]) -> None:
        if isinstance(self.active, KernelFilter):
            self.active.allow(cgroup_ids, destinations)

    def remember_exec(self, event: Event) -> None:
        if isinstance(self.active, ExecVerdicts):
            self.active.remember_exec(event)

    def forget(self, cgroup_id: int) -> None:
        if isinstance(self.active, KernelFilter):
            self.active.forget(cgroup_id)


__all__ = ["FallbackSensor", "SensorError"]
