"""The API over real HTTP (uvicorn on an ephemeral loopback port), driven by the CLI's client."""

import asyncio
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter

from tests.fakes import (
    WEB,
    WEB_1,
    FakeRecord,
    FixedIdentity,
    QueueSensor,
    TableIdentity,
    exec_event,
    wait_until,
)
from vigil.agent import Agent
from vigil.api.auth import is_loopback, load_or_create_token
from vigil.api.client import AgentClient
from vigil.api.server import API_PREFIX, bind_socket, create_app, serve
from vigil.bootstrap import attach_incidents
from vigil.detect.profiles import ProfileBook
from vigil.errors import ApiError, VigilError
from vigil.models import Alert
from vigil.record.store import Store
from vigil.respond.approvals import ApprovalBook
from vigil.respond.responder import Responder
from vigil.respond.settings import Playbook


def with_running_api(
    tmp_path: Path,
    check: Callable[[str, Agent, QueueSensor], Any],
    token: str | None = None,
    *,
    routers: Sequence[APIRouter] = (),
    hooks: Sequence[Callable[[Alert], None]] = (),
    store_url: str | None = None,
    playbooks: Sequence[Playbook] = (),
    records: Mapping[str, FakeRecord] | None = None,
) -> Any:
    """Run an agent (in-memory sensor) and its API on a loopback port while ``check`` runs."""
    identity = TableIdentity(
        by_cgroup={100: FixedIdentity(WEB_1, WEB)}, records=dict(records or {})
    )
    sensor = QueueSensor()
    store = Store.open(tmp_path, store_url)
    agent = Agent(
        sensor=sensor,
        identity=identity,
        profiles=ProfileBook(learning_period=None),
        responder=Responder(playbooks, identity, approvals=ApprovalBook(store.pending_actions)),
        store=store,
        outputs=[],
    )
    incidents = attach_incidents(agent, window=60)
    agent.alert_hooks.extend(hooks)
    app = create_app(agent, token=token, incidents=incidents)
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)

    async def main() -> Any:
        stop = asyncio.Event()
        sock = bind_socket("127.0.0.1", 0)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        tasks = [
            asyncio.create_task(agent.run(stop)),
            asyncio.create_task(serve(app, sock, stop)),
        ]
        await agent.ready.wait()
        try:
            return await asyncio.to_thread(check, url, agent, sensor)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            agent.store.close()

    return asyncio.run(main())


def test_profiles_list_and_lock_through_the_api(tmp_path: Path) -> None:
    def check(url: str, agent: Agent, sensor: QueueSensor) -> None:
        client = AgentClient(url)
        assert client.profiles() == []
        sensor.push(exec_event("/bin/sh"))
        wait_until(client.profiles)
        (profile,) = client.profiles()
        assert profile["key"] == WEB.key
        assert profile["state"] == "learning"
        assert profile["executables"] == ["/bin/sh"]
        with pytest.raises(ApiError, match="no profile matches 'nope'"):
            client.lock("nope")
        assert client.lock("shop/web") == [WEB.key]
        assert client.lock(None) == []  # already locked
        assert client.profiles()[0]["state"] == "locked"
        health = client.health()
        assert health["status"] == "ok"
        assert health["sensor_stats"]["received"] >= 1
        assert client.alerts() == []

    with_running_api(tmp_path, check)


def test_ui_escapes_hostile_content(tmp_path: Path) -> None:
    def check(url: str, agent: Agent, sensor: QueueSensor) -> str:
        sensor.push(exec_event("/bin/sh"))
        wait_until(agent.profiles.all)
        agent.lock(None)
        sensor.push(exec_event("/tmp/<script>alert(1)</script>", cmdline="<b>x</b>"))
        wait_until(lambda: agent.alerts_emitted)
        return httpx.get(url + "/").text

    page = with_running_api(tmp_path, check)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page


def test_token_required_beyond_loopback(tmp_path: Path) -> None:
    token = load_or_create_token(tmp_path)
    assert stat.S_IMODE(os.stat(tmp_path / "api-token").st_mode) == 0o600
    assert load_or_create_token(tmp_path) == token

    def check(url: str, agent: Agent, sensor: QueueSensor) -> None:
        with pytest.raises(ApiError, match="API token"):
            AgentClient(url).profiles()
        with pytest.raises(ApiError, match="API token"):
            AgentClient(url, token="wrong").profiles()
        assert AgentClient(url, token=token).profiles() == []

    with_running_api(tmp_path, check, token=token)


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")


def test_unreachable_agent_is_one_clear_error() -> None:
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(ApiError, match=f"no vigil agent answers at http://127.0.0.1:{port}"):
        AgentClient(f"http://127.0.0.1:{port}").profiles()


def test_port_in_use_is_one_clear_error() -> None:
    sock = bind_socket("127.0.0.1", 0)
    try:
        with pytest.raises(VigilError, match="already in use"):
            bind_socket("127.0.0.1", sock.getsockname()[1])
    finally:
        sock.close()
