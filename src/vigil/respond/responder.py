"""Playbooks decide what happens to an alert; actions carry it out and say how it went."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

from vigil.config import Playbook
from vigil.errors import RuntimeActionError, truncate
from vigil.models import ActionResult, Alert
from vigil.respond.freeze import set_frozen

log = logging.getLogger(__name__)


class ContainerTarget(Protocol):
    """What an action needs to know of a container (identity's ContainerRecord fits)."""

    @property
    def cgroup_paths(self) -> Mapping[str, str]: ...


class ContainerLookup(Protocol):
    def lookup(self, container_id: str) -> ContainerTarget | None: ...


Action = Callable[[Alert, ContainerTarget], Awaitable[str]]


async def freeze_action(alert: Alert, target: ContainerTarget) -> str:
    written = await asyncio.to_thread(set_frozen, target.cgroup_paths, True)
    return f"froze via {written}"


ACTIONS: dict[str, Action] = {"freeze": freeze_action}


def matches(playbook: Playbook, alert: Alert) -> bool:
    match = playbook.match
    namespace = alert.event.workload.namespace if alert.event.workload else ""
    return (
        (not match.kinds or alert.kind in match.kinds)
        and (not match.severities or alert.severity in match.severities)
        and (not match.rules or alert.rule in match.rules)
        and (not match.namespaces or namespace in match.namespaces)
    )


class Responder:
    """Applies the first matching playbook to each alert and records the outcome in it."""

    def __init__(
        self,
        playbooks: Sequence[Playbook],
        containers: ContainerLookup,
        *,
        actions: Mapping[str, Action] = ACTIONS,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.playbooks = list(playbooks)
        self.containers = containers
        self.actions = actions
        self._monotonic_ns = monotonic_ns

    async def respond(self, alert: Alert) -> None:
        playbook = next((p for p in self.playbooks if matches(p, alert)), None)
        if playbook is None:
            return
        alert.playbook = playbook.name
        if playbook.mode != "auto":
            return
        container = alert.event.container
        for name in playbook.actions:
            if container is None or container.is_host:
                alert.actions.append(ActionResult(name, "skipped", "vigil never acts on the host"))
                continue
            target = self.containers.lookup(container.id)
            if target is None:
                alert.actions.append(
                    ActionResult(name, "failed", f"container {container.id} is no longer known")
                )
                continue
            alert.actions.append(await self._run(name, alert, target))

    async def _run(self, name: str, alert: Alert, target: ContainerTarget) -> ActionResult:
        try:
            detail = await self.actions[name](alert, target)
        except RuntimeActionError as exc:
            log.warning("action %s on %s failed: %s", name, alert.event.container, exc)
            return ActionResult(name, "failed", truncate(exc, 200), self._latency_ms(alert))
        return ActionResult(name, "done", detail, self._latency_ms(alert))

    def _latency_ms(self, alert: Alert) -> float | None:
        # Kernel timestamps are CLOCK_MONOTONIC, like time.monotonic_ns(): comparable directly.
        event_ns = alert.event.ktime_ns
        now_ns = self._monotonic_ns()
        if event_ns <= 0 or event_ns > now_ns:
            return None
        return (now_ns - event_ns) / 1e6
