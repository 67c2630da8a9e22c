"""What the API needs from the running agent, and nothing more (vigil.agent.Agent fits).

Routes read the store through :meth:`AgentPort.read` (off the event loop, after the writes
queued before) and change it through :meth:`AgentPort.write` (in the store's writer, in order
with the pipeline's writes): no route blocks the pipeline on the database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, Protocol, TypeVar

from vigil.detect.profiles import Profile, ProfileBook
from vigil.record.store import AlertFilter, AlertPage
from vigil.respond.approvals import PendingAction
from vigil.respond.audit import AuditLog
from vigil.sensor import SensorStats

P = ParamSpec("P")
T = TypeVar("T")


class NamedSensor(Protocol):
    @property
    def name(self) -> str: ...


class StoreReads(Protocol):
    """The store's read side (vigil.record.store.Store); call it through ``read``."""

    @property
    def backend(self) -> str: ...

    def schema_version(self) -> int: ...

    def alert_page(
        self, where: AlertFilter, *, limit: int = 100, cursor: str | None = None
    ) -> AlertPage: ...

    def alerts(self, *, limit: int = 100, workload: str | None = None) -> list[dict[str, Any]]: ...

    def profile_versions(self, key: str) -> list[dict[str, Any]]: ...

    def load_profile_version(self, key: str, version: int) -> Profile | None: ...


class HeldActions(Protocol):
    """The approvals book (vigil.respond.approvals.ApprovalBook)."""

    def get(self, action_id: str) -> PendingAction | None: ...

    def find(self, state: str | None = None, limit: int = 100) -> list[PendingAction]: ...


class ResponseMetrics(Protocol):
    def to_json(self) -> dict[str, Any]: ...


class ResponderPort(Protocol):
    """Approvals, the audit log and response counters (vigil.respond.responder.Responder)."""

    @property
    def approvals(self) -> HeldActions | None: ...

    @property
    def audit(self) -> AuditLog | None: ...

    @property
    def metrics(self) -> ResponseMetrics: ...

    def expire(self) -> list[PendingAction]: ...

    async def approve(self, action_id: str, *, actor: str, reason: str = "") -> PendingAction: ...

    def deny(self, action_id: str, *, actor: str, reason: str = "") -> PendingAction: ...


class ProfileChanges(Protocol):
    """Every profile change (vigil.profile_service.ProfileService)."""

    def lock(self, selector: str | None) -> list[Profile]: ...

    def unlock(self, selector: str | None) -> list[Profile]: ...

    def relearn(self, selector: str | None) -> list[Profile]: ...

    def install(self, profile: Profile) -> Profile: ...


class Exposition(Protocol):
    def exposition(self) -> bytes: ...


class AgentPort(Protocol):
    """The running agent as the API sees it."""

    @property
    def running(self) -> bool: ...

    @property
    def alerts_emitted(self) -> int: ...

    @property
    def events_failed(self) -> int: ...

    @property
    def alerts_suppressed(self) -> int: ...

    @property
    def sensor(self) -> NamedSensor: ...

    def sensor_stats(self) -> SensorStats: ...

    @property
    def identity(self) -> object: ...

    @property
    def profiles(self) -> ProfileBook: ...

    @property
    def profile_service(self) -> ProfileChanges: ...

    @property
    def store(self) -> StoreReads: ...

    @property
    def responder(self) -> ResponderPort: ...

    @property
    def metrics(self) -> Exposition: ...

    async def read(self, query: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T: ...

    async def write(self, what: str, change: Callable[[], T]) -> T: ...
