"""What route handlers get injected: the agent (as :class:`AgentPort`) and its incidents."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from vigil.api.ports import AgentPort
from vigil.incidents import IncidentBook


def get_agent(request: Request) -> AgentPort:
    agent: AgentPort = request.app.state.agent
    return agent


def get_incidents(request: Request) -> IncidentBook:
    incidents: IncidentBook = request.app.state.incidents
    return incidents


AgentDep = Annotated[AgentPort, Depends(get_agent)]
IncidentsDep = Annotated[IncidentBook, Depends(get_incidents)]
