"""Kubernetes actions on the pod behind an alert, through an already-built lightkube AsyncClient.

The pod is named by the CRI annotations the runtime put into the container's bundle
(``io.kubernetes.pod.namespace`` / ``io.kubernetes.pod.name``). Actions read what they need
from the API server, so decisions rest on the cluster's current state; only delete-pod, the one
on the response's hot path, reuses a briefly-trusted ready count (:mod:`.owners`).
Guardrails that need the API live here: protected namespaces and the minimum number of ready
replicas the owner must keep before one of its pods is deleted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx2
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.models.networking_v1 import NetworkPolicySpec
from lightkube.resources.apps_v1 import Deployment, ReplicaSet, StatefulSet
from lightkube.resources.core_v1 import Event, Node, Pod
from lightkube.resources.networking_v1 import NetworkPolicy
from lightkube.types import PatchType

from vigil.errors import RuntimeActionError, truncate
from vigil.kube.objects import PodRef
from vigil.kube.owners import COUNTED, Controller, OwnerCache, Readiness
from vigil.models import utcnow

QUARANTINE_LABEL = "vigil.io/quarantine"
ALERT_LABEL = "vigil.io/alert"
COMPONENT = "vigil"


def label_value(text: str) -> str:
    """A valid label value: ≤ 63 of [A-Za-z0-9-_.], alphanumeric at both ends."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:63].strip("-_.")
    return cleaned or "x"


