"""What a profile-aware rule asks of the learned profiles — kept to one narrow question so
the rules do not depend on how profiles are stored or learned."""

from __future__ import annotations

from typing import Protocol

from vigil.detect.items import ItemKind
from vigil.models import Event, EventType


class ProfileKnowledge(Protocol):
    def knows(self, workload_key: str, kind: str, item: str) -> bool:
        """Does workload ``workload_key``'s learned profile contain ``item`` of ``kind``
        (``executable``: an exe path; ``destination``: e.g. ``tcp/10.0.0.1:443``)?"""
        ...


def profile_item(kind: str, event: Event) -> str | None:
    """The item of ``kind`` that ``event`` shows, as profiles key it."""
    if kind == "executable" and event.type is EventType.EXEC:
        return event.process.exe
    if kind == "destination" and event.network is not None:
        return event.network.destination
    return None


#: rule files name the kind as text (``profile: executable``); a dict is the fast way back
_KINDS = {kind.value: kind for kind in ItemKind}


class _ProfileView(Protocol):
    @property
    def state(self) -> object: ...

    def knows(self, kind: ItemKind, item: str) -> bool: ...


class ProfileSource(Protocol):
    """The part of :class:`vigil.detect.profiles.ProfileBook` this adapter reads."""

    def get(self, key: str) -> _ProfileView | None: ...


class LockedProfiles:
    """:class:`ProfileKnowledge` over a profile book: only a locked profile counts as
    knowledge (one still learning has just absorbed this very event, since the agent runs the
    profiles before the rules). What it knows is :meth:`Profile.knows`, as for deviations: a
    destination inside a folded range is known."""

    def __init__(self, book: ProfileSource) -> None:
        self._book = book

    def knows(self, workload_key: str, kind: str, item: str) -> bool:
        profile = self._book.get(workload_key)
        if profile is None or str(profile.state) != "locked":
            return False
        return profile.knows(_KINDS[kind], item)
