"""What container engines keep about their containers beyond the OCI bundle: name, image, labels.

Docker writes ``<docker root>/containers/<id>/config.v2.json``; Podman (4.8 and later) keeps a
SQLite database (``db.sql``) with one JSON document per container and pod, and every
containers/storage user (Podman, Buildah, CRI-O) lists its containers with their image in
``<driver>-containers/containers.json``. All three are read-only here and optional: a file that
is missing means "no metadata", one that is unreadable is a :class:`StateError`.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vigil.errors import truncate
from vigil.identity.cgroups import CONTAINER_ID_RE
from vigil.identity.runtime import MAX_CONFIG_BYTES, StateError, read_json, read_json_list

DEFAULT_DOCKER_ROOT = "/var/lib/docker"
DEFAULT_PODMAN_DB = "/var/lib/containers/storage/db.sql"
DEFAULT_STORAGE_ROOT = "/var/lib/containers/storage"
#: containers.json lists every container of the store; it can be large, but not unbounded
MAX_STORAGE_LIST_BYTES = 32 << 20
#: containers/storage keeps its list under ``<driver>-containers``: overlay where the kernel has
#: it, vfs on hosts (or nested containers) where it does not
STORAGE_DRIVERS = ("overlay", "vfs", "btrfs", "zfs")


@dataclass(frozen=True, slots=True)
class EngineMetadata:
    """A container as its engine describes it."""

    #: the file it was read from (shown by ``vigil containers``)
    source: str
    name: str = ""
    image: str = ""
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    #: the Podman pod the container belongs to ("" when none)
    pod: str = ""


class DockerConfigs:
    """``<root>/containers/<id>/config.v2.json``: the name (``/web-1``), image and labels."""

    def __init__(self, root: str = DEFAULT_DOCKER_ROOT) -> None:
        self.root = root

    def read(self, container_id: str) -> EngineMetadata | None:
        if not CONTAINER_ID_RE.match(container_id):
            return None
        path = os.path.join(self.root, "containers", container_id, "config.v2.json")
        if not os.path.isfile(path):
            return None
        data = read_json(path, MAX_CONFIG_BYTES)
        raw_config = data.get("Config")
        config: dict[str, Any] = raw_config if isinstance(raw_config, dict) else {}
        return EngineMetadata(
            source=path,
            name=str(data.get("Name") or "").lstrip("/"),
            image=str(config.get("Image") or ""),
            labels=_str_map(config.get("Labels")),
        )


class PodmanStore:
    """Podman's SQLite state (name, image, labels, pod), else containers/storage's list."""

    def __init__(
        self, database: str = DEFAULT_PODMAN_DB, storage_root: str = DEFAULT_STORAGE_ROOT
    ) -> None:
        self.database = database
        self.storage_lists = tuple(
            os.path.join(storage_root, f"{driver}-containers", "containers.json")
            for driver in STORAGE_DRIVERS
        )

    def read(self, container_id: str) -> EngineMetadata | None:
        if not CONTAINER_ID_RE.match(container_id):
            return None
        if os.path.isfile(self.database):
            found = self._from_database(container_id)
            if found is not None:
                return found
        for storage_list in self.storage_lists:
            if os.path.isfile(storage_list):
                found = self._from_storage_list(storage_list, container_id)
                if found is not None:
                    return found
        return None

    def _from_database(self, container_id: str) -> EngineMetadata | None:
        try:
            # read-only: the agent must never take a write lock on Podman's state
            with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=1.0) as db:
                row = db.execute(
                    "SELECT c.JSON, p.Name FROM ContainerConfig c "
                    "LEFT JOIN PodConfig p ON p.ID = c.PodID WHERE c.ID = ?",
                    (container_id,),
                ).fetchone()
        except sqlite3.Error as exc:
            raise StateError(f"{self.database}: {truncate(exc, 120)}") from exc
        if row is None:
            return None
        try:
            config = json.loads(row[0])
        except (TypeError, json.JSONDecodeError) as exc:
            raise StateError(
                f"{self.database}: container {truncate(container_id, 80)}: not valid JSON"
            ) from exc
        if not isinstance(config, dict):
            raise StateError(f"{self.database}: container {truncate(container_id, 80)}: no object")
        return EngineMetadata(
            source=self.database,
            name=str(config.get("name") or ""),
            image=str(config.get("rootfsImageName") or ""),
            labels=_str_map(config.get("labels")),
            pod=str(row[1] or ""),
        )

    def _from_storage_list(self, storage_list: str, container_id: str) -> EngineMetadata | None:
        entries: Any = read_json_list(storage_list, MAX_STORAGE_LIST_BYTES)
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("id") != container_id:
                continue
            try:
                metadata = json.loads(entry.get("metadata") or "{}")
            except (TypeError, json.JSONDecodeError):
                metadata = {}
            metadata = metadata if isinstance(metadata, dict) else {}
            names = entry.get("names")
            name = metadata.get("name") or (names[0] if isinstance(names, list) and names else "")
            return EngineMetadata(
                source=storage_list,
                name=str(name or ""),
                image=str(metadata.get("image-name") or ""),
            )
        return None


@dataclass(frozen=True, slots=True)
class EngineStores:
    """Where each engine keeps its metadata (every path injectable for tests)."""

    docker: DockerConfigs = field(default_factory=DockerConfigs)
    podman: PodmanStore = field(default_factory=PodmanStore)

    def read(
        self, runtime: str, container_id: str, annotations: Mapping[str, str]
    ) -> EngineMetadata | None:
        """The engine's metadata for a container, or None; raises StateError when unreadable."""
        if runtime == "docker":
            return self.docker.read(container_id)
        if runtime == "podman" or annotations.get("io.container.manager") == "libpod":
            return self.podman.read(container_id)
        return None


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float)}
