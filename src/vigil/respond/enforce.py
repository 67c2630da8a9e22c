"""The in-kernel block at exec: enforce.bpf.c, built and loaded like the sensor, driven by maps.

``deny(cgroup_id, exe)`` makes every later ``execve(exe)`` in that cgroup die of SIGKILL before
the program's first instruction; ``allow_only(cgroup_id, exes)`` turns the cgroup into an
allow-list (e.g. the workload's locked profile): anything else is killed the same way.

Executables are matched by the path given to execve — the path the sensor reports and profiles
learn. A different path to the same file (another symlink, ``/bin/../bin/x``, a copy) is a
different executable: combine with ``allow_only`` where that matters.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Self

from vigil.errors import RuntimeActionError, SensorError
from vigil.sensor import libbpf as bpf
from vigil.sensor.bpf_object import BpfObject
from vigil.sensor.build import DEFAULT_BTF, build_object

log = logging.getLogger(__name__)

SOURCE_DIR = Path(__file__).parent / "bpf"
SOURCES = ("enforce.bpf.c",)
PATH_MAX = 256
MAPS = ("denied_exes", "allowed_exes", "allowlist_cgroups", "enforce_stats")
PRESENT = bytes(ctypes.c_uint8(1))


class ExeKey(ctypes.Structure):
    _fields_ = (("cgroup_id", ctypes.c_uint64), ("path", ctypes.c_char * PATH_MAX))


def exe_key(cgroup_id: int, path: str) -> ExeKey:
    raw = path.encode()
    if not raw or len(raw) >= PATH_MAX or b"\0" in raw:
        raise RuntimeActionError(f"cannot block {path[:80]!r}: not a path of 1..255 bytes")
    return ExeKey(cgroup_id, raw)


class Enforcer:
    """Loads the block program on enter, detaches it on exit (nothing stays in the kernel)."""

    def __init__(self, cache_dir: Path, *, btf_path: Path = DEFAULT_BTF) -> None:
        self.cache_dir = cache_dir
        self.btf_path = btf_path
        self._object: BpfObject | None = None
        self._lock = threading.Lock()
        self.denied: set[tuple[int, str]] = set()
        self.allowlisted: dict[int, set[str]] = {}

    @property
    def active(self) -> bool:
        return self._object is not None and bool(self._object.attached())

    def start(self) -> None:
        if os.geteuid() != 0:
            raise RuntimeActionError("the in-kernel block needs root")
        built = build_object(
            self.cache_dir, btf_path=self.btf_path, source_dir=SOURCE_DIR, sources=SOURCES
        )
        try:
            self._object = BpfObject(built.path)
            self._object.load()
            for name in MAPS:
                self._object.map_fd(name)
            self._object.attach()
        except SensorError:
            self.close()
            raise
        log.info("in-kernel exec block attached")

    def close(self) -> None:
        if self._object is not None:
            self._object.close()
            self._object = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- maps ----------------------------------------------------------------------------------
    def _update(self, map_name: str, key: ctypes.Structure | ctypes.c_uint64) -> None:
        err = bpf.map_write(self._map(map_name), bytes(key), PRESENT)
        if err:
            raise RuntimeActionError(f"cannot write {map_name}: {os.strerror(err)}")

    def _delete(self, map_name: str, key: ctypes.Structure | ctypes.c_uint64) -> None:
        bpf.map_delete(self._map(map_name), bytes(key))

    def _map(self, name: str) -> int:
        if self._object is None or not self._object.loaded or name not in MAPS:
            raise RuntimeActionError("the in-kernel block is not loaded")
        return self._object.map_fd(name)

    def deny(self, cgroup_id: int, exe: str) -> None:
        with self._lock:
            self._update("denied_exes", exe_key(cgroup_id, exe))
            self.denied.add((cgroup_id, exe))

    def allow_only(self, cgroup_id: int, exes: Iterable[str]) -> int:
        """Enforce an allow-list on the cgroup; returns how many executables it allows."""
        allowed = {exe for exe in exes if 0 < len(exe.encode()) < PATH_MAX}
        if not allowed:
            raise RuntimeActionError("refusing an empty allow-list: it would kill every exec")
        with self._lock:
            for exe in allowed - self.allowlisted.get(cgroup_id, set()):
                self._update("allowed_exes", exe_key(cgroup_id, exe))
            self._update("allowlist_cgroups", ctypes.c_uint64(cgroup_id))
            self.allowlisted.setdefault(cgroup_id, set()).update(allowed)
        return len(allowed)

    def release(self, cgroup_id: int) -> None:
        """Stop enforcing anything on the cgroup (e.g. after it was deleted)."""
        with self._lock:
            self._delete("allowlist_cgroups", ctypes.c_uint64(cgroup_id))
            for exe in self.allowlisted.pop(cgroup_id, set()):
                self._delete("allowed_exes", exe_key(cgroup_id, exe))
            for denied_cgroup, exe in list(self.denied):
                if denied_cgroup == cgroup_id:
                    self._delete("denied_exes", exe_key(cgroup_id, exe))
                    self.denied.discard((denied_cgroup, exe))

    def kills(self) -> int:
        """Processes killed at exec so far (all CPUs)."""
        return bpf.percpu_u64_sum(self._map("enforce_stats"), 0)
