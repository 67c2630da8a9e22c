"""What delete-pod's minimum-healthy-replicas guardrail knows between alerts.

Checking the guardrail from scratch takes two sequential reads (the pod, for its controller;
then the controller, for its ready count) before the DELETE can leave. Two facts make most of
that avoidable:

- a pod's controller does not change while the pod lives, so pod → controller is remembered
  for long (``owner_ttl``);
- a controller's ready count does change, so its snapshot is trusted only briefly
  (``max_age``, seconds), and every pod vigil deleted since the snapshot was taken is
  subtracted from it — two alerts on two pods of one ReplicaSet within that window see the
  first deletion even before the controller's status does.

Fail safe: an expired or missing snapshot is read again, and a failed read refuses the delete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from vigil.caches import BoundedCache
from vigil.kube.objects import OwnerRef

#: controllers whose ready count the guardrail reads; other owners (DaemonSet, Job, …) are not
#: guarded by a replica count
COUNTED = frozenset({"ReplicaSet", "StatefulSet"})


#: the pod's direct controller: its ``controller: true`` owner reference
Controller = OwnerRef


@dataclass(frozen=True, slots=True)
class Readiness:
    """A controller's state as read at one moment, and what vigil deleted since then."""

    #: the workload users know it by (a ReplicaSet of a Deployment → the Deployment)
    workload_kind: str
    workload_name: str
    ready: int
    desired: int
    #: the clock's reading when the controller was read
    read_at: float
    #: pods of this controller deleted by vigil since the read
    deleted: frozenset[str] = frozenset()

    def ready_without(self, pod: str) -> int:
        """Ready replicas left once ``pod`` is gone (it counts as ready: the worst case)."""
        return self.ready - len(self.deleted | {pod})


class OwnerCache:
    """pod → controller (long-lived) and controller → :class:`Readiness` (short-lived)."""

    def __init__(
        self,
        *,
        max_age: float = 2.0,
        owner_ttl: float = 600.0,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_age = max_age
        self.owner_ttl = owner_ttl
        self.clock = clock
        self._controllers: BoundedCache[tuple[str, str], Controller] = BoundedCache(
            max_entries, clock
        )
        self._readiness: BoundedCache[tuple[str, Controller], Readiness] = BoundedCache(
            max_entries, clock
        )

    def controller(self, namespace: str, pod: str) -> Controller | None:
        return self._controllers.get((namespace, pod))

    def remember_controller(self, namespace: str, pod: str, controller: Controller) -> None:
        self._controllers.put((namespace, pod), controller, ttl=self.owner_ttl)

    def readiness(self, namespace: str, controller: Controller) -> Readiness | None:
        """The snapshot if younger than ``max_age``; None means: read it again."""
        state = self._readiness.get((namespace, controller))
        if state is None or self.clock() - state.read_at >= self.max_age:
            return None
        return state

    def remember_readiness(self, namespace: str, controller: Controller, state: Readiness) -> None:
        self._readiness.put((namespace, controller), state)

    def deleted(self, namespace: str, controller: Controller, pod: str) -> None:
        """vigil deleted ``pod``: the controller's snapshot counts it as gone until it expires."""
        key = (namespace, controller)
        state = self._readiness.get(key)
        if state is not None:
            # read_at stays: recording a deletion must not extend the trust in an old read
            self._readiness.put(key, replace(state, deleted=state.deleted | {pod}))

    def forget(self) -> None:
        self._controllers.drop_where(lambda _: True)
        self._readiness.drop_where(lambda _: True)
