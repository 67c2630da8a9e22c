"""Prometheus metrics, scraped over real HTTP from the running API."""

from pathlib import Path

import httpx

from tests.fixtures.api import with_running_api
from tests.fixtures.fakes import QueueSensor, exec_event, wait_until
from vigil.agent import Agent
from vigil.record.metrics import AgentMetrics
from vigil.respond.metrics import ResponseMetrics


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


def test_one_latency_histogram_feeds_prometheus_and_the_health_json() -> None:
    response = ResponseMetrics()
    metrics = AgentMetrics()
    metrics.include(response.latency)
    response.observe("freeze", "done", 5.0)
    response.observe("freeze", "done", 30.0)
    response.observe("kill", "failed", 2.0)
    response.observe("kill", "skipped", None)

    text = metrics.exposition().decode()
    bucket = 'vigil_action_latency_seconds_bucket{action="freeze",le="0.005",outcome="done"}'
    assert sample(text, bucket) == 1
    assert sample(text, 'vigil_action_latency_seconds_count{action="kill",outcome="failed"}') == 1

    health = response.to_json()
    assert health["actions"] == {"freeze": {"done": 2}, "kill": {"failed": 1, "skipped": 1}}
    freeze = health["latency_ms"]["freeze"]
    assert (freeze["count"], freeze["sum_ms"]) == (2, 35.0)
    assert freeze["buckets"]["2.5"] == 0 and freeze["buckets"]["5"] == 1
    assert freeze["buckets"]["25"] == 1 and freeze["buckets"]["50"] == 2
    assert freeze["buckets"]["+Inf"] == 2
    assert list(health["latency_ms"]) == ["freeze"]  # only finished actions' latency
