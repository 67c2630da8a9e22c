"""The false-positive remedy that teaches a profile: a new profile version with the item added."""

from __future__ import annotations

from vigil.detect.profiles import ItemKind, Profile, ProfileBook
from vigil.incidents.model import Behaviour
from vigil.record.store import Store

_KINDS = {f"profile.new_{kind.value}": kind for kind in ItemKind}


class ProfileBookAmender:
    """Adds behaviours to the agent's profiles as a reviewed edit: installed as a new version,
    so the profile's history (and `vigil profiles diff`) shows what the person allowed."""

    def __init__(self, profiles: ProfileBook, store: Store) -> None:
        self._profiles = profiles
        self._store = store

    def allow(self, behaviour: Behaviour) -> bool:
        kind = _KINDS.get(behaviour.rule)
        profile = self._profiles.get(behaviour.workload)
        if kind is None or profile is None:
            return False
        amended = Profile.from_json(profile.to_json())
        items = [(ItemKind(k), i) for k, i in behaviour.profile_items] or [(kind, behaviour.item)]
        for item_kind, item in items:
            amended.items(item_kind).add(item)
            # Reported once already; once known it is no deviation at all.
            amended.reported.discard(f"{item_kind.value}:{item}")
        self._profiles.install(amended)
        self._store.save_profiles(self._profiles.take_dirty())
        self._store.save_profile_versions(self._profiles.take_superseded())
        return True
