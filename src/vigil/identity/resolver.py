"""cgroup id + pid → :class:`Identity`, with bounded caches so the hot path is two dict lookups."""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from vigil.errors import truncate
from vigil.identity.cache import BoundedCache
from vigil.identity.cgroups import (
    CgroupTree,
    ContainerRef,
    find_cgroup2_mount,
    parse_container_path,
    parse_proc_cgroup,
    pick_cgroup_path,
    plain_candidates,
)
from vigil.identity.records import ContainerRecord, Identity, host_identity
from vigil.identity.runtime import (
    DEFAULT_STATE_ROOTS,
    RuntimeState,
    StateDir,
    StateError,
    StateRoot,
    StateRoots,
    read_annotations,
    read_state,
)
from vigil.identity.workload import container_name_of, image_of, workload_of
from vigil.models import ContainerInfo

log = logging.getLogger(__name__)

# Runtimes that name the engine behind a runc root; they beat a layout that only guesses.
_ENGINE_RUNTIMES = frozenset({"containerd", "docker"})
_MAX_WARNED = 1024


class IdentityResolver:
    """Attributes events to containers and workloads.

    Every OS boundary is a parameter: ``proc_root`` (for ``<pid>/cgroup`` and ``self/mounts``),
    ``cgroup_root`` (the cgroup2 mount; found in ``<proc_root>/self/mounts`` when None; absent on
    pure cgroup v1 hosts, where attribution goes by pid), ``state_roots`` (runtime state
    directories) and ``clock``.

    Answers that may still change — a container whose state is not readable yet, a host path
    that could become a container — are cached for ``retry_interval`` seconds only.

    Not thread-safe: the agent calls it from its one event loop. Known gaps: on a hybrid host
    where a runtime joined only the v1 controllers (cgroup2 path ``/``), the event is attributed
    to the host; a container deleted and re-created under the same id between two tree scans
    keeps its old record until the next scan.
    """

    def __init__(
        self,
        proc_root: str = "/proc",
        cgroup_root: str | None = None,
        state_roots: Sequence[StateRoot | str] = DEFAULT_STATE_ROOTS,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_cached: int = 4096,
        max_containers: int = 4096,
        min_rescan_interval: float = 1.0,
        retry_interval: float = 5.0,
    ) -> None:
        self.proc_root = proc_root
        self._clock = clock
        self.cgroup_root = cgroup_root or self._detect_cgroup_root()
        self._tree = (
            CgroupTree(self.cgroup_root, clock=clock, min_rescan_interval=min_rescan_interval)
            if self.cgroup_root
            else None
        )
        self._roots = StateRoots(state_roots)
        self._retry_interval = retry_interval
        self._by_path: BoundedCache[str, Identity] = BoundedCache(max_cached, clock)
        self._records: BoundedCache[str, ContainerRecord] = BoundedCache(max_containers, clock)
        self._warned: OrderedDict[str, None] = OrderedDict()
        self._scans_seen = 0

    # -- public API ------------------------------------------------------------------------
    def resolve(self, cgroup_id: int, pid: int) -> Identity:
        """The identity of the process ``pid`` in cgroup ``cgroup_id``; never raises."""
        try:
            return self._resolve(cgroup_id, pid)
        except Exception as exc:  # one bad input must not stop the pipeline
            self._warn("resolve", f"identity of pid {pid} unresolved: {truncate(exc, 120)}")
            return host_identity()

    def lookup(self, container_id: str) -> ContainerRecord | None:
        """A live container by id: one already seen, else one a state root knows."""
        record = self._live_record(container_id)
        if record is None:
            found = self._roots.find(container_id)
            if found is not None:
                record = self._read_record(found, None, "")
        return record

    def containers(self) -> list[ContainerRecord]:
        """The live containers seen so far (those whose state directory has gone are dropped)."""
        self._prune_records()
        return list(self._records.values())

    def forget(self, cgroup_id: int) -> None:
        """Drop what is cached for a cgroup (e.g. when the sensor sees it removed)."""
        path = self._tree.forget(cgroup_id) if self._tree else None
        if path is not None:
            identity = self._by_path.pop(path)
            if identity is not None and identity.record is not None:
                self._live_record(identity.record.id)  # drops the record if its state is gone

    @property
    def cached_identities(self) -> int:
        return len(self._by_path)

    # -- resolution ------------------------------------------------------------------------
    def _resolve(self, cgroup_id: int, pid: int) -> Identity:
        path = self._tree.path_of(cgroup_id) if self._tree else None
        self._after_scan()
        if path is None:
            path = self._proc_cgroup_path(pid)
            if path is None:
                return host_identity()
            if self._tree is not None and self._tree.inode_of(path) == cgroup_id:
                self._tree.remember(cgroup_id, path)  # created since the last scan
        cached = self._by_path.get(path)
        if cached is not None:
            return cached
        identity, settled = self._identity_for_path(path)
        self._by_path.put(path, identity, ttl=None if settled else self._retry_interval)
        return identity

    def _identity_for_path(self, path: str) -> tuple[Identity, bool]:
        """The identity of a cgroup path, and whether that answer is final."""
        ref = parse_container_path(path)
        candidates = [ref.id] if ref else plain_candidates(path)
        for candidate in candidates:
            record = self._record_for(candidate, ref, path)
            if record is not None:
                return Identity(record.container, record.workload, path, record), record.complete
        if ref is None:
            # "/" and names that cannot be container ids will never become one
            return host_identity(path), not candidates
        # the layout says container, but no runtime state is visible (yet, or to us)
        container = ContainerInfo(ref.id, ref.id, "", ref.runtime)
        return Identity(container, workload_of({}, ref.id, ""), path), False

    def _record_for(
        self, container_id: str, ref: ContainerRef | None, path: str
    ) -> ContainerRecord | None:
        record = self._live_record(container_id)
        if record is not None and record.complete:
            return record
        found = self._roots.find(container_id)
        return self._read_record(found, ref, path) if found else None

    def _read_record(self, found: StateDir, ref: ContainerRef | None, path: str) -> ContainerRecord:
        complete = True
        try:
            state = read_state(found)
        except StateError as exc:
            self._warn(found.path, f"container {truncate(found.id, 80)}: {exc}")
            state = RuntimeState(found.id, found.root, found.runtime, found.path)
            complete = False
        annotations = dict(state.label_annotations)
        try:
            annotations.update(read_annotations(state))
        except StateError as exc:
            if not annotations:
                self._warn(f"{found.path}#config", f"container {truncate(found.id, 80)}: {exc}")
                complete = False
        image = image_of(annotations)
        container = ContainerInfo(
            id=found.id,
            name=container_name_of(annotations, found.id),
            image=image,
            runtime=_runtime_name(ref, found.runtime),
        )
        record = ContainerRecord(
            id=found.id,
            runtime=container.runtime,
            state_root=found.root,
            bundle=state.bundle,
            pid=state.pid,
            created=state.created,
            cgroup_paths=self._absolute_cgroup_paths(state, path),
            annotations=annotations,
            container=container,
            workload=workload_of(annotations, found.id, image),
            complete=complete,
        )
        self._records.put(found.id, record)
        return record

    def _absolute_cgroup_paths(self, state: RuntimeState, path: str) -> dict[str, str]:
        paths = dict(state.cgroup_paths)
        unified = paths.get("")
        if self._tree is not None:
            if unified and not unified.startswith(self._tree.root + "/"):
                paths[""] = self._tree.absolute(unified)  # crun records it relative
            elif not unified and path:
                paths[""] = self._tree.absolute(path)  # state unreadable: we know where it runs
        return paths

    # -- records and scans -----------------------------------------------------------------
    def _live_record(self, container_id: str) -> ContainerRecord | None:
        record = self._records.get(container_id)
        if record is not None and not os.path.isdir(record.state_dir):
            self._drop_record(container_id)
            return None
        return record

    def _drop_record(self, container_id: str) -> None:
        self._records.pop(container_id)
        self._by_path.drop_where(lambda i: i.record is not None and i.record.id == container_id)

    def _prune_records(self) -> None:
        for record in list(self._records.values()):
            if not os.path.isdir(record.state_dir):
                self._drop_record(record.id)

    def _after_scan(self) -> None:
        # a tree rescan means cgroups came or went: a good moment to forget exited containers
        if self._tree is not None and self._tree.scans != self._scans_seen:
            self._scans_seen = self._tree.scans
            self._prune_records()

    # -- OS boundary -----------------------------------------------------------------------
    def _detect_cgroup_root(self) -> str | None:
        try:
            with open(os.path.join(self.proc_root, "self", "mounts")) as mounts:
                return find_cgroup2_mount(mounts.read())
        except OSError as exc:
            self._warn("mounts", f"cannot read {self.proc_root}/self/mounts: {exc.strerror}")
            return None

    def _proc_cgroup_path(self, pid: int) -> str | None:
        try:
            with open(os.path.join(self.proc_root, str(pid), "cgroup")) as handle:
                text = handle.read(64 * 1024)
        except OSError:
            return None  # the process is gone already
        return pick_cgroup_path(parse_proc_cgroup(text), prefer_v1=self._tree is None)

    def _warn(self, key: str, message: str) -> None:
        """Log once per key (bounded), so a broken file does not flood the log."""
        if key in self._warned:
            return
        self._warned[key] = None
        if len(self._warned) > _MAX_WARNED:
            self._warned.popitem(last=False)
        log.warning("%s", message)


def _runtime_name(ref: ContainerRef | None, state_runtime: str) -> str:
    if ref is not None and ref.certain:
        return ref.runtime
    if state_runtime in _ENGINE_RUNTIMES:
        return state_runtime
    return ref.runtime if ref is not None else state_runtime
