"""Every version of every profile, kept: a new image, a relearn or an import adds one.

The ``profiles`` table holds each workload's current version (what the agent loads); this table
holds all of them, so that `vigil profiles diff` can compare a profile with what it was.
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table, Text

from vigil.record.store import metadata

profile_versions_table = Table(
    "profile_versions",
    metadata,
    Column("key", String(512), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("image", String(512), nullable=False),
    Column("updated", String(40), nullable=False),
    Column("body", Text, nullable=False),
)
