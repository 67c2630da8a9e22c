from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from vigil.api.deps import AgentDep

router = APIRouter(tags=["alerts"])


@router.get("/alerts")
async def list_alerts(
    agent: AgentDep, limit: int = Query(100, ge=1, le=1000), workload: str | None = None
) -> list[dict[str, Any]]:
    return agent.store.alerts(limit=limit, workload=workload)
