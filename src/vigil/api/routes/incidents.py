"""Incidents: list, read (with timeline and process tree), acknowledge, resolve."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from vigil.api.deps import AgentDep, IncidentsDep
from vigil.incidents import IncidentNotFound, IncidentState, InvalidTransition, Remedy
from vigil.incidents.model import Incident
from vigil.incidents.process_tree import process_tree

router = APIRouter(tags=["incidents"])


class Decision(BaseModel):
    #: who decided (shown in the timeline); the CLI sends ``cli:<user>``
    actor: str = Field("api", max_length=80)
    note: str = Field("", max_length=1000)


class Resolution(Decision):
    false_positive: bool = False
    #: with a false positive: add the behaviour to the profile, or keep an exception
    remedy: Remedy = Remedy.NONE


def incident_problem(exc: Exception) -> HTTPException:
    """404 for an unknown incident, 409 for a decision its state does not allow (API and UI)."""
    if isinstance(exc, IncidentNotFound):
        return HTTPException(404, str(exc))
    return HTTPException(409, str(exc))


@router.get("/incidents")
async def list_incidents(
    agent: AgentDep,
    incidents: IncidentsDep,
    state: Annotated[list[IncidentState] | None, Query(description="Repeatable.")] = None,
    workload: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    """Incidents, most recent activity first."""
    found = await agent.read(
        incidents.list,
        states=tuple(str(s) for s in state or ()),
        workload=workload,
        limit=limit,
        offset=offset,
    )
    return [i.to_json() for i in found]


@router.get("/incidents/{incident_id}")
async def get_incident(
    incident_id: str, agent: AgentDep, incidents: IncidentsDep
) -> dict[str, Any]:
    """One incident with its alerts, timeline, process tree and false-positive offer."""
    try:
        detail = await agent.read(incidents.detail, incident_id)
    except IncidentNotFound as exc:
        raise incident_problem(exc) from None
    detail["process_tree"] = [node.to_json() for node in process_tree(detail["alerts"])]
    return detail


@router.post("/incidents/{incident_id}/ack")
async def acknowledge(
    incident_id: str, decision: Decision, agent: AgentDep, incidents: IncidentsDep
) -> dict[str, Any]:
    try:
        done = await agent.write(
            "incident",
            lambda: incidents.acknowledge(incident_id, actor=decision.actor, note=decision.note),
        )
        return done.to_json()
    except (IncidentNotFound, InvalidTransition) as exc:
        raise incident_problem(exc) from None


@router.post("/incidents/{incident_id}/resolve")
async def resolve(
    incident_id: str, resolution: Resolution, agent: AgentDep, incidents: IncidentsDep
) -> dict[str, Any]:
    """Resolve, or close as a false positive (optionally teaching the profile or an exception)."""
    if resolution.remedy is not Remedy.NONE and not resolution.false_positive:
        raise HTTPException(422, "a remedy goes with false_positive=true")
    try:
        done: Incident
        if resolution.false_positive:
            done = await agent.write(
                "incident",
                lambda: incidents.false_positive(
                    incident_id,
                    actor=resolution.actor,
                    remedy=resolution.remedy,
                    note=resolution.note,
                ),
            )
        else:
            done = await agent.write(
                "incident",
                lambda: incidents.resolve(
                    incident_id, actor=resolution.actor, note=resolution.note
                ),
            )
    except (IncidentNotFound, InvalidTransition) as exc:
        raise incident_problem(exc) from None
    return done.to_json()
