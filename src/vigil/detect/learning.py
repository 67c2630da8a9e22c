"""Learning: a learning profile takes in what an event shows, folded and capped.

Items arrive generalised (:func:`~vigil.detect.items.items_of`); once a group of them grows big
enough it is folded into one pattern (see :mod:`~vigil.detect.generalize`), and the DNS names
tied to the folded destinations go with it. Beyond its policy's ``max_items`` a profile turns new
items away and counts them.
"""

from __future__ import annotations

from datetime import datetime

from vigil.detect.generalize import absorb
from vigil.detect.items import ItemKind, covered_by, fold
from vigil.detect.policy import ProfilePolicy
from vigil.detect.profile import Profile

#: while learning, a profile is written to the store at least every this many events
SAVE_EVERY_EVENTS = 100


def learn(
    profile: Profile, found: list[tuple[ItemKind, str]], policy: ProfilePolicy, now: datetime
) -> bool:
    """Add ``found`` to ``profile``; whether it should be saved (new items, or time to)."""
    profile.max_items = policy.max_items
    profile.events += 1
    added = False
    for kind, item in found:
        added |= add(profile, kind, item, policy.max_items)
    if added:
        profile.events_at_last_new = profile.events
        profile.last_new_at = now
        profile.updated = now
        return True
    return profile.events % SAVE_EVERY_EVENTS == 0


def add(profile: Profile, kind: ItemKind, item: str, max_items: int) -> bool:
    """Add one item unless the profile knows it or is full; fold its group if it grew enough."""
    if profile.knows(kind, item):
        return False
    if profile.is_full(max_items):
        profile.items_dropped += 1
        return False
    known = profile.items(kind)
    known.add(item)
    pattern = fold(kind, item, known)
    if pattern is not None:
        for gone in absorb(known, pattern, covered_by(kind, pattern, known)):
            names = profile.resolved.pop(gone, set())
            if names:
                profile.resolved.setdefault(pattern, set()).update(names)
    return True
