"""Prometheus scrape endpoint (outside the versioned API, where scrapers expect it)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from vigil.api.deps import AgentDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics")
async def metrics(agent: AgentDep) -> Response:
    return Response(agent.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
