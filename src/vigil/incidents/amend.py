"""The false-positive remedy that teaches a profile: add the flagged item, persist the profile."""

from __future__ import annotations

from vigil.detect.profiles import ItemKind, ProfileBook
from vigil.incidents.model import Behaviour
from vigil.record.store import Store

_KINDS = {f"profile.new_{kind.value}": kind for kind in ItemKind}


class ProfileBookAmender:
    """Adds behaviours to the agent's profiles; the store keeps the change as a new version."""

    def __init__(self, profiles: ProfileBook, store: Store) -> None:
        self._profiles = profiles
        self._store = store

    def allow(self, behaviour: Behaviour) -> bool:
        kind = _KINDS.get(behaviour.rule)
        profile = self._profiles.get(behaviour.workload)
        if kind is None or profile is None:
            return False
        profile.items(kind).add(behaviour.item)
        # Reported once already; once known it is no deviation at all.
        profile.reported.discard(f"{kind.value}:{behaviour.item}")
        self._store.save_profiles([profile])
        return True
