"""The audit log: ``GET /api/v1/audit?limit=N`` (last entries, oldest first) and
``GET /api/v1/audit/verify`` (``{"ok", "entries", "broken": {"line", "reason"} | null}``)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Query

from vigil.api.deps import AgentDep
from vigil.respond.audit import AuditLog, verify

router = APIRouter(tags=["audit"])


def _log(agent: AgentDep) -> AuditLog:
    if agent.responder.audit is None:
        raise HTTPException(404, "this agent keeps no audit log")
    return agent.responder.audit


@router.get("/audit")
async def audit_entries(
    agent: AgentDep, limit: int = Query(default=100, ge=1, le=10000)
) -> list[dict[str, Any]]:
    return await agent.read(_log(agent).entries, limit)  # after the queued appends


@router.get("/audit/verify")
async def audit_verify(agent: AgentDep) -> dict[str, Any]:
    log = _log(agent)
    await agent.read(lambda: None)  # the queued appends first
    if not log.path.exists():
        return {"ok": True, "entries": 0, "broken": None}
    result = await asyncio.to_thread(verify, log.path)
    broken = result.broken
    return {
        "ok": result.ok,
        "entries": result.entries,
        "broken": {"line": broken.line, "reason": broken.reason} if broken else None,
    }
