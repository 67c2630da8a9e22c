"""The `vigil` command as a user runs it: help, bad input, one clear line, the right exit code."""

import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.fixtures.fakes import WEB, WEB_1, exec_event
from vigil.detect.profiles import ProfileBook
from vigil.record.store import DB_NAME, Store

VIGIL = [sys.executable, "-m", "vigil"]


def vigil(
    *args: str, user: int | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    prefix: list[str] = []
    if user is not None:
        prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
    return subprocess.run(
        [*prefix, *VIGIL, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["run"],
        ["demo"],
        ["profiles"],
        *(
            ["profiles", sub]
            for sub in ("list", "lock", "unlock", "relearn", "export", "import", "diff", "versions")
        ),
        ["version"],
        ["containers"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = vigil(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_invalid_config_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("api:\n  listen: 127.0.0.1:7070\nplaybooks:\n  - mode: auto\n")
    result = vigil("run", "--config", str(config), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2
    assert f"{config}:4:5: playbooks[0]: mode 'auto' needs at least one action" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_output_spec_exits_2(tmp_path: Path) -> None:
    result = vigil("run", "--output", "kafka:topic", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "unknown output 'kafka:topic'" in result.stderr


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to drop it"
)
def test_without_root_one_line_and_exit_1(tmp_path: Path) -> None:
    result = vigil("run", "--data-dir", str(tmp_path / "d"), user=65534)
    assert result.returncode == 1
    assert "vigil run needs root" in result.stderr
    assert "sudo" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="vigil run needs root before it reads the data dir")
def test_corrupt_data_dir_is_refused_and_untouched(tmp_path: Path) -> None:
    garbage = os.urandom(4096)
    (tmp_path / DB_NAME).write_bytes(garbage)
    result = vigil("run", "--data-dir", str(tmp_path), "--listen", "127.0.0.1:0")
    assert result.returncode == 1
    assert "is not a usable vigil database" in result.stderr
    assert "move it aside" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (tmp_path / DB_NAME).read_bytes() == garbage


@pytest.mark.skipif(os.geteuid() != 0, reason="vigil run needs root")
def test_missing_btf_is_one_line_and_keeps_what_was_recorded(tmp_path: Path) -> None:
    data = tmp_path / "data"
    book = ProfileBook(learning_period=None)  # one locked profile, recorded before
    book.observe(replace(exec_event("/bin/sh"), container=WEB_1, workload=WEB))
    book.lock_all()
    recorded = Store.open(data)
    recorded.save_profiles(book.take_dirty())
    recorded.close()
    config = tmp_path / "agent.yaml"
    config.write_text("sensor:\n  btf: /nonexistent/vmlinux\n")
    result = vigil(
        "run", "--config", str(config), "--data-dir", str(data), "--listen", "127.0.0.1:0"
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("vigil:")]
    assert len(errors) == 1
    assert "/nonexistent/vmlinux" in errors[0] and "BTF" in errors[0]
    assert "Traceback" not in result.stderr
    store = Store.open(data)
    assert [p.state.value for p in store.load_profiles()] == ["locked"]
    store.close()
    with sqlite3.connect(data / DB_NAME) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
