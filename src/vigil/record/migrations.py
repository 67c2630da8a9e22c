"""Versioned schema migrations: each step runs once, in order, inside one transaction.

The version lives in ``meta.schema_version``. Version 1 is the schema of the first vigil
release (meta, profiles, alerts); a database made by it is brought forward step by step. A
database from a newer vigil (a version above the last step here) is refused, never rewritten.
Each step spells out its own DDL, so later changes of the Python table definitions never change
what an old step does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    inspect,
    select,
    update,
)

from vigil.errors import StoreError, truncate


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    what: str
    apply: Callable[[Connection], None]


def _v1_tables(meta: MetaData) -> None:
    Table(
        "meta",
        meta,
        Column("key", String(64), primary_key=True),
        Column("value", Text, nullable=False),
    )
    Table(
        "profiles",
        meta,
        Column("key", String(512), primary_key=True),
        Column("state", String(16), nullable=False),
        Column("updated", String(40), nullable=False),
        Column("body", Text, nullable=False),
    )
    Table(
        "alerts",
        meta,
        Column("id", String(64), primary_key=True),
        Column("time", String(40), nullable=False, index=True),
        Column("kind", String(16), nullable=False),
        Column("rule", String(200), nullable=False),
        Column("severity", String(16), nullable=False),
        Column("workload", String(512), nullable=False, index=True),
        Column("container_id", String(128), nullable=False),
        Column("body", Text, nullable=False),
    )


def _v1_initial(conn: Connection) -> None:
    meta = MetaData()
    _v1_tables(meta)
    meta.create_all(conn)


def _v2_incidents(conn: Connection) -> None:
    meta = MetaData()
    Table(
        "incidents",
        meta,
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
    Table(
        "incident_timeline",
        meta,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("incident_id", String(64), nullable=False, index=True),
        Column("time", String(40), nullable=False),
        Column("kind", String(32), nullable=False),
        Column("body", Text, nullable=False),
    )
    Table(
        "profile_versions",
        meta,
        Column("key", String(512), primary_key=True),
        Column("version", Integer, primary_key=True),
        Column("state", String(16), nullable=False),
        Column("image", String(512), nullable=False),
        Column("updated", String(40), nullable=False),
        Column("body", Text, nullable=False),
    )
    Table(
        "alert_exceptions",
        meta,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("workload", String(512), nullable=False, index=True),
        Column("rule", String(200), nullable=False),
        Column("item", Text, nullable=False),
        Column("created", String(40), nullable=False),
        Column("incident_id", String(64), nullable=False),
    )
    meta.create_all(conn)
    # Existing alerts stay where they are; new ones name the incident that holds them.
    conn.exec_driver_sql("ALTER TABLE alerts ADD COLUMN incident_id VARCHAR(64)")
    alerts = Table("alerts", MetaData(), autoload_with=conn)
    Index("ix_alerts_incident_id", alerts.c.incident_id).create(conn)
    Index("ix_alerts_severity", alerts.c.severity).create(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "meta, profiles and alerts", _v1_initial),
    Migration(2, "incidents, their timeline, profile versions, exceptions", _v2_incidents),
)
LATEST = MIGRATIONS[-1].version


def current_version(conn: Connection) -> int:
    """0 for an empty database; otherwise ``meta.schema_version``."""
    if not inspect(conn).has_table("meta"):
        return 0
    meta_table = Table("meta", MetaData(), autoload_with=conn)
    row = conn.execute(
        select(meta_table.c.value).where(meta_table.c.key == "schema_version")
    ).first()
    if row is None:
        return 0
    try:
        return int(row.value)
    except ValueError:
        raise StoreError(f"schema version {truncate(row.value, 20)!r} is not a number") from None


def migrate(conn: Connection, location: str) -> list[int]:
    """Bring the schema to :data:`LATEST`; returns the versions applied (empty if up to date)."""
    found = current_version(conn)
    if found > LATEST:
        raise StoreError(
            f"{location} has schema version {found}, this vigil reads up to version {LATEST}",
            hint="upgrade vigil, or use another --data-dir; the database is left untouched",
        )
    applied = []
    for step in MIGRATIONS:
        if step.version <= found:
            continue
        step.apply(conn)
        meta_table = Table("meta", MetaData(), autoload_with=conn)
        if step.version == 1:
            conn.execute(insert(meta_table).values(key="schema_version", value="1"))
        else:
            conn.execute(
                update(meta_table)
                .where(meta_table.c.key == "schema_version")
                .values(value=str(step.version))
            )
        applied.append(step.version)
    return applied
