"""Deduplication per (rule, container) within a window: the first alert always goes out; the
repeats inside the window are counted, and the next alert after it says how many there were."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vigil.caches import BoundedCache

#: keys kept at most (least recently seen dropped first), so memory stays bounded
MAX_KEYS = 50_000


@dataclass(slots=True)
class _Window:
    key: tuple[str, str]  # (rule, container)
    opened: datetime
    suppressed: int = 0


@dataclass(frozen=True, slots=True)
class Verdict:
    emit: bool
    #: repeats suppressed in the window that just ended (reported with this alert)
    suppressed_before: int = 0


class Deduplicator:
    def __init__(self, window_seconds: float, *, max_keys: int = MAX_KEYS) -> None:
        self.window = window_seconds
        self.max_keys = max_keys
        # Windows are timed by the events' own clock, not the cache's: no TTL here.
        self._windows: BoundedCache[tuple[str, str], _Window] = BoundedCache(max_keys)
        self.suppressed_total = 0

    def admit(self, rule: str, container: str, when: datetime) -> Verdict:
        """Decide for one match at ``when`` (the event's time, so replays dedup the same)."""
        if self.window <= 0:
            return Verdict(True)
        key = (rule, container)
        current = self._windows.get(key)  # a repeat counts as recently seen
        if current is not None and (when - current.opened).total_seconds() < self.window:
            current.suppressed += 1
            self.suppressed_total += 1
            return Verdict(False)
        before = current.suppressed if current is not None else 0
        self._windows.put(key, _Window(key, opened=when))
        return Verdict(True, before)

    def pending(self) -> dict[tuple[str, str], int]:
        """Repeats counted in open windows, per (rule, container), for a summary."""
        return {w.key: w.suppressed for w in self._windows.values() if w.suppressed}
