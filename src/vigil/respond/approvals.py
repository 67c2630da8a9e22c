"""Actions waiting for a person: created by ``approve``-mode playbooks, kept in the store.

States: ``pending`` → ``approved`` (then ``done`` or ``failed`` once the ladder ran) | ``denied``
| ``expired``. Every transition is recorded in the row (who, why, when, the results).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Engine, Float, String, Table, Text, insert, select, update

from vigil.models import parse_rfc3339, rfc3339, utcnow
from vigil.record.store import metadata

STATES = ("pending", "approved", "done", "failed", "denied", "expired")

pending_actions_table = Table(
    "pending_actions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("state", String(16), nullable=False, index=True),
    Column("created", String(40), nullable=False),
    Column("expires", String(40), nullable=False),
    Column("expires_epoch", Float, nullable=False),
    Column("alert_id", String(64), nullable=False),
    Column("body", Text, nullable=False),
)


@dataclass(slots=True)
class PendingAction:
    """A ladder held for approval, with everything needed to run it later."""

    id: str
    state: str
    created: datetime
    expires: datetime
    playbook: str
    steps: list[dict[str, Any]]
    alert: dict[str, Any]
    #: the alert's event (vigil.models.event_from_json), to act on it after a restart too
    event: dict[str, Any]
    #: ``{"action", "outcome", "detail", "latency_ms"}`` once the ladder ran
    results: list[dict[str, Any]] = field(default_factory=list)
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "created": rfc3339(self.created),
            "expires": rfc3339(self.expires),
            "playbook": self.playbook,
            "steps": self.steps,
            "alert": self.alert,
            "event": self.event,
            "results": self.results,
            "decided_by": self.decided_by,
            "decided_at": rfc3339(self.decided_at) if self.decided_at else None,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PendingAction:
        def when(text: str) -> datetime:
            return parse_rfc3339(text)

        return cls(
            id=str(data["id"]),
            state=str(data["state"]),
            created=when(data["created"]),
            expires=when(data["expires"]),
            playbook=str(data["playbook"]),
            steps=list(data["steps"]),
            alert=dict(data["alert"]),
            event=dict(data.get("event", {})),
            results=list(data.get("results", [])),
            decided_by=data.get("decided_by"),
            decided_at=when(data["decided_at"]) if data.get("decided_at") else None,
            reason=str(data.get("reason", "")),
        )


class ApprovalBook:
    """Pending actions in the agent's SQLite store (the same engine as alerts and profiles)."""

    def __init__(self, engine: Engine, *, now: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self._now = now

    def create(
        self,
        *,
        playbook: str,
        steps: list[dict[str, Any]],
        alert: dict[str, Any],
        event: dict[str, Any],
        ttl_seconds: float,
    ) -> PendingAction:
        created = self._now()
        action = PendingAction(
            id=uuid.uuid4().hex[:12],
            state="pending",
            created=created,
            expires=created + timedelta(seconds=ttl_seconds),
            playbook=playbook,
            steps=steps,
            alert=alert,
            event=event,
        )
        with self.engine.begin() as conn:
            conn.execute(insert(pending_actions_table).values(**self._row(action)))
        return action

    def save(self, action: PendingAction) -> None:
        row = self._row(action)
        with self.engine.begin() as conn:
            conn.execute(
                update(pending_actions_table)
                .where(pending_actions_table.c.id == action.id)
                .values(**{k: v for k, v in row.items() if k != "id"})
            )

    def get(self, action_id: str) -> PendingAction | None:
        self.expire()
        with self.engine.begin() as conn:
            row = conn.execute(
                select(pending_actions_table.c.body).where(pending_actions_table.c.id == action_id)
            ).first()
        return PendingAction.from_json(json.loads(row.body)) if row else None

    def find(self, state: str | None = None, limit: int = 100) -> list[PendingAction]:
        self.expire()
        query = (
            select(pending_actions_table.c.body)
            .order_by(pending_actions_table.c.created.desc())
            .limit(limit)
        )
        if state:
            query = query.where(pending_actions_table.c.state == state)
        with self.engine.begin() as conn:
            return [PendingAction.from_json(json.loads(row.body)) for row in conn.execute(query)]

    def expire(self) -> list[PendingAction]:
        """Mark pending actions past their expiry as ``expired``; returns them."""
        now = self._now()
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(pending_actions_table.c.body).where(
                    pending_actions_table.c.state == "pending",
                    pending_actions_table.c.expires_epoch <= now.timestamp(),
                )
            ).all()
        expired = []
        for row in rows:
            action = PendingAction.from_json(json.loads(row.body))
            action.state = "expired"
            action.decided_by = "vigil"
            action.decided_at = now
            action.reason = "no decision before the expiry"
            self.save(action)
            expired.append(action)
        return expired

    @staticmethod
    def _row(action: PendingAction) -> dict[str, Any]:
        return {
            "id": action.id,
            "state": action.state,
            "created": rfc3339(action.created),
            "expires": rfc3339(action.expires),
            "expires_epoch": action.expires.timestamp(),
            "alert_id": str(action.alert.get("id", "")),
            "body": json.dumps(action.to_json(), sort_keys=True),
        }
