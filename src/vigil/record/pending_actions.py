"""Rows of actions held for approval (vigil.respond.approvals keeps their meaning).

The table lives with the store so that the store needs nothing from the respond stage; the
approvals book reaches it through :class:`PendingActionRows`, one row as a plain mapping.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Engine, Float, String, Table, Text, insert, select, update

from vigil.record.store import metadata

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


class PendingActionRows:
    """Insert, update and read rows of ``pending_actions``; bodies are returned as stored."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def insert(self, row: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(pending_actions_table).values(**row))

    def update(self, row: dict[str, Any]) -> None:
        t = pending_actions_table
        with self.engine.begin() as conn:
            conn.execute(
                update(t)
                .where(t.c.id == row["id"])
                .values(**{k: v for k, v in row.items() if k != "id"})
            )

    def body(self, action_id: str) -> str | None:
        t = pending_actions_table
        with self.engine.begin() as conn:
            row = conn.execute(select(t.c.body).where(t.c.id == action_id)).first()
        return None if row is None else str(row.body)

    def bodies(self, state: str | None = None, limit: int = 100) -> list[str]:
        """Newest first."""
        t = pending_actions_table
        query = select(t.c.body).order_by(t.c.created.desc()).limit(limit)
        if state:
            query = query.where(t.c.state == state)
        with self.engine.begin() as conn:
            return [str(row.body) for row in conn.execute(query)]

    def due(self, now_epoch: float) -> list[str]:
        """Bodies of pending actions whose expiry has come."""
        t = pending_actions_table
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(t.c.body).where(t.c.state == "pending", t.c.expires_epoch <= now_epoch)
            ).all()
        return [str(row.body) for row in rows]
