"""The pods of this node and the workloads that own them, kept current by a watch.

:class:`PodWatcher` runs as an asyncio task: it lists the node's pods (``spec.nodeName``), walks
each pod's owner chain (ReplicaSet → Deployment, Job → CronJob; StatefulSet and DaemonSet own
their pods directly) through a bounded, expiring cache, then follows the watch. It fills a
:class:`PodDirectory`, which the identity resolver reads synchronously on the event path — the
event path never waits for the API. When the API is unreachable or answers with errors the
watcher backs off and retries; meanwhile pods it does not know are inferred from their names.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vigil.caches import BoundedCache
from vigil.errors import truncate
from vigil.kube.errors import KubeApiError, KubeError
from vigil.kube.objects import OwnerRef, PodSummary
from vigil.models import Workload

if TYPE_CHECKING:  # the client (and lightkube) is loaded only when a watcher is built
    from vigil.kube.client import KubeApi

log = logging.getLogger(__name__)

#: owners whose own controller names the workload
_OWNED_BY = {"ReplicaSet": "Deployment", "Job": "CronJob"}


@dataclass(frozen=True, slots=True)
class PodOwner:
    """A pod's workload as the API says."""

    uid: str
    kind: str
    name: str


class PodDirectory:
    """(namespace, pod name) → owning workload; read by identity, written by the watcher.

    Bounded (``max_pods``, least recently used first; a node runs at most a few hundred).
    ``generation`` changes on every change so readers know when to derive cached answers again.
    """

    def __init__(self, max_pods: int = 10_000) -> None:
        self.max_pods = max_pods
        self._pods: BoundedCache[tuple[str, str], PodOwner] = BoundedCache(max_pods)
        self._generation = 0
        #: True while a list+watch is live; False before the first list and after an error
        self.connected = False
        #: the last error (bounded), "" when none
        self.last_error = ""

    @property
    def generation(self) -> int:
        return self._generation

    def workload(self, namespace: str, pod: str, container: str) -> Workload | None:
        owner = self._pods.get((namespace, pod))
        if owner is None:
            return None
        return Workload(namespace, owner.kind, owner.name, container)

    def owner(self, namespace: str, pod: str) -> PodOwner | None:
        return self._pods.get((namespace, pod))

    def __len__(self) -> int:
        return len(self._pods)

    def replace_all(self, pods: dict[tuple[str, str], PodOwner]) -> None:
        self._pods = BoundedCache(self.max_pods)
        for key, owner in list(pods.items())[: self.max_pods]:
            self._pods.put(key, owner)
        self._generation += 1

    def put(self, namespace: str, pod: str, owner: PodOwner) -> None:
        if self._pods.get((namespace, pod)) == owner:
            return
        self._pods.put((namespace, pod), owner)
        self._generation += 1

    def remove(self, namespace: str, pod: str) -> None:
        if self._pods.pop((namespace, pod)) is not None:
            self._generation += 1


class OwnerChain:
    """Pod → workload owner, with the controllers' own owners cached (they rarely change)."""

    def __init__(
        self,
        api: KubeApi,
        *,
        clock: Callable[[], float] = time.monotonic,
        ttl: float = 600.0,
        max_entries: int = 4096,
    ) -> None:
        self._api = api
        self._ttl = ttl
        self._cache: BoundedCache[tuple[str, str, str], OwnerRef | None] = BoundedCache(
            max_entries, clock
        )
        self._absent: OwnerRef = OwnerRef("", "")  # cached "has no owner"
        self.lookups = 0

    async def owner_of(self, pod: PodSummary) -> PodOwner:
        """Raises :class:`KubeError` when an owner cannot be fetched."""
        direct = pod.owner
        if direct is None:
            return PodOwner(pod.uid, "Pod", pod.name)
        if direct.kind in _OWNED_BY:
            parent = await self._controller(direct.kind, pod.namespace, direct.name)
            if parent is not None:
                return PodOwner(pod.uid, parent.kind, parent.name)
        return PodOwner(pod.uid, direct.kind, direct.name)

    async def _controller(self, kind: str, namespace: str, name: str) -> OwnerRef | None:
        key = (kind, namespace, name)
        if key in self._cache:
            cached = self._cache.get(key)
            if cached is not None:
                return None if cached == self._absent else cached
        self.lookups += 1
        found = await self._api.controller_of(kind, namespace, name)
        self._cache.put(key, found or self._absent, ttl=self._ttl)
        return found


class PodWatcher:
    """List, then watch, the pods of ``node`` into ``directory``; never raises but on cancel."""

    def __init__(
        self,
        api: KubeApi,
        node: str,
        directory: PodDirectory,
        *,
        clock: Callable[[], float] = time.monotonic,
        min_retry: float = 1.0,
        max_retry: float = 30.0,
    ) -> None:
        self.api = api
        self.node = node
        self.directory = directory
        self.owners = OwnerChain(api, clock=clock)
        self.min_retry = min_retry
        self.max_retry = max_retry
        self.failures = 0
        self.synced = asyncio.Event()

    async def run(self) -> None:
        delay = self.min_retry
        while True:
            try:
                await self._list_and_watch()
                delay = self.min_retry  # the watch ended cleanly: start over at once
            except KubeError as exc:
                self.failures += 1
                self.directory.connected = False
                message = truncate(exc, 240)
                if message != self.directory.last_error:
                    log.warning(
                        "Kubernetes API: %s; pods are inferred from names meanwhile", message
                    )
                self.directory.last_error = message
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_retry)

    async def _list_and_watch(self) -> None:
        pods, version = await self.api.list_pods(self.node)
        owners: dict[tuple[str, str], PodOwner] = {}
        for pod in pods:
            owner = await self._owner(pod)
            if owner is not None and pod.node in ("", self.node):
                owners[(pod.namespace, pod.name)] = owner
        self.directory.replace_all(owners)
        self.directory.connected = True
        self.directory.last_error = ""
        self.synced.set()
        log.info("Kubernetes API %s: %d pods on node %s", self.api.server, len(owners), self.node)
        async for kind, pod in self.api.watch_pods(self.node, version):
            if kind == "DELETED" or pod.node not in ("", self.node):
                self.directory.remove(pod.namespace, pod.name)
                continue
            known = self.directory.owner(pod.namespace, pod.name)
            if known is not None and known.uid == pod.uid and pod.owner is not None:
                continue  # owner references of a live pod do not change
            owner = await self._owner(pod)
            if owner is not None:
                self.directory.put(pod.namespace, pod.name, owner)

    async def _owner(self, pod: PodSummary) -> PodOwner | None:
        """The pod's owner; None (so names are inferred) when the API refuses to tell.

        An unreachable API is not the pod's fault: that error goes up and the watch restarts.
        """
        try:
            return await self.owners.owner_of(pod)
        except KubeApiError as exc:
            log.warning("owner of pod %s/%s: %s", pod.namespace, pod.name, truncate(exc, 200))
            return None
