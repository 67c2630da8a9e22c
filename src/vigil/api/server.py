"""The agent's HTTP API (FastAPI), served from the agent's own event loop by uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from vigil import __version__
from vigil.api.auth import cross_site_write, offers_token
from vigil.api.paths import API_PREFIX
from vigil.api.ports import AgentPort
from vigil.api.routes import (
    actions,
    alerts,
    audit,
    containers,
    health,
    incidents,
    login,
    metrics,
    profiles,
    ui,
)
from vigil.errors import VigilError
from vigil.incidents import IncidentBook
from vigil.record.store import Store

STATIC_DIR = Path(__file__).parent / "static"

#: API routers, each mounted under API_PREFIX; add a topic by adding its module here
API_ROUTERS: list[APIRouter] = [
    health.router,
    profiles.router,
    alerts.router,
    containers.router,
    actions.router,
    audit.router,
    incidents.router,
]

#: the browser may load and talk to nothing but the agent itself
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    # same-origin, not no-referrer: with no-referrer the browser sends "Origin: null" on
    # form posts, which the cross-site guard must refuse.
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


def create_app(
    agent: AgentPort, *, token: str | None = None, incidents: IncidentBook | None = None
) -> FastAPI:
    """The API and UI; with ``token``, every request but the login page must offer it."""
    app = FastAPI(
        title="vigil",
        version=__version__,
        summary="Runtime detection and response for containers: alerts, incidents, profiles.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        # The interactive docs pages load their scripts from a CDN: the UI loads nothing
        # from outside the agent, so only the OpenAPI document itself is served.
        docs_url=None,
        redoc_url=None,
    )
    app.state.agent = agent
    if incidents is None:
        if not isinstance(agent.store, Store):
            raise TypeError("create_app needs the agent's incidents, or its Store to read them")
        incidents = IncidentBook(agent.store)
    app.state.incidents = incidents
    app.state.token = token

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if cross_site_write(request):
            return JSONResponse({"detail": "cross-site request refused"}, status_code=403)
        path = request.url.path
        if token is not None and path != "/login" and not offers_token(request, token):
            if not path.startswith("/api/") and request.method == "GET":
                return RedirectResponse("/login", status_code=303)
            return JSONResponse(
                {"detail": "missing or wrong bearer token (see <data-dir>/api-token)"},
                status_code=401,
            )
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    for router in API_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(metrics.router)
    app.include_router(login.router)
    app.include_router(ui.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
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
    # The API has no WebSocket routes: ws="none" keeps uvicorn from loading a WebSocket stack.
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", access_log=False, http="h11", ws="none"
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopper.cancel()
    await task
