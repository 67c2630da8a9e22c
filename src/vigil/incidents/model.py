"""Incidents: alerts of one workload grouped in time, with a state a person moves forward."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from vigil.errors import VigilError
from vigil.models import Severity


class IncidentState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    FALSE_POSITIVE = "false_positive"


#: which states each state may move to; resolved and false positive are final
TRANSITIONS: dict[IncidentState, frozenset[IncidentState]] = {
    IncidentState.OPEN: frozenset(
        {IncidentState.ACKNOWLEDGED, IncidentState.RESOLVED, IncidentState.FALSE_POSITIVE}
    ),
    IncidentState.ACKNOWLEDGED: frozenset({IncidentState.RESOLVED, IncidentState.FALSE_POSITIVE}),
    IncidentState.RESOLVED: frozenset(),
    IncidentState.FALSE_POSITIVE: frozenset(),
}
ACTIVE_STATES = (IncidentState.OPEN, IncidentState.ACKNOWLEDGED)

SEVERITY_RANK = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


def worst(a: str, b: str) -> str:
    """The higher of two severities (the roll-up of an incident)."""
    return a if SEVERITY_RANK[Severity(a)] >= SEVERITY_RANK[Severity(b)] else b


class Remedy(StrEnum):
    """What marking a false positive does about the behaviour, so it is not flagged again."""

    NONE = "none"
    PROFILE = "profile"  # add the behaviour to the workload's profile (deviations only)
    EXCEPTION = "exception"  # keep an exception: this workload, this rule, this behaviour


class IncidentError(VigilError):
    """An incident request that cannot be carried out."""


class IncidentNotFound(IncidentError):
    pass


class InvalidTransition(IncidentError):
    pass


@dataclass(frozen=True, slots=True)
class Behaviour:
    """One flagged behaviour: the rule that flagged it and the item (executable, destination)."""

    workload: str
    rule: str
    item: str
    #: every profile item the flagged event showed (``kind``, ``item``): what "add it to the
    #: profile" adds, so the same event raises nothing next time (not just its headline item)
    profile_items: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def in_profile_terms(self) -> bool:
        """Deviations name a profile item; those can be added to the profile."""
        return self.rule.startswith("profile.new_")

    def to_json(self) -> dict[str, Any]:
        remedies = (
            [Remedy.PROFILE, Remedy.EXCEPTION] if self.in_profile_terms else [Remedy.EXCEPTION]
        )
        return {
            "workload": self.workload,
            "rule": self.rule,
            "item": self.item,
            "remedies": [str(r) for r in remedies],
        }


def behaviour_of(alert: dict[str, Any]) -> Behaviour:
    """The behaviour an alert (vigil JSON) flags: a destination for connects, else the exe."""
    workload = alert.get("workload") or {}
    key = "/".join(
        str(workload.get(part, "")) for part in ("namespace", "kind", "name", "container")
    )
    if workload.get("kind") == "Host":
        key = "host"
    network = alert.get("network")
    if alert.get("rule") == "profile.new_destination" and network:
        host = network["dest_ip"]
        if network.get("family") == "ipv6":
            host = f"[{host}]"
        item = f"{network['protocol']}/{host}:{network['dest_port']}"
    else:
        item = str((alert.get("process") or {}).get("exe", ""))
    return Behaviour(
        workload=key,
        rule=str(alert.get("rule", "")),
        item=item,
        profile_items=_profile_items(alert),
    )


def _profile_items(alert: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    from vigil.detect.items import items_of
    from vigil.models import event_from_json

    try:
        event = event_from_json(alert | {"type": alert["event_type"]})
    except (KeyError, ValueError, TypeError):  # an alert of an older vigil: headline item only
        return ()
    return tuple((str(kind), item) for kind, item in items_of(event))


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    workload: str  # the workload key
    state: IncidentState
    severity: str
    title: str
    opened: str  # RFC 3339
    last_alert: str
    updated: str
    alert_count: int
    #: workload JSON, container ids, rules seen, and the resolution once closed
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workload_key": self.workload,
            "state": str(self.state),
            "severity": self.severity,
            "title": self.title,
            "opened": self.opened,
            "last_alert": self.last_alert,
            "updated": self.updated,
            "alert_count": self.alert_count,
            "workload": self.details.get("workload", {}),
            "containers": self.details.get("containers", []),
            "rules": self.details.get("rules", []),
            "resolution": self.details.get("resolution"),
        }
