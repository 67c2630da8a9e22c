"""Stored versions of a profile and the diff between two of them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from vigil.api.deps import AgentDep
from vigil.record.profile_diff import diff_profiles

router = APIRouter(tags=["profiles"])


@router.get("/profile-versions/{key:path}")
async def profile_versions(key: str, agent: AgentDep) -> list[dict[str, Any]]:
    """Every version of one profile (by full workload key), oldest first."""
    versions = agent.store.profile_versions(key)
    if not versions:
        raise HTTPException(404, f"no stored versions of profile {key!r}")
    return versions


@router.get("/profile-diff/{key:path}")
async def profile_diff(
    key: str,
    agent: AgentDep,
    from_: Annotated[int | None, Query(alias="from", ge=1)] = None,
    to: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """What changed between two versions (default: the previous and the latest)."""
    versions = {v["version"]: v for v in agent.store.profile_versions(key)}
    if not versions:
        raise HTTPException(404, f"no stored versions of profile {key!r}")
    newest = max(versions)
    to = to or newest
    from_ = from_ or max(to - 1, 1)
    for number in (from_, to):
        if number not in versions:
            raise HTTPException(404, f"profile {key!r} has no version {number} (1..{newest})")
    return {
        "key": key,
        "from": from_,
        "to": to,
        "changes": diff_profiles(versions[from_]["profile"], versions[to]["profile"]),
    }
