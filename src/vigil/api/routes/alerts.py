from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response

from vigil.api.deps import AgentDep
from vigil.errors import StoreError, truncate
from vigil.models import Severity, parse_rfc3339, rfc3339
from vigil.record.store import AlertFilter

router = APIRouter(tags=["alerts"])


def _moment(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        moment = parse_rfc3339(value)
    except ValueError:
        raise HTTPException(422, f"{name} must be RFC 3339, not {truncate(value, 40)!r}") from None
    if moment.tzinfo is None:
        raise HTTPException(422, f"{name} needs a time zone (e.g. a trailing Z)")
    return rfc3339(moment)


@router.get("/alerts")
async def list_alerts(
    agent: AgentDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 100,
    cursor: Annotated[
        str | None, Query(description="From a previous page's X-Next-Cursor header.")
    ] = None,
    severity: Annotated[list[Severity] | None, Query(description="Repeatable.")] = None,
    kind: Annotated[str | None, Query(description="rule or deviation")] = None,
    rule: str | None = None,
    workload: Annotated[
        str | None, Query(description="Workload key ns/Kind/name/container.")
    ] = None,
    container: Annotated[str | None, Query(description="Container id.")] = None,
    incident: Annotated[str | None, Query(description="Incident id.")] = None,
    since: Annotated[str | None, Query(description="RFC 3339, inclusive.")] = None,
    until: Annotated[str | None, Query(description="RFC 3339, exclusive.")] = None,
) -> list[dict[str, Any]]:
    """Alerts newest first. When more match, the X-Next-Cursor header holds the next page."""
    where = AlertFilter(
        severities=tuple(str(s) for s in severity or ()),
        kind=kind,
        rule=rule,
        workload=workload,
        container=container,
        incident=incident,
        since=_moment("since", since),
        until=_moment("until", until),
    )
    try:
        page = await agent.read(agent.store.alert_page, where, limit=limit, cursor=cursor)
    except StoreError as exc:
        raise HTTPException(422, str(exc)) from None
    if page.next_cursor:
        response.headers["x-next-cursor"] = page.next_cursor
    return page.alerts
