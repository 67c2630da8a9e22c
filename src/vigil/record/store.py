"""The agent's store: profiles, alerts and incidents, through SQLAlchemy Core.

SQLite (WAL) under the data dir by default; PostgreSQL when given a ``postgresql://`` URL. The
schema is brought forward by the versioned steps in :mod:`vigil.record.migrations`; tables that
other modules add to :data:`metadata` are created when missing.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    event,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError, SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from vigil.detect.profiles import Profile
from vigil.errors import StoreError, truncate
from vigil.models import Alert, rfc3339
from vigil.record.migrations import LATEST, migrate

SCHEMA_VERSION = str(LATEST)
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
    Column("severity", String(16), nullable=False, index=True),
    Column("workload", String(512), nullable=False, index=True),
    Column("container_id", String(128), nullable=False),
    Column("body", Text, nullable=False),
    Column("incident_id", String(64), index=True),
)


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """What ``GET /alerts`` narrows by; every field optional."""

    severities: tuple[str, ...] = ()
    kind: str | None = None
    rule: str | None = None
    workload: str | None = None
    container: str | None = None
    incident: str | None = None
    since: str | None = None  # RFC 3339, inclusive
    until: str | None = None  # RFC 3339, exclusive


@dataclass(frozen=True, slots=True)
class AlertPage:
    alerts: list[dict[str, Any]]
    #: pass back as ``cursor`` for the next (older) page; ``None`` on the last page
    next_cursor: str | None


# Tables of other modules register themselves on ``metadata`` when imported; the module is
# used by attribute so that importing either module first works.
from vigil.record import profile_versions as _versions  # noqa: E402


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _encode_cursor(time: str, alert_id: str) -> str:
    return base64.urlsafe_b64encode(f"{time}\n{alert_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        time, _, alert_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("\n")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise StoreError(f"cursor {truncate(cursor, 40)!r} is not one this API gave") from None
    if not alert_id:
        raise StoreError(f"cursor {truncate(cursor, 40)!r} is not one this API gave")
    return time, alert_id


def postgres_url(url: str) -> str:
    """``postgresql://…`` → the psycopg (v3) driver; other spellings are kept as given."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


