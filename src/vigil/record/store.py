"""The agent's store: profiles and alerts in SQLite (WAL) under the data dir.

SQLAlchemy Core keeps the schema portable to PostgreSQL (a later issue); the schema version is
kept in a ``meta`` table so that migrations have something to start from.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError

from vigil.detect.profiles import Profile
from vigil.errors import StoreError, truncate
from vigil.models import Alert, rfc3339

SCHEMA_VERSION = "1"
DB_NAME = "vigil.db"

metadata = MetaData()

meta_table = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

profiles_table = Table(
    "profiles",
    metadata,
    Column("key", String(512), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("updated", String(40), nullable=False),
    Column("body", Text, nullable=False),
)

alerts_table = Table(
    "alerts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("time", String(40), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("rule", String(200), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("workload", String(512), nullable=False, index=True),
    Column("container_id", String(128), nullable=False),
    Column("body", Text, nullable=False),
)


# Tables of other modules register themselves on ``metadata`` when imported; the module is
# used by attribute so that importing either module first works.
from vigil.record import profile_versions as _versions  # noqa: E402


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Store:
    """Profiles and alerts, persisted. Refuses (rather than overwrites) a database it can't read."""

    def __init__(self, engine: Engine, location: str) -> None:
        self.engine = engine
        self.location = location

    @classmethod
    def open(cls, data_dir: Path) -> Store:
        try:
            data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StoreError(
                f"cannot create data dir {data_dir}: {exc.strerror}",
                hint="choose another --data-dir or fix its permissions",
            ) from None
        if not os.access(data_dir, os.W_OK):
            raise StoreError(
                f"data dir {data_dir} is not writable",
                hint="run as its owner or choose another --data-dir",
            )
        path = data_dir / DB_NAME
        engine = create_engine(f"sqlite:///{path}")
        event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine, str(path))
        store._init_schema()
        return store

    def _init_schema(self) -> None:
        try:
            metadata.create_all(self.engine)
            with self.engine.begin() as conn:
                row = conn.execute(
                    select(meta_table.c.value).where(meta_table.c.key == "schema_version")
                ).first()
                if row is None:
                    conn.execute(
                        insert(meta_table).values(key="schema_version", value=SCHEMA_VERSION)
                    )
                elif row.value != SCHEMA_VERSION:
                    raise StoreError(
                        f"{self.location} has schema version {truncate(row.value, 20)}, "
                        f"this vigil reads version {SCHEMA_VERSION}",
                        hint="upgrade vigil, or use another --data-dir; the file is left untouched",
                    )
        except (DatabaseError, OperationalError) as exc:
            self.engine.dispose()
            raise StoreError(
                f"{self.location} is not a usable vigil database "
                f"({truncate(getattr(exc, 'orig', exc), 80)})",
                hint="move it aside or choose another --data-dir; vigil leaves the file untouched",
            ) from None

    def close(self) -> None:
        self.engine.dispose()

    # -- profiles --------------------------------------------------------------------------
    def save_profiles(self, profiles: list[Profile]) -> None:
        """Save current versions (and their copy in the version history)."""
        if not profiles:
            return
        rows = [_profile_row(p) for p in profiles]
        with self._begin() as conn:
            conn.execute(
                profiles_table.delete().where(profiles_table.c.key.in_([r["key"] for r in rows]))
            )
            conn.execute(
                insert(profiles_table),
                [{k: r[k] for k in ("key", "state", "updated", "body")} for r in rows],
            )
            self._save_versions(conn, rows)

    def save_profile_versions(self, profiles: list[Profile]) -> None:
        """Save earlier versions into the history only."""
        if profiles:
            with self._begin() as conn:
                self._save_versions(conn, [_profile_row(p) for p in profiles])

    @staticmethod
    def _save_versions(conn: Any, rows: list[dict[str, Any]]) -> None:
        table = _versions.profile_versions_table
        for row in rows:
            conn.execute(
                table.delete().where(
                    (table.c.key == row["key"]) & (table.c.version == row["version"])
                )
            )
        conn.execute(insert(table), rows)

    def load_profiles(self) -> list[Profile]:
        """Every workload's current profile."""
        with self._begin() as conn:
            rows = conn.execute(select(profiles_table.c.key, profiles_table.c.body)).all()
        return [self._decode(row.key, row.body) for row in rows]

    def load_previous_profiles(self, current: list[Profile]) -> list[Profile]:
        """For each current profile, the version just before it, if the history has one."""
        table = _versions.profile_versions_table
        found = []
        with self._begin() as conn:
            for profile in current:
                row = conn.execute(
                    select(table.c.key, table.c.body)
                    .where((table.c.key == profile.key) & (table.c.version < profile.version))
                    .order_by(table.c.version.desc())
                    .limit(1)
                ).first()
                if row is not None:
                    found.append(self._decode(row.key, row.body))
        return found

    def profile_versions(self, key: str) -> list[dict[str, Any]]:
        """The versions kept for one workload, oldest first (version, state, image, updated)."""
        table = _versions.profile_versions_table
        query = (
            select(table.c.version, table.c.state, table.c.image, table.c.updated)
            .where(table.c.key == key)
            .order_by(table.c.version)
        )
        with self._begin() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def load_profile_version(self, key: str, version: int) -> Profile | None:
        table = _versions.profile_versions_table
        with self._begin() as conn:
            row = conn.execute(
                select(table.c.key, table.c.body).where(
                    (table.c.key == key) & (table.c.version == version)
                )
            ).first()
        return None if row is None else self._decode(row.key, row.body)

    def _decode(self, key: str, body: str) -> Profile:
        try:
            return Profile.from_json(json.loads(body))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreError(
                f"{self.location}: profile {truncate(key, 80)} is corrupt ({truncate(exc, 80)})",
                hint="restore the file from a backup or move it aside; it is left untouched",
            ) from None

    # -- alerts ----------------------------------------------------------------------------
    def save_alert(self, alert: Alert) -> None:
        body = alert.to_json()
        with self._begin() as conn:
            conn.execute(
                insert(alerts_table).values(
                    id=alert.id,
                    time=body["time"],
                    kind=alert.kind,
                    rule=alert.rule,
                    severity=str(alert.severity),
                    workload=(alert.event.workload.key if alert.event.workload else "host"),
                    container_id=body["container"]["id"],
                    body=json.dumps(body, sort_keys=True),
                )
            )

    def alerts(self, *, limit: int = 100, workload: str | None = None) -> list[dict[str, Any]]:
        query = select(alerts_table.c.body).order_by(alerts_table.c.time.desc()).limit(limit)
        if workload:
            query = query.where(alerts_table.c.workload == workload)
        with self._begin() as conn:
            return [json.loads(row.body) for row in conn.execute(query)]

    def _begin(self) -> Any:
        try:
            return self.engine.begin()
        except SQLAlchemyError as exc:
            raise StoreError(f"{self.location}: {truncate(exc, 120)}") from None


def _profile_row(profile: Profile) -> dict[str, Any]:
    return {
        "key": profile.key,
        "version": profile.version,
        "state": str(profile.state),
        "image": profile.image,
        "updated": rfc3339(profile.updated),
        "body": json.dumps(profile.to_json(), sort_keys=True),
    }


# Other stages' tables, defined on ``metadata`` in their own modules: imported here so that
# ``create_all`` creates them.
from vigil.respond import approvals as _approvals  # noqa: E402, F401
