"""A runtime's setup of a container, decided from the process tree and cgroups (not names):
recorded and marked, never judged nor learned; a process of the container named runc is judged.

The events follow what `vigil record` showed of `runc run` in containerd's layout: ``runc init``
exec'd in the host's cgroup (1), its clones (CLONE_PARENT: their parent is ``runc run``) in the
container's cgroup (CONTAINER), then the exec of the container's process there."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.fixtures.fakes import WEB, WEB_1, FixedIdentity, QueueSensor, TableIdentity
from tests.fixtures.sensor import ev
from vigil.agent import Agent
from vigil.detect.profiles import ProfileBook
from vigil.detect.rules import RuleEngine, builtin_rule_files, compile_files
from vigil.detect.rules.engine import RulesDetector
from vigil.identity.runtime_setup import mark_runtime_setup
from vigil.models import ContainerInfo, Event, EventType, SyscallInfo, Workload, event_from_json
from vigil.record.store import Store
from vigil.respond.responder import Responder
from vigil.sensor.process_tree import ProcessTree

HOST_CGROUP, CONTAINER, OTHER = 1, 500, 600
RUNC, INIT, CHILD = 100, 101, 102
OTHER_CONTAINER = ContainerInfo("other-1", "db", "db:1", "runc")
IDENTITY = TableIdentity(
    {
        CONTAINER: FixedIdentity(WEB_1, WEB),
        OTHER: FixedIdentity(OTHER_CONTAINER, Workload("ops", "Deployment", "db", "db")),
    }
)
RULES = RuleEngine(compile_files(builtin_rule_files()).rules)


def mount(pid: int, ppid: int, start: int, cgroup: int) -> Event:
    event = ev(EventType.MOUNT, pid, ppid, start, cgroup=cgroup)
    event.syscall = SyscallInfo("mount", {"source": "tmpfs", "target": "/mnt", "fstype": "tmpfs"})
    return event


def unshare(pid: int, ppid: int, start: int, cgroup: int) -> Event:
    event = ev(EventType.UNSHARE, pid, ppid, start, cgroup=cgroup)
    event.syscall = SyscallInfo("unshare", {"flags": 0x2C020000})
    return event


def runc_run(tree: ProcessTree) -> None:
    """``runc run`` on the host and its ``runc init``, exec'd in the host's cgroup."""
    tree.observe(ev(EventType.EXEC, RUNC, 1, 10, exe="/usr/sbin/runc", cgroup=HOST_CGROUP))
    tree.observe(ev(EventType.FORK, INIT, RUNC, 20, cgroup=HOST_CGROUP))
    tree.observe(ev(EventType.EXEC, INIT, RUNC, 20, exe="/usr/sbin/runc", cgroup=HOST_CGROUP))


def attributed(event: Event) -> Event:
    who = IDENTITY.resolve(event.cgroup_id, event.process.pid)
    event.container, event.workload = who.container, who.workload
    return event


def test_runc_init_in_the_container_is_setup_until_it_execs_the_containers_process(
    tmp_path: Path,
) -> None:
    tree = ProcessTree(proc_root=tmp_path)
    runc_run(tree)
    # runc init joined the container's cgroup; its clone's parent is runc run (CLONE_PARENT)
    setup = [
        tree.observe(ev(EventType.FORK, CHILD, RUNC, 30, cgroup=CONTAINER)),
        tree.observe(unshare(CHILD, RUNC, 30, CONTAINER)),
        tree.observe(mount(INIT, RUNC, 20, CONTAINER)),
    ]
    assert [e.entered_from_cgroup for e in setup] == [HOST_CGROUP] * 3
    assert all(mark_runtime_setup(attributed(e), IDENTITY) for e in setup)
    assert [json.loads(json.dumps(e.to_json()))["runtime_setup"] for e in setup] == [True] * 3
    assert event_from_json(setup[2].to_json()).runtime_setup  # a recording keeps the mark

    # its exec of the container's process is the container's own: judged, and it ends the setup
    start = attributed(
        tree.observe(ev(EventType.EXEC, INIT, 1, 20, exe="/bin/sh", cgroup=CONTAINER))
    )
    assert start.entered_from_cgroup == HOST_CGROUP  # still says it was the runtime's exec
    assert not mark_runtime_setup(start, IDENTITY)
    after = attributed(tree.observe(mount(INIT, 1, 20, CONTAINER)))
    assert after.entered_from_cgroup == 0 and not mark_runtime_setup(after, IDENTITY)
    assert "runtime_setup" not in after.to_json()


def test_a_process_of_the_container_named_runc_is_judged(tmp_path: Path) -> None:
    tree = ProcessTree(proc_root=tmp_path)
    runc_run(tree)
    tree.observe(ev(EventType.EXEC, INIT, 1, 20, exe="/bin/sh", cgroup=CONTAINER))
    # after the start: a binary named runc exec'd in the container, and its forks
    tree.observe(ev(EventType.FORK, 300, INIT, 40, cgroup=CONTAINER))
    named = tree.observe(ev(EventType.EXEC, 300, INIT, 40, exe="/usr/sbin/runc", cgroup=CONTAINER))
    forked = tree.observe(ev(EventType.FORK, 301, 300, 50, cgroup=CONTAINER))
    events = [named, forked, tree.observe(mount(300, INIT, 40, CONTAINER))]
    events.append(tree.observe(unshare(301, 300, 50, CONTAINER)))
    assert [e.entered_from_cgroup for e in events] == [0, 0, 0, 0]
    assert not any(mark_runtime_setup(attributed(e), IDENTITY) for e in events)
    assert "Mount in a container" in {rule.name for rule in RULES.match(events[2])}


def test_a_process_moved_from_another_container_is_judged(tmp_path: Path) -> None:
    """Exec'd in a container, then moved (cgroup.procs) into another one without exec'ing: it
    came from a container, not from the host's runtime."""
    tree = ProcessTree(proc_root=tmp_path)
    tree.observe(ev(EventType.EXEC, 400, 1, 60, exe="/bin/sh", cgroup=OTHER))
    moved = attributed(tree.observe(mount(400, 1, 60, CONTAINER)))
    assert moved.entered_from_cgroup == OTHER
    assert not mark_runtime_setup(moved, IDENTITY)


