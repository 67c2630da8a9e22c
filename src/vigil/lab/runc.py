"""Start, inspect, pause and remove OCI containers with the system's runc."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from vigil.errors import VigilError
from vigil.identity.cgroups import cgroup2_dir_of

RUNC_ROOT = "/run/runc"


def runc_available() -> bool:
    return shutil.which("runc") is not None


class RuncContainer:
    """One container made from ``rootfs`` with ``runc run -d``; removed (with its bundle) on exit.

    ``annotations`` go into the bundle's ``config.json`` as a CRI would put them;
    ``host_network`` keeps the host's network namespace so that the container reaches loopback;
    ``binds`` maps paths in the container to host directories mounted there read-write.
    """

    def __init__(
        self,
        container_id: str,
        rootfs: Path,
        bundle_dir: Path,
        args: Sequence[str],
        *,
        annotations: Mapping[str, str] | None = None,
        host_network: bool = True,
        cgroups_path: str | None = None,
        root: str = RUNC_ROOT,
        binds: Mapping[str, Path] | None = None,
    ) -> None:
        self.id = container_id
        self.rootfs = rootfs
        self.bundle = bundle_dir
        self.args = list(args)
        self.annotations = dict(annotations or {})
        self.host_network = host_network
        self.cgroups_path = cgroups_path
        self.root = root
        self.binds = dict(binds or {})

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def start(self) -> None:
        self.bundle.mkdir(parents=True, exist_ok=True)
        (self.bundle / "config.json").write_text(json.dumps(self._spec(), indent=2))
        # The container inherits runc's stdio: give it files, not pipes we would wait on forever.
        log = self.bundle / "container.log"
        with log.open("wb") as out:
            proc = subprocess.run(
                [
                    "runc",
                    "--root",
                    self.root,
                    "run",
                    "--detach",
                    "--bundle",
                    str(self.bundle),
                    self.id,
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                timeout=30.0,
                check=False,
            )
        if proc.returncode != 0:
            detail = log.read_text(errors="replace").strip()[-300:]
            raise VigilError(f"runc run {self.id} failed: {detail}")

    def remove(self) -> None:
        """Thaw, kill and delete the container; safe to call twice or after a failed start."""
        if self.status() == "paused":
            self._runc("resume", self.id, check=False)
        self._runc("kill", self.id, "KILL", check=False)
        self._runc("delete", "--force", self.id, check=False)
        shutil.rmtree(self.bundle, ignore_errors=True)

    # -- inspection and control ------------------------------------------------------------
    def state(self) -> dict[str, Any] | None:
        proc = self._runc("state", self.id, check=False)
        if proc.returncode != 0:
            return None
        state: dict[str, Any] = json.loads(proc.stdout)
        return state

    def status(self) -> str | None:
        state = self.state()
        return str(state["status"]) if state else None

    @property
    def pid(self) -> int:
        state = self.state()
        if not state:
            raise VigilError(f"container {self.id} is not running")
        return int(state["pid"])

    def cgroup_dir(self) -> Path:
        """The container's cgroup2 directory (of its first process)."""
        found = cgroup2_dir_of(self.pid)
        if found is None:
            raise VigilError(f"container {self.id} has no cgroup2 directory")
        return found

    def cgroup_id(self) -> int:
        """The id the kernel tags the container's events with (its cgroup2 inode)."""
        return self.cgroup_dir().stat().st_ino

    def exec(
        self, args: Sequence[str], *, timeout: float = 30.0, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run ``args`` inside the container (``runc exec``) and wait for it."""
        return self._runc("exec", self.id, *args, check=check, timeout=timeout)

    def spawn(self, args: Sequence[str]) -> subprocess.Popen[bytes]:
        """Start ``args`` inside the container without waiting (it may get frozen or killed)."""
        return subprocess.Popen(
            ["runc", "--root", self.root, "exec", self.id, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_for_status(self, wanted: str, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.status() == wanted:
                return True
            time.sleep(0.05)
        return False

    # -- internals -------------------------------------------------------------------------
    def _runc(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 30.0,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["runc", "--root", self.root, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise VigilError(f"runc {args[0]} {self.id} failed: {proc.stderr.strip()[:300]}")
        return proc

    def _spec(self) -> dict[str, Any]:
        proc = subprocess.run(
            ["runc", "spec", "--bundle", str(self.bundle)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 and "already exists" not in proc.stderr:
            raise VigilError(f"runc spec failed: {proc.stderr.strip()[:300]}")
        spec: dict[str, Any] = json.loads((self.bundle / "config.json").read_text())
        spec["root"] = {"path": str(self.rootfs), "readonly": True}
        spec["process"]["terminal"] = False
        spec["process"]["args"] = self.args
        spec["hostname"] = self.id
        if self.annotations:
            spec["annotations"] = self.annotations
        if self.cgroups_path:
            spec["linux"]["cgroupsPath"] = self.cgroups_path
        for destination, source in self.binds.items():
            spec["mounts"].append(
                {"destination": destination, "type": "bind", "source": str(source),
                 "options": ["rbind"]}
            )  # fmt: skip
        if self.host_network:
            spec["linux"]["namespaces"] = [
                ns for ns in spec["linux"]["namespaces"] if ns["type"] != "network"
            ]
        return spec
