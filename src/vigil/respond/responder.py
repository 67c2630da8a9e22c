"""Playbooks decide what happens to an alert; the ladder of actions carries it out.

For each alert: the first matching playbook decides (``alert`` records only, ``approve`` holds
the ladder for a person, ``auto`` acts now). Guardrails come first (never the host or the agent,
protected namespaces, dry-run, rate limits, cooldowns); then each rung runs within its timeout,
its fallback runs if it fails, and forensics are captured before the first destructive rung.
Every decision and every action goes to the audit log, with the latency from the kernel's event.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from vigil.errors import RuntimeActionError, VigilError, truncate
from vigil.models import ActionResult, Alert, Severity, event_from_json, parse_rfc3339
from vigil.respond.actions import Action, ActionKit, ContainerLookup, ContainerTarget
from vigil.respond.approvals import ApprovalBook, PendingAction, QueuedWrites
from vigil.respond.audit import AuditLog
from vigil.respond.guardrails import Guardrails
from vigil.respond.metrics import ResponseMetrics
from vigil.respond.registry import DESTRUCTIVE
from vigil.respond.settings import ActionStep, Playbook, ResponseConfig
from vigil.selectors import WorkloadSelector

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "vigil"
#: how often expired approvals are swept
EXPIRY_SWEEP_S = 5.0

__all__ = ["ContainerLookup", "ContainerTarget", "Responder", "matches"]


class ApprovalError(VigilError):
    """An approval or denial that cannot happen (unknown id, already decided, expired)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


def _workload_matches(patterns: frozenset[str], alert: Alert) -> bool:
    workload = alert.event.workload
    if workload is None:
        return False
    return any(WorkloadSelector(p, glob=True).matches(workload) for p in patterns)


def matches(playbook: Playbook, alert: Alert, labels: Mapping[str, str] | None = None) -> bool:
    match = playbook.match
    namespace = alert.event.workload.namespace if alert.event.workload else ""
    tags = {*alert.tags, *alert.mitre}
    labels = labels or {}
    return (
        (not match.kinds or alert.kind in match.kinds)
        and (not match.severities or alert.severity in match.severities)
        and (not match.rules or any(fnmatch.fnmatchcase(alert.rule, r) for r in match.rules))
        and (not match.namespaces or namespace in match.namespaces)
        and (not match.tags or bool(tags & match.tags))
        and (not match.workloads or _workload_matches(match.workloads, alert))
        and all(labels.get(key) == value for key, value in match.labels)
    )


def with_forensics_first(steps: Sequence[ActionStep]) -> tuple[ActionStep, ...]:
    """Insert a forensics capture before the first destructive rung, unless one is there."""
    for index, step in enumerate(steps):
        if step.action == "forensics":
            return tuple(steps)
        if step.action in DESTRUCTIVE or step.fallback in DESTRUCTIVE:
            return (*steps[:index], ActionStep("forensics", timeout=10.0), *steps[index:])
    return tuple(steps)


def _target_json(alert: Alert) -> dict[str, Any]:
    container, workload = alert.event.container, alert.event.workload
    return {
        "container": container.id if container else "host",
        "workload": workload.key if workload else "host",
        "pid": alert.event.process.pid,
        "exe": alert.event.process.exe,
    }


