"""The approval flow over real HTTP: the agent holds an action, the CLI lists, approves and
denies it; the audit endpoints report the chain."""

from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from tests.fixtures.api import serve_while
from tests.fixtures.fakes import (
    WEB,
    WEB_1,
    FixedIdentity,
    QueueSensor,
    TableIdentity,
    exec_event,
    wait_until,
)
from vigil.agent import Agent
from vigil.api.client import AgentClient
from vigil.api.server import create_app
from vigil.cli.main import app
from vigil.detect.profiles import ProfileBook
from vigil.record.store import Store
from vigil.respond.approvals import ApprovalBook
from vigil.respond.audit import AuditLog
from vigil.respond.guardrails import Guardrails
from vigil.respond.registry import ACTION_NAMES
from vigil.respond.responder import Responder
from vigil.respond.settings import Playbook, PlaybookMatch, ResponseConfig


class Thawable:
    """A record whose freezer is a fixture file (freeze is tested for real in the e2e tests)."""

    def __init__(self, freezer: Path) -> None:
        self.cgroup_paths = {"freezer": str(freezer)}


def run_with_api(tmp_path: Path, check: Any) -> Any:
    freezer = tmp_path / "cgroup" / "freezer" / "web-1"
    freezer.mkdir(parents=True)
    (freezer / "freezer.state").write_text("THAWED\n")
    identity = TableIdentity(by_cgroup={100: FixedIdentity(WEB_1, WEB)})
    identity.records["web-1"] = Thawable(freezer)  # type: ignore[assignment]
    store = Store.open(tmp_path / "data")
    config = ResponseConfig(cooldown=0)
    profiles = ProfileBook(learning_period=None)
    responder = Responder(
        [Playbook("ask", PlaybookMatch(), "approve", ("freeze",))],
        identity,
        config=config,
        audit=AuditLog(tmp_path / "data" / "audit.jsonl"),
        approvals=ApprovalBook(store.pending_actions),
        guardrails=Guardrails(config, agent_pid=1, agent_cgroups=frozenset(), environ={}),
    )
    sensor = QueueSensor()
    agent = Agent(
        sensor=sensor,
        identity=identity,
        profiles=profiles,
        responder=responder,
        store=store,
        outputs=[],
    )

    return serve_while(agent, create_app(agent), lambda url: check(url, sensor, freezer))


def test_pending_to_done_and_to_denied_through_cli_and_api(tmp_path: Path) -> None:
    def check(url: str, sensor: QueueSensor, freezer: Path) -> None:
        client = AgentClient(url)
        # Learn /bin/sh, lock: every new program is then a deviation held for approval.
        sensor.push(exec_event("/bin/sh"))
        wait_until(client.profiles)
        client.lock(None)
        sensor.push(exec_event("/bin/nc"))
        sensor.push(exec_event("/bin/curl"))
        wait_until(lambda: len(client.actions("pending")) == 2)
        first, second = client.actions("pending")
        assert first["steps"] == [{"action": "freeze", "fallback": None, "timeout": 5.0}]
        assert (freezer / "freezer.state").read_text().strip() == "THAWED"

        runner = CliRunner()
        listed = runner.invoke(app, ["actions", "list", "--state", "pending", "--api", url])
        assert listed.exit_code == 0 and first["id"] in listed.output
        approved = runner.invoke(
            app, ["actions", "approve", first["id"], "--actor", "alice", "--api", url]
        )
        assert approved.exit_code == 0, approved.output
        assert f"action {first['id']}: done" in approved.output
        assert (freezer / "freezer.state").read_text().strip() == "FROZEN"

        denied = client.decide(second["id"], "deny", actor="bob", reason="expected")
        assert (denied["state"], denied["decided_by"], denied["reason"]) == (
            "denied",
            "bob",
            "expected",
        )
        again = runner.invoke(app, ["actions", "deny", second["id"], "--api", url])
        assert again.exit_code == 1
        assert "409" in again.output and "already denied" in again.output
        unknown = runner.invoke(app, ["actions", "approve", "nope", "--api", url])
        assert unknown.exit_code == 1 and "404" in unknown.output

        assert sorted(a["state"] for a in client.actions()) == ["denied", "done"]
        verified = client._request("GET", "/audit/verify")
        assert verified["ok"] is True and verified["entries"] == 7
        actors = [e["actor"] for e in client._request("GET", "/audit", params={"limit": 3})]
        assert actors == ["alice", "alice (approved " + first["id"] + ")", "bob"]
        health = client.health()
        assert health["response"]["decisions"] == {"approve": 2}
        assert health["response"]["actions"] == {"freeze": {"done": 1}}

    run_with_api(tmp_path, check)


def test_the_ui_marks_pending_steps_from_the_registry(tmp_path: Path) -> None:
    def check(url: str, sensor: QueueSensor, freezer: Path) -> None:
        types = httpx.get(url + "/api/v1/action-types").json()
        assert [t["name"] for t in types] == list(ACTION_NAMES)
        by_name = {t["name"]: t for t in types}
        assert by_name["delete-pod"] == {
            "name": "delete-pod",
            "summary": "delete the pod so its owner restarts it clean",
            "destructive": True,
            "needs_kubernetes": True,
            "scope": "cluster",
        }
        assert (by_name["freeze"]["destructive"], by_name["freeze"]["scope"]) == (False, "node")
        script = httpx.get(url + "/static/vigil.js").text
        assert 'fetch("/api/v1/action-types"' in script and '"cluster-wide"' in script

    run_with_api(tmp_path, check)
