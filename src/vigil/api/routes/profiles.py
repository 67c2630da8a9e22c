from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from vigil.api.deps import AgentDep
from vigil.detect.profiles import Profile

router = APIRouter(tags=["profiles"])


class LockRequest(BaseModel):
    #: a workload selector (full key, ``namespace/name`` or ``name``); omitted with ``all``
    workload: str | None = None
    all: bool = False


def selection_problem(selector: str, found: list[Profile]) -> HTTPException:
    if not found:
        return HTTPException(404, f"no profile matches {selector!r} (see `vigil profiles list`)")
    keys = ", ".join(p.key for p in found)
    return HTTPException(409, f"{selector!r} matches several profiles: {keys}; give the full key")


@router.get("/profiles")
async def list_profiles(agent: AgentDep) -> list[dict[str, Any]]:
    return [p.to_json() for p in agent.profiles.all()]


@router.post("/profiles/lock")
async def lock_profiles(request: LockRequest, agent: AgentDep) -> dict[str, Any]:
    if request.all == (request.workload is not None):
        raise HTTPException(422, "give either a workload or all=true")
    if request.workload is not None:
        found = agent.profiles.select(request.workload)
        if len(found) != 1:
            raise selection_problem(request.workload, found)
    locked = agent.lock(None if request.all else request.workload)
    return {"locked": [p.key for p in locked]}


@router.get("/profiles/{key:path}")
async def get_profile(key: str, agent: AgentDep) -> dict[str, Any]:
    found = agent.profiles.select(key)
    if len(found) != 1:
        raise selection_problem(key, found)
    return found[0].to_json()
