from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from vigil import __version__
from vigil.api import profile_views
from vigil.api.deps import AgentDep, IncidentsDep
from vigil.incidents import IncidentState

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(agent: AgentDep, incidents: IncidentsDep) -> dict[str, Any]:
    active = (str(IncidentState.OPEN), str(IncidentState.ACKNOWLEDGED))
    return {
        "status": "ok" if agent.running else "starting",
        "version": __version__,
        "sensor": agent.sensor.name,
        "sensor_stats": agent.sensor_stats().to_json(),
        "profiles": len(agent.profiles),
        #: counters (by state, partial, at cap, items dropped at a cap), ready for a metrics
        #: exporter
        "profile_stats": profile_views.summary(agent.profiles),
        "alerts_emitted": agent.alerts_emitted,
        "events_failed": agent.events_failed,
        "response": agent.responder.metrics.to_json(),
        "alerts_suppressed": agent.alerts_suppressed,
        "incidents_active": len(await agent.read(incidents.list, states=active, limit=1000)),
        "store": {
            "backend": agent.store.backend,
            "schema_version": await agent.read(agent.store.schema_version),
        },
    }
