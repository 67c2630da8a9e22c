"""First-seen tracking: was a container's start-up seen, or was it running before the agent?

A profile whose first container was already running lacks its start-up (``partial``); a replica
seen from its start fills that in.
"""

from __future__ import annotations

from datetime import datetime

from vigil.caches import BoundedCache
from vigil.detect.profile import Profile, ProfileState
from vigil.models import Event, EventType

#: containers remembered: bounded, oldest forgotten first
MAX_TRACKED = 4096


class ContainerStarts:
    """Containers seen so far, and identity's creation times of those not seen yet."""

    def __init__(self, started: datetime, max_tracked: int = MAX_TRACKED) -> None:
        #: when the agent started: containers created earlier had their start-up unseen
        self.started = started
        self._created: BoundedCache[str, datetime] = BoundedCache(max_tracked)
        self._seen: BoundedCache[str, bool] = BoundedCache(max_tracked)

    def note_created(self, container_id: str, created: datetime) -> None:
        if container_id in self._seen or container_id in self._created:
            return
        self._created.put(container_id, created)

    def first_event(self, container_id: str, event: Event) -> bool | None:
        """For a container's first event: whether it was seen from its start; else None."""
        if container_id in self._seen:
            return None
        self._seen.put(container_id, True)
        created = self._created.pop(container_id)
        if created is not None:
            return created >= self.started
        # Without a creation time, a container whose first event is not an exec was running
        # before we looked (its entrypoint's exec is always its first event).
        return event.type is EventType.EXEC


def note_start(profile: Profile, from_start: bool) -> bool:
    """Mark ``profile`` partial or whole after a container's first event; whether it changed."""
    fresh = profile.events == 0 and profile.size == 0
    if fresh and not from_start and not profile.partial:
        profile.partial = True
        return True
    if from_start and profile.partial and profile.state is ProfileState.LEARNING:
        # A replica seen from its start shows the start-up the first one hid.
        profile.partial = False
        return True
    return False
