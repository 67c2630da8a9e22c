"""What vigil keeps of Kubernetes objects, in its own types (no lightkube needed to use them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vigil.errors import RuntimeActionError

POD_NAMESPACE = "io.kubernetes.pod.namespace"
POD_NAME = "io.kubernetes.pod.name"


@dataclass(frozen=True, slots=True)
class OwnerRef:
    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class PodSummary:
    """What identity needs of a pod."""

    namespace: str
    name: str
    uid: str
    node: str
    #: the controlling owner (``controller: true``), else the first owner; None for bare pods
    owner: OwnerRef | None


@dataclass(frozen=True, slots=True)
class PodRef:
    """The pod behind a container, named by the CRI annotations of its bundle."""

    namespace: str
    name: str

    @classmethod
    def from_annotations(cls, annotations: Mapping[str, str]) -> PodRef:
        namespace, name = annotations.get(POD_NAMESPACE), annotations.get(POD_NAME)
        if not namespace or not name:
            raise RuntimeActionError("the container is not a Kubernetes pod's (no CRI annotations)")
        return cls(namespace, name)
