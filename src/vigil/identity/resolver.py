"""cgroup id + pid → :class:`Identity`, with bounded caches so the hot path is two dict lookups."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from vigil.caches import BoundedCache
from vigil.errors import truncate
from vigil.identity.cgroups import (
    CgroupTree,
    ContainerRef,
    find_cgroup2_mount,
    parse_container_path,
    parse_proc_cgroup,
    pick_cgroup_path,
    plain_candidates,
    plain_layout,
)
from vigil.identity.engines import EngineMetadata, EngineStores
from vigil.identity.records import ContainerRecord, Identity, Provenance, host_identity
from vigil.identity.runtime import (
    DEFAULT_STATE_ROOTS,
    RuntimeState,
    StateDir,
    StateError,
    StateRoot,
    StateRoots,
    read_annotations,
    read_state,
    state_mtime_ns,
)
from vigil.identity.unsettled import workload_without_state
from vigil.identity.workload import (
    CONTAINER_NAME_KEYS,
    FROM_CONTAINER_ID,
    PodOwners,
    derive_workload,
    first_annotation,
    image_of,
    pod_of,
)
from vigil.models import ContainerInfo

log = logging.getLogger(__name__)

#: the hold's key for a cgroup the tree does not know yet (no path to name it by)
UNKNOWN_CGROUP = "cgroup-id:"

# Runtimes that name the engine behind a runc root; they beat a layout that only guesses.
_ENGINE_RUNTIMES = frozenset({"containerd", "docker"})
_MAX_WARNED = 1024
#: how a container found by :meth:`IdentityResolver.scan` (not by an event) is described
SCANNED_LAYOUT = "found in runtime state (no event yet)"


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What one :meth:`IdentityResolver.scan` changed."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


class IdentityResolver:
    """Attributes events to containers and workloads.

    Every OS boundary is a parameter: ``proc_root`` (for ``<pid>/cgroup`` and ``self/mounts``),
    ``cgroup_root`` (the cgroup2 mount; found in ``<proc_root>/self/mounts`` when None; absent on
    pure cgroup v1 hosts, where attribution goes by pid), ``state_roots`` (runtime state
    directories), ``engines`` (Docker's and Podman's own metadata files) and ``clock``.
    ``pod_owners`` (the Kubernetes API's view, filled by a watch elsewhere) replaces workloads
    inferred from pod names as soon as it knows the pod; it is only read, never waited for.

    Lifecycle: :meth:`scan` (at start, then periodically) finds containers that started before
    the agent, re-reads those whose state file changed and forgets those that exited.

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
        engines: EngineStores | None = None,
        pod_owners: PodOwners | None = None,
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
        self._engines = engines or EngineStores()
        self._owners = pod_owners
        self._owners_seen = pod_owners.generation if pod_owners is not None else 0
        self._retry_interval = retry_interval
        self._by_path: BoundedCache[str, Identity] = BoundedCache(max_cached, clock)
        #: paths answered without any runtime state (yet): the container ids they could be
        self._unsettled: BoundedCache[str, tuple[str, ...]] = BoundedCache(max_cached, clock)
        self._records: BoundedCache[str, ContainerRecord] = BoundedCache(max_containers, clock)
        self._warned: BoundedCache[str, bool] = BoundedCache(_MAX_WARNED)
        self._scans_seen = 0

    # -- public API ------------------------------------------------------------------------
    def resolve(
        self, cgroup_id: int, pid: int, *, recheck: bool = False, settle: bool = False
    ) -> Identity:
        """The identity of the process ``pid`` in cgroup ``cgroup_id``; never raises.

        ``recheck``: an answer cached while the path had no runtime state is checked against
        the state roots again (a few stats). A runtime sets a container's cgroup up before it
        writes its state, so the exec of the container's first program asks with ``recheck``
        rather than inheriting the "not a container yet" answer of that setup.

        A container-looking path whose state is not readable yet (while a state root exists)
        is answered ``pending``; ``settle`` asks for the final answer instead: what the cgroup
        path says (:func:`vigil.identity.unsettled.workload_without_state`).
        """
        try:
            identity = self._resolve(cgroup_id, pid, recheck, settle)
            return replace(identity, pending=False) if settle and identity.pending else identity
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

    def scan(self) -> ScanResult:
        """Bring the known containers in line with the runtime state roots.

        Containers that started before the agent are read now (so their first event is
        attributed from the record), records whose state file changed are read again, and
        those whose state directory has gone are forgotten. Bounded by ``max_containers``.
        """
        added: list[str] = []
        updated: list[str] = []
        seen: set[str] = set()
        limit = self._records.max_size
        for found in self._roots.all():
            if len(seen) >= limit:
                break
            seen.add(found.id)
            known = self._records.get(found.id)
            if known is not None and known.state_mtime_ns == state_mtime_ns(found.path):
                continue
            if known is None:
                self._read_record(found, None, "", found_by=SCANNED_LAYOUT)
                added.append(found.id)
            else:
                self._drop_record(found.id)
                self._read_record(found, None, "", found_by=SCANNED_LAYOUT)
                updated.append(found.id)
        removed = [r.id for r in list(self._records.values()) if not os.path.isdir(r.state_dir)]
        for container_id in removed:
            self._drop_record(container_id)
        return ScanResult(tuple(added), tuple(updated), tuple(removed))

    def forget(self, cgroup_id: int) -> None:
        """Drop what is cached for a cgroup (e.g. when the sensor sees it removed)."""
        path = self._tree.forget(cgroup_id) if self._tree else None
        if path is not None:
            identity = self._by_path.pop(path)
            if identity is not None and identity.record is not None:
                self._live_record(identity.record.id)  # drops the record if its state is gone

    @property
    def pod_owners(self) -> PodOwners | None:
        return self._owners

    @property
    def cached_identities(self) -> int:
        return len(self._by_path)

    # -- resolution ------------------------------------------------------------------------
    def _resolve(
        self, cgroup_id: int, pid: int, recheck: bool = False, settle: bool = False
    ) -> Identity:
        if self._owners is not None and self._owners.generation != self._owners_seen:
            self._rederive_workloads()
        path = self._tree.path_of(cgroup_id) if self._tree else None
        self._after_scan()
        if path is None:
            # The tree does not know the event's cgroup (created since the last rescan, which is
            # rate-limited): the process's own cgroup is asked instead.
            path = self._proc_cgroup_path(pid)
            inode = self._tree.inode_of(path) if self._tree and path is not None else None
            if path is not None and inode == cgroup_id:
                self._tree.remember(cgroup_id, path)  # type: ignore[union-attr]  # new cgroup
            elif self._unknown_cgroup_may_be_a_container(cgroup_id, path, settle):
                # The process has gone, or is the runtime on the host whose event carries the
                # new container's cgroup (runc forking and exec'ing its init into it): its own
                # cgroup would name the host. Held until a rescan names the cgroup.
                return replace(host_identity(f"{UNKNOWN_CGROUP}{cgroup_id}"), pending=True)
            if path is None:
                return host_identity()
        cached = self._by_path.get(path)
        if cached is not None and not (
            (recheck and self._state_appeared(path)) or (settle and cached.pending)
        ):
            return cached
        identity, settled = self._identity_for_path(path)
        ttl = None if settled else self._retry_interval
        self._by_path.put(path, identity, ttl=ttl)
        if not settled:
            ref = parse_container_path(path)
            self._unsettled.put(path, (ref.id,) if ref else tuple(plain_candidates(path)), ttl)
        else:
            self._unsettled.pop(path)
        return identity

    def _unknown_cgroup_may_be_a_container(
        self, cgroup_id: int, proc_path: str | None, settle: bool
    ) -> bool:
        """Whether an event whose cgroup the tree does not know, of a process that is not in it
        (or has gone), may still belong to a container being created."""
        if settle or not cgroup_id or self._tree is None or not self._roots.present():
            return False
        if proc_path is None:
            return True
        return parse_container_path(proc_path) is None and not any(
            self._roots.find(c) for c in plain_candidates(proc_path)
        )

    def _state_appeared(self, path: str) -> bool:
        candidates = self._unsettled.get(path)
        return bool(candidates) and any(self._roots.find(c) for c in candidates or ())

    def _identity_for_path(self, path: str) -> tuple[Identity, bool]:
        """The identity of a cgroup path, and whether that answer is final."""
        ref = parse_container_path(path)
        candidates = [ref.id] if ref else plain_candidates(path)
        for candidate in candidates:
            record = self._record_for(candidate, ref, path)
            if record is None:
                continue
            if record.complete:
                return Identity(record.container, record.workload, path, record), True
            workload = record.workload
            if record.found.workload == FROM_CONTAINER_ID:  # nothing read names it
                workload = workload_without_state(
                    path, record.id, self._records.values(), self._owners
                )
            pending = ref is not None  # a runtime is writing it: held, asked again
            return Identity(record.container, workload, path, record, pending), False
        if ref is None:
            # "/" and names that cannot be container ids will never become one
            return host_identity(path), not candidates
        # the layout says container, but no runtime state is visible (yet, or to us): held
        # while a runtime that could write it is there, then what the path says
        container = ContainerInfo(ref.id, ref.id, "", ref.runtime)
        workload = workload_without_state(path, ref.id, self._records.values(), self._owners)
        return Identity(container, workload, path, pending=self._roots.present()), False

    def _record_for(
        self, container_id: str, ref: ContainerRef | None, path: str
    ) -> ContainerRecord | None:
        record = self._live_record(container_id)
        if record is not None and record.complete:
            return record
        found = self._roots.find(container_id)
        return self._read_record(found, ref, path) if found else None

    def _read_record(
        self, found: StateDir, ref: ContainerRef | None, path: str, *, found_by: str = ""
    ) -> ContainerRecord:
        complete = True
        mtime = state_mtime_ns(found.path)
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
        if not path:
            # found by a scan or a lookup: the state says where it runs, which names the layout
            path = self._relative_cgroup_path(state)
        if ref is None and path:
            ref = parse_container_path(path)
        runtime = _runtime_name(ref, found.runtime)
        metadata = self._engine_metadata(runtime, found.id, annotations)
        labels = dict(metadata.labels) if metadata else {}
        image = image_of(annotations) or (metadata.image if metadata else "")
        name = first_annotation(annotations, CONTAINER_NAME_KEYS) or (
            metadata.name if metadata and metadata.name else found.id
        )
        _, kube_pod = pod_of(annotations)
        podman_pod = metadata.pod if metadata else ""
        workload, workload_source = derive_workload(
            annotations,
            labels,
            container_id=found.id,
            container_name=name,
            image=image,
            podman_pod=podman_pod,
            owners=self._owners,
        )
        container = ContainerInfo(id=found.id, name=name, image=image, runtime=runtime)
        layout = (ref.layout if ref else "") or (plain_layout(path, found.id) if path else "")
        if layout and self._tree is None:
            layout += " [cgroup v1]"
        layout = layout or found_by
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
            workload=workload,
            complete=complete,
            labels=labels,
            found=Provenance(
                layout=layout,
                state=found.root,
                metadata=metadata.source if metadata else "",
                workload=workload_source,
            ),
            pod=kube_pod or podman_pod,
            state_mtime_ns=mtime,
        )
        self._records.put(found.id, record)
        return record

    def _engine_metadata(
        self, runtime: str, container_id: str, annotations: dict[str, str]
    ) -> EngineMetadata | None:
        try:
            return self._engines.read(runtime, container_id, annotations)
        except StateError as exc:
            self._warn(f"engine:{container_id}", f"container {truncate(container_id, 80)}: {exc}")
            return None

    def _relative_cgroup_path(self, state: RuntimeState) -> str:
        unified = state.cgroup_paths.get("", "")
        if self._tree is not None and unified.startswith(self._tree.root + "/"):
            return unified[len(self._tree.root) :]
        if unified.startswith("/") and not unified.startswith("/sys/"):
            return unified  # crun records it relative to the mount already
        for key in ("name=systemd", "freezer", "pids", "memory"):
            v1 = state.cgroup_paths.get(key, "")
            marker = f"/{key.partition('=')[2] or key}/"
            if marker in v1:
                return "/" + v1.split(marker, 1)[1]
        return ""

    def _rederive_workloads(self) -> None:
        """The API's view of pods changed: derive the workloads of Kubernetes containers again."""
        assert self._owners is not None
        self._owners_seen = self._owners.generation
        for record in list(self._records.values()):
            if not pod_of(record.annotations)[1]:
                continue
            workload, source = derive_workload(
                record.annotations,
                record.labels,
                container_id=record.id,
                container_name=record.container.name,
                image=record.container.image,
                owners=self._owners,
            )
            if workload != record.workload:
                updated = replace(
                    record, workload=workload, found=replace(record.found, workload=source)
                )
                self._drop_record(record.id)
                self._records.put(record.id, updated)

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
        self._warned.put(key, True)
        log.warning("%s", message)


def _runtime_name(ref: ContainerRef | None, state_runtime: str) -> str:
    if ref is not None and ref.certain:
        return ref.runtime
    if state_runtime in _ENGINE_RUNTIMES:
        return state_runtime
    return ref.runtime if ref is not None else state_runtime