class KubeActions:
    def __init__(
        self,
        client: AsyncClient,
        *,
        protected_namespaces: frozenset[str] = frozenset({"kube-system"}),
        min_healthy_replicas: int = 1,
        owners: OwnerCache | None = None,
    ) -> None:
        self.client = client
        self.protected = protected_namespaces
        self.min_healthy = min_healthy_replicas
        self.owners = owners or OwnerCache()

    def _check_namespace(self, pod: PodRef) -> None:
        if pod.namespace in self.protected:
            raise RuntimeActionError(f"namespace {pod.namespace} is protected")

    async def _call(self, what: str, coro: Any, *, tolerate: tuple[int, ...] = ()) -> Any:
        """Await one API call; its failure becomes a one-line RuntimeActionError.

        ``tolerate``: HTTP codes that are fine here (e.g. 409 for something already there)."""
        try:
            return await coro
        except ApiError as exc:
            code, message = exc.status.code, exc.status.message
        except httpx2.HTTPStatusError as exc:  # an error body lightkube did not decode
            code, message = exc.response.status_code, exc.response.reason_phrase
        except httpx2.HTTPError as exc:
            raise RuntimeActionError(f"{what}: {truncate(exc, 120)}") from None
        if code in tolerate:
            return None
        raise RuntimeActionError(
            f"{what}: API server answered {code}: {truncate(message, 120)}"
        ) from None

    async def _pod(self, ref: PodRef) -> Pod:
        pod: Pod = await self._call(
            f"get pod {ref.namespace}/{ref.name}",
            self.client.get(Pod, ref.name, namespace=ref.namespace),
        )
        return pod

    async def _controller(self, ref: PodRef) -> Controller:
        """The pod's direct controller, read from the pod (and remembered: it does not change)."""
        pod = await self._pod(ref)
        owner = (
            next((o for o in (pod.metadata.ownerReferences or []) if o.controller), None)
            if pod.metadata
            else None
        )
        if owner is None:
            raise RuntimeActionError(f"pod {ref.name} has no controller that would restart it")
        controller = Controller(owner.kind, owner.name)
        self.owners.remember_controller(ref.namespace, ref.name, controller)
        return controller

    async def _readiness(self, namespace: str, controller: Controller) -> Readiness:
        """The controller's ready and desired replicas, read now (and remembered briefly)."""
        resource = ReplicaSet if controller.kind == "ReplicaSet" else StatefulSet
        obj: ReplicaSet | StatefulSet = await self._call(
            f"get {controller.kind.lower()} {controller.name}",
            self.client.get(resource, controller.name, namespace=namespace),
        )
        parent = (
            next((o for o in (obj.metadata.ownerReferences or []) if o.controller), None)
            if obj.metadata
            else None
        )
        # A Deployment's ReplicaSet holds the pods: its ready count is the one that matters.
        of_deployment = parent is not None and parent.kind == "Deployment"
        kind, name = (
            ("Deployment", parent.name)
            if parent is not None and of_deployment and controller.kind == "ReplicaSet"
            else (controller.kind, controller.name)
        )
        state = Readiness(
            kind,
            name,
            ready=(obj.status.readyReplicas or 0) if obj.status else 0,
            desired=obj.spec.replicas if obj.spec and obj.spec.replicas is not None else 1,
            read_at=self.owners.clock(),
        )
        self.owners.remember_readiness(namespace, controller, state)
        return state

    async def owner(self, ref: PodRef) -> tuple[str, str, int | None, int]:
        """The pod's workload, read now: (kind, name, ready replicas, desired replicas)."""
        controller = await self._controller(ref)
        if controller.kind not in COUNTED:
            return controller.kind, controller.name, None, 0
        state = await self._readiness(ref.namespace, controller)
        return state.workload_kind, state.workload_name, state.ready, state.desired

    # -- actions -------------------------------------------------------------------------------
    async def delete_pod(self, ref: PodRef) -> str:
        """Delete the pod so its controller starts a clean one; keeps ``min_healthy`` ready.

        The hot path of the response: at most two reads before the DELETE (cold), one when the
        pod's controller is known, none while the controller's ready count is fresh (see
        :mod:`vigil.kube.owners`). Any read that fails refuses the delete.
        """
        self._check_namespace(ref)
        controller = self.owners.controller(ref.namespace, ref.name) or await self._controller(ref)
        kind, name = controller.kind, controller.name
        if controller.kind in COUNTED:
            state = self.owners.readiness(ref.namespace, controller) or await self._readiness(
                ref.namespace, controller
            )
            kind, name = state.workload_kind, state.workload_name
            left = state.ready_without(ref.name)
            if left < self.min_healthy:
                raise RuntimeActionError(
                    f"{kind} {name} has {left + 1} ready replica(s); deleting one would leave "
                    f"fewer than the {self.min_healthy} required"
                )
        await self._call(
            f"delete pod {ref.name}", self.client.delete(Pod, ref.name, namespace=ref.namespace)
        )
        self.owners.deleted(ref.namespace, controller, ref.name)
        return f"deleted pod {ref.namespace}/{ref.name} ({kind} {name} restarts it clean)"

    async def isolate_pod(self, ref: PodRef, alert_id: str) -> str:
        """A deny-all NetworkPolicy selecting only this pod, through a quarantine label."""
        self._check_namespace(ref)
        policy_name = label_value(f"vigil-isolate-{ref.name}")
        policy = NetworkPolicy(
            metadata=ObjectMeta(
                name=policy_name,
                namespace=ref.namespace,
                labels={
                    "app.kubernetes.io/managed-by": COMPONENT,
                    ALERT_LABEL: label_value(alert_id),
                },
            ),
            spec=NetworkPolicySpec(
                podSelector=LabelSelector(matchLabels={QUARANTINE_LABEL: label_value(ref.name)}),
                policyTypes=["Ingress", "Egress"],
                ingress=[],
                egress=[],
            ),
        )
        # Policy first: once the label lands the pod is cut off, never labelled and still open.
        # 409: already isolated by an earlier alert; the policy stays as it is.
        await self._call(
            f"create networkpolicy {policy_name}", self.client.create(policy), tolerate=(409,)
        )
        await self._label(ref, {QUARANTINE_LABEL: label_value(ref.name)})
        return f"isolated pod {ref.namespace}/{ref.name} with deny-all networkpolicy {policy_name}"

    async def scale_to_zero(self, ref: PodRef) -> str:
        self._check_namespace(ref)
        kind, name, _, replicas = await self.owner(ref)
        resource = {"Deployment": Deployment, "ReplicaSet": ReplicaSet, "StatefulSet": StatefulSet}
        if kind not in resource:
            raise RuntimeActionError(f"the pod's owner is a {kind}, which cannot be scaled")
        await self._call(
            f"scale {kind} {name}",
            self.client.patch(
                resource[kind],
                name,
                {"spec": {"replicas": 0}},
                namespace=ref.namespace,
                patch_type=PatchType.MERGE,
            ),
        )
        return f"scaled {kind} {ref.namespace}/{name} from {replicas} to 0"

    async def _label(self, ref: PodRef, labels: dict[str, str]) -> None:
        await self._patch_metadata(ref, "label", {"labels": labels})

    async def _patch_metadata(self, ref: PodRef, verb: str, metadata: dict[str, Any]) -> None:
        await self._call(
            f"{verb} pod {ref.name}",
            self.client.patch(
                Pod,
                ref.name,
                {"metadata": metadata},
                namespace=ref.namespace,
                patch_type=PatchType.MERGE,
            ),
        )

    async def label_pod(self, ref: PodRef, alert_id: str, rule: str) -> str:
        self._check_namespace(ref)
        labels = {ALERT_LABEL: label_value(alert_id), "vigil.io/rule": label_value(rule)}
        await self._label(ref, labels)
        return f"labelled pod {ref.namespace}/{ref.name}"

    async def annotate_pod(self, ref: PodRef, alert: Mapping[str, Any]) -> str:
        self._check_namespace(ref)
        annotations = {
            "vigil.io/alert": str(alert.get("id", "")),
            "vigil.io/rule": str(alert.get("rule", "")),
            "vigil.io/severity": str(alert.get("severity", "")),
            "vigil.io/message": truncate(alert.get("message", ""), 500),
        }
        await self._patch_metadata(ref, "annotate", {"annotations": annotations})
        return f"annotated pod {ref.namespace}/{ref.name}"

    async def cordon_node(self, ref: PodRef) -> str:
        """Mark the pod's node unschedulable, so nothing new lands on a host in question."""
        self._check_namespace(ref)
        pod = await self._pod(ref)
        node = pod.spec.nodeName if pod.spec else None
        if not node:
            raise RuntimeActionError(f"pod {ref.name} is not scheduled on a node")
        await self._call(
            f"cordon node {node}",
            self.client.patch(
                Node, node, {"spec": {"unschedulable": True}}, patch_type=PatchType.MERGE
            ),
        )
        return f"cordoned node {node}"

    async def emit_event(self, ref: PodRef, alert: Mapping[str, Any]) -> str:
        """A Warning Event on the pod: shows up in ``kubectl describe pod`` and event exporters."""
        now = utcnow()
        name = label_value(f"{ref.name}.vigil.{str(alert.get('id', ''))[:12]}")
        event = Event(
            metadata=ObjectMeta(name=name, namespace=ref.namespace),
            involvedObject=ObjectReference(
                apiVersion="v1", kind="Pod", name=ref.name, namespace=ref.namespace
            ),
            reason="VigilAlert",
            message=truncate(f"{alert.get('rule', '')}: {alert.get('message', '')}", 1000),
            type="Warning",
            source=EventSource(component=COMPONENT),
            firstTimestamp=now,
            lastTimestamp=now,
            count=1,
        )
        await self._call(f"create event {name}", self.client.create(event))
        return f"emitted Warning event {name} on pod {ref.namespace}/{ref.name}"
