"""The false-positive remedy that teaches a profile: a new profile version with the item added."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from vigil.detect.profiles import ItemKind
from vigil.incidents.model import Behaviour

_KINDS = {f"profile.new_{kind.value}": kind for kind in ItemKind}


class ProfileChanges(Protocol):
    """The agent's one way to change profiles (vigil.profile_service.ProfileService)."""

    def amend(self, key: str, items: Sequence[tuple[ItemKind, str]]) -> bool: ...


class ProfileBookAmender:
    """Adds behaviours to the agent's profiles as a reviewed edit: installed as a new version
    (through the profile service, so the kernel filter and the store follow), so the profile's
    history (and `vigil profiles diff`) shows what the person allowed."""

    def __init__(self, profiles: ProfileChanges) -> None:
        self._profiles = profiles

    def allow(self, behaviour: Behaviour) -> bool:
        kind = _KINDS.get(behaviour.rule)
        if kind is None:
            return False
        items = [(ItemKind(k), i) for k, i in behaviour.profile_items] or [(kind, behaviour.item)]
        return self._profiles.amend(behaviour.workload, items)
