"""Playbook matching, ladders (fallback, timeout, forensics first), guardrails, approvals and the
audit trail of the responder, over a real SQLite store and a real audit file."""

import asyncio
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.fakes import WEB, WEB_1, FakeClock, exec_event
from vigil.config import parse_config
from vigil.errors import RuntimeActionError
from vigil.models import HOST_CONTAINER, Alert, Severity, Workload
from vigil.record.store import Store
from vigil.respond.actions import Action, ContainerTarget
from vigil.respond.approvals import ApprovalBook, PendingAction
from vigil.respond.audit import AuditLog, verify
from vigil.respond.guardrails import Guardrails
from vigil.respond.responder import ApprovalError, Responder, matches, with_forensics_first
from vigil.respond.settings import ActionItem, ActionStep, Playbook, PlaybookMatch, ResponseConfig


@dataclass
class Record:
    cgroup_paths: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class Lookup:
    records: dict[str, Record]

    def lookup(self, container_id: str) -> Record | None:
        return self.records.get(container_id)


class Recorder:
    """Actions that record their calls; ``fail``/``hang`` name the ones that misbehave."""

    def __init__(self, fail: Iterable[str] = (), hang: Iterable[str] = ()) -> None:
        self.calls: list[str] = []
        self.fail, self.hang = set(fail), set(hang)

    def registry(self, names: list[str]) -> dict[str, Action]:
        def make(name: str) -> Action:
            async def action(alert: Alert, target: ContainerTarget) -> str:
                self.calls.append(name)
                if name in self.hang:
                    await asyncio.sleep(10)
                if name in self.fail:
                    raise RuntimeActionError(f"{name} broke")
                return f"{name} ok"

            return action

        return {name: make(name) for name in names}


NAMES = ["freeze", "kill", "kill-tree", "forensics", "delete-pod", "thaw", "stop-container"]


def alert(severity: Severity = Severity.HIGH, **kw: object) -> Alert:
    event = exec_event("/bin/nc")
    event = replace(event, container=WEB_1, workload=WEB, ktime_ns=1_000_000)
    values = {"id": "a-1", "time": datetime(2026, 1, 1, tzinfo=UTC), "kind": "deviation"}
    values |= {"rule": "profile.new_executable", "severity": severity, "message": "new nc"}
    values |= {"event": event, "mitre": ["TA0002"]}
    values |= kw
    return Alert(**values)  # type: ignore[arg-type]


def make(
    tmp_path: Path,
    playbooks: list[Playbook],
    *,
    config: ResponseConfig | None = None,
    recorder: Recorder | None = None,
    clock: FakeClock[float] | None = None,
) -> tuple[Responder, Recorder, AuditLog]:
    recorder = recorder or Recorder()
    config = config or ResponseConfig(cooldown=0)
    audit = AuditLog(tmp_path / "audit.jsonl")
    store = Store.open(tmp_path / "data")
    responder = Responder(
        playbooks,
        Lookup({"web-1": Record({"freezer": "/nowhere"}, {"team": "shop"})}),
        config=config,
        actions=recorder.registry(NAMES),
        audit=audit,
        approvals=ApprovalBook(store.pending_actions),
        guardrails=Guardrails(
            config,
            clock=clock or FakeClock(1000.0),
            agent_pid=1,
            agent_cgroups=frozenset(),
            environ={},
        ),
        monotonic_ns=lambda: 6_000_000,
    )
    return responder, recorder, audit


def book(
    mode: str = "auto", actions: Sequence[ActionItem] = ("freeze",), **match: object
) -> Playbook:
    return Playbook("pb", PlaybookMatch(**match), mode, tuple(actions))  # type: ignore[arg-type]


def test_the_issue_config_reads_and_acts_as_written(tmp_path: Path) -> None:
    config = parse_config(
        "playbooks: [{name: freeze-critical, match: {severity: [critical, high]},"
        " mode: auto, actions: [freeze]}]\n"
    )
    responder, recorder, _ = make(tmp_path, list(config.playbooks))
    high = alert(Severity.HIGH)
    asyncio.run(responder.respond(high))
    low = alert(Severity.LOW, id="a-2")
    asyncio.run(responder.respond(low))
    assert recorder.calls == ["freeze"]
    assert high.to_json()["response"] == {
        "playbook": "freeze-critical",
        "actions": [
            {"action": "freeze", "outcome": "done", "detail": "freeze ok", "latency_ms": 5.0}
        ],
    }
    assert low.playbook is None and low.actions == []


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        ({"tags": frozenset({"TA0002"})}, True),  # MITRE ids count as tags
        ({"tags": frozenset({"crypto"})}, False),
        ({"workloads": frozenset({"shop/web"})}, True),
        ({"workloads": frozenset({"shop/Deployment/web/*"})}, True),
        ({"workloads": frozenset({"other/*"})}, False),
        ({"labels": (("team", "shop"),)}, True),
        ({"labels": (("team", "ops"),)}, False),
        ({"rules": frozenset({"profile.*"})}, True),
        ({"namespaces": frozenset({"shop"}), "kinds": frozenset({"rule"})}, False),
    ],
)
def test_matching_on_tags_workloads_labels_rules(match: dict[str, Any], expected: bool) -> None:
    assert matches(book(**match), alert(tags=["x"]), {"team": "shop"}) is expected


