"""Lock policy: when a learning profile has converged, or learnt long enough, and locks.

See :mod:`~vigil.detect.policy` for the settings; this module applies them to one profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vigil.detect.policy import ProfilePolicy
from vigil.detect.profile import Profile, ProfileState


@dataclass(frozen=True, slots=True)
class Quiet:
    """How long a profile has learnt, and how long it has gone without anything new."""

    events_since_new: int
    seconds_since_new: float
    learning_for: float

    @classmethod
    def of(cls, profile: Profile, now: datetime) -> Quiet:
        last_new = profile.last_new_at or profile.learning_since
        return cls(
            events_since_new=profile.events - profile.events_at_last_new,
            seconds_since_new=(now - last_new).total_seconds(),
            learning_for=(now - profile.learning_since).total_seconds(),
        )

    def not_negative(self) -> Quiet:
        """The same with times never below zero (a clock that stepped back)."""
        return Quiet(
            self.events_since_new, max(0.0, self.seconds_since_new), max(0.0, self.learning_for)
        )


def lock_reason(profile: Profile, policy: ProfilePolicy, now: datetime) -> str | None:
    """Why ``profile`` locks by itself now (``converged``, ``max_learning``), or None."""
    if profile.state is ProfileState.LOCKED or not policy.auto_lock:
        return None
    quiet = Quiet.of(profile, now)
    if policy.max_learning is not None and quiet.learning_for >= policy.max_learning:
        return "max_learning"
    if quiet.learning_for < policy.min_learning or profile.events == 0:
        return None
    if (
        quiet.events_since_new < policy.stability_events
        or quiet.seconds_since_new < policy.stability_seconds
    ):
        return None
    return "converged"


def convergence(profile: Profile, policy: ProfilePolicy, quiet: Quiet) -> float:
    """How far ``profile`` has come towards locking by itself: 0 to 1 (1 once locked)."""
    if profile.state is ProfileState.LOCKED:
        return 1.0
    fraction = min(
        quiet.events_since_new / max(policy.stability_events, 1),
        quiet.seconds_since_new / policy.stability_seconds if policy.stability_seconds else 1.0,
        quiet.learning_for / policy.min_learning if policy.min_learning else 1.0,
        1.0,
    )
    if policy.max_learning:
        fraction = max(fraction, min(quiet.learning_for / policy.max_learning, 1.0))
    return fraction
