"""A throwaway PostgreSQL cluster for the tests: initdb into a temp dir, a Unix socket only.

Runs as the ``postgres`` user when the tests run as root (PostgreSQL refuses root). Skips with
the reason when the server binaries are not installed (scripts/install.sh --dev installs them).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


class Cluster:
    def __init__(self, root: Path, bin_dir: Path, run_as: dict[str, Any]) -> None:
        self.root = root
        self.bin_dir = bin_dir
        self.run_as = run_as
        self.socket_dir = root / "sock"
        self.admin_url = f"postgresql+psycopg://vigil@/postgres?host={self.socket_dir}"

    def run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [str(self.bin_dir / tool), *args],
            check=True,
            capture_output=True,
            timeout=60,
            **self.run_as,
        )

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL (postgresql://, as a user would write it)."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        engine.dispose()
        return f"postgresql://vigil@/{name}?host={self.socket_dir}"


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not installed (scripts/install.sh --dev)")
    root = Path(tempfile.mkdtemp(prefix="vigil-pg-"))
    run_as: dict[str, Any] = {}
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run PostgreSQL as")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        run_as = {"user": owner.pw_uid, "group": owner.pw_gid}
    cluster = Cluster(root, bin_dir, run_as)
    data = root / "data"
    try:
        cluster.run("initdb", "-D", str(data), "-U", "vigil", "--auth=trust", "-E", "UTF8", "-N")
        (root / "sock").mkdir()
        if run_as:
            os.chown(root / "sock", run_as["user"], run_as["group"])
        options = f"-k {root / 'sock'} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
        cluster.run(
            "pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"
        )
        yield cluster
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                timeout=60,
                check=False,
                **run_as,
            )
        shutil.rmtree(root, ignore_errors=True)
