import os
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from tests.fakes import WEB, WEB_1, exec_event
from vigil.detect.profiles import ProfileBook
from vigil.errors import StoreError
from vigil.models import Alert, Severity, utcnow
from vigil.record.store import DB_NAME, Store


def test_profiles_survive_a_restart(tmp_path: Path) -> None:
    book = ProfileBook(learning_period=None)
    book.observe(replace(exec_event("/bin/sh"), container=WEB_1, workload=WEB))
    book.lock_all()
    store = Store.open(tmp_path)
    store.save_profiles(book.take_dirty())
    store.close()

    reopened = Store.open(tmp_path)
    (profile,) = reopened.load_profiles()
    assert profile.key == WEB.key
    assert profile.state.value == "locked"
    assert profile.executables == {"/bin/sh"}
    reopened.close()


def test_alerts_are_stored_and_listed_newest_first(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    event = replace(exec_event("/bin/nc"), container=WEB_1, workload=WEB)
    for number in range(3):
        store.save_alert(
            Alert(
                id=f"a{number}",
                time=utcnow(),
                kind="deviation",
                rule="profile.new_executable",
                severity=Severity.HIGH,
                message=f"m{number}",
                event=event,
            )
        )
    listed = store.alerts(limit=2)
    assert [a["id"] for a in listed] == ["a2", "a1"]
    assert listed[0]["container"]["id"] == "web-1"
    assert store.alerts(workload="other") == []
    store.close()


def test_corrupt_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    garbage = b"this is not sqlite" * 100
    (tmp_path / DB_NAME).write_bytes(garbage)
    with pytest.raises(StoreError, match="not a usable vigil database"):
        Store.open(tmp_path)
    assert (tmp_path / DB_NAME).read_bytes() == garbage


def test_database_from_a_newer_vigil_is_refused(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(StoreError, match="schema version 99"):
        Store.open(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_data_dir(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    with pytest.raises(StoreError, match="not writable"):
        Store.open(tmp_path)
