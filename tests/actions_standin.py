"""A stand-in for issue 7's approval routes, for the UI tests only (until those routes land).

Same endpoints as agreed: ``GET /api/v1/actions?state=pending`` and
``POST /api/v1/actions/{id}/approve|deny``. Every alert asks to freeze its container; approving
carries the freeze out with the injected function (the real cgroup freezer in the e2e test).
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, HTTPException

from vigil.models import Alert, rfc3339

Carry = Callable[[dict[str, Any]], Awaitable[str]]


class PendingActions:
    def __init__(self, carry_out: Carry) -> None:
        self.carry_out = carry_out
        self.actions: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self.router = APIRouter(tags=["actions"])
        self.router.add_api_route("/actions", self.list, methods=["GET"])
        self.router.add_api_route("/actions/{action_id}/approve", self.approve, methods=["POST"])
        self.router.add_api_route("/actions/{action_id}/deny", self.deny, methods=["POST"])

    def __call__(self, alert: Alert) -> None:  # an Agent alert hook
        body = alert.to_json()
        action_id = f"act-{next(self._ids)}"
        self.actions[action_id] = {
            "id": action_id,
            "action": "freeze",
            "state": "pending",
            "alert_id": alert.id,
            "container": body["container"],
            "workload": body["workload"],
            "reason": body["rule"],
            "requested": rfc3339(alert.time),
        }

    async def list(self, state: str | None = None) -> list[dict[str, Any]]:
        return [a for a in self.actions.values() if state is None or a["state"] == state]

    def _pending(self, action_id: str) -> dict[str, Any]:
        action = self.actions.get(action_id)
        if action is None or action["state"] != "pending":
            raise HTTPException(409, f"action {action_id} is not pending")
        return action

    async def approve(self, action_id: str) -> dict[str, Any]:
        action = self._pending(action_id)
        try:
            action["detail"] = await self.carry_out(action)
            action["state"] = action["outcome"] = "done"
        except Exception as exc:
            action["state"] = action["outcome"] = "failed"
            action["detail"] = str(exc)
        return action

    async def deny(self, action_id: str) -> dict[str, Any]:
        action = self._pending(action_id)
        action["state"] = "denied"
        return action
