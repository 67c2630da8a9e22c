"""Deduplication per (rule, container) within a window: the first alert always goes out; the
repeats inside the window are counted, and the next alert after it says how many there were."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

#: keys kept at most (least recently seen dropped first), so memory stays bounded
MAX_KEYS = 50_000


@dataclass(slots=True)
class _Window:
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
        self._windows: OrderedDict[tuple[str, str], _Window] = OrderedDict()
        self.suppressed_total = 0

    def admit(self, rule: str, container: str, when: datetime) -> Verdict:
        """Decide for one match at ``when`` (the event's time, so replays dedup the same)."""
        if self.window <= 0:
            return Verdict(True)
        key = (rule, container)
        current = self._windows.get(key)
        if current is not None and (when - current.opened).total_seconds() < self.window:
            current.suppressed += 1
            self.suppressed_total += 1
            self._windows.move_to_end(key)
            return Verdict(False)
        before = current.suppressed if current is not None else 0
        self._windows[key] = _Window(opened=when)
        self._windows.move_to_end(key)
        while len(self._windows) > self.max_keys:
            self._windows.popitem(last=False)
        return Verdict(True, before)

    def pending(self) -> dict[tuple[str, str], int]:
        """Repeats counted in open windows, per (rule, container), for a summary."""
        return {key: w.suppressed for key, w in self._windows.items() if w.suppressed}
