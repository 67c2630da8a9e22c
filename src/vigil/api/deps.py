"""What route handlers get injected: the running agent and its incidents, on the app's state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from vigil.agent import Agent
from vigil.incidents import IncidentBook


def get_agent(request: Request) -> Agent:
    agent: Agent = request.app.state.agent
    return agent


def get_incidents(request: Request) -> IncidentBook:
    incidents: IncidentBook = request.app.state.incidents
    return incidents


AgentDep = Annotated[Agent, Depends(get_agent)]
IncidentsDep = Annotated[IncidentBook, Depends(get_incidents)]