def test_ladder_fallback_and_timeout(tmp_path: Path) -> None:
    steps = (
        ActionStep("kill-tree", fallback="freeze", timeout=0.05),
        ActionStep("delete-pod", fallback="stop-container"),
    )
    recorder = Recorder(fail={"delete-pod"}, hang={"kill-tree"})
    responder, _, _ = make(tmp_path, [book(actions=steps)], recorder=recorder)
    result = alert()
    asyncio.run(responder.respond(result))
    outcomes = [(a.action, a.outcome) for a in result.actions]
    assert outcomes == [
        ("forensics", "done"),  # captured before the first destructive rung
        ("kill-tree", "failed"),
        ("freeze", "done"),
        ("delete-pod", "failed"),
        ("stop-container", "done"),
    ]
    assert result.actions[1].detail == "timed out after 0.05s"
    assert result.actions[2].detail.startswith("fallback for kill-tree")


def test_forensics_is_not_added_twice_or_for_harmless_ladders() -> None:
    assert with_forensics_first([ActionStep("freeze")]) == (ActionStep("freeze"),)
    ladder = [ActionStep("forensics"), ActionStep("kill")]
    assert with_forensics_first(ladder) == tuple(ladder)


def test_dry_run_global_and_per_playbook(tmp_path: Path) -> None:
    config = ResponseConfig(dry_run=True, cooldown=0)
    playbooks = [
        replace(book(actions=("freeze",), rules=frozenset({"a"}))),
        replace(book(actions=("freeze",), rules=frozenset({"b"})), dry_run=False),
    ]
    responder, recorder, _ = make(tmp_path, playbooks, config=config)
    dry, real = alert(rule="a"), alert(rule="b", id="a-2")
    asyncio.run(responder.respond(dry))
    asyncio.run(responder.respond(real))
    assert [a.outcome for a in dry.actions] == ["dry-run"]
    assert [a.outcome for a in real.actions] == ["done"]
    assert recorder.calls == ["freeze"]


def test_never_the_host_the_agent_or_a_protected_namespace(tmp_path: Path) -> None:
    responder, recorder, _ = make(tmp_path, [book()])
    host = alert()
    host.event = replace(host.event, container=HOST_CONTAINER)
    system = alert(id="a-2")
    system.event = replace(system.event, workload=Workload("kube-system", "DaemonSet", "x", "c"))
    itself = alert(id="a-3")
    itself.event = replace(itself.event, process=replace(itself.event.process, pid=1))
    for each in (host, system, itself):
        asyncio.run(responder.respond(each))
    assert recorder.calls == []
    assert host.actions[0].detail == "vigil never acts on the host"
    assert system.actions[0].detail == "namespace kube-system is protected"
    assert itself.actions[0].detail == "vigil never acts on itself"


def test_agent_own_container_and_namespace_are_protected(tmp_path: Path) -> None:
    config = ResponseConfig(agent_namespace="vigil-system")
    rails = Guardrails(config, agent_pid=1, agent_cgroups=frozenset({"/agent"}), environ={})
    mine = alert()
    assert rails.target_refusal(mine, {"freezer": "/sys/fs/cgroup/freezer/agent"}) == (
        "vigil never acts on its own container"
    )
    mine.event = replace(mine.event, workload=Workload("vigil-system", "DaemonSet", "v", "v"))
    assert rails.target_refusal(mine, None) == "namespace vigil-system is protected"


