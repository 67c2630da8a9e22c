"""The workload of a container whose runtime state cannot be read: what its cgroup path says.

A layout that names a pod (``/kubepods/…/pod<uid>/<id>``) is never answered with the bare
container id as a workload (every container would get a profile of its own). The best honest
answer, in order: the pod of a sibling container whose state was read (the pod's sandbox
always has one), with the container's name left empty because nothing names it; else the pod
known only by its uid (``Pod/pod<uid>``), a workload per pod rather than per container. Not the
host: the process does run in a container, and the host profile must not learn it.
"""

from __future__ import annotations

from collections.abc import Iterable

from vigil.identity.cgroups import pod_uid_of
from vigil.identity.records import ContainerRecord
from vigil.identity.workload import PodOwners, first_annotation, infer_owner, pod_of, workload_of
from vigil.models import Workload

#: annotations that carry a pod's uid (containerd's CRI plugin, CRI-O)
POD_UID_KEYS = ("io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid")
#: the container part of a workload whose container's name could not be read
UNNAMED_CONTAINER = ""


def workload_without_state(
    path: str,
    container_id: str,
    records: Iterable[ContainerRecord],
    owners: PodOwners | None = None,
) -> Workload:
    """The workload of container ``container_id`` in cgroup ``path``, its state unreadable."""
    uid = pod_uid_of(path)
    if uid is None:
        return workload_of({}, container_id, "")  # no pod named: the container is its own
    for record in records:
        namespace, pod = pod_of(record.annotations)
        if pod and in_pod(record, uid):
            known = owners.workload(namespace, pod, UNNAMED_CONTAINER) if owners else None
            if known is not None:
                return known
            kind, name = infer_owner(pod)
            return Workload(namespace, kind, name, UNNAMED_CONTAINER, inferred=True)
    return Workload("", "Pod", f"pod{uid}", UNNAMED_CONTAINER, inferred=True)


def in_pod(record: ContainerRecord, uid: str) -> bool:
    """``record`` belongs to the pod ``uid``, by its annotations or by where its cgroup lies."""
    if first_annotation(record.annotations, POD_UID_KEYS) == uid:
        return True
    return any(pod_uid_of(path) == uid for path in record.cgroup_paths.values())
