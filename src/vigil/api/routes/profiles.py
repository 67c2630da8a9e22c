"""Profiles: list with learning progress, lock/unlock/relearn, export/import, versions, diff."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from vigil.api.deps import AgentDep
from vigil.api.ports import AgentPort
from vigil.api.profile_views import describe, summary
from vigil.detect.profile_yaml import MAX_DOCUMENT_BYTES, diff_profiles, load_profile
from vigil.detect.profiles import Profile
from vigil.errors import ConfigError, StoreError, truncate

router = APIRouter(tags=["profiles"])


class SelectRequest(BaseModel):
    #: a workload selector (full key, ``namespace/name`` or ``name``); omitted with ``all``
    workload: str | None = None
    all: bool = False


class ImportRequest(BaseModel):
    #: the profile document, as `vigil profiles export` writes it
    yaml: str = Field(max_length=MAX_DOCUMENT_BYTES)
    #: where it came from, for error messages (file name)
    source: str = Field(default="<import>", max_length=300)


def selection_problem(selector: str, found: list[Profile]) -> HTTPException:
    if not found:
        return HTTPException(404, f"no profile matches {selector!r} (see `vigil profiles list`)")
    keys = ", ".join(p.key for p in found)
    return HTTPException(409, f"{selector!r} matches several profiles: {keys}; give the full key")


def _one(agent: AgentPort, selector: str) -> Profile:
    found = agent.profiles.select(selector)
    if len(found) != 1:
        raise selection_problem(selector, found)
    return found[0]


def _selected(request: SelectRequest, agent: AgentPort) -> str | None:
    if request.all == (request.workload is not None):
        raise HTTPException(422, "give either a workload or all=true")
    if request.workload is not None:
        return _one(agent, request.workload).key
    return None


async def _version(agent: AgentPort, reference: str) -> dict[str, Any]:
    """``SELECTOR`` (current version) or ``SELECTOR@VERSION``, as profile JSON."""
    selector, at, number = reference.rpartition("@")
    if not at or not number.isdigit():
        return describe(agent.profiles, _one(agent, reference))
    current = _one(agent, selector)
    if int(number) == current.version:
        return describe(agent.profiles, current)
    try:
        stored = await agent.read(agent.store.load_profile_version, current.key, int(number))
    except StoreError as exc:
        raise HTTPException(500, truncate(exc, 200)) from None
    if stored is None:
        raise HTTPException(404, f"{current.key} has no version {number} (see its versions)")
    return stored.to_json()


@router.get("/profiles")
async def list_profiles(agent: AgentDep) -> list[dict[str, Any]]:
    return [describe(agent.profiles, p) for p in agent.profiles.all()]


@router.get("/profiles/metrics")
async def profile_metrics(agent: AgentDep) -> dict[str, int]:
    """Counters: profiles by state, partial, at their cap, items turned away at a cap."""
    return summary(agent.profiles)


@router.post("/profiles/lock")
async def lock_profiles(request: SelectRequest, agent: AgentDep) -> dict[str, Any]:
    return {"locked": [p.key for p in agent.profile_service.lock(_selected(request, agent))]}


@router.post("/profiles/unlock")
async def unlock_profiles(request: SelectRequest, agent: AgentDep) -> dict[str, Any]:
    return {"unlocked": [p.key for p in agent.profile_service.unlock(_selected(request, agent))]}


@router.post("/profiles/relearn")
async def relearn_profiles(request: SelectRequest, agent: AgentDep) -> dict[str, Any]:
    fresh = agent.profile_service.relearn(_selected(request, agent))
    return {"relearning": [f"{p.key}@{p.version}" for p in fresh]}


@router.post("/profiles/import")
async def import_profile(request: ImportRequest, agent: AgentDep) -> dict[str, Any]:
    try:
        profile = load_profile(request.yaml, request.source)
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    return describe(agent.profiles, agent.profile_service.install(profile))


@router.get("/profiles/export")
async def export_profile(workload: str, agent: AgentDep) -> dict[str, Any]:
    """One profile's JSON: ``workload`` is a selector, optionally with ``@VERSION``."""
    return await _version(agent, workload)


@router.get("/profiles/versions")
async def profile_versions(workload: str, agent: AgentDep) -> dict[str, Any]:
    profile = _one(agent, workload)
    return {
        "key": profile.key,
        "current": profile.version,
        "versions": await agent.read(agent.store.profile_versions, profile.key),
    }


@router.get("/profiles/diff")
async def diff(a: str, agent: AgentDep, b: str | None = None) -> dict[str, Any]:
    """``a`` → ``b``. Without ``b``: ``a``'s previous version → its current one, or, when
    ``a`` names a version (``web@2``), that version → the current one."""
    if b is None:
        selector, at, number = a.rpartition("@")
        current = _one(agent, selector if at and number.isdigit() else a)
        if not (at and number.isdigit()):
            if current.version == 1:
                raise HTTPException(404, f"{current.key} has only one version: name two")
            a = f"{current.key}@{current.version - 1}"
        return diff_profiles(await _version(agent, a), describe(agent.profiles, current))
    return diff_profiles(await _version(agent, a), await _version(agent, b))


@router.get("/profiles/{key:path}")
async def get_profile(key: str, agent: AgentDep) -> dict[str, Any]:
    return describe(agent.profiles, _one(agent, key))
