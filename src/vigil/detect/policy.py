"""When a profile stops learning, and how big it may grow: per namespace and per workload.

A profile locks by itself once it has *converged*: its workload kept being active (events that
carry profile items) for ``stability_events`` events and ``stability_seconds`` seconds without
showing anything new. Counting the workload's own events, not wall-clock time alone, keeps an
idle or bursty workload from locking before it has shown what it does. ``min_learning`` and
``max_learning`` bound the learning time either way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from vigil.models import Workload
from vigil.selectors import WorkloadSelector

DEFAULT_MIN_LEARNING = 60.0
DEFAULT_MAX_LEARNING = 600.0
DEFAULT_STABILITY_EVENTS = 200
DEFAULT_STABILITY_SECONDS = 120.0
DEFAULT_MAX_ITEMS = 1024


@dataclass(frozen=True, slots=True)
class ProfilePolicy:
    #: False: profiles learn until `vigil profiles lock`
    auto_lock: bool = True
    #: seconds after a profile's first event before it may lock by convergence
    min_learning: float = DEFAULT_MIN_LEARNING
    #: seconds after which a profile locks even if it has not converged; None = no limit
    max_learning: float | None = DEFAULT_MAX_LEARNING
    #: events without a new item that make a profile stable ...
    stability_events: int = DEFAULT_STABILITY_EVENTS
    #: ... and seconds since its last new item
    stability_seconds: float = DEFAULT_STABILITY_SECONDS
    #: hard cap on the items of one profile (after generalisation)
    max_items: int = DEFAULT_MAX_ITEMS


#: the fields an override may set (all of ProfilePolicy's)
POLICY_FIELDS = tuple(ProfilePolicy.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class PolicyOverride:
    """Settings for the workloads it matches: a namespace, a workload selector, or both."""

    settings: dict[str, object]
    namespace: str | None = None
    #: a workload selector as `vigil profiles` takes them: full key, ns/name, name, name/container
    workload: str | None = None

    def matches(self, workload: Workload) -> bool:
        if self.namespace is not None and workload.namespace != self.namespace:
            return False
        return self.workload is None or WorkloadSelector(self.workload).matches(workload)


@dataclass(frozen=True, slots=True)
class ProfilePolicies:
    """The default policy and its overrides; later overrides win over earlier ones."""

    default: ProfilePolicy = ProfilePolicy()
    overrides: tuple[PolicyOverride, ...] = ()

    def for_workload(self, workload: Workload) -> ProfilePolicy:
        policy = self.default
        for override in self.overrides:
            if override.matches(workload):
                policy = replace(policy, **override.settings)  # type: ignore[arg-type]
        return policy

    @classmethod
    def from_learning_period(cls, learning_period: float | None) -> ProfilePolicies:
        """The older single setting: an upper bound on learning; ``None`` = lock by hand."""
        if learning_period is None:
            return cls(ProfilePolicy(auto_lock=False, max_learning=None))
        return cls(
            ProfilePolicy(
                max_learning=learning_period,
                min_learning=min(DEFAULT_MIN_LEARNING, learning_period),
            )
        )
