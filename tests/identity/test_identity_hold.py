"""Events of a container whose runtime state is not readable yet are held, then attributed.

The agent runs over a fake host (tests.fixtures.identity_host) in containerd's Kubernetes layout;
the state of the container appears late, or never. The hold's bounds are checked on the hold
alone, with a fake identity and an injected clock.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fixtures.fakes import FakeClock, QueueSensor, exec_event
from tests.fixtures.identity_host import CRI_ANNOTATIONS, ID, ID2, UID, FakeHost
from vigil.agent import Agent
from vigil.detect.profiles import ProfileBook
from vigil.identity.hold import HoldLimits, IdentityHold
from vigil.models import Alert, Event, Workload
from vigil.record.store import Store
from vigil.respond.responder import Responder

K8S_ROOT = "containerd/runc/k8s.io"
POD = f"/kubepods/besteffort/pod{UID}"
PATH = f"{POD}/{ID}"
DB = Workload("data", "StatefulSet", "db", "postgres", inferred=True)
SANDBOX_ANNOTATIONS = {
    "io.kubernetes.cri.container-type": "sandbox",
    "io.kubernetes.cri.sandbox-namespace": "data",
    "io.kubernetes.cri.sandbox-name": "db-0",
    "io.kubernetes.cri.sandbox-uid": UID,
}


@pytest.fixture
def host(tmp_path: Path) -> FakeHost:
    host = FakeHost(tmp_path)
    (host.run / K8S_ROOT).mkdir(parents=True)  # containerd runs here; the container has no state
    return host


def make_agent(host: FakeHost, tmp_path: Path) -> Agent:
    resolver = host.resolver()
    resolver.scan()  # as the agent does when it starts
    return Agent(
        sensor=QueueSensor(),  # the tests call Agent.handle themselves
        identity=resolver,
        profiles=ProfileBook(learning_period=None),
        responder=Responder([], resolver),
        store=Store.open(tmp_path / "data"),
        outputs=[],
        clock=host.clock,
    )


def handle_all(agent: Agent, events: list[Event]) -> list[Alert]:
    async def scenario() -> list[Alert]:
        return [alert for event in events for alert in await agent.handle(event)]

    return asyncio.run(scenario())


def metric(agent: Agent, line: str) -> float:
    for sample in agent.metrics.exposition().decode().splitlines():
        if sample.startswith(line + " "):
            return float(sample.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {line}")


def profile_keys(agent: Agent) -> set[str]:
    return {profile.key for profile in agent.profiles.all()}


def test_events_before_the_state_are_held_then_attributed_to_the_pods_workload(
    host: FakeHost, tmp_path: Path
) -> None:
    cgroup_id = host.cgroup_dir(PATH)
    agent = make_agent(host, tmp_path)
    early = [exec_event(exe, cgroup_id=cgroup_id, pid=7) for exe in ("/runc", "/bin/sh")]

    assert handle_all(agent, early) == []
    assert len(agent.hold) == 2 and all(e.container is None for e in early)

    host.clock.advance(0.25)
    host.runc_container(K8S_ROOT, ID, PATH, CRI_ANNOTATIONS)
    first_after = exec_event("/usr/bin/postgres", cgroup_id=cgroup_id, pid=8)
    handle_all(agent, [first_after])

    assert len(agent.hold) == 0
    for event in [*early, first_after]:
        assert event.container is not None and event.container.id == ID
        assert event.container.image == "docker.io/library/postgres:16"
        assert event.workload == DB
    profile = agent.profiles.get(DB.key)
    assert profile is not None
    assert set(profile.executables) == {"/runc", "/bin/sh", "/usr/bin/postgres"}
    assert profile_keys(agent) == {DB.key}  # no profile named after the bare id
    assert metric(agent, "vigil_identity_held_events_total") == 2
    assert metric(agent, 'vigil_identity_hold_seconds_count{outcome="settled"}') == 1
    assert metric(agent, 'vigil_identity_hold_seconds_sum{outcome="settled"}') == 0.25

    # locked: a deviation is an alert of the pod's workload, never of the bare id
    agent.lock(None)
    alerts = handle_all(agent, [exec_event("/bin/nc", cgroup_id=cgroup_id, pid=9)])
    assert alerts and {a.event.workload for a in alerts} == {DB}


def test_the_timer_releases_a_hold_once_the_state_is_there(host: FakeHost, tmp_path: Path) -> None:
    cgroup_id = host.cgroup_dir(PATH)
    agent = make_agent(host, tmp_path)
    held = exec_event("/bin/sh", cgroup_id=cgroup_id)
    handle_all(agent, [held])
    assert asyncio.run(agent.release_held()) == [] and len(agent.hold) == 1  # not yet

    host.runc_container(K8S_ROOT, ID, PATH, CRI_ANNOTATIONS)
    asyncio.run(agent.release_held())

    assert len(agent.hold) == 0
    assert held.workload == DB
    assert profile_keys(agent) == {DB.key}


def test_a_runtime_forking_into_a_cgroup_not_yet_known_is_held_not_the_hosts(
    host: FakeHost, tmp_path: Path
) -> None:
    agent = make_agent(host, tmp_path)
    runtime_cgroup = "/system.slice/containerd.service"
    agent.identity.resolve(host.cgroup_dir(runtime_cgroup), 1)  # the tree's scan happens here
    # after that scan: the runtime (a host process) forks its init into a new container's
    # cgroup; rescans are rate-limited, and the runtime's own /proc cgroup names the host
    cgroup_id = host.cgroup_dir(PATH)
    host.process(50, runtime_cgroup)
    fork = exec_event("/usr/sbin/runc", cgroup_id=cgroup_id, pid=50)
    assert handle_all(agent, [fork]) == []
    assert len(agent.hold) == 1 and fork.container is None  # not the host's

    host.runc_container(K8S_ROOT, ID, PATH, CRI_ANNOTATIONS)
    host.clock.advance(1.5)  # a rescan may run again: it finds the cgroup
    asyncio.run(agent.release_held())

    assert len(agent.hold) == 0
    assert fork.container is not None and fork.container.id == ID
    assert fork.workload == DB


@pytest.mark.parametrize("sandbox_known", [True, False])
def test_a_state_that_never_appears_is_attributed_once_by_the_cgroup_path(
    host: FakeHost, tmp_path: Path, sandbox_known: bool
) -> None:
    if sandbox_known:  # the pod's sandbox has state: the pod's name is known
        host.cgroup_dir(f"{POD}/{ID2}")
        host.runc_container(K8S_ROOT, ID2, f"{POD}/{ID2}", SANDBOX_ANNOTATIONS)
    cgroup_id = host.cgroup_dir(PATH)
    agent = make_agent(host, tmp_path)
    held = [exec_event("/bin/sh", cgroup_id=cgroup_id), exec_event("/bin/ls", cgroup_id=cgroup_id)]
    handle_all(agent, held)
    host.clock.advance(1.9)
    asyncio.run(agent.release_held())
    assert len(agent.hold) == 2

    host.clock.advance(0.1)
    asyncio.run(agent.release_held())

    expected = (
        Workload("data", "StatefulSet", "db", "", inferred=True)
        if sandbox_known
        else Workload("", "Pod", f"pod{UID}", "", inferred=True)
    )
    assert len(agent.hold) == 0
    assert [e.workload for e in held] == [expected, expected]
    assert all(e.container is not None and e.container.id == ID for e in held)
    assert metric(agent, 'vigil_identity_holds_expired_total{reason="age"}') == 1
    # attributed once: later events of the cgroup are not held again
    later = exec_event("/bin/cat", cgroup_id=cgroup_id)
    handle_all(agent, [later])
    assert later.workload == expected and len(agent.hold) == 0
    assert ID not in "".join(profile_keys(agent))
    assert metric(agent, "vigil_identity_held_events_total") == 2


# -- the hold's bounds, with a fake identity ---------------------------------------------------
@dataclass(frozen=True)
class Answer:
    cgroup_path: str
    pending: bool
    settled_by: str = ""


@dataclass
class FakeSettler:
    """cgroup id → path; paths in ``pending`` are not settled unless asked to ``settle``."""

    pending: set[str] = field(default_factory=set)
    asked: list[tuple[int, bool, bool]] = field(default_factory=list)

    def resolve(
        self, cgroup_id: int, pid: int, *, recheck: bool = False, settle: bool = False
    ) -> Answer:
        self.asked.append((cgroup_id, recheck, settle))
        path = f"/cg{cgroup_id}"
        if path in self.pending and not settle:
            return Answer(path, True)
        return Answer(path, False, "settle" if settle else "state")


@dataclass
class Outcomes:
    seen: list[tuple[float, str]] = field(default_factory=list)
    held_events: int = 0

    def held(self) -> None:
        self.held_events += 1

    def released(self, waited: float, outcome: str) -> None:
        self.seen.append((waited, outcome))


def make_hold(limits: HoldLimits) -> tuple[IdentityHold[Answer], FakeSettler, FakeClock[float]]:
    settler, clock = FakeSettler({"/cg1", "/cg2"}), FakeClock(100.0)
    return IdentityHold(settler, limits, clock, Outcomes()), settler, clock


def cgroups(ready: list[tuple[Event, Answer]]) -> list[tuple[int, str]]:
    return [(event.cgroup_id, who.settled_by) for event, who in ready]


def test_a_full_hold_expires_at_once() -> None:
    hold, _, _ = make_hold(HoldLimits(max_per_cgroup=3))
    assert hold.admit(exec_event("/a", cgroup_id=1)) == []
    assert hold.admit(exec_event("/b", cgroup_id=1)) == []
    ready = hold.admit(exec_event("/c", cgroup_id=1))
    assert [e.process.exe for e, _ in ready] == ["/a", "/b", "/c"]
    assert cgroups(ready) == [(1, "settle")] * 3
    assert len(hold) == 0
    assert isinstance(hold.observer, Outcomes)
    assert [outcome for _, outcome in hold.observer.seen] == ["count"]
    # expired: attributed at once from now on
    assert cgroups(hold.admit(exec_event("/d", cgroup_id=1))) == [(1, "settle")]


def test_the_oldest_hold_goes_when_too_many_events_are_held() -> None:
    hold, _, clock = make_hold(HoldLimits(max_total=3))
    hold.admit(exec_event("/a", cgroup_id=1))
    clock.advance(0.1)
    hold.admit(exec_event("/b", cgroup_id=2))
    hold.admit(exec_event("/c", cgroup_id=2))
    assert len(hold) == 3 and hold.cgroups == 2
    ready = hold.admit(exec_event("/d", cgroup_id=2))
    assert cgroups(ready) == [(1, "settle")]
    assert len(hold) == 3 and hold.cgroups == 1


def test_a_hold_waits_at_most_max_age_and_keeps_order() -> None:
    hold, settler, clock = make_hold(HoldLimits(max_age=2.0))
    hold.admit(exec_event("/a", cgroup_id=1))
    clock.advance(1.0)
    hold.admit(exec_event("/b", cgroup_id=2))
    clock.advance(0.999)
    assert hold.tick() == []
    clock.advance(0.001)
    # any event (here the host's) lets aged holds out first, oldest first
    ready = hold.admit(exec_event("/host", cgroup_id=3))
    assert cgroups(ready) == [(1, "settle"), (3, "state")]
    settler.pending.discard("/cg2")  # its state appeared
    assert cgroups(hold.tick()) == [(2, "state")]
    assert isinstance(hold.observer, Outcomes)
    assert hold.observer.seen == [(2.0, "age"), (1.0, "settled")]
    assert hold.observer.held_events == 2


def test_a_held_cgroup_is_asked_again_on_each_event() -> None:
    hold, settler, _ = make_hold(HoldLimits())
    hold.admit(exec_event("/a", cgroup_id=1))
    settler.asked.clear()
    hold.admit(exec_event("/b", cgroup_id=1))
    assert settler.asked == [(1, False, False), (1, True, False)]
    settler.pending.clear()
    ready = hold.admit(exec_event("/c", cgroup_id=1))
    assert [e.process.exe for e, _ in ready] == ["/a", "/b", "/c"]
    assert hold.drain() == []


def test_drain_attributes_everything_held() -> None:
    hold, _, _ = make_hold(HoldLimits())
    hold.admit(exec_event("/a", cgroup_id=1))
    hold.admit(exec_event("/b", cgroup_id=2))
    assert cgroups(hold.drain()) == [(1, "settle"), (2, "settle")]
    assert len(hold) == 0
