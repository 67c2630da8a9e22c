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
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from vigil.models import Workload

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
