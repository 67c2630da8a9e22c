"""Behavioural profiles: what each workload normally does, learned until it converges, then locked.

One profile per workload, shared by all its replicas and kept across restarts. While learning,
new behaviour is added (:mod:`~vigil.detect.learning`); the profile locks by itself once it has
converged (:mod:`~vigil.detect.locking`). Once locked, each new item is one deviation, reported
once, saying what the profile knew that came closest (:mod:`~vigil.detect.deviations`). A new
image starts a new version (:mod:`~vigil.detect.versions`).

:class:`ProfileBook` composes those parts for all the workloads of this node; the profile itself
is :class:`~vigil.detect.profile.Profile`, re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from vigil.detect import deviations
from vigil.detect.deviations import Deviation
from vigil.detect.dns_names import RecentLookups, tie_to_name
from vigil.detect.first_seen import ContainerStarts, note_start
from vigil.detect.items import ItemKind, items_of
from vigil.detect.learning import learn
from vigil.detect.locking import lock_reason
from vigil.detect.policy import ProfilePolicies, ProfilePolicy
from vigil.detect.profile import Profile, ProfileState
from vigil.detect.versions import ProfileVersions
from vigil.models import Event, Workload, utcnow
from vigil.selectors import WorkloadSelector

__all__ = ["Deviation", "ItemKind", "Profile", "ProfileBook", "ProfileState", "items_of"]


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
        self._versions = ProfileVersions(profiles, previous)
        self._starts = ContainerStarts(started or clock())
        self._lookups = RecentLookups(clock)

    # -- queries ---------------------------------------------------------------------------
    @property
    def started(self) -> datetime:
        """When the agent started: containers created earlier had their start-up unseen."""
        return self._starts.started

    def now(self) -> datetime:
        return self._clock()

    def __len__(self) -> int:
        return len(self._versions)

    def all(self) -> list[Profile]:
        return sorted(self._versions.current(), key=lambda p: p.key)

    def get(self, key: str) -> Profile | None:
        return self._versions.get(key)

    def previous(self, key: str) -> Profile | None:
        """The version before the current one (replicas of the old image during a rollout)."""
        return self._versions.previous(key)

    def select(self, selector: str) -> list[Profile]:
        """Profiles named by a full key, ``namespace/name``, ``name`` or ``name/container``."""
        exact = self._versions.get(selector)
        if exact:
            return [exact]
        wanted = WorkloadSelector(selector)
        return [p for p in self.all() if wanted.matches(p.workload)]

    def policy(self, profile: Profile) -> ProfilePolicy:
        return self.policies.for_workload(profile.workload)

    # -- learning and detection ------------------------------------------------------------
    def note_container(self, container_id: str, created: datetime) -> None:
        """Identity's creation time of a container, used when its first event arrives."""
        self._starts.note_created(container_id, created)

    def allows(self, event: Event) -> bool:
        """Whether the locked profile of ``event``'s workload holds everything the event shows:
        what the kernel may drop when exactly this recurs (vigil.sensor.kernel_filter)."""
        workload, container = event.workload, event.container
        if workload is None or container is None or container.is_host:
            return False
        profile = self._versions.for_image(workload.key, container.image)
        if profile is None or profile.state is not ProfileState.LOCKED:
            return False
        found = items_of(event)
        return bool(found) and all(profile.knows(kind, item) for kind, item in found)

    def observe(self, event: Event) -> list[Deviation]:
        """Learn from ``event`` or report what it does that the workload's profile lacks."""
        workload = event.workload
        container = event.container
        if workload is None or container is None or container.is_host:
            return []
        now = self._clock()
        profile = self._profile_for(workload, container.image, now)
        from_start = self._starts.first_event(container.id, event)
        if from_start is not None and note_start(profile, from_start):
            self._versions.mark(profile)
        self._maybe_lock(profile, now)
        found = items_of(event)
        if not found:
            return []
        if profile.state is ProfileState.LEARNING:
            self._learn(profile, found, event, now)
            self._maybe_lock(profile, now)
            return []
        found_deviations, changed = deviations.find(
            profile, found, event, self._lookups.looked_up(event, found)
        )
        if changed:
            self._versions.mark(profile)
        return found_deviations

    def _profile_for(self, workload: Workload, image: str, now: datetime) -> Profile:
        key = workload.key
        current = self._versions.get(key)
        if current is None:
            first = self._fresh(workload, now, image=image)
            return self._versions.supersede(first)
        if image and not current.image:
            current.image = image
            self._versions.mark(current)
            return current
        existing = self._versions.for_image(key, image)
        return existing if existing is not None else self._new_version(current, now, image=image)

    def _fresh(self, workload: Workload, now: datetime, *, image: str) -> Profile:
        max_items = self.policies.for_workload(workload).max_items
        return Profile(
            workload=workload,
            created=now,
            updated=now,
            learning_since=now,
            image=image,
            max_items=max_items,
        )

    def _new_version(self, current: Profile, now: datetime, *, image: str) -> Profile:
        return self._versions.supersede(self._fresh(current.workload, now, image=image))

    def _learn(
        self, profile: Profile, found: list[tuple[ItemKind, str]], event: Event, now: datetime
    ) -> None:
        changed = learn(profile, found, self.policy(profile), now)
        name = self._lookups.looked_up(event, found)
        if name is not None:
            for kind, item in found:
                if kind is ItemKind.DESTINATION:
                    changed |= tie_to_name(profile, item, name)
        if changed:
            self._versions.mark(profile)

    # -- lifecycle ---------------------------------------------------------------------------
    def _maybe_lock(self, profile: Profile, now: datetime) -> bool:
        if profile.state is ProfileState.LOCKED:
            return False  # the common case, on every event: no policy lookup
        reason = lock_reason(profile, self.policy(profile), now)
        if reason is None or not profile.lock(now, reason):
            return False
        self._versions.mark(profile)
        return True

    def tick(self) -> list[Profile]:
        """Lock every profile that has converged or reached its maximum learning time."""
        now = self._clock()
        return [p for p in self._versions.current() if self._maybe_lock(p, now)]

    def lock(self, keys: Iterable[str]) -> list[Profile]:
        now = self._clock()
        return self._each(keys, lambda profile: profile.lock(now, "manual"))

    def lock_all(self) -> list[Profile]:
        return self.lock([p.key for p in self._versions.current()])

    def unlock(self, keys: Iterable[str]) -> list[Profile]:
        """Back to learning, keeping what was learnt; it locks again once it converges."""
        now = self._clock()
        return self._each(keys, lambda profile: profile.unlock(now))

    def _each(self, keys: Iterable[str], change: Callable[[Profile], bool]) -> list[Profile]:
        """Apply ``change`` to the current profiles of ``keys``; those it changed."""
        done = []
        for key in keys:
            profile = self._versions.get(key)
            if profile and change(profile):
                self._versions.mark(profile)
                done.append(profile)
        return done

    def relearn(self, keys: Iterable[str]) -> list[Profile]:
        """Start a new, empty version of each profile (the old one is kept for diffs)."""
        now = self._clock()
        done = []
        for key in keys:
            current = self._versions.get(key)
            if current is not None:
                done.append(self._new_version(current, now, image=current.image))
        return done

    def install(self, profile: Profile) -> Profile:
        """Make an imported profile the workload's current version (the old one is kept)."""
        now = self._clock()
        profile.updated = now
        profile.learning_since = now
        profile.events_at_last_new = profile.events
        if profile.state is ProfileState.LOCKED:
            profile.locked_at = now
            profile.lock_reason = "import"
        profile.max_items = self.policy(profile).max_items
        return self._versions.supersede(profile)

    # -- persistence -----------------------------------------------------------------------
    def take_dirty(self) -> list[Profile]:
        """Current profiles changed since the last call (for the store to persist)."""
        return self._versions.take_dirty()

    def take_superseded(self) -> list[Profile]:
        """Earlier versions changed since the last call (kept in the store's version history)."""
        return self._versions.take_superseded()
