"""The agent's HTTP API (FastAPI), served from the agent's own event loop by uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterator

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from vigil import __version__
from vigil.agent import Agent
from vigil.api.routes import actions, alerts, audit, containers, health, metrics, profiles, ui
from vigil.errors import VigilError

API_PREFIX = "/api/v1"

#: API routers, each mounted under API_PREFIX; add a topic by adding its module here
API_ROUTERS: list[APIRouter] = [
    health.router,
    profiles.router,
    alerts.router,
    containers.router,
    actions.router,
    audit.router,
]


def create_app(agent: Agent, *, token: str | None = None) -> FastAPI:
    app = FastAPI(title="vigil", version=__version__, docs_url=f"{API_PREFIX}/docs")
    app.state.agent = agent
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

    for router in API_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(metrics.router)
    app.include_router(ui.router)
    return app


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
