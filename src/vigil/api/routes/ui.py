"""The web UI's pages (server-rendered, outside the /api prefix)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from vigil.api.deps import AgentDep
from vigil.api.ui import render_home

router = APIRouter(tags=["ui"], include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def home(agent: AgentDep) -> str:
    return render_home(agent.profiles.all(), agent.store.alerts(limit=50))
