"""The Kubernetes API adapter: configuration, the lightkube client, and the calls identity needs.

This package (this module and the response actions in :mod:`vigil.kube.actions`) is the only
place that imports lightkube, so that the rest of vigil deals in its own types and exceptions
(:mod:`.errors`, :mod:`.objects`, which load without lightkube: a host without Kubernetes never
imports it). Every
failure leaves here as a :class:`KubeError` whose message names the call and quotes at most a
bounded part of what the server said.

Other stages reuse the client: ``make_async_client(load_config(path))`` gives a ready
``lightkube.AsyncClient``; wrap calls in :func:`kube_errors` to get vigil's exceptions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import msgspec
import yaml
from lightkube import AsyncClient, KubeConfig
from lightkube.config.kubeconfig import SingleConfig
from lightkube.core.exceptions import ApiError, NotReadyError
from lightkube.core.exceptions import ConfigError as LightkubeConfigError
from lightkube.models.meta_v1 import OwnerReference
from lightkube.resources.apps_v1 import ReplicaSet
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod

from vigil.errors import truncate
from vigil.kube.errors import KubeApiError, KubeConfigError, KubeError, KubeUnavailable
from vigil.kube.locate import DEFAULT_KUBECONFIG, SERVICE_ACCOUNT_DIR, config_source
from vigil.kube.objects import OwnerRef, PodSummary

#: what is quoted of a server's answer in an error message
MAX_QUOTED = 160

__all__ = [
    "DEFAULT_KUBECONFIG",
    "SERVICE_ACCOUNT_DIR",
    "KubeApi",
    "KubeApiError",
    "KubeConfigError",
    "KubeError",
    "KubeUnavailable",
    "OwnerRef",
    "PodSummary",
    "kube_errors",
    "load_config",
    "make_async_client",
    "server_of",
]


# -- configuration ---------------------------------------------------------------------------
def load_config(
    kubeconfig: str | Path | None = None, *, service_account_dir: str = SERVICE_ACCOUNT_DIR
) -> SingleConfig:
    """The cluster to talk to: ``kubeconfig`` when given, else in-cluster (the service account
    directory and ``KUBERNETES_SERVICE_HOST``), else ``$KUBECONFIG``, else ``~/.kube/config``."""
    source = config_source(kubeconfig, service_account_dir=service_account_dir)
    try:
        if source.in_cluster:
            config = KubeConfig.from_service_account(str(source.path)).get()
        else:
            config = KubeConfig.from_file(source.path).get()
    except (LightkubeConfigError, yaml.YAMLError, OSError, LookupError, ValueError, TypeError,
            AttributeError) as exc:  # fmt: skip
        where = str(kubeconfig) if kubeconfig is not None else "in-cluster config or kubeconfig"
        raise KubeConfigError(f"Kubernetes configuration ({where}): {truncate(exc, 120)}") from None
    if config is None:
        raise KubeConfigError("Kubernetes configuration has no current context")
    return config


def make_async_client(config: SingleConfig, *, timeout: float = 10.0) -> AsyncClient:
    """A lightkube ``AsyncClient`` for ``config`` (watches ignore the read timeout)."""
    try:
        return AsyncClient(config, timeout=httpx2.Timeout(timeout), trust_env=False)
    except (LightkubeConfigError, AssertionError, OSError, ValueError) as exc:
        raise KubeConfigError(f"cannot build a Kubernetes client: {truncate(exc, 120)}") from None


def server_of(config: SingleConfig) -> str:
    return str(config.cluster.server)


# -- errors ----------------------------------------------------------------------------------
@contextmanager
def kube_errors(call: str) -> Iterator[None]:
    """Turn whatever lightkube and httpx raise during ``call`` into a :class:`KubeError`."""
    try:
        yield
    except ApiError as exc:
        status = exc.status
        raise KubeApiError(
            f"{call}: {status.code} {truncate(status.message or status.reason or '', MAX_QUOTED)}",
            status=status.code,
        ) from None
    except httpx2.HTTPStatusError as exc:
        code = exc.response.status_code
        raise KubeApiError(
            f"{call}: {code} {truncate(_status_message(exc.response), MAX_QUOTED)}", status=code
        ) from None
    except (httpx2.TransportError, OSError) as exc:
        raise KubeUnavailable(
            f"{call}: API server unreachable ({type(exc).__name__}: {truncate(exc, MAX_QUOTED)})"
        ) from None
    except (msgspec.MsgspecError, ValueError, TypeError, AttributeError) as exc:
        raise KubeApiError(f"{call}: unexpected answer ({truncate(exc, MAX_QUOTED)})") from None


def _status_message(response: httpx2.Response) -> str:
    """The ``message`` of a Kubernetes Status body, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:MAX_QUOTED]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("reason") or "")
    return ""


# -- the calls identity needs ----------------------------------------------------------------
def _summary(pod: Any) -> PodSummary:
    meta = pod.metadata
    owners: list[OwnerReference] = list(meta.ownerReferences or [])
    chosen = next((o for o in owners if o.controller), owners[0] if owners else None)
    return PodSummary(
        namespace=str(meta.namespace or ""),
        name=str(meta.name or ""),
        uid=str(meta.uid or ""),
        node=str(pod.spec.nodeName or "") if pod.spec is not None else "",
        owner=OwnerRef(chosen.kind, chosen.name) if chosen is not None else None,
    )


_OWNED_KINDS: dict[str, Any] = {"ReplicaSet": ReplicaSet, "Job": Job}


class KubeApi:
    """The few API calls identity makes, in vigil's types and exceptions."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    @classmethod
    def from_config(cls, config: SingleConfig, *, timeout: float = 10.0) -> KubeApi:
        return cls(make_async_client(config, timeout=timeout))

    @property
    def server(self) -> str:
        return server_of(self.client.config)

    async def list_pods(self, node: str) -> tuple[list[PodSummary], str | None]:
        """Pods scheduled on ``node`` in every namespace, and the list's resourceVersion."""
        with kube_errors(f"list pods on node {truncate(node, 80)}"):
            listing = self.client.list(Pod, namespace="*", fields={"spec.nodeName": node})
            pods = [_summary(pod) async for pod in listing]
        try:
            version: str | None = listing.resourceVersion
        except NotReadyError:  # the server gave none: watch from "now"
            version = None
        return pods, version

    async def watch_pods(
        self, node: str, resource_version: str | None
    ) -> AsyncIterator[tuple[str, PodSummary]]:
        """(``ADDED``|``MODIFIED``|``DELETED``, pod) for pods on ``node``, until an error."""
        with kube_errors(f"watch pods on node {truncate(node, 80)}"):
            stream = self.client.watch(
                Pod,
                namespace="*",
                fields={"spec.nodeName": node},
                resource_version=resource_version,
            )
            async for kind, pod in stream:
                yield str(kind), _summary(pod)

    async def controller_of(self, kind: str, namespace: str, name: str) -> OwnerRef | None:
        """The controlling owner of a ReplicaSet or Job (its Deployment or CronJob), or None."""
        resource = _OWNED_KINDS.get(kind)
        if resource is None:
            return None
        with kube_errors(f"get {kind} {truncate(namespace, 63)}/{truncate(name, 80)}"):
            obj = await self.client.get(resource, name, namespace=namespace)
            owners: list[OwnerReference] = list(obj.metadata.ownerReferences or [])
        chosen = next((o for o in owners if o.controller), owners[0] if owners else None)
        return OwnerRef(chosen.kind, chosen.name) if chosen is not None else None

    async def close(self) -> None:
        with kube_errors("close the Kubernetes client"):
            await self.client.close()
