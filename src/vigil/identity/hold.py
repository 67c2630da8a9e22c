"""Events of a container whose identity is not settled yet wait here, bounded, until it is.

A runtime creates a container's cgroup and runs its setup there before it writes the state that
names the container (runc's ``state.json``); the resolver answers such a cgroup ``pending``.
Its events are held per cgroup and handed on, in order and with the real identity, as soon as
an answer is final: when a new event of the cgroup or :meth:`IdentityHold.tick` finds the state
readable. A hold that grows too old or too big expires: its events are attributed once by what
the cgroup path says (``settle``), and later events of that cgroup are not held again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from vigil.caches import BoundedCache
from vigil.models import Event

#: why a hold ended: its identity settled, or it expired (too old, too many events in it,
#: too many held overall, the agent stopping)
SETTLED, AGE, COUNT, TOTAL, STOP = "settled", "age", "count", "total", "stop"


@dataclass(frozen=True, slots=True)
class HoldLimits:
    """Bounds of the hold: a held event waits at most ``max_age`` seconds."""

    max_age: float = 2.0
    max_per_cgroup: int = 256
    max_total: int = 4096
    #: cgroups whose hold expired, remembered so that their later events are not held again
    max_expired: int = 4096
    #: how often held cgroups are asked again when no new event of theirs comes
    tick: float = 0.1


class Pending(Protocol):
    """An identity that may not be final yet, and the cgroup it was asked for."""

    @property
    def pending(self) -> bool: ...

    @property
    def cgroup_path(self) -> str: ...


Who = TypeVar("Who", bound=Pending)
Who_co = TypeVar("Who_co", bound=Pending, covariant=True)


class Settler(Protocol[Who_co]):
    """Identity as the hold needs it (:class:`vigil.identity.IdentityResolver` fits)."""

    def resolve(
        self, cgroup_id: int, pid: int, *, recheck: bool = False, settle: bool = False
    ) -> Who_co: ...


class HoldObserver(Protocol):
    """Counts what the hold does (the agent's Prometheus metrics)."""

    def held(self) -> None: ...

    def released(self, waited: float, outcome: str) -> None: ...


@dataclass(slots=True)
class _Held:
    since: float
    events: list[Event] = field(default_factory=list)


class IdentityHold(Generic[Who]):
    """Per-cgroup queues of events waiting for their identity; not thread-safe (one loop)."""

    def __init__(
        self,
        identity: Settler[Who],
        limits: HoldLimits = HoldLimits(),
        clock: Callable[[], float] = time.monotonic,
        observer: HoldObserver | None = None,
    ) -> None:
        self._identity = identity
        self.limits = limits
        self._clock = clock
        self.observer = observer
        #: cgroup path → its hold; insertion order is age order (oldest first). Keyed by path,
        #: not by cgroup id: on a cgroup v1 host every event carries the same id
        self._holds: dict[str, _Held] = {}
        self._expired: BoundedCache[str, bool] = BoundedCache(limits.max_expired, clock)
        self._count = 0

    def __len__(self) -> int:
        """Events held now."""
        return self._count

    @property
    def cgroups(self) -> int:
        return len(self._holds)

    def admit(self, event: Event, *, recheck: bool = False) -> list[tuple[Event, Who]]:
        """Attribute ``event``: the events ready to go on, oldest first ([] when it is held).

        Holds that expired meanwhile come first, then the held events of ``event``'s cgroup
        if its identity just settled, then ``event`` itself.
        """
        ready = self._expire_aged() if self._holds else []
        cgroup_id, pid = event.cgroup_id, event.process.pid
        who = self._identity.resolve(cgroup_id, pid, recheck=recheck)
        key = who.cgroup_path
        if who.pending:
            if key in self._expired:
                who = self._identity.resolve(cgroup_id, pid, settle=True)
            elif key in self._holds and not recheck:  # its state may be readable by now
                who = self._identity.resolve(cgroup_id, pid, recheck=True)
        if not who.pending:
            if self._holds and key in self._holds:
                ready += self._release(key, who, SETTLED)
            ready.append((event, who))
            return ready
        held = self._holds.get(key)
        if held is None:
            held = self._holds[key] = _Held(self._clock())
        held.events.append(event)
        self._count += 1
        if self.observer is not None:
            self.observer.held()
        if len(held.events) >= self.limits.max_per_cgroup:
            ready += self._expire(key, COUNT)
        elif self._count > self.limits.max_total:
            ready += self._expire(next(iter(self._holds)), TOTAL)
        return ready

    def tick(self) -> list[tuple[Event, Who]]:
        """Ask again for every held cgroup; release those settled and those too old."""
        ready = self._expire_aged()
        for key, held in list(self._holds.items()):
            who = self._identity.resolve(*_ids(held), recheck=True)
            if not who.pending:
                ready += self._release(key, who, SETTLED)
        return ready

    def drain(self) -> list[tuple[Event, Who]]:
        """Release everything held, attributed as it stands (the agent is stopping)."""
        ready: list[tuple[Event, Who]] = []
        for key in list(self._holds):
            ready += self._expire(key, STOP)
        return ready

    def _expire_aged(self) -> list[tuple[Event, Who]]:
        ready: list[tuple[Event, Who]] = []
        deadline = self._clock() - self.limits.max_age
        while self._holds:
            key, oldest = next(iter(self._holds.items()))
            if oldest.since > deadline:
                break
            ready += self._expire(key, AGE)
        return ready

    def _expire(self, key: str, reason: str) -> list[tuple[Event, Who]]:
        """Attribute a hold once, by what its cgroup says now; its cgroup is not held again."""
        who = self._identity.resolve(*_ids(self._holds[key]), recheck=True, settle=True)
        self._expired.put(key, True)
        return self._release(key, who, reason)

    def _release(self, key: str, who: Who, outcome: str) -> list[tuple[Event, Who]]:
        held = self._holds.pop(key)
        self._count -= len(held.events)
        if self.observer is not None:
            self.observer.released(self._clock() - held.since, outcome)
        return [(event, who) for event in held.events]


def _ids(held: _Held) -> tuple[int, int]:
    """(cgroup id, pid) to ask about a hold with: its latest event's."""
    last = held.events[-1]
    return last.cgroup_id, last.process.pid
