"""Prometheus metrics, scraped over real HTTP from the running API."""

from pathlib import Path

import httpx

from tests.fakes import QueueSensor, exec_event, wait_until
from tests.test_api import with_running_api
from vigil.agent import Agent


def sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.split(" ")[0] == name:
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in metrics:\n{text}")


def test_metrics_count_events_alerts_and_profiles(tmp_path: Path) -> None:
    def check(url: str, agent: Agent, sensor: QueueSensor) -> str:
        sensor.push(exec_event("/bin/sh"))
        wait_until(agent.profiles.all)
        agent.lock(None)
        sensor.push(exec_event("/bin/nc"))
        wait_until(lambda: agent.alerts_emitted)
        return httpx.get(url + "/metrics").text

    text = with_running_api(tmp_path, check)
    assert sample(text, 'vigil_events_total{type="exec"}') == 2
    assert (
        sample(
            text,
            'vigil_alerts_total{kind="deviation",rule="profile.new_executable",severity="high"}',
        )
        == 1
    )
    assert sample(text, 'vigil_profiles{state="locked"}') == 1
    assert sample(text, 'vigil_profiles{state="learning"}') == 0
    assert sample(text, 'vigil_sensor_lost_total{where="kernel"}') == 0
    assert sample(text, "vigil_sensor_records_total") == 2