class Responder:
    """Applies the first matching playbook to each alert and records the outcome in it."""

    def __init__(
        self,
        playbooks: Sequence[Playbook],
        containers: ContainerLookup,
        *,
        config: ResponseConfig | None = None,
        actions: Mapping[str, Action] | None = None,
        kit: ActionKit | None = None,
        audit: AuditLog | None = None,
        approvals: ApprovalBook | None = None,
        guardrails: Guardrails | None = None,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
        writer: QueuedWrites | None = None,
    ) -> None:
        self.playbooks = list(playbooks)
        self.containers = containers
        self.config = config or ResponseConfig()
        self.kit = kit
        #: without a kit, only the actions that need no service (the cgroup freezer's)
        self.actions: Mapping[str, Action] = (
            actions
            if actions is not None
            else kit.registry()
            if kit is not None
            else ActionKit.standalone()
        )
        self.audit = audit
        #: audit lines are appended here, in order with the store's writes, off the event loop
        self._writer = writer
        self.approvals = approvals
        self.guardrails = guardrails or Guardrails(self.config)
        self.metrics = ResponseMetrics()
        self._monotonic_ns = monotonic_ns
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle: the in-kernel block and the expiry sweep -----------------------------------
    def uses(self, *actions: str) -> bool:
        names = {n for p in self.playbooks for s in p.steps for n in (s.action, s.fallback)}
        return bool(names & set(actions))

    async def __aenter__(self) -> Self:
        enforcer = self.kit.enforcer if self.kit is not None else None
        if enforcer is not None and self.uses("block-exec", "enforce-profile"):
            try:
                await asyncio.to_thread(enforcer.start)
            except VigilError as exc:  # the rest of the response still works
                log.error("in-kernel block unavailable: %s", exc)
        if self.approvals is not None:
            self._sweeper = asyncio.create_task(self._sweep_expired())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self.kit is not None and self.kit.enforcer is not None:
            self.kit.enforcer.close()

    async def _sweep_expired(self) -> None:
        while True:
            await asyncio.sleep(EXPIRY_SWEEP_S)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.expire)  # reads the store: off the event loop

    def expire(self) -> list[PendingAction]:
        expired = self.approvals.expire() if self.approvals is not None else []
        for action in expired:
            self._audit(
                actor=SYSTEM_ACTOR,
                event="expired",
                why="no decision before the expiry",
                target={"playbook": action.playbook},
                outcome="expired",
                alert_id=str(action.alert.get("id")),
                action_id=action.id,
            )
        return expired

    # -- decisions -----------------------------------------------------------------------------
    async def respond(self, alert: Alert) -> None:
        container = alert.event.container
        target = (
            self.containers.lookup(container.id)
            if container is not None and not container.is_host
            else None
        )
        labels: Mapping[str, str] = getattr(target, "annotations", None) or {}
        playbook = next((p for p in self.playbooks if matches(p, alert, labels)), None)
        if playbook is None:
            return
        alert.playbook = playbook.name
        self.metrics.decided(playbook.mode)
        self._audit(
            actor=SYSTEM_ACTOR,
            event="decision",
            why=f"{alert.kind} alert {alert.rule} ({alert.severity}) matched playbook "
            f"{playbook.name}",
            target=_target_json(alert),
            outcome=playbook.mode,
            alert_id=alert.id,
        )
        if playbook.mode == "alert" or not playbook.steps:
            return
        refusal = self.guardrails.target_refusal(
            alert, target.cgroup_paths if target is not None else None
        )
        if refusal is not None:
            for step in playbook.steps:
                alert.actions.append(self._skip(alert, step.action, refusal))
            return
        if playbook.mode == "approve":
            alert.actions.extend(self._hold(playbook, alert))
            return
        alert.actions.extend(
            await self.run_ladder(
                playbook.steps,
                alert,
                target,
                dry_run=self.guardrails.dry_run(playbook.dry_run),
                actor=f"{SYSTEM_ACTOR} (playbook {playbook.name})",
            )
        )

    def _hold(self, playbook: Playbook, alert: Alert) -> list[ActionResult]:
        if self.approvals is None:
            return [
                self._skip(alert, s.action, "approve mode needs the store: no approvals book")
                for s in playbook.steps
            ]
        pending = self.approvals.create(
            playbook=playbook.name,
            steps=[asdict(step) for step in playbook.steps],
            alert=alert.to_json(),
            event=alert.event.to_json(),
            ttl_seconds=self.config.approval_timeout,
        )
        self._audit(
            actor=SYSTEM_ACTOR,
            event="pending",
            why=f"playbook {playbook.name} asks a person to approve",
            target=_target_json(alert),
            outcome="pending",
            detail=", ".join(s.action for s in playbook.steps),
            alert_id=alert.id,
            action_id=pending.id,
        )
        detail = f"awaiting approval: vigil actions approve {pending.id}"
        return [ActionResult(step.action, "pending", detail) for step in playbook.steps]

    # -- approvals -----------------------------------------------------------------------------
    def _pending(self, action_id: str) -> PendingAction:
        if self.approvals is None:
            raise ApprovalError("approvals are not enabled on this agent", status=404)
        self.expire()  # an action past its expiry is expired (and audited) before any decision
        action = self.approvals.get(action_id)
        if action is None:
            raise ApprovalError(f"no action {truncate(action_id, 40)!r}", status=404)
        if action.state != "pending":
            raise ApprovalError(
                f"action {action.id} is already {action.state}"
                + (f" (by {action.decided_by})" if action.decided_by else ""),
                status=409,
            )
        return action

    async def approve(self, action_id: str, *, actor: str, reason: str = "") -> PendingAction:
        """Run a held ladder now, as ``actor`` decided; returns it with its results."""
        # raises when approvals are off; reads the store, so off the event loop
        action = await asyncio.to_thread(self._pending, action_id)
        book = self.approvals
        assert book is not None
        action.state, action.decided_by, action.reason = "approved", actor, reason
        action.decided_at = datetime.now(action.created.tzinfo)
        book.save(action)
        alert = _alert_from(action)
        self._audit(
            actor=actor,
            event="approved",
            why=reason or "approved",
            target=_target_json(alert),
            outcome="approved",
            alert_id=alert.id,
            action_id=action.id,
        )
        container = alert.event.container
        target = self.containers.lookup(container.id) if container is not None else None
        refusal = self.guardrails.target_refusal(
            alert, target.cgroup_paths if target is not None else None
        )
        steps = tuple(ActionStep(**step) for step in action.steps)
        if refusal is not None:
            results = [self._skip(alert, s.action, refusal, action.id) for s in steps]
        else:
            results = await self.run_ladder(
                steps,
                alert,
                target,
                dry_run=self.config.dry_run,
                actor=f"{actor} (approved {action.id})",
                action_id=action.id,
            )
        action.results = [r.to_json() for r in results]
        action.state = "done" if all(r.outcome == "done" for r in results) else "failed"
        book.save(action)
        return action

    def deny(self, action_id: str, *, actor: str, reason: str = "") -> PendingAction:
        action = self._pending(action_id)
        assert self.approvals is not None
        action.state, action.decided_by, action.reason = "denied", actor, reason
        action.decided_at = datetime.now(action.created.tzinfo)
        self.approvals.save(action)
        self._audit(
            actor=actor,
            event="denied",
            why=reason or "denied",
            target={"playbook": action.playbook},
            outcome="denied",
            alert_id=str(action.alert.get("id")),
            action_id=action.id,
        )
        return action

    # -- the ladder ----------------------------------------------------------------------------
    async def run_ladder(
        self,
        steps: Sequence[ActionStep],
        alert: Alert,
        target: ContainerTarget | None,
        *,
        dry_run: bool,
        actor: str,
        action_id: str | None = None,
    ) -> list[ActionResult]:
        if self.config.forensics_before_destroy and "forensics" in self.actions:
            steps = with_forensics_first(steps)
        results: list[ActionResult] = []
        for step in steps:
            result = await self._rung(step.action, step.timeout, alert, target, dry_run, actor)
            results.append(result)
            if result.outcome == "failed" and step.fallback:
                fallback = await self._rung(
                    step.fallback, step.timeout, alert, target, dry_run, actor
                )
                fallback.detail = f"fallback for {step.action}: {fallback.detail}"
                results.append(fallback)
        for result in results:
            self._audit(
                actor=actor,
                event="action",
                why=f"{alert.rule} ({alert.severity})",
                target={**_target_json(alert), "action": result.action},
                outcome=result.outcome,
                detail=result.detail,
                latency_ms=result.latency_ms,
                alert_id=alert.id,
                action_id=action_id,
            )
        return results

    async def _rung(
        self,
        name: str,
        timeout: float,
        alert: Alert,
        target: ContainerTarget | None,
        dry_run: bool,
        actor: str,
    ) -> ActionResult:
        workload = alert.event.workload.key if alert.event.workload else "host"
        if dry_run:
            return self._observe(ActionResult(name, "dry-run", f"would run {name} (dry run)"))
        if target is None:
            container = alert.event.container.id if alert.event.container else "?"
            return self._observe(
                ActionResult(name, "failed", f"container {container} is no longer known")
            )
        refusal = self.guardrails.budget_refusal(workload, name)
        if refusal is not None:
            return self._observe(ActionResult(name, "skipped", refusal))
        action = self.actions.get(name)
        if action is None:
            return self._observe(ActionResult(name, "failed", f"{name} is not available here"))
        self.guardrails.spend(workload, name)
        try:
            detail = await asyncio.wait_for(action(alert, target), timeout)
        except TimeoutError:
            result = ActionResult(name, "failed", f"timed out after {timeout:g}s")
        except RuntimeActionError as exc:
            log.warning("action %s on %s failed: %s", name, alert.event.container, exc)
            result = ActionResult(name, "failed", truncate(exc, 200))
        except Exception as exc:  # one broken action must not stop the ladder or the agent
            log.exception("action %s crashed", name)
            result = ActionResult(name, "failed", f"internal error: {truncate(exc, 160)}")
        else:
            result = ActionResult(name, "done", detail)
        result.latency_ms = self._latency_ms(alert)
        return self._observe(result)

    def _observe(self, result: ActionResult) -> ActionResult:
        self.metrics.observe(result.action, result.outcome, result.latency_ms)
        return result

    def _skip(
        self, alert: Alert, name: str, why: str, action_id: str | None = None
    ) -> ActionResult:
        result = self._observe(ActionResult(name, "skipped", why))
        self._audit(
            actor=SYSTEM_ACTOR,
            event="action",
            why=why,
            target={**_target_json(alert), "action": name},
            outcome="skipped",
            alert_id=alert.id,
            action_id=action_id,
        )
        return result

    def _audit(self, **entry: Any) -> None:
        audit = self.audit
        if audit is None:
            return

        def append() -> None:
            try:
                audit.record(**entry)
            except OSError as exc:  # the action happened; losing its audit line is logged loudly
                log.error("could not write the audit log: %s", truncate(exc, 160))

        if self._writer is None:
            append()
        else:
            self._writer.submit(f"audit entry {entry.get('event', '')}", append)

    def _latency_ms(self, alert: Alert) -> float | None:
        # Kernel timestamps are CLOCK_MONOTONIC, like time.monotonic_ns(): comparable directly.
        event_ns = alert.event.ktime_ns
        now_ns = self._monotonic_ns()
        if event_ns <= 0 or event_ns > now_ns:
            return None
        return (now_ns - event_ns) / 1e6


def _alert_from(action: PendingAction) -> Alert:
    """The held alert again (also after a restart), from the stored alert and event JSON."""
    data = action.alert
    return Alert(
        id=str(data["id"]),
        time=parse_rfc3339(str(data["time"])),
        kind=str(data["kind"]),
        rule=str(data["rule"]),
        severity=Severity(data["severity"]),
        message=str(data.get("message", "")),
        event=event_from_json(action.event),
        mitre=list(data.get("mitre", [])),
        tags=list(data.get("tags", [])),
    )


def forensics_dir(data_dir: Path) -> Path:
    return data_dir / "forensics"
