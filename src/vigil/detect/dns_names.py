"""DNS correlation: which name a process looked up just before it connected somewhere.

A learning profile ties the name to the destination (``resolved``), so a later deviation can
say what the new address was looked up as.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from vigil.caches import BoundedCache
from vigil.detect.items import ItemKind, is_known
from vigil.detect.profile import Profile
from vigil.models import Event

#: DNS names remembered per destination
MAX_NAMES_PER_DESTINATION = 8
#: recent DNS queries remembered: bounded, least recently used forgotten first
MAX_TRACKED = 4096
#: a connect this soon after its process looked a name up is tied to that name
LOOKUP_WINDOW = timedelta(seconds=10)


class RecentLookups:
    """The DNS name each process (container id, pid) last looked up, and when."""

    def __init__(self, clock: Callable[[], datetime], max_tracked: int = MAX_TRACKED) -> None:
        self._clock = clock
        self._lookups: BoundedCache[tuple[str, int], tuple[str, datetime]] = BoundedCache(
            max_tracked
        )

    def looked_up(self, event: Event, found: list[tuple[ItemKind, str]]) -> str | None:
        """Remember ``event``'s DNS names; the name a connecting process last looked up."""
        container = event.container
        if container is None:
            return None
        who = (container.id, event.process.pid)
        now = self._clock()
        for kind, item in found:
            if kind is ItemKind.DNS:
                self._lookups.put(who, (item, now))
        if not any(kind is ItemKind.DESTINATION for kind, _ in found):
            return None
        last = self._lookups.get(who)
        if last is not None and now - last[1] <= LOOKUP_WINDOW:
            return last[0]
        return None


def tie_to_name(profile: Profile, destination: str, name: str) -> bool:
    """Tie a DNS name to the destination (or the folded pattern holding it) its process
    connected to right after; whether the profile changed."""
    target = next(
        (d for d in profile.destinations if is_known(ItemKind.DESTINATION, destination, {d})),
        destination,
    )
    names = profile.resolved.setdefault(target, set())
    if name in names or len(names) >= MAX_NAMES_PER_DESTINATION:
        return False
    names.add(name)
    return True
