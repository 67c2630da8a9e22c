"""vigil.sensor.adapters: Falco and Tetragon JSON lines as vigil events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tests.fixtures import DATA
from vigil.models import Event, EventType
from vigil.sensor import Sensor
from vigil.sensor.adapters import falco_sensor, tetragon_sensor


async def _drain(sensor: Sensor) -> list[Event]:
    async with sensor:
        return [event async for event in sensor.events()]


def test_falco_json_becomes_events() -> None:
    sensor = falco_sensor(str(DATA / "falco_events.jsonl"))
    events = asyncio.run(_drain(sensor))
    assert [e.type for e in events] == [EventType.EXEC, EventType.OPEN, EventType.CONNECT]
    shell = events[0]
    assert shell.process.exe == "/bin/sh" and shell.process.pid == 4711
    assert shell.process.parent_exe == "nginx" and shell.process.cwd == "/usr/share/nginx/"
    assert shell.container is not None and shell.container.image == "nginx:1.25"
    assert shell.workload is not None and shell.workload.namespace == "shop"
    assert shell.time == datetime(2024, 5, 2, 10, 15, 30, 123456, UTC)
    assert events[1].file is not None and events[1].file.path == "/etc/shadow"
    assert events[2].network is not None and events[2].network.destination == "tcp/203.0.113.7:4444"
    assert sensor.stats().malformed == 2  # the k8s_audit line and the non-JSON line


def test_tetragon_json_becomes_events() -> None:
    sensor = tetragon_sensor(str(DATA / "tetragon_events.jsonl"))
    events = asyncio.run(_drain(sensor))
    kinds = [e.type for e in events]
    assert kinds == [EventType.EXEC, EventType.CONNECT, EventType.OPEN, EventType.EXIT]
    exec_ = events[0]
    assert exec_.process.cmdline == "/usr/bin/curl https://example.com"
    assert exec_.process.parent_exe == "/bin/bash" and exec_.process.ppid == 19624
    assert exec_.container is not None and exec_.container.id.startswith("551e161c47d8")
    assert exec_.workload is not None and exec_.workload.key == "default/Pod/xwing/spaceship"
    assert events[1].network is not None
    assert events[1].network.destination == "tcp/93.184.216.34:443"
    assert events[1].network.local_port == 40312
    assert events[2].file is not None and events[2].file.path == "/etc/shadow"
    assert events[3].process.exit_code == 6
    assert sensor.stats().malformed == 1
