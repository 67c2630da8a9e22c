"""OCI annotations → container name, image and (Kubernetes-style) workload.

Without the API server the owner of a pod is inferred from the names its controllers generate.
The rules, tried in this order (``S`` is Kubernetes' random-suffix alphabet
``bcdfghjklmnpqrstvwxz2456789``):

=================================  ===========  ===================================================
pod name                           kind         why
=================================  ===========  ===================================================
``<name>-<8+ digits>-<5 S>``       CronJob      a CronJob's Job is ``<cronjob>-<scheduled minute>``
``<name>-<5..10 S>-<5 S>``         Deployment   ReplicaSet ``<deploy>-<pod-template-hash>``
``<name>-<digits>``                StatefulSet  ordinal suffix
``<name>-<5 S>``                   DaemonSet    also what bare Jobs and ReplicaSets produce: the
                                                API-backed resolver corrects those later
anything else                      Pod          the pod's own name
=================================  ===========  ===================================================

Every workload derived this way has ``inferred=True``: nothing here read an owner reference.
With the API server reachable, :class:`PodOwners` (``vigil.kube.pods.PodDirectory``) gives the
real owner instead.

Containers outside Kubernetes: a Docker/Podman compose service (labels
``com.docker.compose.project`` / ``.service``) is the workload, shared by its replicas; else a
Podman pod; else the image. Each answer comes with its source (:data:`WORKLOAD_SOURCES`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol

from vigil.models import Workload

FROM_KUBE_API = "kube API"
FROM_POD_NAME = "inferred from pod name"
FROM_COMPOSE = "compose labels"
FROM_PODMAN_POD = "podman pod"
FROM_IMAGE = "image"
FROM_CONTAINER_ID = "container id"
WORKLOAD_SOURCES = (
    FROM_KUBE_API,
    FROM_POD_NAME,
    FROM_COMPOSE,
    FROM_PODMAN_POD,
    FROM_IMAGE,
    FROM_CONTAINER_ID,
)

COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"

POD_NAMESPACE_KEYS = ("io.kubernetes.pod.namespace", "io.kubernetes.cri.sandbox-namespace")
POD_NAME_KEYS = ("io.kubernetes.pod.name", "io.kubernetes.cri.sandbox-name")
CONTAINER_NAME_KEYS = ("io.kubernetes.container.name", "io.kubernetes.cri.container-name")
IMAGE_KEYS = (
    "io.kubernetes.cri.image-name",
    "io.kubernetes.cri-o.ImageName",
    "org.opencontainers.image.ref.name",
)

_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
_OWNER_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"^(?P<name>.+)-[0-9]{{8,}}-{_SAFE}{{5}}$"), "CronJob"),
    (re.compile(rf"^(?P<name>.+)-{_SAFE}{{5,10}}-{_SAFE}{{5}}$"), "Deployment"),
    (re.compile(r"^(?P<name>.+)-[0-9]+$"), "StatefulSet"),
    (re.compile(rf"^(?P<name>.+)-{_SAFE}{{5}}$"), "DaemonSet"),
)


def first_annotation(annotations: Mapping[str, str], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = annotations.get(key)
        if value:
            return value
    return ""


def image_of(annotations: Mapping[str, str]) -> str:
    return first_annotation(annotations, IMAGE_KEYS)


def container_name_of(annotations: Mapping[str, str], container_id: str) -> str:
    return first_annotation(annotations, CONTAINER_NAME_KEYS) or container_id


def infer_owner(pod_name: str) -> tuple[str, str]:
    """(kind, name) of the controller that most likely created a pod with this name."""
    for pattern, kind in _OWNER_RULES:
        match = pattern.match(pod_name)
        if match:
            return kind, match.group("name")
    return "Pod", pod_name


class PodOwners(Protocol):
    """Pod → owning workload, as the Kubernetes API says (filled by a watch, read here).

    ``generation`` changes whenever an answer may have changed, so that cached identities are
    derived again; ``workload`` must be a plain lookup: it runs on the event path.
    """

    @property
    def generation(self) -> int: ...

    def workload(self, namespace: str, pod: str, container: str) -> Workload | None: ...


def pod_of(annotations: Mapping[str, str]) -> tuple[str, str]:
    """(namespace, pod name) from CRI annotations; ("", "") outside Kubernetes."""
    pod = first_annotation(annotations, POD_NAME_KEYS)
    return (first_annotation(annotations, POD_NAMESPACE_KEYS), pod) if pod else ("", "")


def derive_workload(
    annotations: Mapping[str, str],
    labels: Mapping[str, str],
    *,
    container_id: str,
    container_name: str,
    image: str,
    podman_pod: str = "",
    owners: PodOwners | None = None,
) -> tuple[Workload, str]:
    """The workload a container belongs to, and where that answer came from."""
    namespace, pod = pod_of(annotations)
    if pod:
        container = container_name_of(annotations, container_id)
        known = owners.workload(namespace, pod, container) if owners is not None else None
        if known is not None:
            return known, FROM_KUBE_API
        kind, name = infer_owner(pod)
        return Workload(namespace, kind, name, container, inferred=True), FROM_POD_NAME
    service = labels.get(COMPOSE_SERVICE_LABEL, "")
    if service:
        project = labels.get(COMPOSE_PROJECT_LABEL, "")
        return Workload(project, "ComposeService", service, service), FROM_COMPOSE
    if podman_pod:
        return Workload("", "PodmanPod", podman_pod, container_name), FROM_PODMAN_POD
    if image:
        return Workload("", "Container", image, container_name), FROM_IMAGE
    return Workload("", "Container", container_id, container_name), FROM_CONTAINER_ID


def workload_of(annotations: Mapping[str, str], container_id: str, image: str) -> Workload:
    """The workload a container belongs to.

    Kubernetes containers (a pod name in the annotations) get their namespace and inferred
    owner; anything else is its own workload of kind ``Container``, named after its image so
    that replicas started from the same image share a profile.
    """
    container = container_name_of(annotations, container_id)
    pod = first_annotation(annotations, POD_NAME_KEYS)
    if pod:
        namespace = first_annotation(annotations, POD_NAMESPACE_KEYS)
        kind, name = infer_owner(pod)
        return Workload(namespace, kind, name, container, inferred=True)
    return Workload("", "Container", image or container_id, container)
