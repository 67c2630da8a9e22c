"""Groups recorded alerts into incidents and moves incidents through their states.

An alert joins its workload's open or acknowledged incident when that incident's last alert
is at most ``window`` seconds older; otherwise it opens a new incident. Every change is written
to the incident's timeline, with who made it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from vigil.errors import truncate
from vigil.incidents import records
from vigil.incidents.model import (
    TRANSITIONS,
    Behaviour,
    Incident,
    IncidentNotFound,
    IncidentState,
    InvalidTransition,
    Remedy,
    behaviour_of,
    worst,
)
from vigil.models import Alert, rfc3339, utcnow
from vigil.record.store import AlertFilter, Store

DEFAULT_WINDOW = 600.0
#: timeline entries quote commands and messages only this far (the alert keeps the rest)
_QUOTE = 500


class ProfileAmender(Protocol):
    """Adds a behaviour to a workload's profile; False when there is no such profile."""

    def allow(self, behaviour: Behaviour) -> bool: ...


class ExceptionList:
    """Behaviours marked false positive with an exception: their alerts are not raised again."""

    def __init__(self, store: Store) -> None:
        self._store = store
        with store.connect() as conn:
            self._known = set(records.all_exceptions(conn))

    def add(self, behaviour: Behaviour) -> None:
        self._known.add(behaviour)

    def __len__(self) -> int:
        return len(self._known)

    def suppresses(self, alert: Alert) -> bool:
        return bool(self._known) and behaviour_of(alert.to_json()) in self._known


