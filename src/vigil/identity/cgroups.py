"""cgroup plumbing: where cgroup2 is mounted, cgroup id → path, and path → container id.

The sensor tags every event with ``bpf_get_current_cgroup_id()``, which is the inode number of the
process's cgroup2 directory. Walking the cgroup2 tree once gives an inode → path index; the path
then names the container in one of the layouts that runtimes and cgroup drivers use.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

_HEX64 = r"[0-9a-f]{64}"
# systemd scopes (systemd cgroup driver) and cgroupfs directories that name a container.
# The hex id must follow the prefix directly, so ``crio-conmon-<id>`` and ``libpod-conmon-<id>``
# (the runtime monitors, which run on the host's behalf) never match.
_SCOPE_LAYOUTS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(rf"^docker-({_HEX64})(\.scope)$"), "docker", "docker"),
    (re.compile(rf"^cri-containerd-({_HEX64})(\.scope)$"), "containerd", "cri-containerd"),
    (re.compile(rf"^crio-({_HEX64})(\.scope)?$"), "cri-o", "crio"),
    (re.compile(rf"^libpod-({_HEX64})(\.scope)?$"), "podman", "libpod"),
)
_HEX64_RE = re.compile(rf"^{_HEX64}$")
# kubelet pod cgroup, cgroupfs driver (the systemd driver's containers are scopes, matched above)
_POD_DIR_RE = re.compile(r"^pod[0-9a-f_-]+$")
# what may sit next to containers in a pod cgroup without being one: runtime monitors, units
_NOT_A_CONTAINER_RE = re.compile(r"conmon|\.(?:scope|slice|service)$")
#: characters runc accepts in a container id; anything else is never looked up on disk
CONTAINER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+.-]{0,127}$")

#: stop walking a cgroup tree after this many directories (a runaway tree must not stall the agent)
MAX_TREE_ENTRIES = 200_000


@dataclass(frozen=True, slots=True)
class ContainerRef:
    """A container id read from a cgroup path, with the runtime its layout points to."""

    id: str
    runtime: str
    #: the layout alone names the engine (docker-, cri-containerd-, crio-, libpod-); when False
    #: the runtime is a guess that a runtime state root may correct (e.g. kubepods/<hex> → docker)
    certain: bool
    #: the layout that matched, for people (e.g. ``cri-containerd scope (systemd driver)``)
    layout: str = field(default="", compare=False)


def parse_container_path(path: str) -> ContainerRef | None:
    """The container a cgroup path belongs to, judged from its layout alone.

    Components are read from the deepest up, so containers under extra prefixes
    (``/process_api/…/docker/<id>``) and sub-cgroups a container made inside itself
    (``…/libpod-<id>.scope/container``) still resolve. Plain runc/crun paths (``/<id>``) carry
    no marker: :func:`plain_candidates` gives the candidate the resolver checks against the
    runtime state roots.
    """
    parts = [p for p in path.split("/") if p]
    for index in range(len(parts) - 1, -1, -1):
        part = parts[index]
        for pattern, runtime, prefix in _SCOPE_LAYOUTS:
            match = pattern.match(part)
            if match:
                driver = "scope (systemd driver)" if match.group(2) else "(cgroupfs driver)"
                return ContainerRef(match.group(1), runtime, True, f"{prefix}-<id> {driver}")
        parent = parts[index - 1] if index > 0 else ""
        if _HEX64_RE.match(part) and parent == "docker":
            return ContainerRef(part, "docker", True, "docker/<id> (cgroupfs driver)")
        if (
            _POD_DIR_RE.match(parent)
            and CONTAINER_ID_RE.match(part)
            and not _NOT_A_CONTAINER_RE.search(part)
            and _under_kubepods(parts)
        ):
            # cgroupfs driver: /kubepods[/<qos>]/pod<uid>/<id>; containerd unless a state root
            # says otherwise (dockershim used the same layout)
            layout = "kubepods/[<qos>/]pod<uid>/<id> (cgroupfs driver)"
            return ContainerRef(part, "containerd", False, layout)
    return None


# a pod's uid in its cgroup: ``pod<uid>`` (cgroupfs) or ``kubepods-<qos>-pod<uid>.slice``
# (systemd, dashes written as underscores); static pods' uids are plain 32-hex hashes
_POD_UID_RE = re.compile(r"^(?:kubepods(?:-[a-z]+)?-)?pod([0-9a-f][0-9a-f_-]{30,35})(?:\.slice)?$")


def pod_uid_of(path: str) -> str | None:
    """The uid of the Kubernetes pod a cgroup path lies in (dashed form), if it names one."""
    parts = [p for p in path.split("/") if p]
    if not _under_kubepods(parts):
        return None
    for part in reversed(parts):
        match = _POD_UID_RE.match(part)
        if match:
            return match.group(1).replace("_", "-")
    return None


def _under_kubepods(parts: list[str]) -> bool:
    return any(
        p == "kubepods" or p.startswith("kubepods.") or p.startswith("kubepods-") for p in parts
    )


def plain_candidates(path: str) -> list[str]:
    """Container ids a path without a runtime marker could stand for (plain runc/crun).

    ``/<id>`` (cgroupfs driver, any prefix) gives its last component; a systemd-driver scope such
    as ``runc-<id>.scope`` gives ``<id>`` as well. Only ids known to a state root count.
    """
    name = path.rstrip("/").rpartition("/")[2]
    candidates = [name] if _is_id(name) else []
    if name.endswith(".scope") and "-" in name:
        inner = name[: -len(".scope")].partition("-")[2]
        if _is_id(inner):
            candidates.append(inner)
    return candidates


def plain_layout(path: str, container_id: str) -> str:
    """How a plain runc/crun path named ``container_id`` (see :func:`plain_candidates`)."""
    name = path.rstrip("/").rpartition("/")[2]
    if name == container_id:
        return "<parent>/<id> (cgroupfs driver)"
    return f"{name.partition('-')[0]}-<id>.scope (systemd driver)"


def _is_id(name: str) -> bool:
    return name not in {"", ".", ".."} and CONTAINER_ID_RE.match(name) is not None


def find_cgroup2_mount(mounts_text: str) -> str | None:
    """The first cgroup2 mount point in a ``/proc/<pid>/mounts`` text, or None (pure v1)."""
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == "cgroup2":
            return _unescape_mount_field(fields[1])
    return None


def cgroup2_root(mounts: Path = Path("/proc/self/mounts")) -> Path | None:
    """Where cgroup2 is mounted (``/sys/fs/cgroup`` or, on hybrid hosts, its ``unified``)."""
    try:
        found = find_cgroup2_mount(mounts.read_text())
    except OSError:
        return None
    return Path(found) if found is not None else None


def cgroup2_dir_of(pid: int, proc_root: Path = Path("/proc")) -> Path | None:
    """The cgroup2 directory process ``pid`` is in now; None if gone or without cgroup2."""
    root = cgroup2_root(proc_root / "self" / "mounts")
    try:
        path = parse_proc_cgroup((proc_root / str(pid) / "cgroup").read_text()).get("")
    except OSError:
        return None
    if root is None or path is None:
        return None
    return root / path.lstrip("/")


def _unescape_mount_field(field: str) -> str:
    # the kernel writes space, tab, newline and backslash in mount points as octal escapes
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/<pid>/cgroup`` as {controllers: path}; the cgroup2 entry has the key ``""``."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            paths[parts[1]] = parts[2]
    return paths


def pick_cgroup_path(paths: dict[str, str], *, prefer_v1: bool = False) -> str | None:
    """The path that best names a process's container.

    cgroup2 (``0::``) is authoritative when the host has it; on pure v1 hosts (``prefer_v1``),
    or when the cgroup2 entry is the root (a runtime that joined v1 controllers only), a v1
    hierarchy every runtime populates stands in.
    """
    unified = paths.get("")
    if unified and unified != "/" and not prefer_v1:
        return unified
    for key in ("name=systemd", "freezer", "pids", "memory"):
        v1 = paths.get(key)
        if v1 and v1 != "/":
            return v1
    return unified


class CgroupTree:
    """inode → relative path index of a cgroup2 tree, rebuilt on demand.

    Rebuilding walks every directory, so the caller rate-limits it (see ``min_rescan_interval``):
    a flood of unknown ids (e.g. from cgroups created and removed faster than we look) must not
    turn into a flood of tree walks.
    """

    def __init__(
        self,
        root: str,
        *,
        clock: Callable[[], float],
        min_rescan_interval: float = 1.0,
    ) -> None:
        self.root = root.rstrip("/") or "/"
        self._clock = clock
        self._min_interval = min_rescan_interval
        self._by_inode: dict[int, str] = {}
        self._last_scan: float | None = None
        self.scans = 0

    def path_of(self, cgroup_id: int) -> str | None:
        """The cgroup's path relative to the mount (``/a/b``), rescanning once if allowed."""
        path = self._by_inode.get(cgroup_id)
        if path is None and self._may_rescan():
            self.rescan()
            path = self._by_inode.get(cgroup_id)
        return path

    def inode_of(self, path: str) -> int | None:
        try:
            return os.stat(self.absolute(path)).st_ino
        except OSError:
            return None

    def remember(self, cgroup_id: int, path: str) -> None:
        self._by_inode[cgroup_id] = path

    def forget(self, cgroup_id: int) -> str | None:
        return self._by_inode.pop(cgroup_id, None)

    def absolute(self, path: str) -> str:
        return self.root + path if self.root != "/" else path

    def _may_rescan(self) -> bool:
        return self._last_scan is None or self._clock() - self._last_scan >= self._min_interval

    def rescan(self) -> None:
        self._last_scan = self._clock()
        self.scans += 1
        index: dict[int, str] = {}
        try:
            index[os.stat(self.root).st_ino] = "/"
        except OSError as exc:
            log.warning("cgroup2 root %s unreadable: %s", self.root, exc.strerror)
            self._by_inode = index
            return
        stack = [(self.root, "")]
        while stack and len(index) < MAX_TREE_ENTRIES:
            directory, relative = stack.pop()
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            child = f"{relative}/{entry.name}"
                            # for kernfs (and ordinary filesystems) d_ino equals st_ino
                            index[entry.inode()] = child
                            stack.append((entry.path, child))
            except OSError:
                continue  # removed while we walked it
        self._by_inode = index
