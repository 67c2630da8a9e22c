"""The web UI's pages (server-rendered, outside the /api prefix)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vigil.api.deps import AgentDep, IncidentsDep
from vigil.api.routes.incidents import incident_problem
from vigil.api.ui import render
from vigil.detect.profile_yaml import diff_profiles
from vigil.incidents import IncidentNotFound, InvalidTransition, Remedy
from vigil.incidents.process_tree import process_tree

router = APIRouter(tags=["ui"], include_in_schema=False)

#: incidents on the home page (the API pages through all of them)
HOME_INCIDENTS = 100


def _page(request: Request, template: str, **context: Any) -> HTMLResponse:
    logged_in = request.app.state.token is not None
    return HTMLResponse(render(template, logged_in=logged_in, **context))


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, agent: AgentDep, incidents: IncidentsDep) -> HTMLResponse:
    return _page(
        request,
        "home.html",
        incidents=[i.to_json() for i in await agent.read(incidents.list, limit=HOME_INCIDENTS)],
        profiles=[p.to_json() for p in agent.profiles.all()],
        alerts=await agent.read(agent.store.alerts, limit=50),
    )


@router.get("/favicon.ico")
async def favicon() -> Response:
    return Response(status_code=204)  # no icon, and no 404 in the browser's console


@router.get("/ui/incidents/rows", response_class=HTMLResponse)
async def incident_rows(agent: AgentDep, incidents: IncidentsDep) -> HTMLResponse:
    """The incident list's rows, fetched again every few seconds by the home page."""
    rows = [i.to_json() for i in await agent.read(incidents.list, limit=HOME_INCIDENTS)]
    return HTMLResponse(render("_incident_rows.html", incidents=rows))


@router.get("/ui/incidents/{incident_id}", response_class=HTMLResponse)
async def incident_page(
    incident_id: str, request: Request, agent: AgentDep, incidents: IncidentsDep
) -> HTMLResponse:
    try:
        detail = await agent.read(incidents.detail, incident_id)
    except IncidentNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    detail["process_tree"] = process_tree(detail["alerts"])
    containers = {a["container"]["id"]: a["container"] for a in detail["alerts"]}
    return _page(
        request,
        "incident.html",
        i=detail,
        containers=list(containers.values()),
        profile_link=agent.profiles.get(detail["workload_key"]) is not None,
        can_profile=any("profile" in b["remedies"] for b in detail["false_positive_offer"]),
    )


async def _decide(agent: AgentDep, incident_id: str, change: Callable[[], object]) -> Response:
    """Run one decision on an incident in the store's writer, then back to its page."""
    try:
        await agent.write("incident", change)
    except (IncidentNotFound, InvalidTransition) as exc:
        raise incident_problem(exc) from None
    return RedirectResponse(f"/ui/incidents/{incident_id}", status_code=303)


@router.post("/ui/incidents/{incident_id}/ack")
async def ui_acknowledge(incident_id: str, agent: AgentDep, incidents: IncidentsDep) -> Response:
    return await _decide(agent, incident_id, lambda: incidents.acknowledge(incident_id, actor="ui"))


@router.post("/ui/incidents/{incident_id}/resolve")
async def ui_resolve(
    incident_id: str,
    agent: AgentDep,
    incidents: IncidentsDep,
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    return await _decide(
        agent, incident_id, lambda: incidents.resolve(incident_id, actor="ui", note=note)
    )


@router.post("/ui/incidents/{incident_id}/false-positive")
async def ui_false_positive(
    incident_id: str,
    agent: AgentDep,
    incidents: IncidentsDep,
    remedy: Annotated[Remedy, Form()] = Remedy.NONE,
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    return await _decide(
        agent,
        incident_id,
        lambda: incidents.false_positive(incident_id, actor="ui", remedy=remedy, note=note),
    )


@router.get("/ui/profiles/{key:path}", response_class=HTMLResponse)
async def profile_page(
    key: str,
    request: Request,
    agent: AgentDep,
    from_: Annotated[int | None, Query(alias="from")] = None,
    to: int | None = None,
) -> HTMLResponse:
    profile = agent.profiles.get(key)
    if profile is None:
        raise HTTPException(404, "no such profile")
    versions = await agent.read(agent.store.profile_versions, key)
    numbers = [v["version"] for v in versions]
    diff: dict[str, Any] = {}
    if len(versions) >= 2:
        new: int = to if to is not None and to in numbers else numbers[-1]
        old = from_ if from_ is not None and from_ in numbers else max(new - 1, 1)
        old = old if old in numbers else numbers[0]
        before, after = [
            await agent.read(agent.store.load_profile_version, key, n) for n in (old, new)
        ]
        if before is not None and after is not None:
            changes = diff_profiles(before.to_json(), after.to_json())
            attributes = {
                name: {"from": change["old"], "to": change["new"]}
                for name, change in changes["attributes"].items()
            }
            diff = {"from": old, "to": new, "changes": changes["changes"] | attributes}
    return _page(request, "profile.html", p=profile.to_json(), versions=versions, diff=diff)
