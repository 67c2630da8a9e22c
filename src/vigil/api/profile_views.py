"""Profiles as the API and the UI show them: JSON with learning progress, cap, and counters.

Presentation only: the numbers come from the profile, its policy (:mod:`vigil.detect.policy`)
and the lock policy (:mod:`vigil.detect.locking`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from vigil.detect.locking import Quiet, convergence
from vigil.detect.policy import ProfilePolicy
from vigil.detect.profile import Profile, ProfileState


class ProfileCatalogue(Protocol):
    """What these views read of a profile book (vigil.detect.profiles.ProfileBook fits)."""

    def all(self) -> list[Profile]: ...

    def policy(self, profile: Profile) -> ProfilePolicy: ...

    def now(self) -> datetime: ...


def progress(book: ProfileCatalogue, profile: Profile) -> dict[str, Any]:
    """How far a learning profile is from converging, against its policy."""
    policy = book.policy(profile)
    quiet = Quiet.of(profile, book.now()).not_negative()
    return {
        "auto_lock": policy.auto_lock,
        "progress": round(convergence(profile, policy, quiet), 3),
        "events": profile.events,
        "events_since_new": quiet.events_since_new,
        "stability_events": policy.stability_events,
        "seconds_since_new": round(quiet.seconds_since_new, 1),
        "stability_seconds": policy.stability_seconds,
        "learning_for": round(quiet.learning_for, 1),
        "min_learning": policy.min_learning,
        "max_learning": policy.max_learning,
    }


def describe(book: ProfileCatalogue, profile: Profile) -> dict[str, Any]:
    """The profile as the API shows it: its JSON, its learning progress and its cap."""
    data = profile.to_json()
    max_items = book.policy(profile).max_items
    data["max_items"] = max_items
    data["at_cap"] = profile.at_cap(max_items)
    data["learning"] = progress(book, profile)
    return data


def summary(book: ProfileCatalogue) -> dict[str, int]:
    """Counters for health and metrics."""
    profiles = book.all()
    return {
        "total": len(profiles),
        "learning": sum(p.state is ProfileState.LEARNING for p in profiles),
        "locked": sum(p.state is ProfileState.LOCKED for p in profiles),
        "partial": sum(p.partial for p in profiles),
        "at_cap": sum(p.at_cap(book.policy(p).max_items) for p in profiles),
        "items_dropped": sum(p.items_dropped for p in profiles),
        "deviations_suppressed": sum(p.deviations_suppressed for p in profiles),
    }
