"""Incidents in the store: the incidents, their timelines and the exceptions they left."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Connection, Integer, String, Table, Text, insert, select, update

from vigil.incidents.model import ACTIVE_STATES, Behaviour, Incident, IncidentState
from vigil.record.store import metadata

# Created by migration step 2 (vigil.record.migrations); these are their current shapes.
incidents_table = Table(
    "incidents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("workload", String(512), nullable=False, index=True),
    Column("state", String(16), nullable=False, index=True),
    Column("severity", String(16), nullable=False),
    Column("opened", String(40), nullable=False, index=True),
    Column("last_alert", String(40), nullable=False),
    Column("updated", String(40), nullable=False),
    Column("alert_count", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
)

timeline_table = Table(
    "incident_timeline",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(64), nullable=False, index=True),
    Column("time", String(40), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("body", Text, nullable=False),
)

exceptions_table = Table(
    "alert_exceptions",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("workload", String(512), nullable=False, index=True),
    Column("rule", String(200), nullable=False),
    Column("item", Text, nullable=False),
    Column("created", String(40), nullable=False),
    Column("incident_id", String(64), nullable=False),
)


def _incident(row: Any) -> Incident:
    return Incident(
        id=row.id,
        workload=row.workload,
        state=IncidentState(row.state),
        severity=row.severity,
        title=row.title,
        opened=row.opened,
        last_alert=row.last_alert,
        updated=row.updated,
        alert_count=row.alert_count,
        details=json.loads(row.body),
    )


def _values(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "workload": incident.workload,
        "state": str(incident.state),
        "severity": incident.severity,
        "opened": incident.opened,
        "last_alert": incident.last_alert,
        "updated": incident.updated,
        "alert_count": incident.alert_count,
        "title": incident.title,
        "body": json.dumps(incident.details, sort_keys=True),
    }


def active_for(conn: Connection, workload: str, not_before: str) -> Incident | None:
    """The workload's open or acknowledged incident whose last alert is recent enough."""
    t = incidents_table.c
    row = conn.execute(
        select(incidents_table)
        .where(
            t.workload == workload,
            t.state.in_([str(s) for s in ACTIVE_STATES]),
            t.last_alert >= not_before,
        )
        .order_by(t.last_alert.desc())
        .limit(1)
    ).first()
    return _incident(row) if row else None


def insert_incident(conn: Connection, incident: Incident) -> None:
    conn.execute(insert(incidents_table).values(**_values(incident)))


def update_incident(conn: Connection, incident: Incident) -> None:
    values = _values(incident)
    del values["id"]
    conn.execute(update(incidents_table).where(incidents_table.c.id == incident.id).values(values))


def get_incident(conn: Connection, incident_id: str) -> Incident | None:
    row = conn.execute(select(incidents_table).where(incidents_table.c.id == incident_id)).first()
    return _incident(row) if row else None


def list_incidents(
    conn: Connection,
    *,
    states: Sequence[str] = (),
    workload: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Incident]:
    t = incidents_table.c
    query = select(incidents_table).order_by(t.last_alert.desc(), t.id).limit(limit).offset(offset)
    if states:
        query = query.where(t.state.in_(list(states)))
    if workload:
        query = query.where(t.workload == workload)
    return [_incident(r) for r in conn.execute(query)]


def add_timeline(
    conn: Connection, incident_id: str, time: str, kind: str, body: dict[str, Any]
) -> None:
    conn.execute(
        insert(timeline_table).values(
            incident_id=incident_id, time=time, kind=kind, body=json.dumps(body, sort_keys=True)
        )
    )


def timeline(conn: Connection, incident_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(timeline_table)
        .where(timeline_table.c.incident_id == incident_id)
        .order_by(timeline_table.c.seq)
    )
    return [{"time": r.time, "kind": r.kind} | json.loads(r.body) for r in rows]


def add_exception(conn: Connection, behaviour: Behaviour, created: str, incident_id: str) -> None:
    conn.execute(
        insert(exceptions_table).values(
            workload=behaviour.workload,
            rule=behaviour.rule,
            item=behaviour.item,
            created=created,
            incident_id=incident_id,
        )
    )


def all_exceptions(conn: Connection) -> list[Behaviour]:
    t = exceptions_table.c
    return [
        Behaviour(r.workload, r.rule, r.item)
        for r in conn.execute(select(t.workload, t.rule, t.item))
    ]
