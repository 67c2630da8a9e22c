"""The API over real HTTP (uvicorn on an ephemeral loopback port), driven by the CLI's client."""

import os
import stat
from pathlib import Path

import httpx
import pytest

from tests.fixtures.api import with_running_api
from tests.fixtures.fakes import (
    WEB,
    QueueSensor,
    exec_event,
    wait_until,
)
from vigil.agent import Agent
from vigil.api.auth import is_loopback, load_or_create_token
from vigil.api.client import AgentClient
from vigil.api.server import bind_socket
from vigil.errors import ApiError, VigilError


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
