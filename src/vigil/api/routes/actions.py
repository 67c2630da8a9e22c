"""Actions waiting for approval: list them, approve or deny one.

- ``GET  /api/v1/actions?state=pending`` — held actions, newest first (``state`` optional: pending,
  approved, done, failed, denied, expired).
- ``GET  /api/v1/actions/{id}`` — one of them.
- ``POST /api/v1/actions/{id}/approve`` and ``/deny`` — body ``{"actor": "...", "reason": "..."}``
  (both optional). Approving runs the ladder at once and answers with its results. 404: unknown
  id; 409: already decided or expired.
- ``GET  /api/v1/action-types`` — every action a playbook can name (the registry), with what it
  does: destructive or not, node-local or cluster-wide, whether it needs Kubernetes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from vigil.api.deps import AgentDep
from vigil.api.ports import AgentPort
from vigil.respond.approvals import STATES, PendingAction
from vigil.respond.registry import ACTIONS
from vigil.respond.responder import ApprovalError

router = APIRouter(tags=["actions"])


class Decision(BaseModel):
    #: who decides (shown in the audit log); "api" when not given
    actor: str = Field(default="api", max_length=120)
    reason: str = Field(default="", max_length=500)


Decide = Callable[[AgentPort, str, Decision], Awaitable[PendingAction]]


def _book(agent: AgentDep) -> Any:
    if agent.responder.approvals is None:
        raise HTTPException(404, "approvals are not enabled on this agent")
    return agent.responder.approvals


@router.get("/action-types")
async def action_types() -> list[dict[str, Any]]:
    return [
        {
            "name": spec.name,
            "summary": spec.summary,
            "destructive": spec.destructive,
            "needs_kubernetes": spec.needs_kubernetes,
            "scope": str(spec.scope),
        }
        for spec in ACTIONS.values()
    ]


@router.get("/actions")
async def list_actions(
    agent: AgentDep,
    state: str | None = Query(default=None, description=f"one of {', '.join(STATES)}"),
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    if state is not None and state not in STATES:
        raise HTTPException(422, f"state must be one of {', '.join(STATES)}")
    await agent.read(agent.responder.expire)
    return [a.to_json() for a in await agent.read(_book(agent).find, state, limit)]


@router.get("/actions/{action_id}")
async def get_action(action_id: str, agent: AgentDep) -> dict[str, Any]:
    action = await agent.read(_book(agent).get, action_id)
    if action is None:
        raise HTTPException(404, f"no action {action_id!r}")
    result: dict[str, Any] = action.to_json()
    return result


async def _approve(agent: AgentPort, action_id: str, decision: Decision) -> PendingAction:
    # runs the ladder: async in the responder, not through ``read``
    return await agent.responder.approve(action_id, actor=decision.actor, reason=decision.reason)


async def _deny(agent: AgentPort, action_id: str, decision: Decision) -> PendingAction:
    deny = agent.responder.deny
    return await agent.read(deny, action_id, actor=decision.actor, reason=decision.reason)


def _add_decision_route(verdict: str, decide: Decide) -> None:
    """``POST /actions/{id}/approve|deny``: one shape, two verdicts."""

    async def route(
        action_id: str, agent: AgentDep, decision: Decision | None = None
    ) -> dict[str, Any]:
        # expire what is due first: an expired action cannot be decided any more
        await agent.read(agent.responder.expire)
        try:
            action = await decide(agent, action_id, decision or Decision())
        except ApprovalError as exc:  # 404 unknown, 409 decided or expired
            raise HTTPException(exc.status, exc.message) from None
        return action.to_json()

    router.post(f"/actions/{{action_id}}/{verdict}", name=f"{verdict}_action")(route)


_add_decision_route("approve", _approve)
_add_decision_route("deny", _deny)
