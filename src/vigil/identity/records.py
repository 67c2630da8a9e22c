"""What the identity stage hands on: an event's :class:`Identity` and the containers it has seen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vigil.models import HOST_CONTAINER, HOST_WORKLOAD, ContainerInfo, Workload, rfc3339


@dataclass(frozen=True, slots=True)
class Provenance:
    """How an identity was found, for people checking it (``vigil containers``).

    ``layout`` names the cgroup path layout (or how a container was discovered), ``state`` the
    runtime state root it was read from, ``metadata`` the engine's own files that gave image,
    name and labels, ``workload`` where the workload came from (see
    :data:`vigil.identity.workload.WORKLOAD_SOURCES`).
    """

    layout: str = ""
    state: str = ""
    metadata: str = ""
    workload: str = ""

    def describe(self) -> str:
        parts = [
            f"cgroup path layout: {self.layout}" if self.layout else "",
            f"state: {self.state}" if self.state else "",
            f"metadata: {self.metadata}" if self.metadata else "",
            f"workload: {self.workload}" if self.workload else "",
        ]
        return "; ".join(p for p in parts if p)

    def to_json(self) -> dict[str, str]:
        return {
            "layout": self.layout,
            "state": self.state,
            "metadata": self.metadata,
            "workload": self.workload,
        }


@dataclass(frozen=True, slots=True)
class ContainerRecord:
    """A container as its runtime describes it — enough for the response stage to act on it.

    ``state_root`` is the runtime's ``--root`` (e.g. ``/run/containerd/runc/k8s.io``), so
    ``runc --root <state_root> pause <id>`` works; ``cgroup_paths`` maps controller → absolute
    cgroup directory (``""`` is cgroup2), ready for a freezer.
    """

    id: str
    runtime: str
    state_root: str
    bundle: str
    pid: int | None
    created: datetime | None
    cgroup_paths: Mapping[str, str] = field(hash=False)
    annotations: Mapping[str, str] = field(hash=False)
    container: ContainerInfo
    workload: Workload
    #: False when the state or config could not be read: image and workload may be unknown
    complete: bool = True
    #: the engine's labels (Docker/Podman: compose project and service, …)
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    found: Provenance = Provenance()
    #: the pod this container belongs to (Kubernetes, or a Podman pod); "" outside pods
    pod: str = ""
    #: mtime (ns) of the state file when it was read: a change means the record is stale
    state_mtime_ns: int = field(default=0, compare=False)

    @property
    def state_dir(self) -> str:
        return f"{self.state_root.rstrip('/')}/{self.id}"

    def to_json(self) -> dict[str, Any]:
        """What ``GET /api/v1/containers`` shows for this container."""
        return {
            "container": self.container.to_json(),
            "workload": self.workload.to_json(),
            "pod": self.pod,
            "pid": self.pid,
            "created": rfc3339(self.created) if self.created else None,
            "state_root": self.state_root,
            "bundle": self.bundle,
            "cgroup_paths": dict(self.cgroup_paths),
            "labels": dict(self.labels),
            "complete": self.complete,
            "found": self.found.to_json(),
            "found_by": self.found.describe(),
        }


@dataclass(frozen=True, slots=True)
class Identity:
    """Who an event belongs to. ``record`` is set for containers whose runtime state was found."""

    container: ContainerInfo
    workload: Workload
    #: cgroup2 path relative to the mount (``/kubepods/…``); "" when it could not be learnt
    cgroup_path: str = ""
    record: ContainerRecord | None = None
    #: not final yet: the layout names a container whose runtime state is not readable yet
    #: (the runtime writes it after setting the cgroup up); the agent holds such events and
    #: asks again (see :mod:`vigil.identity.hold`). The other fields are the answer to use if
    #: the state never appears.
    pending: bool = False

    @property
    def is_host(self) -> bool:
        return self.container.is_host


def host_identity(cgroup_path: str = "") -> Identity:
    return Identity(HOST_CONTAINER, HOST_WORKLOAD, cgroup_path)
