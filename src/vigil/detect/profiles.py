"""Behavioural profiles: what each workload normally does, learned until it converges, then locked.

One profile per workload, shared by all its replicas and kept across restarts. While learning,
new behaviour is added (generalised, folded, capped: see :mod:`~vigil.detect.generalize`); the
profile locks by itself once it has converged (see :mod:`~vigil.detect.policy`). Once locked, each
new item is one deviation, reported once, saying what the profile knew that came closest.

A new image starts a new *version* of the profile: a new image is a new baseline. The previous
version is kept, so replicas still running the old image during a rollout are checked against it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from vigil.detect.deviations import Deviation, describe
from vigil.detect.items import FIELD_OF_KIND, ItemKind, covered_by, fold, is_known, items_of
from vigil.detect.policy import ProfilePolicies, ProfilePolicy, workload_aliases
from vigil.models import Event, EventType, Workload, rfc3339, utcnow

__all__ = ["Deviation", "ItemKind", "Profile", "ProfileBook", "ProfileState", "items_of"]

#: deviations remembered per profile (each is reported once); beyond, new ones are counted only
MAX_REPORTED = 4096
#: DNS names remembered per destination
MAX_NAMES_PER_DESTINATION = 8
#: containers (and recent DNS queries) remembered by the book: bounded, oldest forgotten first
MAX_TRACKED = 4096
#: a connect this soon after its process looked a name up is tied to that name
LOOKUP_WINDOW = timedelta(seconds=10)
#: while learning, a profile is written to the store at least every this many events
SAVE_EVERY_EVENTS = 100


class ProfileState(StrEnum):
    LEARNING = "learning"
    LOCKED = "locked"


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


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

    @property
    def size(self) -> int:
        return sum(len(self.items(kind)) for kind in ItemKind)

    @property
    def at_cap(self) -> bool:
        return self.items_dropped > 0 or (0 < self.max_items <= self.size)

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
            "at_cap": self.at_cap,
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


# -- the book --------------------------------------------------------------------------------
class ProfileBook:
    """All profiles of this node; learns from events, locks, and reports deviations."""

    def __init__(
        self,
        *,
        learning_period: float | None = None,
        policies: ProfilePolicies | None = None,
        clock: Callable[[], datetime] = utcnow,
        profiles: Iterable[Profile] = (),
        previous: Iterable[Profile] = (),
        started: datetime | None = None,
    ) -> None:
        self.policies = policies or ProfilePolicies.from_learning_period(learning_period)
        self._clock = clock
        #: when the agent started: containers created earlier had their start-up unseen
        self.started = started or clock()
        self._profiles: dict[str, Profile] = {p.key: p for p in profiles}
        #: the version before the current one, per workload (replicas of the old image)
        self._previous: dict[str, Profile] = {p.key: p for p in previous}
        self._dirty: set[str] = set()
        self._dirty_previous: set[str] = set()
        #: container id → creation time, as identity reported it (until its first event)
        self._created: OrderedDict[str, datetime] = OrderedDict()
        self._containers: OrderedDict[str, None] = OrderedDict()
        #: (container id, pid) → the DNS name it last looked up, and when
        self._lookups: OrderedDict[tuple[str, int], tuple[str, datetime]] = OrderedDict()

    # -- queries ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._profiles)

    def get(self, key: str) -> Profile | None:
        return self._profiles.get(key)

    def previous(self, key: str) -> Profile | None:
        return self._previous.get(key)

    def all(self) -> list[Profile]:
        return sorted(self._profiles.values(), key=lambda p: p.key)

    def select(self, selector: str) -> list[Profile]:
        """Profiles named by a full key, ``namespace/name``, ``name`` or ``name/container``."""
        exact = self._profiles.get(selector)
        if exact:
            return [exact]
        found = [p for p in self._profiles.values() if selector in workload_aliases(p.workload)]
        return sorted(found, key=lambda p: p.key)

    def policy(self, profile: Profile) -> ProfilePolicy:
        return self.policies.for_workload(profile.workload)

    def progress(self, profile: Profile) -> dict[str, Any]:
        """How far a learning profile is from converging, against its policy."""
        policy = self.policy(profile)
        now = self._clock()
        since_new = profile.events - profile.events_at_last_new
        last_new = profile.last_new_at or profile.learning_since
        seconds_since_new = max(0.0, (now - last_new).total_seconds())
        learning_for = max(0.0, (now - profile.learning_since).total_seconds())
        if profile.state is ProfileState.LOCKED:
            fraction = 1.0
        else:
            fraction = min(
                since_new / max(policy.stability_events, 1),
                seconds_since_new / policy.stability_seconds if policy.stability_seconds else 1.0,
                learning_for / policy.min_learning if policy.min_learning else 1.0,
                1.0,
            )
            if policy.max_learning:
                fraction = max(fraction, min(learning_for / policy.max_learning, 1.0))
        return {
            "auto_lock": policy.auto_lock,
            "progress": round(fraction, 3),
            "events": profile.events,
            "events_since_new": since_new,
            "stability_events": policy.stability_events,
            "seconds_since_new": round(seconds_since_new, 1),
            "stability_seconds": policy.stability_seconds,
            "learning_for": round(learning_for, 1),
            "min_learning": policy.min_learning,
            "max_learning": policy.max_learning,
        }

    def describe(self, profile: Profile) -> dict[str, Any]:
        """The profile as the API shows it: its JSON, its learning progress and its cap."""
        data = profile.to_json()
        data["max_items"] = self.policy(profile).max_items
        data["at_cap"] = profile.items_dropped > 0 or profile.size >= data["max_items"]
        data["learning"] = self.progress(profile)
        return data

    def summary(self) -> dict[str, int]:
        """Counters for health and metrics."""
        profiles = list(self._profiles.values())
        return {
            "total": len(profiles),
            "learning": sum(p.state is ProfileState.LEARNING for p in profiles),
            "locked": sum(p.state is ProfileState.LOCKED for p in profiles),
            "partial": sum(p.partial for p in profiles),
            "at_cap": sum(
                p.items_dropped > 0 or p.size >= self.policy(p).max_items for p in profiles
            ),
            "items_dropped": sum(p.items_dropped for p in profiles),
            "deviations_suppressed": sum(p.deviations_suppressed for p in profiles),
        }

    # -- learning and detection ------------------------------------------------------------
    def note_container(self, container_id: str, created: datetime) -> None:
        """Identity's creation time of a container, used when its first event arrives."""
        if container_id in self._containers or container_id in self._created:
            return
        self._created[container_id] = created
        _bound(self._created)

    def allows(self, event: Event) -> bool:
        """Whether the locked profile of ``event``'s workload holds everything the event shows:
        what the kernel may drop when exactly this recurs (vigil.sensor.kernel_filter)."""
        workload, container = event.workload, event.container
        if workload is None or container is None or container.is_host:
            return False
        profile = self._existing_profile_for(workload.key, container.image)
        if profile is None or profile.state is not ProfileState.LOCKED:
            return False
        found = items_of(event)
        return bool(found) and all(
            is_known(kind, item, profile.items(kind)) for kind, item in found
        )

    def observe(self, event: Event) -> list[Deviation]:
        """Learn from ``event`` or report what it does that the workload's profile lacks."""
        workload = event.workload
        container = event.container
        if workload is None or container is None or container.is_host:
            return []
        now = self._clock()
        profile = self._profile_for(workload, container.image, now)
        self._note_first_event(profile, container.id, event)
        self._maybe_lock(profile, now)
        found = items_of(event)
        if not found:
            return []
        if profile.state is ProfileState.LEARNING:
            self._learn(profile, found, event, now)
            self._maybe_lock(profile, now)
            return []
        return self._deviations(profile, found, event, self._looked_up(event, found))

    def _profile_for(self, workload: Workload, image: str, now: datetime) -> Profile:
        key = workload.key
        current = self._profiles.get(key)
        if current is None:
            current = Profile(workload=workload, created=now, updated=now, learning_since=now)
            current.image = image
            current.max_items = self.policies.for_workload(workload).max_items
            self._profiles[key] = current
            self._dirty.add(key)
            return current
        if image and not current.image:
            current.image = image
            self._dirty.add(key)
            return current
        existing = self._existing_profile_for(key, image)
        return existing if existing is not None else self._new_version(current, now, image=image)

    def _existing_profile_for(self, key: str, image: str) -> Profile | None:
        """The profile events of ``image`` belong to, if there is one yet: the current one (an
        event or a profile without image goes with it), or the previous one for a replica of
        the old image during a rollout."""
        current = self._profiles.get(key)
        if current is None or not image or not current.image or image == current.image:
            return current
        previous = self._previous.get(key)
        return previous if previous is not None and previous.image == image else None

    def _new_version(self, current: Profile, now: datetime, *, image: str) -> Profile:
        self._previous[current.key] = current
        self._dirty_previous.add(current.key)
        fresh = Profile(
            workload=current.workload,
            created=now,
            updated=now,
            learning_since=now,
            version=current.version + 1,
            image=image,
            partial=current.partial,
            max_items=self.policy(current).max_items,
        )
        self._profiles[current.key] = fresh
        self._dirty.add(current.key)
        return fresh

    def _note_first_event(self, profile: Profile, container_id: str, event: Event) -> None:
        if container_id in self._containers:
            return
        self._containers[container_id] = None
        _bound(self._containers)
        created = self._created.pop(container_id, None)
        # Without a creation time, a container whose first event is not an exec was running
        # before we looked (its entrypoint's exec is always its first event).
        from_start = (
            created >= self.started if created is not None else event.type is EventType.EXEC
        )
        fresh = profile.events == 0 and not any(profile.items(kind) for kind in ItemKind)
        if fresh and not from_start and not profile.partial:
            profile.partial = True
            self._mark(profile)
        elif from_start and profile.partial and profile.state is ProfileState.LEARNING:
            # A replica seen from its start shows the start-up the first one hid.
            profile.partial = False
            self._mark(profile)

    def _learn(
        self, profile: Profile, found: list[tuple[ItemKind, str]], event: Event, now: datetime
    ) -> None:
        policy = self.policy(profile)
        profile.max_items = policy.max_items
        profile.events += 1
        added = False
        for kind, item in found:
            added |= self._add(profile, kind, item, policy)
        name = self._looked_up(event, found)
        if name is not None:
            for kind, item in found:
                if kind is ItemKind.DESTINATION:
                    self._tie_to_name(profile, item, name)
        if added:
            profile.events_at_last_new = profile.events
            profile.last_new_at = now
            profile.updated = now
            self._mark(profile)
        elif profile.events % SAVE_EVERY_EVENTS == 0:
            self._mark(profile)

    def _add(self, profile: Profile, kind: ItemKind, item: str, policy: ProfilePolicy) -> bool:
        known = profile.items(kind)
        if is_known(kind, item, known):
            return False
        if profile.size >= policy.max_items:
            profile.items_dropped += 1
            return False
        known.add(item)
        pattern = fold(kind, item, known)
        if pattern is not None:
            folded = covered_by(kind, pattern, known)
            for gone in folded:
                if gone != pattern:
                    known.discard(gone)
                    names = profile.resolved.pop(gone, set())
                    if names:
                        profile.resolved.setdefault(pattern, set()).update(names)
            known.add(pattern)
        return True

    def _looked_up(self, event: Event, found: list[tuple[ItemKind, str]]) -> str | None:
        """Remember DNS names per process; the name a connecting process last looked up."""
        container = event.container
        if container is None:
            return None
        who = (container.id, event.process.pid)
        now = self._clock()
        for kind, item in found:
            if kind is ItemKind.DNS:
                self._lookups[who] = (item, now)
                self._lookups.move_to_end(who)
                _bound(self._lookups)
        if any(kind is ItemKind.DESTINATION for kind, _ in found) and who in self._lookups:
            name, when = self._lookups[who]
            if now - when <= LOOKUP_WINDOW:
                return name
        return None

    def _tie_to_name(self, profile: Profile, destination: str, name: str) -> None:
        """Tie a DNS name to the destination its process connected to right after."""
        target = next(
            (d for d in profile.destinations if is_known(ItemKind.DESTINATION, destination, {d})),
            destination,
        )
        names = profile.resolved.setdefault(target, set())
        if name not in names and len(names) < MAX_NAMES_PER_DESTINATION:
            names.add(name)
            self._mark(profile)

    def _deviations(
        self,
        profile: Profile,
        found: list[tuple[ItemKind, str]],
        event: Event,
        looked_up: str | None,
    ) -> list[Deviation]:
        deviations: list[Deviation] = []
        # An unknown program's parent and arguments are new by definition: its one alert
        # (new executable) says it all, whichever arguments it runs with later.
        unknown_program = event.type is EventType.EXEC and (
            event.process.exe not in profile.executables
        )
        for kind, item in found:
            if unknown_program and kind in (ItemKind.PROCESS, ItemKind.ARGUMENTS):
                continue
            if is_known(kind, item, profile.items(kind)):
                continue
            seen = f"{kind.value}:{item}"
            if seen in profile.reported:
                continue
            if len(profile.reported) >= MAX_REPORTED:
                profile.deviations_suppressed += 1
                self._mark(profile)
                continue
            profile.reported.add(seen)
            self._mark(profile)
            summary, near = describe(profile, kind, item, event, looked_up)
            deviations.append(Deviation(profile, kind, item, event, summary, tuple(near)))
        return deviations

    # -- lifecycle ---------------------------------------------------------------------------
    def _maybe_lock(self, profile: Profile, now: datetime) -> bool:
        if profile.state is ProfileState.LOCKED:
            return False
        policy = self.policy(profile)
        if not policy.auto_lock:
            return False
        learning_for = (now - profile.learning_since).total_seconds()
        if policy.max_learning is not None and learning_for >= policy.max_learning:
            reason = "max_learning"
        elif learning_for < policy.min_learning or profile.events == 0:
            return False
        else:
            quiet_events = profile.events - profile.events_at_last_new
            last_new = profile.last_new_at or profile.learning_since
            quiet_seconds = (now - last_new).total_seconds()
            if quiet_events < policy.stability_events or quiet_seconds < policy.stability_seconds:
                return False
            reason = "converged"
        profile.lock(now, reason)
        self._mark(profile)
        return True

    def tick(self) -> list[Profile]:
        """Lock every profile that has converged or reached its maximum learning time."""
        now = self._clock()
        return [p for p in list(self._profiles.values()) if self._maybe_lock(p, now)]

    def lock(self, keys: Iterable[str]) -> list[Profile]:
        now = self._clock()
        done = []
        for key in keys:
            profile = self._profiles.get(key)
            if profile and profile.lock(now, "manual"):
                self._mark(profile)
                done.append(profile)
        return done

    def lock_all(self) -> list[Profile]:
        return self.lock(list(self._profiles))

    def unlock(self, keys: Iterable[str]) -> list[Profile]:
        """Back to learning, keeping what was learnt; it locks again once it converges."""
        now = self._clock()
        done = []
        for key in keys:
            profile = self._profiles.get(key)
            if profile and profile.unlock(now):
                self._mark(profile)
                done.append(profile)
        return done

    def relearn(self, keys: Iterable[str]) -> list[Profile]:
        """Start a new, empty version of each profile (the old one is kept for diffs)."""
        now = self._clock()
        done = []
        for key in keys:
            current = self._profiles.get(key)
            if current is not None:
                done.append(self._new_version(current, now, image=current.image))
        return done

    def install(self, profile: Profile) -> Profile:
        """Make an imported profile the workload's current version (the old one is kept)."""
        now = self._clock()
        current = self._profiles.get(profile.key)
        if current is not None:
            self._previous[current.key] = current
            self._dirty_previous.add(current.key)
            profile.version = current.version + 1
            profile.partial = current.partial
        profile.updated = now
        profile.learning_since = now
        profile.events_at_last_new = profile.events
        if profile.state is ProfileState.LOCKED:
            profile.locked_at = now
            profile.lock_reason = "import"
        profile.max_items = self.policy(profile).max_items
        self._profiles[profile.key] = profile
        self._dirty.add(profile.key)
        return profile

    # -- persistence -----------------------------------------------------------------------
    def _mark(self, profile: Profile) -> None:
        if self._profiles.get(profile.key) is profile:
            self._dirty.add(profile.key)
        elif self._previous.get(profile.key) is profile:
            self._dirty_previous.add(profile.key)

    def take_dirty(self) -> list[Profile]:
        """Current profiles changed since the last call (for the store to persist)."""
        dirty = [self._profiles[key] for key in sorted(self._dirty)]
        self._dirty.clear()
        return dirty

    def take_superseded(self) -> list[Profile]:
        """Earlier versions changed since the last call (kept in the store's version history)."""
        dirty = [self._previous[key] for key in sorted(self._dirty_previous)]
        self._dirty_previous.clear()
        return dirty


def _bound(table: OrderedDict[Any, Any]) -> None:
    while len(table) > MAX_TRACKED:
        table.popitem(last=False)