def test_a_host_process_moving_between_host_cgroups_is_judged(tmp_path: Path) -> None:
    tree = ProcessTree(proc_root=tmp_path)
    tree.observe(ev(EventType.EXEC, 400, 1, 60, exe="/usr/bin/service", cgroup=HOST_CGROUP))
    moved = attributed(tree.observe(mount(400, 1, 60, 2)))  # cgroup 2: another host cgroup
    assert moved.entered_from_cgroup == HOST_CGROUP
    assert not mark_runtime_setup(moved, IDENTITY)


def test_processes_the_tree_found_in_proc_are_judged(tmp_path: Path) -> None:
    """No exec seen (started before the sensor): where it was exec'd is unknown."""
    tree = ProcessTree(proc_root=tmp_path)
    event = attributed(tree.observe(mount(700, 1, 70, CONTAINER)))
    assert event.entered_from_cgroup == 0 and not mark_runtime_setup(event, IDENTITY)


def test_the_agent_records_setup_but_neither_alerts_nor_learns(tmp_path: Path) -> None:
    profiles = ProfileBook(learning_period=None)
    agent = Agent(
        sensor=QueueSensor(),
        identity=IDENTITY,
        profiles=profiles,
        responder=Responder([], IDENTITY),
        store=Store.open(tmp_path / "data"),
        outputs=[],
        detectors=[RulesDetector(RULES)],
    )
    tree = ProcessTree(proc_root=tmp_path)
    runc_run(tree)

    async def handle(event: Event) -> int:
        return len(await agent.handle(event))

    setup = [
        ev(EventType.FORK, CHILD, RUNC, 30, cgroup=CONTAINER),
        unshare(CHILD, RUNC, 30, CONTAINER),
        mount(INIT, RUNC, 20, CONTAINER),
    ]
    assert [asyncio.run(handle(tree.observe(e))) for e in setup] == [0, 0, 0]
    assert all(e.runtime_setup for e in setup)
    assert profiles.all() == []  # nothing learned: no profile made for the container
    start = ev(EventType.EXEC, INIT, 1, 20, exe="/bin/sh", cgroup=CONTAINER)
    assert asyncio.run(handle(tree.observe(start))) == 0
    (profile,) = profiles.all()
    assert "/usr/sbin/runc" not in profile.executables
    # the same mount by the container's process raises its rule
    assert asyncio.run(handle(tree.observe(mount(INIT, 1, 20, CONTAINER)))) >= 1