class IncidentBook:
    def __init__(
        self,
        store: Store,
        *,
        window: float = DEFAULT_WINDOW,
        clock: Callable[[], datetime] = utcnow,
        amender: ProfileAmender | None = None,
        exceptions: ExceptionList | None = None,
    ) -> None:
        self.store = store
        self.window = timedelta(seconds=window)
        self._clock = clock
        self.amender = amender
        self.exceptions = exceptions or ExceptionList(store)

    # -- grouping (an Agent alert hook) ----------------------------------------------------
    def __call__(self, alert: Alert) -> None:
        self.add_alert(alert)

    def add_alert(self, alert: Alert) -> Incident:
        body = alert.to_json()
        workload_key = alert.event.workload.key if alert.event.workload else "host"
        when = body["time"]
        not_before = rfc3339(alert.time - self.window)
        with self.store.connect() as conn:
            incident = records.active_for(conn, workload_key, not_before)
            if incident is None:
                incident = Incident(
                    id=uuid.uuid4().hex[:12],
                    workload=workload_key,
                    state=IncidentState.OPEN,
                    severity=body["severity"],
                    title=truncate(body["message"], 200),
                    opened=when,
                    last_alert=when,
                    updated=rfc3339(self._clock()),
                    alert_count=1,
                    details={
                        "workload": body["workload"],
                        "containers": [body["container"]["id"]],
                        "rules": [body["rule"]],
                    },
                )
                records.insert_incident(conn, incident)
                records.add_timeline(conn, incident.id, when, "opened", {"actor": "vigil"})
            else:
                details = dict(incident.details)
                details["containers"] = _union(
                    details.get("containers", []), body["container"]["id"]
                )
                details["rules"] = _union(details.get("rules", []), body["rule"])
                incident = Incident(
                    id=incident.id,
                    workload=incident.workload,
                    state=incident.state,
                    severity=worst(incident.severity, body["severity"]),
                    title=incident.title,
                    opened=incident.opened,
                    last_alert=max(incident.last_alert, when),
                    updated=rfc3339(self._clock()),
                    alert_count=incident.alert_count + 1,
                    details=details,
                )
                records.update_incident(conn, incident)
            self.store.link_alert(conn, alert.id, incident.id)
            records.add_timeline(conn, incident.id, when, "alert", _alert_entry(body))
            for action in body["response"]["actions"]:
                records.add_timeline(
                    conn,
                    incident.id,
                    when,
                    "response",
                    {"alert_id": alert.id, "playbook": body["response"]["playbook"]} | action,
                )
        return incident

    # -- reading ---------------------------------------------------------------------------
    def list(
        self,
        *,
        states: tuple[str, ...] = (),
        workload: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Incident]:
        with self.store.connect() as conn:
            return records.list_incidents(
                conn, states=states, workload=workload, limit=limit, offset=offset
            )

    def get(self, incident_id: str) -> Incident:
        with self.store.connect() as conn:
            incident = records.get_incident(conn, incident_id)
        if incident is None:
            raise IncidentNotFound(f"no incident {truncate(incident_id, 64)!r}")
        return incident

    def detail(self, incident_id: str) -> dict[str, Any]:
        """The incident with its alerts, timeline and the false-positive offer."""
        incident = self.get(incident_id)
        alerts = self.store.alert_page(AlertFilter(incident=incident_id), limit=1000).alerts
        with self.store.connect() as conn:
            entries = records.timeline(conn, incident_id)
        behaviours = sorted({behaviour_of(a) for a in alerts}, key=lambda b: (b.rule, b.item))
        return incident.to_json() | {
            "alerts": alerts,
            "timeline": entries,
            "false_positive_offer": [b.to_json() for b in behaviours],
        }

    # -- a person's decisions --------------------------------------------------------------
    def acknowledge(self, incident_id: str, *, actor: str, note: str = "") -> Incident:
        return self._move(incident_id, IncidentState.ACKNOWLEDGED, actor=actor, note=note)

    def resolve(self, incident_id: str, *, actor: str, note: str = "") -> Incident:
        return self._move(incident_id, IncidentState.RESOLVED, actor=actor, note=note)

    def false_positive(
        self, incident_id: str, *, actor: str, remedy: Remedy = Remedy.NONE, note: str = ""
    ) -> Incident:
        """Close as a false positive; with a remedy, its behaviours are not flagged again."""
        self._check_move(self.get(incident_id), IncidentState.FALSE_POSITIVE)
        applied: list[dict[str, Any]] = []
        if remedy is not Remedy.NONE:
            alerts = self.store.alert_page(AlertFilter(incident=incident_id), limit=1000).alerts
            for behaviour in sorted({behaviour_of(a) for a in alerts}, key=lambda b: b.item):
                applied.append(self._apply(incident_id, behaviour, remedy))
        return self._move(
            incident_id,
            IncidentState.FALSE_POSITIVE,
            actor=actor,
            note=note,
            extra={"remedy": str(remedy), "applied": applied},
        )

    def _apply(self, incident_id: str, behaviour: Behaviour, remedy: Remedy) -> dict[str, Any]:
        done = behaviour.to_json() | {"remedy": str(remedy)}
        del done["remedies"]
        use_profile = remedy is Remedy.PROFILE and behaviour.in_profile_terms
        if use_profile and self.amender is not None and self.amender.allow(behaviour):
            return done | {"outcome": "added to the profile"}
        # Rules (and workloads without a profile) take an exception instead.
        with self.store.connect() as conn:
            records.add_exception(conn, behaviour, rfc3339(self._clock()), incident_id)
        self.exceptions.add(behaviour)
        return done | {"remedy": str(Remedy.EXCEPTION), "outcome": "exception added"}

    def _check_move(self, incident: Incident, target: IncidentState) -> None:
        if target not in TRANSITIONS[incident.state]:
            raise InvalidTransition(
                f"incident {incident.id} is {incident.state}; it cannot become {target}"
            )

    def _move(
        self,
        incident_id: str,
        target: IncidentState,
        *,
        actor: str,
        note: str,
        extra: dict[str, Any] | None = None,
    ) -> Incident:
        now = rfc3339(self._clock())
        entry = {
            "from": "",
            "to": str(target),
            "actor": truncate(actor, 80),
            "note": truncate(note, 1000),
        } | (extra or {})
        with self.store.connect() as conn:
            incident = records.get_incident(conn, incident_id)
            if incident is None:
                raise IncidentNotFound(f"no incident {truncate(incident_id, 64)!r}")
            self._check_move(incident, target)
            entry["from"] = str(incident.state)
            details = dict(incident.details)
            if target is not IncidentState.ACKNOWLEDGED:
                details["resolution"] = entry | {"time": now}
            moved = Incident(
                id=incident.id,
                workload=incident.workload,
                state=target,
                severity=incident.severity,
                title=incident.title,
                opened=incident.opened,
                last_alert=incident.last_alert,
                updated=now,
                alert_count=incident.alert_count,
                details=details,
            )
            records.update_incident(conn, moved)
            records.add_timeline(conn, incident.id, now, "state", entry)
        return moved


def _union(items: list[str], item: str) -> list[str]:
    return items if item in items else [*items, item]


def _alert_entry(body: dict[str, Any]) -> dict[str, Any]:
    process = body["process"]
    return {
        "alert_id": body["id"],
        "rule": body["rule"],
        "severity": body["severity"],
        "message": truncate(body["message"], _QUOTE),
        "container": body["container"]["id"],
        "pid": process["pid"],
        "exe": truncate(process["exe"], _QUOTE),
        "cmdline": truncate(process["cmdline"], _QUOTE),
    }
