"""The one bounded map: least recently used goes first, entries may also expire.

Every table that grows with what the agent sees (containers, processes, lookups) is bounded by
this, so the agent's memory does not grow with a host's history."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """At most ``max_size`` entries; the least recently used goes first.

    An entry stored with a ``ttl`` is dropped once the clock passes it — used for answers that
    may change soon (a container whose state is not readable yet).
    """

    def __init__(self, max_size: int, clock: Callable[[], float] = time.monotonic) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.max_size = max_size
        self._clock = clock
        self._entries: OrderedDict[K, tuple[V, float | None]] = OrderedDict()

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires is not None and self._clock() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V, ttl: float | None = None) -> None:
        expires = None if ttl is None else self._clock() + ttl
        self._entries[key] = (value, expires)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def pop(self, key: K) -> V | None:
        entry = self._entries.pop(key, None)
        return None if entry is None else entry[0]

    def drop_where(self, predicate: Callable[[V], bool]) -> None:
        for key in [k for k, (v, _) in self._entries.items() if predicate(v)]:
            del self._entries[key]

    def values(self) -> Iterator[V]:
        return (value for value, _ in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries
