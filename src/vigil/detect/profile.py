"""One workload's profile: what it was seen doing, its state, and its stored JSON form.

A profile answers :meth:`Profile.knows`, the one knowledge check: detection, rules and the
kernel filter's exec verdicts all ask it, so they agree on what a folded pattern covers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from vigil.detect.items import FIELD_OF_KIND, ItemKind, is_known
from vigil.models import Workload, parse_rfc3339, rfc3339, utcnow


class ProfileState(StrEnum):
    LEARNING = "learning"
    LOCKED = "locked"


def _time(value: Any) -> datetime | None:
    return parse_rfc3339(value) if value else None


@dataclass(slots=True)
class Profile:
    workload: Workload
    state: ProfileState = ProfileState.LEARNING
    created: datetime = field(default_factory=utcnow)
    updated: datetime = field(default_factory=utcnow)
    locked_at: datetime | None = None
    #: the four attributes the kernel filter maps read: key, state, executables, destinations
    executables: set[str] = field(default_factory=set)
    destinations: set[str] = field(default_factory=set)
    processes: set[str] = field(default_factory=set)
    arguments: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    dns: set[str] = field(default_factory=set)
    listening: set[str] = field(default_factory=set)
    file_writes: set[str] = field(default_factory=set)
    #: destination → the DNS names its process looked up just before connecting
    resolved: dict[str, set[str]] = field(default_factory=dict)
    #: items already reported as deviations, so each is reported once
    reported: set[str] = field(default_factory=set)
    version: int = 1
    #: the image (digest or reference, as identity names it) of this version's containers
    image: str = ""
    #: its first container started before the agent: its start-up was not seen
    partial: bool = False
    #: why it locked: converged, max_learning, manual, import
    lock_reason: str = ""
    #: learning progress, counted in the workload's own item-bearing events
    learning_since: datetime = field(default_factory=utcnow)
    events: int = 0
    events_at_last_new: int = 0
    last_new_at: datetime | None = None
    #: the cap this profile was learnt under, and what it turned away at the cap
    max_items: int = 0
    items_dropped: int = 0
    deviations_suppressed: int = 0

    @property
    def key(self) -> str:
        return self.workload.key

    def items(self, kind: ItemKind) -> set[str]:
        found: set[str] = getattr(self, FIELD_OF_KIND[kind])
        return found

    def knows(self, kind: ItemKind, item: str) -> bool:
        """Whether ``item`` is one of this profile's items or covered by a folded pattern."""
        known: set[str] = getattr(self, FIELD_OF_KIND[kind])
        return item in known or is_known(kind, item, known)  # the first test: the hot path

    @property
    def size(self) -> int:
        return sum(len(self.items(kind)) for kind in ItemKind)

    def is_full(self, max_items: int | None = None) -> bool:
        """No room for another item under ``max_items`` (default: the cap it was learnt under;
        0 there is a body stored before caps were recorded, which has no known cap)."""
        cap = self.max_items if max_items is None else max_items
        return 0 < cap <= self.size

    def at_cap(self, max_items: int | None = None) -> bool:
        """Full, or has turned items away at its cap."""
        return self.items_dropped > 0 or self.is_full(max_items)

    def lock(self, now: datetime, reason: str = "manual") -> bool:
        if self.state is ProfileState.LOCKED:
            return False
        self.state = ProfileState.LOCKED
        self.locked_at = now
        self.updated = now
        self.lock_reason = reason
        return True

    def unlock(self, now: datetime) -> bool:
        if self.state is ProfileState.LEARNING:
            return False
        self.state = ProfileState.LEARNING
        self.locked_at = None
        self.lock_reason = ""
        self.reported.clear()
        self.restart_learning(now)
        return True

    def restart_learning(self, now: datetime) -> None:
        self.learning_since = now
        self.updated = now
        self.events_at_last_new = self.events
        self.last_new_at = now

    def content(self) -> dict[str, list[str]]:
        """The learnt items by field name, sorted (what export, diff and review show)."""
        return {FIELD_OF_KIND[kind]: sorted(self.items(kind)) for kind in ItemKind}

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "workload": self.workload.to_json() | {"inferred": self.workload.inferred},
            "state": str(self.state),
            "version": self.version,
            "image": self.image,
            "partial": self.partial,
            "lock_reason": self.lock_reason,
            "created": rfc3339(self.created),
            "updated": rfc3339(self.updated),
            "locked_at": rfc3339(self.locked_at) if self.locked_at else None,
            "learning_since": rfc3339(self.learning_since),
            "events": self.events,
            "events_at_last_new": self.events_at_last_new,
            "last_new_at": rfc3339(self.last_new_at) if self.last_new_at else None,
            **self.content(),
            "resolved": {dest: sorted(names) for dest, names in sorted(self.resolved.items())},
            "reported": sorted(self.reported),
            "size": self.size,
            "max_items": self.max_items,
            "at_cap": self.at_cap(),
            "items_dropped": self.items_dropped,
            "deviations_suppressed": self.deviations_suppressed,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Profile:
        """Rebuild a stored profile; bodies written before a field existed get its default."""
        workload_data = data["workload"]
        created = _time(data["created"]) or utcnow()
        profile = cls(
            workload=Workload(
                namespace=str(workload_data["namespace"]),
                kind=str(workload_data["kind"]),
                name=str(workload_data["name"]),
                container=str(workload_data["container"]),
                inferred=bool(workload_data.get("inferred", False)),
            ),
            state=ProfileState(data["state"]),
            created=created,
            updated=_time(data["updated"]) or created,
            locked_at=_time(data.get("locked_at")),
            resolved={
                str(d): {str(n) for n in names} for d, names in data.get("resolved", {}).items()
            },
            reported={str(r) for r in data.get("reported", [])},
            version=int(data.get("version", 1)),
            image=str(data.get("image", "")),
            partial=bool(data.get("partial", False)),
            lock_reason=str(data.get("lock_reason", "")),
            learning_since=_time(data.get("learning_since")) or created,
            events=int(data.get("events", 0)),
            events_at_last_new=int(data.get("events_at_last_new", 0)),
            last_new_at=_time(data.get("last_new_at")),
            max_items=int(data.get("max_items", 0)),
            items_dropped=int(data.get("items_dropped", 0)),
            deviations_suppressed=int(data.get("deviations_suppressed", 0)),
        )
        for kind, name in FIELD_OF_KIND.items():
            profile.items(kind).update(str(item) for item in data.get(name, []))
        return profile
