"""Versions: each workload's current profile and the one before it, and what changed since the
store last saved them.

A new image starts a new *version* of the profile: a new image is a new baseline. The previous
version is kept, so replicas still running the old image during a rollout are checked against
it, and so diffs can show what changed.
"""

from __future__ import annotations

from collections.abc import Iterable

from vigil.detect.profile import Profile


class ProfileVersions:
    def __init__(self, current: Iterable[Profile] = (), previous: Iterable[Profile] = ()) -> None:
        self._current: dict[str, Profile] = {p.key: p for p in current}
        #: the version before the current one, per workload (replicas of the old image)
        self._previous: dict[str, Profile] = {p.key: p for p in previous}
        self._dirty: set[str] = set()
        self._dirty_previous: set[str] = set()

    def __len__(self) -> int:
        return len(self._current)

    def get(self, key: str) -> Profile | None:
        return self._current.get(key)

    def previous(self, key: str) -> Profile | None:
        return self._previous.get(key)

    def current(self) -> list[Profile]:
        return list(self._current.values())

    def for_image(self, key: str, image: str) -> Profile | None:
        """The profile events of ``image`` belong to, if there is one yet: the current one (an
        event or a profile without image goes with it), or the previous one for a replica of
        the old image during a rollout."""
        current = self._current.get(key)
        if current is None or not image or not current.image or image == current.image:
            return current
        previous = self._previous.get(key)
        return previous if previous is not None and previous.image == image else None

    def supersede(self, profile: Profile) -> Profile:
        """Make ``profile`` its workload's current version; the current one becomes previous."""
        current = self._current.get(profile.key)
        if current is not None:
            self._previous[current.key] = current
            self._dirty_previous.add(current.key)
            profile.version = current.version + 1
            profile.partial = current.partial
        self._current[profile.key] = profile
        self._dirty.add(profile.key)
        return profile

    def mark(self, profile: Profile) -> None:
        """``profile`` changed: save it next time."""
        if self._current.get(profile.key) is profile:
            self._dirty.add(profile.key)
        elif self._previous.get(profile.key) is profile:
            self._dirty_previous.add(profile.key)

    def take_dirty(self) -> list[Profile]:
        """Current profiles changed since the last call (for the store to persist)."""
        dirty = [self._current[key] for key in sorted(self._dirty)]
        self._dirty.clear()
        return dirty

    def take_superseded(self) -> list[Profile]:
        """Earlier versions changed since the last call (kept in the store's version history)."""
        dirty = [self._previous[key] for key in sorted(self._dirty_previous)]
        self._dirty_previous.clear()
        return dirty
