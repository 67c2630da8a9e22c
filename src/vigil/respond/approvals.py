"""Actions waiting for a person: created by ``approve``-mode playbooks, kept in the store.

States: ``pending`` → ``approved`` (then ``done`` or ``failed`` once the ladder ran) | ``denied``
| ``expired``. Every transition is recorded in the row (who, why, when, the results).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from vigil.models import parse_rfc3339, rfc3339, utcnow

STATES = ("pending", "approved", "done", "failed", "denied", "expired")


class ActionRows(Protocol):
    """Where held actions are kept (vigil.record.pending_actions.PendingActionRows)."""

    def insert(self, row: dict[str, Any]) -> None: ...

    def update(self, row: dict[str, Any]) -> None: ...

    def body(self, action_id: str) -> str | None: ...

    def bodies(self, state: str | None = None, limit: int = 100) -> list[str]: ...

    def due(self, now_epoch: float) -> list[str]: ...


class QueuedWrites(Protocol):
    """The store's writer (vigil.record.writer.StoreWriter): writes off the event loop."""

    def submit(self, what: str, write: Callable[[], Any]) -> None: ...


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
        when = parse_rfc3339
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
    """Pending actions in the agent's store (the same database as alerts and profiles).

    With a ``writer`` every insert and update is queued to it; until it is written, the book
    answers from the row it queued, so a decision right after the hold finds the action.
    """

    def __init__(
        self,
        rows: ActionRows,
        *,
        now: Callable[[], datetime] = utcnow,
        writer: QueuedWrites | None = None,
    ) -> None:
        self.rows = rows
        self._now = now
        self._writer = writer
        self._unsaved: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

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
        self._write(self.rows.insert, self._row(action))
        return action

    def save(self, action: PendingAction) -> None:
        self._write(self.rows.update, self._row(action))

    def _write(self, write: Callable[[dict[str, Any]], None], row: dict[str, Any]) -> None:
        if self._writer is None:
            write(row)
            return
        action_id = row["id"]
        with self._lock:
            self._unsaved[action_id] = row

        def persist() -> None:
            try:
                write(row)
            finally:
                with self._lock:
                    if self._unsaved.get(action_id) is row:
                        del self._unsaved[action_id]

        self._writer.submit(f"held action {action_id}", persist)

    def _queued(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._unsaved.values())

    def get(self, action_id: str) -> PendingAction | None:
        self.expire()
        with self._lock:
            queued = self._unsaved.get(action_id)
        body = queued["body"] if queued is not None else self.rows.body(action_id)
        return PendingAction.from_json(json.loads(body)) if body else None

    def find(self, state: str | None = None, limit: int = 100) -> list[PendingAction]:
        self.expire()
        found = [PendingAction.from_json(json.loads(b)) for b in self.rows.bodies(state, limit)]
        queued = {row["id"]: row for row in self._queued()}
        if queued:
            found = [a for a in found if a.id not in queued]
            found += [
                PendingAction.from_json(json.loads(row["body"]))
                for row in queued.values()
                if state is None or row["state"] == state
            ]
            found.sort(key=lambda a: rfc3339(a.created), reverse=True)
        return found[:limit]

    def expire(self) -> list[PendingAction]:
        """Mark pending actions past their expiry as ``expired``; returns them."""
        now = self._now()
        bodies = {json.loads(b)["id"]: b for b in self.rows.due(now.timestamp())}
        for row in self._queued():
            bodies.pop(row["id"], None)
            if row["state"] == "pending" and row["expires_epoch"] <= now.timestamp():
                bodies[row["id"]] = row["body"]
        expired = []
        for body in bodies.values():
            action = PendingAction.from_json(json.loads(body))
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
