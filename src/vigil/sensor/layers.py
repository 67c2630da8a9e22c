"""Where an executable comes from: the container's writable (overlay upper) layer or not.

An exec record carries the executable's superblock magic and its path as the process sees it.
When that filesystem is an overlay, the file lies on the writable layer exactly when it exists
in the overlay's ``upperdir``, which the process's root mount names in its super options. The
upper dir is looked up once per cgroup (from any process in that cgroup now) and cached.

Containers whose root is not an overlay (plain ``runc`` with a directory rootfs) have no
separate writable layer: their executables are never reported as on it, and
``exe_changed_after_start`` (ctime/mtime later than the container's first process) is the
signal that the file was dropped or modified at run time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from vigil.caches import BoundedCache

OVERLAYFS_MAGIC = 0x794C7630


def root_upperdir(mountinfo: str) -> str | None:
    """The ``upperdir`` of the overlay mounted at ``/`` in a mountinfo text, if any."""
    found: str | None = None
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 10 or fields[4] != "/":
            continue
        try:
            dash = fields.index("-")
        except ValueError:
            continue
        found = None  # the last mount at "/" is the one in effect
        if fields[dash + 1] == "overlay" and len(fields) > dash + 3:
            for option in fields[dash + 3].split(","):
                if option.startswith("upperdir="):
                    found = option.removeprefix("upperdir=").replace("\\040", " ")
    return found


class WritableLayers:
    """``cgroup_of(pid)`` is the cgroup2 id a process is in now (0 when unknown): only a
    process inside the container may name its root. Its parent may not be (``runc exec`` runs
    on the host), and a host mountinfo would record "no overlay" for the container for good."""

    def __init__(
        self,
        proc_root: Path = Path("/proc"),
        capacity: int = 4096,
        *,
        cgroup_of: Callable[[int], int],
    ) -> None:
        self.proc_root = proc_root
        self.capacity = capacity
        self.cgroup_of = cgroup_of
        #: cgroup → its root overlay's upper dir, or None: not an overlay
        self._upper: BoundedCache[int, str | None] = BoundedCache(capacity)

    def upperdir(self, cgroup_id: int, pids: Iterable[int]) -> str | None:
        """The root overlay's upper dir of the container in ``cgroup_id``, read from the
        mountinfo of the first of ``pids`` still alive and in that cgroup."""
        if cgroup_id in self._upper:  # None is an answer too: asked before get()
            return self._upper.get(cgroup_id)
        for pid in pids:
            if self.cgroup_of(pid) not in (cgroup_id, 0):
                continue  # gone, recycled, or never inside (a runtime's process on the host)
            try:
                text = (self.proc_root / str(pid) / "mountinfo").read_text(errors="replace")
            except OSError:
                continue
            upper = root_upperdir(text)
            self._upper.put(cgroup_id, upper)
            return upper
        return None  # every process gone: do not cache, the next exec may tell

    def on_writable_layer(self, magic: int, path: str, cgroup_id: int, pids: Iterable[int]) -> bool:
        if magic != OVERLAYFS_MAGIC or not path.startswith("/"):
            return False
        upper = self.upperdir(cgroup_id, pids)
        return upper is not None and os.path.lexists(upper + path)
