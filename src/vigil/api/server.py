"""The agent's HTTP API (FastAPI), served from the agent's own event loop by uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from vigil import __version__
from vigil.agent import Agent
from vigil.api.ui import render_home
from vigil.errors import VigilError

API_PREFIX = "/api/v1"


class LockRequest(BaseModel):
    #: a workload selector (full key, ``namespace/name`` or ``name``); omitted with ``all``
    workload: str | None = None
    all: bool = False


def create_app(agent: Agent, *, token: str | None = None) -> FastAPI:
    app = FastAPI(title="vigil", version=__version__, docs_url=f"{API_PREFIX}/docs")

    if token is not None:

        @app.middleware("http")
        async def require_token(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            offered = request.headers.get("authorization", "")
            if not secrets.compare_digest(offered.encode(), f"Bearer {token}".encode()):
                return JSONResponse(
                    {"detail": "missing or wrong bearer token (see <data-dir>/api-token)"},
                    status_code=401,
                )
            return await call_next(request)

    @app.get(f"{API_PREFIX}/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok" if agent.running else "starting",
            "version": __version__,
            "sensor": agent.sensor.name,
            "sensor_stats": agent.sensor_stats().to_json(),
            "profiles": len(agent.profiles),
            "alerts_emitted": agent.alerts_emitted,
            "events_failed": agent.events_failed,
        }

    @app.get(f"{API_PREFIX}/profiles")
    async def list_profiles() -> list[dict[str, Any]]:
        return [p.to_json() for p in agent.profiles.all()]

    @app.get(f"{API_PREFIX}/profiles/{{key:path}}")
    async def get_profile(key: str) -> dict[str, Any]:
        found = agent.profiles.select(key)
        if len(found) != 1:
            raise HTTPException(404 if not found else 409, _selection_problem(key, found))
        return found[0].to_json()

    @app.post(f"{API_PREFIX}/profiles/lock")
    async def lock_profiles(request: LockRequest) -> dict[str, Any]:
        if request.all == (request.workload is not None):
            raise HTTPException(422, "give either a workload or all=true")
        if request.workload is not None:
            found = agent.profiles.select(request.workload)
            if len(found) != 1:
                raise HTTPException(
                    404 if not found else 409, _selection_problem(request.workload, found)
                )
        locked = agent.lock(None if request.all else request.workload)
        return {"locked": [p.key for p in locked]}

    @app.get(f"{API_PREFIX}/alerts")
    async def list_alerts(
        limit: int = Query(100, ge=1, le=1000), workload: str | None = None
    ) -> list[dict[str, Any]]:
        return agent.store.alerts(limit=limit, workload=workload)

    @app.get("/", response_class=HTMLResponse)
    async def home() -> str:
        return render_home(agent.profiles.all(), agent.store.alerts(limit=50))

    return app


def _selection_problem(selector: str, found: list[Any]) -> str:
    if not found:
        return f"no profile matches {selector!r} (see `vigil profiles list`)"
    keys = ", ".join(p.key for p in found)
    return f"{selector!r} matches several profiles: {keys}; give the full key"


class _QuietServer(uvicorn.Server):
    """uvicorn inside our loop: the agent, not uvicorn, owns the signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:
        pass


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before starting so that a port in use is one clear error, not a uvicorn log."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise VigilError(
                f"{host}:{port} is already in use (another vigil running?)",
                hint="stop it or choose another address with --listen",
            ) from None
        raise VigilError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def serve(app: FastAPI, sock: socket.socket, stop: asyncio.Event) -> None:
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopper.cancel()
    await task
