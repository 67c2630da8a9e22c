"""Behavioural profiles: what each workload normally does, learned, then locked.

One profile per workload, shared by all its replicas. While learning, new behaviour is added;
once locked, new behaviour is a deviation, reported once per item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from vigil.models import Event, EventType, Severity, Workload, rfc3339, utcnow


class ProfileState(StrEnum):
    LEARNING = "learning"
    LOCKED = "locked"


class ItemKind(StrEnum):
    EXECUTABLE = "executable"
    DESTINATION = "destination"


@dataclass(slots=True)
class Profile:
    workload: Workload
    state: ProfileState = ProfileState.LEARNING
    created: datetime = field(default_factory=utcnow)
    updated: datetime = field(default_factory=utcnow)
    locked_at: datetime | None = None
    executables: set[str] = field(default_factory=set)
    destinations: set[str] = field(default_factory=set)
    #: items already reported as deviations, so each is reported once
    reported: set[str] = field(default_factory=set)

    @property
    def key(self) -> str:
        return self.workload.key

    def items(self, kind: ItemKind) -> set[str]:
        return self.executables if kind is ItemKind.EXECUTABLE else self.destinations

    @property
    def size(self) -> int:
        return len(self.executables) + len(self.destinations)

    def lock(self, now: datetime) -> bool:
        if self.state is ProfileState.LOCKED:
            return False
        self.state = ProfileState.LOCKED
        self.locked_at = now
        self.updated = now
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "workload": self.workload.to_json() | {"inferred": self.workload.inferred},
            "state": str(self.state),
            "created": rfc3339(self.created),
            "updated": rfc3339(self.updated),
            "locked_at": rfc3339(self.locked_at) if self.locked_at else None,
            "executables": sorted(self.executables),
            "destinations": sorted(self.destinations),
            "reported": sorted(self.reported),
            "size": self.size,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Profile:
        workload_data = data["workload"]
        return cls(
            workload=Workload(
                namespace=workload_data["namespace"],
                kind=workload_data["kind"],
                name=workload_data["name"],
                container=workload_data["container"],
                inferred=bool(workload_data.get("inferred", False)),
            ),
            state=ProfileState(data["state"]),
            created=datetime.fromisoformat(data["created"]),
            updated=datetime.fromisoformat(data["updated"]),
            locked_at=datetime.fromisoformat(data["locked_at"]) if data["locked_at"] else None,
            executables=set(data["executables"]),
            destinations=set(data["destinations"]),
            reported=set(data.get("reported", [])),
        )


@dataclass(frozen=True, slots=True)
class Deviation:
    """Behaviour a locked profile does not contain."""

    profile: Profile
    item_kind: ItemKind
    item: str
    event: Event

    @property
    def kind(self) -> str:
        return "deviation"

    @property
    def rule(self) -> str:
        return f"profile.new_{self.item_kind.value}"

    @property
    def severity(self) -> Severity:
        # A new program in an immutable container is the stronger signal of the two.
        return Severity.HIGH if self.item_kind is ItemKind.EXECUTABLE else Severity.MEDIUM

    @property
    def mitre(self) -> list[str]:
        # Tactics: TA0002 Execution; TA0011 Command and Control.
        return ["TA0002"] if self.item_kind is ItemKind.EXECUTABLE else ["TA0011"]

    @property
    def message(self) -> str:
        known = sorted(self.profile.items(self.item_kind))
        shown = ", ".join(known[:5]) + (f" (+{len(known) - 5} more)" if len(known) > 5 else "")
        what = "process" if self.item_kind is ItemKind.EXECUTABLE else "destination"
        return (
            f"new {what} {self.item} in workload {self.profile.key}, "
            f"whose locked profile knows: {shown or 'nothing'}"
        )


def items_of(event: Event) -> Iterable[tuple[ItemKind, str]]:
    if event.type is EventType.EXEC:
        yield ItemKind.EXECUTABLE, event.process.exe
    elif event.type is EventType.CONNECT and event.network is not None:
        yield ItemKind.DESTINATION, event.network.destination


class ProfileBook:
    """All profiles of this node; learns from events, locks, and reports deviations."""

    def __init__(
        self,
        *,
        learning_period: float | None,
        clock: Callable[[], datetime] = utcnow,
        profiles: Iterable[Profile] = (),
    ) -> None:
        self.learning_period = learning_period
        self._clock = clock
        self._profiles: dict[str, Profile] = {p.key: p for p in profiles}
        self._dirty: set[str] = set()

    # -- queries ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._profiles)

    def get(self, key: str) -> Profile | None:
        return self._profiles.get(key)

    def all(self) -> list[Profile]:
        return sorted(self._profiles.values(), key=lambda p: p.key)

    def select(self, selector: str) -> list[Profile]:
        """Profiles named by a full key, ``namespace/name``, ``name`` or ``name/container``."""
        exact = self._profiles.get(selector)
        if exact:
            return [exact]
        found = []
        for profile in self._profiles.values():
            w = profile.workload
            aliases = {
                f"{w.namespace}/{w.name}",
                w.name,
                f"{w.name}/{w.container}",
                f"{w.namespace}/{w.name}/{w.container}",
            }
            if selector in aliases:
                found.append(profile)
        return sorted(found, key=lambda p: p.key)

    # -- changes ---------------------------------------------------------------------------
    def observe(self, event: Event) -> list[Deviation]:
        """Learn from ``event`` or report what it does that the workload's profile lacks."""
        workload = event.workload
        if workload is None or event.container is None or event.container.is_host:
            return []
        now = self._clock()
        profile = self._profiles.get(workload.key)
        if profile is None:
            profile = Profile(workload=workload, created=now, updated=now)
            self._profiles[profile.key] = profile
            self._dirty.add(profile.key)
        self._maybe_lock_by_time(profile, now)
        deviations = []
        for kind, item in items_of(event):
            known = profile.items(kind)
            if item in known:
                continue
            if profile.state is ProfileState.LEARNING:
                known.add(item)
                profile.updated = now
                self._dirty.add(profile.key)
            elif f"{kind.value}:{item}" not in profile.reported:
                profile.reported.add(f"{kind.value}:{item}")
                self._dirty.add(profile.key)
                deviations.append(Deviation(profile, kind, item, event))
        return deviations

    def lock(self, keys: Iterable[str]) -> list[Profile]:
        now = self._clock()
        locked = []
        for key in keys:
            profile = self._profiles.get(key)
            if profile and profile.lock(now):
                self._dirty.add(key)
                locked.append(profile)
        return locked

    def lock_all(self) -> list[Profile]:
        return self.lock(list(self._profiles))

    def tick(self) -> list[Profile]:
        """Lock every profile whose learning period is over; return those it locked."""
        now = self._clock()
        return [p for p in self._profiles.values() if self._maybe_lock_by_time(p, now)]

    def take_dirty(self) -> list[Profile]:
        """Profiles changed since the last call (for the store to persist)."""
        dirty = [self._profiles[key] for key in sorted(self._dirty)]
        self._dirty.clear()
        return dirty

    def _maybe_lock_by_time(self, profile: Profile, now: datetime) -> bool:
        if self.learning_period is None or profile.state is ProfileState.LOCKED:
            return False
        if (now - profile.created).total_seconds() < self.learning_period:
            return False
        profile.lock(now)
        self._dirty.add(profile.key)
        return True
