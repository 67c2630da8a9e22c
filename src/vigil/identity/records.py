"""What the identity stage hands on: an event's :class:`Identity` and the containers it has seen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from vigil.models import HOST_CONTAINER, HOST_WORKLOAD, ContainerInfo, Workload


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

    @property
    def state_dir(self) -> str:
        return f"{self.state_root.rstrip('/')}/{self.id}"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who an event belongs to. ``record`` is set for containers whose runtime state was found."""

    container: ContainerInfo
    workload: Workload
    #: cgroup2 path relative to the mount (``/kubepods/…``); "" when it could not be learnt
    cgroup_path: str = ""
    record: ContainerRecord | None = None

    @property
    def is_host(self) -> bool:
        return self.container.is_host


def host_identity(cgroup_path: str = "") -> Identity:
    return Identity(HOST_CONTAINER, HOST_WORKLOAD, cgroup_path)
