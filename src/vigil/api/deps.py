"""What route handlers get injected: the running agent, kept on the app's state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from vigil.agent import Agent


def get_agent(request: Request) -> Agent:
    agent: Agent = request.app.state.agent
    return agent


AgentDep = Annotated[Agent, Depends(get_agent)]
