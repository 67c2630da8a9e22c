"""Replays recorded events (JSON lines, as `vigil record` writes them) through the pipeline."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Self

from vigil.errors import SensorError, truncate
from vigil.models import Event, event_from_json
from vigil.sensor import SensorStats

log = logging.getLogger(__name__)


class ReplaySensor:
    """Reads a JSONL file of events; a malformed line is counted and skipped, never fatal."""

    name = "replay"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stats = SensorStats()

    async def __aenter__(self) -> Self:
        if not self.path.is_file():
            raise SensorError(f"recording {self.path} not found")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def events(self) -> AsyncIterator[Event]:
        with self.path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    event = event_from_json(json.loads(line))
                except (ValueError, KeyError, TypeError) as exc:
                    self._stats.malformed += 1
                    log.warning(
                        "%s:%d: skipped malformed event: %s", self.path, number, truncate(exc, 100)
                    )
                    continue
                self._stats.received += 1
                yield event

    def stats(self) -> SensorStats:
        return self._stats
