"""The store on SQLite and on PostgreSQL (a throwaway cluster): the same tests on both."""

import os
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from tests.fixtures import DATA
from tests.fixtures.fakes import WEB, WEB_1, WEB_2, exec_event, new_executable_alert
from tests.fixtures.stores import StoreOpener
from vigil.detect.profiles import ProfileBook
from vigil.errors import StoreError
from vigil.models import Alert, ContainerInfo, Severity
from vigil.record.migrations import LATEST
from vigil.record.store import DB_NAME, AlertFilter, Store, postgres_url

V1_DUMP = DATA / "store_v1.sql"


def make_alert(
    number: int, *, severity: Severity = Severity.HIGH, container: ContainerInfo = WEB_1
) -> Alert:
    event = replace(exec_event(f"/bin/x{number}"), container=container, workload=WEB)
    return new_executable_alert(f"a{number:03d}", number, event, severity, f"m{number}")


def test_profiles_survive_a_restart(open_store: StoreOpener) -> None:
    book = ProfileBook(learning_period=None)
    book.observe(replace(exec_event("/bin/sh"), container=WEB_1, workload=WEB))
    book.lock_all()
    store = open_store()
    store.save_profiles(book.take_dirty())
    store.close()

    (profile,) = open_store().load_profiles()
    assert profile.key == WEB.key
    assert profile.state.value == "locked"
    assert profile.executables == {"/bin/sh"}


def test_alerts_are_stored_and_listed_newest_first(open_store: StoreOpener) -> None:
    store = open_store()
    for number in range(3):
        store.save_alert(make_alert(number))
    listed = store.alerts(limit=2)
    assert [a["id"] for a in listed] == ["a002", "a001"]
    assert listed[0]["container"]["id"] == "web-1"
    assert store.alerts(workload="other") == []


def test_alert_filters_and_pages(open_store: StoreOpener) -> None:
    store = open_store()
    for number in range(25):
        severity = Severity.CRITICAL if number % 5 == 0 else Severity.MEDIUM
        store.save_alert(
            make_alert(number, severity=severity, container=[WEB_1, WEB_2][number % 2])
        )

    seen: list[str] = []
    cursor = None
    while True:
        page = store.alert_page(AlertFilter(), limit=10, cursor=cursor)
        seen += [a["id"] for a in page.alerts]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"a{n:03d}" for n in reversed(range(25))]  # all, once, newest first

    critical = store.alert_page(AlertFilter(severities=("critical",)), limit=100).alerts
    assert [a["id"] for a in critical] == ["a020", "a015", "a010", "a005", "a000"]
    on_web2 = store.alert_page(AlertFilter(container="web-2"), limit=100).alerts
    assert len(on_web2) == 12 and {a["container"]["id"] for a in on_web2} == {"web-2"}
    window = AlertFilter(since="2026-11-28T12:00:10.000000Z", until="2026-11-28T12:00:13.000000Z")
    assert [a["id"] for a in store.alert_page(window).alerts] == ["a012", "a011", "a010"]
    with pytest.raises(StoreError, match="not one this API gave"):
        store.alert_page(AlertFilter(), cursor="bm9uc2Vuc2U=")


def test_profile_versions_are_kept_on_every_backend(open_store: StoreOpener) -> None:
    store = open_store()
    book = ProfileBook(learning_period=None)
    book.observe(replace(exec_event("/bin/sh"), container=WEB_1, workload=WEB))
    book.lock_all()
    store.save_profiles(book.take_dirty())
    book.relearn([WEB.key])  # a new, empty version 2; version 1 is kept
    book.observe(replace(exec_event("/bin/cat"), container=WEB_1, workload=WEB))
    store.save_profiles(book.take_dirty())
    store.save_profile_versions(book.take_superseded())
    versions = store.profile_versions(WEB.key)
    assert [(v["version"], v["state"]) for v in versions] == [(1, "locked"), (2, "learning")]
    first = store.load_profile_version(WEB.key, 1)
    assert first is not None and first.executables == {"/bin/sh"}
    (current,) = store.load_profiles()
    assert current.version == 2 and current.executables == {"/bin/cat"}


def load_v1_dump(store_url: str | None, data_dir: Path) -> None:
    """The database exactly as vigil 0.1.0 left it (made by its store, dumped to SQL)."""
    script = V1_DUMP.read_text()
    if store_url is None:
        data_dir.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(data_dir / DB_NAME) as conn:
            conn.executescript(script)
        return
    engine = create_engine(postgres_url(store_url))
    with engine.begin() as conn:
        conn.exec_driver_sql(script)
    engine.dispose()


def test_a_database_of_the_first_schema_is_migrated(
    backend: str, store_url: str | None, tmp_path: Path, open_store: StoreOpener
) -> None:
    load_v1_dump(store_url, tmp_path)
    store = open_store()
    assert store.backend == backend
    assert store.schema_version() == LATEST
    (profile,) = store.load_profiles()
    assert profile.executables == {"/bin/sh"}
    old = store.alerts()
    assert [a["id"] for a in old] == ["v1-alert-1", "v1-alert-0"]
    assert old[0]["incident_id"] is None  # older than incidents
    with store.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        columns = {c["name"] for c in inspect(conn).get_columns("alerts")}
    assert {"incidents", "incident_timeline", "profile_versions", "alert_exceptions"} <= tables
    assert "incident_id" in columns
    store.save_alert(make_alert(1))  # and it takes new alerts
    store.close()
    assert open_store().schema_version() == LATEST  # reopening migrates nothing twice


def test_database_from_a_newer_vigil_is_refused(open_store: StoreOpener) -> None:
    store = open_store()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE meta SET value='99' WHERE key='schema_version'")
    store.close()
    with pytest.raises(StoreError, match="schema version 99, this vigil reads up to version"):
        open_store()


def test_sqlite_is_in_wal_mode(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_corrupt_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    garbage = b"this is not sqlite" * 100
    (tmp_path / DB_NAME).write_bytes(garbage)
    with pytest.raises(StoreError, match="not a usable vigil database"):
        Store.open(tmp_path)
    assert (tmp_path / DB_NAME).read_bytes() == garbage


def test_unreachable_postgres_is_one_clear_error_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql://vigil:s3cret@/nope?host={tmp_path}/no-socket-here"
    with pytest.raises(StoreError, match="not a usable vigil database") as caught:
        Store.open(tmp_path, url)
    assert "s3cret" not in str(caught.value)
    with pytest.raises(StoreError, match="SQLite or PostgreSQL"):
        Store.open(tmp_path, "mysql://u@h/db")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_data_dir(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    with pytest.raises(StoreError, match="not writable"):
        Store.open(tmp_path)
