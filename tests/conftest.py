"""Shared fixtures: a store on each backend (SQLite in tmp, PostgreSQL in a throwaway cluster)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.postgres import Cluster, throwaway_cluster
from tests.fixtures.stores import StoreOpener
from vigil.record.store import Store


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str | None:
    """``None`` (SQLite under tmp_path) or a fresh PostgreSQL database's URL."""
    if backend == "sqlite":
        return None
    cluster: Cluster = request.getfixturevalue("postgres")
    return cluster.new_database()


@pytest.fixture
def open_store(store_url: str | None, tmp_path: Path) -> Iterator[StoreOpener]:
    """Opens the test's store (again, to show what survives a restart); closes them all."""
    opened: list[Store] = []

    def opener() -> Store:
        store = Store.open(tmp_path, store_url)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()
