"""Engines' own metadata files (vigil.identity.engines) on their own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigil.identity.engines import STORAGE_DRIVERS, PodmanStore

ID = "c" * 64


def storage_list(root: Path, driver: str, container_id: str, name: str) -> None:
    metadata = {"image-name": "docker.io/library/redis:7", "name": name}
    entry = {"id": container_id, "names": [name], "metadata": json.dumps(metadata)}
    directory = root / f"{driver}-containers"
    directory.mkdir(parents=True)
    (directory / "containers.json").write_text(json.dumps([entry]))


@pytest.mark.parametrize("driver", STORAGE_DRIVERS)
def test_podman_storage_list_of_any_driver(tmp_path: Path, driver: str) -> None:
    """Podman before 4.8 has no SQLite state: containers/storage's list, whatever its driver."""
    storage_list(tmp_path, driver, ID, "cache")
    found = PodmanStore(str(tmp_path / "db.sql"), str(tmp_path)).read(ID)

    assert found is not None
    assert (found.name, found.image) == ("cache", "docker.io/library/redis:7")
    assert found.source == str(tmp_path / f"{driver}-containers" / "containers.json")


def test_podman_storage_lists_are_searched_until_the_container_is_found(tmp_path: Path) -> None:
    storage_list(tmp_path, "overlay", "d" * 64, "other")
    storage_list(tmp_path, "vfs", ID, "cache")

    found = PodmanStore(str(tmp_path / "db.sql"), str(tmp_path)).read(ID)
    assert found is not None and found.name == "cache"
    assert PodmanStore(str(tmp_path / "db.sql"), str(tmp_path)).read("e" * 64) is None