class Store:
    """Profiles, alerts and incidents, persisted. Refuses (never overwrites) what it can't read."""

    def __init__(self, engine: Engine, location: str) -> None:
        self.engine = engine
        self.location = location

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @property
    def pending_actions(self) -> _pending_actions.PendingActionRows:
        """The rows of actions held for approval (vigil.respond.approvals.ApprovalBook)."""
        return _pending_actions.PendingActionRows(self.engine)

    @classmethod
    def open(cls, data_dir: Path, url: str | None = None) -> Store:
        """SQLite under ``data_dir`` unless ``url`` names another database (PostgreSQL)."""
        if url:
            return cls.open_url(url)
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

    @classmethod
    def open_url(cls, url: str) -> Store:
        try:
            parsed = make_url(postgres_url(url))
        except ArgumentError:
            raise StoreError(
                "store URL is not a database URL (postgresql://user:password@host/db)"
            ) from None
        if parsed.get_backend_name() not in ("postgresql", "sqlite"):
            raise StoreError(
                f"store URL names {parsed.get_backend_name()!r}: vigil stores in SQLite or "
                "PostgreSQL (postgresql://user:password@host/db)"
            )
        location = parsed.render_as_string(hide_password=True)
        try:
            engine = create_engine(parsed, pool_pre_ping=True)
        except (ArgumentError, ImportError) as exc:
            raise StoreError(f"cannot use {location}: {truncate(exc, 120)}") from None
        if parsed.get_backend_name() == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine, location)
        store._init_schema()
        return store

    def _init_schema(self) -> None:
        try:
            with self.engine.begin() as conn:
                migrate(conn, self.location)
                # Tables other modules put on ``metadata`` (not yet in a migration step).
                metadata.create_all(conn)
        except (DatabaseError, OperationalError) as exc:
            self.engine.dispose()
            raise StoreError(
                f"{self.location} is not a usable vigil database "
                f"({truncate(getattr(exc, 'orig', exc), 120)})",
                hint="move it aside or check --data-dir and store.url; it is left untouched",
            ) from None
        except StoreError:
            self.engine.dispose()
            raise

    def schema_version(self) -> int:
        with self.connect() as conn:
            value = conn.execute(
                select(meta_table.c.value).where(meta_table.c.key == "schema_version")
            ).scalar_one()
        return int(value)

    def close(self) -> None:
        self.engine.dispose()

    # -- profiles --------------------------------------------------------------------------
    def save_profiles(self, profiles: list[Profile]) -> None:
        """Save current versions (and their copy in the version history)."""
        self.save_profile_rows([profile_row(p) for p in profiles])

    def save_profile_versions(self, profiles: list[Profile]) -> None:
        """Save earlier versions into the history only."""
        self.save_profile_rows([], history=[profile_row(p) for p in profiles])

    def save_profile_rows(
        self, current: list[dict[str, Any]], history: Sequence[dict[str, Any]] = ()
    ) -> None:
        """One transaction: earlier versions into the history, current ones into both.

        Rows (:func:`profile_row`) are made where the profiles live (the event loop), so that
        the writer's thread never reads a profile while it changes.
        """
        if not current and not history:
            return
        with self.connect() as conn:
            if history:
                self._save_versions(conn, list(history))
            if current:
                keys = [r["key"] for r in current]
                conn.execute(profiles_table.delete().where(profiles_table.c.key.in_(keys)))
                conn.execute(
                    insert(profiles_table),
                    [{k: r[k] for k in ("key", "state", "updated", "body")} for r in current],
                )
                self._save_versions(conn, current)

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
        with self.connect() as conn:
            rows = conn.execute(select(profiles_table.c.key, profiles_table.c.body)).all()
        return [self._decode(row.key, row.body) for row in rows]

    def load_previous_profiles(self, current: list[Profile]) -> list[Profile]:
        """For each current profile, the version just before it, if the history has one."""
        table = _versions.profile_versions_table
        found = []
        with self.connect() as conn:
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
        with self.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def load_profile_version(self, key: str, version: int) -> Profile | None:
        table = _versions.profile_versions_table
        with self.connect() as conn:
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
        self.save_alerts([alert])

    def save_alerts(self, alerts: list[Alert]) -> None:
        """Save alerts in one transaction (the writer batches what the pipeline raised)."""
        if not alerts:
            return
        with self.connect() as conn:
            conn.execute(insert(alerts_table), [_alert_row(alert) for alert in alerts])

    def link_alert(self, conn: Connection, alert_id: str, incident_id: str) -> None:
        conn.execute(
            update(alerts_table)
            .where(alerts_table.c.id == alert_id)
            .values(incident_id=incident_id)
        )

    def alerts(self, *, limit: int = 100, workload: str | None = None) -> list[dict[str, Any]]:
        return self.alert_page(AlertFilter(workload=workload), limit=limit).alerts

    def alert_page(
        self, where: AlertFilter, *, limit: int = 100, cursor: str | None = None
    ) -> AlertPage:
        """Alerts newest first, narrowed by ``where``; keyset-paginated by ``cursor``."""
        t = alerts_table.c
        conditions: list[ColumnElement[bool]] = []
        if where.severities:
            conditions.append(t.severity.in_(where.severities))
        for column, value in (
            (t.kind, where.kind),
            (t.rule, where.rule),
            (t.workload, where.workload),
            (t.container_id, where.container),
            (t.incident_id, where.incident),
        ):
            if value:
                conditions.append(column == value)
        if where.since:
            conditions.append(t.time >= where.since)
        if where.until:
            conditions.append(t.time < where.until)
        if cursor:
            time, alert_id = _decode_cursor(cursor)
            conditions.append(or_(t.time < time, and_(t.time == time, t.id < alert_id)))
        query = (
            select(t.id, t.time, t.body, t.incident_id)
            .where(*conditions)
            .order_by(t.time.desc(), t.id.desc())
            .limit(limit + 1)
        )
        with self.connect() as conn:
            rows = conn.execute(query).all()
        more = len(rows) > limit
        rows = rows[:limit]
        alerts = [json.loads(r.body) | {"incident_id": r.incident_id} for r in rows]
        last = rows[-1] if rows else None
        next_cursor = _encode_cursor(last.time, last.id) if more and last else None
        return AlertPage(alerts, next_cursor)

    # -- transactions ----------------------------------------------------------------------
    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """One transaction; database failures become one-line :class:`StoreError`s."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(
                f"{self.location}: {truncate(getattr(exc, 'orig', exc), 160)}"
            ) from None


def _alert_row(alert: Alert) -> dict[str, Any]:
    body = alert.to_json()
    return {
        "id": alert.id,
        "time": body["time"],
        "kind": alert.kind,
        "rule": alert.rule,
        "severity": str(alert.severity),
        "workload": alert.event.workload.key if alert.event.workload else "host",
        "container_id": body["container"]["id"],
        "body": json.dumps(body, sort_keys=True),
    }


def profile_row(profile: Profile) -> dict[str, Any]:
    return {
        "key": profile.key,
        "version": profile.version,
        "state": str(profile.state),
        "image": profile.image,
        "updated": rfc3339(profile.updated),
        "body": json.dumps(profile.to_json(), sort_keys=True),
    }


# The held actions' table, on ``metadata`` in its own module: imported here so that
# ``create_all`` creates it.
from vigil.record import pending_actions as _pending_actions  # noqa: E402