def test_rate_limits_and_cooldown(tmp_path: Path) -> None:
    clock = FakeClock(1000.0)
    config = ResponseConfig(rate_per_workload=2, rate_overall=3, rate_window=60, cooldown=10)
    responder, recorder, _ = make(tmp_path, [book()], config=config, clock=clock)
    first, again = alert(), alert(id="a-2")
    asyncio.run(responder.respond(first))
    asyncio.run(responder.respond(again))
    assert again.actions[0].outcome == "skipped"
    assert again.actions[0].detail.startswith("cooldown: freeze ran on")
    clock.now += 11
    third = alert(id="a-3")
    asyncio.run(responder.respond(third))
    clock.now += 11
    fourth = alert(id="a-4")
    asyncio.run(responder.respond(fourth))
    assert fourth.actions[0].detail == (f"rate limit: 2 actions per 60s on {WEB.key}")
    other = alert(id="a-5")
    other.event = replace(other.event, workload=Workload("shop", "Deployment", "db", "pg"))
    asyncio.run(responder.respond(other))
    late = alert(id="a-6")
    late.event = replace(late.event, workload=Workload("shop", "Deployment", "q", "q"))
    asyncio.run(responder.respond(late))
    assert late.actions[0].detail == "rate limit: 3 actions per 60s overall"
    assert recorder.calls == ["freeze"] * 3
    clock.now += 61
    asyncio.run(responder.respond(alert(id="a-7")))
    assert recorder.calls == ["freeze"] * 4


def stored(approvals: ApprovalBook, action_id: str) -> PendingAction:
    """The pending action as the store has it now (the test knows it exists)."""
    action = approvals.get(action_id)
    assert action is not None
    return action


def test_approval_flow_pending_then_done(tmp_path: Path) -> None:
    responder, recorder, audit = make(tmp_path, [book("approve", ("freeze",))])
    held = alert()
    asyncio.run(responder.respond(held))
    assert recorder.calls == []
    approvals = responder.approvals
    assert approvals is not None
    (pending,) = approvals.find("pending")
    assert held.actions[0].outcome == "pending"
    assert pending.id in held.actions[0].detail
    done = asyncio.run(responder.approve(pending.id, actor="alice", reason="confirmed"))
    assert recorder.calls == ["freeze"]
    assert done.state == "done"
    assert done.decided_by == "alice"
    assert done.results[0]["outcome"] == "done"
    assert stored(approvals, pending.id).state == "done"  # persisted
    with pytest.raises(ApprovalError, match="already done") as twice:
        asyncio.run(responder.approve(pending.id, actor="bob"))
    assert twice.value.status == 409
    events = [(e["event"], e["actor"], e["outcome"]) for e in audit.entries()]
    assert events == [
        ("decision", "vigil", "approve"),
        ("pending", "vigil", "pending"),
        ("approved", "alice", "approved"),
        ("action", f"alice (approved {pending.id})", "done"),
    ]
    assert verify(audit.path).ok


def test_approval_flow_denied_and_expired(tmp_path: Path) -> None:
    responder, recorder, audit = make(tmp_path, [book("approve", ("kill",))])
    asyncio.run(responder.respond(alert()))
    asyncio.run(responder.respond(alert(id="a-2")))
    approvals = responder.approvals
    assert approvals is not None
    first, second = sorted(approvals.find("pending"), key=lambda a: a.alert["id"])
    denied = responder.deny(first.id, actor="bob", reason="false positive")
    assert denied.state == "denied"
    assert stored(approvals, first.id).reason == "false positive"
    approvals._now = lambda: datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(ApprovalError, match="already expired"):
        asyncio.run(responder.approve(second.id, actor="carol"))
    with pytest.raises(ApprovalError, match="no action") as unknown:
        responder.deny("nope", actor="x")
    assert unknown.value.status == 404
    assert recorder.calls == []
    assert [e["event"] for e in audit.entries()][-2:] == ["denied", "expired"]


def test_metrics_count_outcomes_and_latency(tmp_path: Path) -> None:
    responder, _, _ = make(tmp_path, [book(actions=("freeze", "thaw"))])
    asyncio.run(responder.respond(alert()))
    metrics = responder.metrics.to_json()
    assert metrics["decisions"] == {"auto": 1}
    assert metrics["actions"] == {"freeze": {"done": 1}, "thaw": {"done": 1}}
    assert metrics["latency_ms"]["freeze"]["count"] == 1
    assert metrics["latency_ms"]["freeze"]["buckets"]["5"] == 1
    assert metrics["latency_ms"]["freeze"]["buckets"]["2.5"] == 0


def test_every_decision_and_action_is_audited(tmp_path: Path) -> None:
    responder, _, audit = make(tmp_path, [book(actions=("freeze",))])
    asyncio.run(responder.respond(alert()))
    decision, action = audit.entries()
    assert decision["why"] == ("deviation alert profile.new_executable (high) matched playbook pb")
    assert action["outcome"] == "done"
    assert action["latency_ms"] == 5.0
    assert action["target"] == {
        "container": "web-1",
        "workload": WEB.key,
        "pid": 4242,
        "exe": "/bin/nc",
        "action": "freeze",
    }
    assert json.loads(audit.path.read_text().splitlines()[1])["prev"] == decision["hash"]
