"""A fake host for identity tests: /proc, a cgroup2 mount, runtime state roots and engine files.

cgroup ids are the real inode numbers of the fixture's directories, as they are on a host.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from tests.fakes import FakeClock
from vigil.identity import IdentityResolver, StateRoot
from vigil.identity.engines import DockerConfigs, EngineStores, PodmanStore

ID = "9b2f" + "5e6d7c8b9a0f1e2d" * 3 + "3c4b5a697887"
ID2 = "1a2b" + "c3d4e5f60718293a" * 3 + "4b5c6d7e8f90"
assert len(ID) == len(ID2) == 64
UID = "8d3c2a10-5b7e-4f62-9c1d-2e3f4a5b6c7d"
CREATED = "2026-11-28T04:40:31.24644634Z"


CRIO_ANNOTATIONS = {
    "io.kubernetes.pod.namespace": "shop",
    "io.kubernetes.pod.name": "web-7d4b9c8f6d-x2x9k",
    "io.kubernetes.container.name": "nginx",
    "io.kubernetes.cri-o.ImageName": "docker.io/library/nginx:1.25",
}
CRI_ANNOTATIONS = {
    "io.kubernetes.cri.container-type": "container",
    "io.kubernetes.cri.sandbox-namespace": "data",
    "io.kubernetes.cri.sandbox-name": "db-0",
    "io.kubernetes.cri.container-name": "postgres",
    "io.kubernetes.cri.image-name": "docker.io/library/postgres:16",
}


class FakeHost:
    """One machine's worth of OS boundary under tmp_path."""

    def __init__(self, base: Path, *, cgroup2: bool = True) -> None:
        self.proc = base / "proc"
        self.cgroup = base / "cgroup"
        self.run = base / "run"
        self.clock = FakeClock(1000.0)  # the resolver's monotonic seconds
        (self.proc / "self").mkdir(parents=True)
        self.cgroup.mkdir()
        mounts = "proc /proc proc rw 0 0\ncgroup /sys/fs/cgroup/freezer cgroup rw,freezer 0 0\n"
        if cgroup2:
            mounts += f"cgroup2 {self.cgroup} cgroup2 rw,relatime 0 0\n"
        (self.proc / "self" / "mounts").write_text(mounts)
        self.docker = base / "var-lib-docker"
        self.storage = base / "var-lib-containers-storage"
        self.engines = EngineStores(
            docker=DockerConfigs(str(self.docker)),
            podman=PodmanStore(str(self.storage / "db.sql"), str(self.storage)),
        )
        self.roots = [
            StateRoot(str(self.run / "runc"), "runc"),
            StateRoot(str(self.run / "crun"), "crun"),
            StateRoot(str(self.run / "containerd" / "runc"), "containerd", namespaced=True),
            StateRoot(str(self.run / "docker" / "runtime-runc" / "moby"), "docker"),
        ]

    def resolver(self, **options: Any) -> IdentityResolver:
        options.setdefault("engines", self.engines)
        return IdentityResolver(
            proc_root=str(self.proc), state_roots=self.roots, clock=self.clock, **options
        )

    def cgroup_dir(self, path: str) -> int:
        """Create a cgroup2 directory; its inode is the cgroup id the sensor would report."""
        directory = self.cgroup / path.lstrip("/")
        directory.mkdir(parents=True, exist_ok=True)
        return os.stat(directory).st_ino

    def process(self, pid: int, path: str, *, v1: str | None = None) -> None:
        (self.proc / str(pid)).mkdir(exist_ok=True)
        lines = f"6:freezer:{v1 or path}\n0::{path}\n"
        (self.proc / str(pid) / "cgroup").write_text(lines)

    def runc_container(
        self,
        root: str,
        container_id: str,
        cgroup_path: str,
        annotations: dict[str, str],
        *,
        pid: int = 4242,
    ) -> Path:
        """A runc state dir (``root`` relative to run/) and a bundle holding ``annotations``."""
        bundle = self.run / "bundles" / container_id
        bundle.mkdir(parents=True)
        (bundle / "config.json").write_text(
            json.dumps({"ociVersion": "1.0.2", "annotations": annotations})
        )
        state_dir = self.run / root / container_id
        state_dir.mkdir(parents=True)
        state = {
            "id": container_id,
            "init_process_pid": pid,
            "created": CREATED,
            "config": {"labels": [f"bundle={bundle}"]},
            "cgroup_paths": {
                "": f"{self.cgroup}{cgroup_path}",
                "freezer": f"/sys/fs/cgroup/freezer{cgroup_path}",
            },
        }
        (state_dir / "state.json").write_text(json.dumps(state))
        return state_dir

    # -- engines' own metadata -------------------------------------------------------------
    def docker_config(
        self, container_id: str, name: str, image: str, labels: dict[str, str] | None = None
    ) -> Path:
        """``containers/<id>/config.v2.json`` as dockerd writes it (the fields we read)."""
        directory = self.docker / "containers" / container_id
        directory.mkdir(parents=True)
        config = {
            "ID": container_id,
            "Name": f"/{name}",
            "Image": "sha256:" + "ab" * 32,
            "Config": {"Image": image, "Labels": labels or {}, "Hostname": container_id[:12]},
            "State": {"Running": True, "Pid": 4242},
        }
        (directory / "config.v2.json").write_text(json.dumps(config))
        return directory / "config.v2.json"

    def podman_db(
        self,
        containers: list[dict[str, Any]],
        pods: dict[str, str] | None = None,
    ) -> Path:
        """Podman's SQLite state with the tables and columns Podman creates (a subset)."""
        self.storage.mkdir(parents=True, exist_ok=True)
        path = self.storage / "db.sql"
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE PodConfig(ID TEXT PRIMARY KEY, Name TEXT UNIQUE, JSON TEXT)")
            db.execute(
                "CREATE TABLE ContainerConfig(ID TEXT PRIMARY KEY, Name TEXT UNIQUE,"
                " PodID TEXT, JSON TEXT NOT NULL)"
            )
            for pod_id, pod_name in (pods or {}).items():
                db.execute(
                    "INSERT INTO PodConfig VALUES (?, ?, ?)",
                    (pod_id, pod_name, json.dumps({"id": pod_id, "name": pod_name})),
                )
            for config in containers:
                db.execute(
                    "INSERT INTO ContainerConfig VALUES (?, ?, ?, ?)",
                    (config["id"], config["name"], config.get("pod"), json.dumps(config)),
                )
        return path

    def storage_containers(self, entries: list[dict[str, Any]]) -> Path:
        """containers/storage's ``overlay-containers/containers.json``."""
        directory = self.storage / "overlay-containers"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "containers.json").write_text(json.dumps(entries))
        return directory / "containers.json"
