"""Incidents over a real store (SQLite and PostgreSQL): grouping, roll-up, timeline, states,
false positives that teach the profile or leave an exception."""

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from tests.fixtures.fakes import (
    WEB,
    WEB_1,
    FixedIdentity,
    QueueSensor,
    TableIdentity,
    connect_event,
    exec_event,
    new_executable_alert,
)
from tests.fixtures.stores import StoreOpener
from vigil.agent import Agent
from vigil.bootstrap import attach_incidents
from vigil.detect.profile_yaml import diff_profiles
from vigil.detect.profiles import ProfileBook
from vigil.incidents import IncidentBook, IncidentNotFound, InvalidTransition, Remedy
from vigil.incidents.amend import ProfileBookAmender
from vigil.incidents.process_tree import process_tree
from vigil.models import ActionResult, Alert, Severity, Workload
from vigil.profile_service import ProfileService
from vigil.record.store import Store
from vigil.record.writer import StoreWriter
from vigil.respond.responder import Responder

DB = Workload("shop", "StatefulSet", "db", "postgres")


def alert(
    n: int,
    *,
    at: float,
    workload: Workload = WEB,
    severity: Severity = Severity.MEDIUM,
    exe: str = "/bin/nc",
    pid: int = 100,
    ppid: int = 1,
) -> Alert:
    event = replace(exec_event(exe, pid=pid), container=WEB_1, workload=workload)
    event = replace(event, process=replace(event.process, ppid=ppid, parent_exe="/bin/sh"))
    return new_executable_alert(f"alert-{n}", at, event, severity, f"new process {exe}")


def record(store: Store, book: IncidentBook, *alerts: Alert) -> None:
    for a in alerts:  # what the agent does: store the alert, then call its hooks
        store.save_alert(a)
        book(a)


def test_alerts_group_per_workload_within_the_window(open_store: StoreOpener) -> None:
    store = open_store()
    book = IncidentBook(store, window=60)
    record(
        store,
        book,
        alert(1, at=0),
        alert(2, at=50, severity=Severity.CRITICAL),  # joins, raises the roll-up
        alert(3, at=70, workload=DB),  # another workload: its own incident
        alert(4, at=100, severity=Severity.LOW),  # 50 s after the last one: still joins
        alert(5, at=200),  # 100 s of quiet: a new incident
    )
    incidents = book.list()
    by_count = sorted((i.alert_count, i.workload, i.severity) for i in incidents)
    assert by_count == [
        (1, WEB.key, "medium"),
        (1, DB.key, "medium"),
        (3, WEB.key, "critical"),
    ]
    big = next(i for i in incidents if i.alert_count == 3)
    detail = book.detail(big.id)
    assert [a["id"] for a in detail["alerts"]] == ["alert-4", "alert-2", "alert-1"]
    assert [e["kind"] for e in detail["timeline"]] == ["opened", "alert", "alert", "alert"]
    assert detail["timeline"][1]["alert_id"] == "alert-1"
    assert detail["containers"] == ["web-1"]
    assert big.opened == "2026-11-28T12:00:00.000000Z"
    assert big.last_alert == "2026-11-28T12:01:40.000000Z"

    reopened = IncidentBook(open_store(), window=60)  # survives a restart
    assert reopened.get(big.id).alert_count == 3


def test_states_move_forward_only_and_the_timeline_says_who(open_store: StoreOpener) -> None:
    store = open_store()
    book = IncidentBook(store, window=60)
    first = alert(1, at=0)
    first.playbook = "freeze-high"
    first.actions.append(ActionResult("freeze", "done", "froze via freezer.state", 4.2))
    record(store, book, first)
    (incident,) = book.list()
    assert book.acknowledge(incident.id, actor="cli:ana", note="looking").state == "acknowledged"
    with pytest.raises(InvalidTransition, match="is acknowledged; it cannot become acknowledged"):
        book.acknowledge(incident.id, actor="x")
    record(store, book, alert(2, at=30))  # still grouped while acknowledged
    done = book.resolve(incident.id, actor="ui", note="patched")
    assert done.state == "resolved" and done.alert_count == 2
    with pytest.raises(InvalidTransition, match="is resolved"):
        book.false_positive(incident.id, actor="x")
    record(store, book, alert(3, at=40))  # a closed incident takes no more alerts
    assert len(book.list()) == 2
    entries = book.detail(incident.id)["timeline"]
    kinds = [(e["kind"], e.get("to"), e.get("actor")) for e in entries]
    assert kinds == [
        ("opened", None, "vigil"),
        ("alert", None, None),
        ("response", None, None),
        ("state", "acknowledged", "cli:ana"),
        ("alert", None, None),
        ("state", "resolved", "ui"),
    ]
    assert entries[2]["action"] == "freeze" and entries[2]["outcome"] == "done"
    assert book.get(incident.id).to_json()["resolution"]["note"] == "patched"
    with pytest.raises(IncidentNotFound):
        book.get("nope")


def make_agent(store: Store) -> tuple[Agent, QueueSensor]:
    identity = TableIdentity(by_cgroup={100: FixedIdentity(WEB_1, WEB)})
    sensor = QueueSensor()
    agent = Agent(
        sensor=sensor,
        identity=identity,
        profiles=ProfileBook(learning_period=None),
        responder=Responder([], identity),
        store=store,
        outputs=[],
    )
    return agent, sensor


def test_false_positive_teaches_the_profile(open_store: StoreOpener) -> None:
    store = open_store()
    agent, _ = make_agent(store)
    book = attach_incidents(agent, window=60)

    async def scenario() -> None:
        await agent.handle(exec_event("/bin/sh"))
        agent.lock(None)
        (raised,) = await agent.handle(exec_event("/usr/bin/curl"))
        assert raised.rule == "profile.new_executable"

    asyncio.run(scenario())
    (incident,) = book.list()
    offer = book.detail(incident.id)["false_positive_offer"]
    assert offer == [
        {
            "workload": WEB.key,
            "rule": "profile.new_executable",
            "item": "/usr/bin/curl",
            "remedies": ["profile", "exception"],
        }
    ]
    closed = book.false_positive(incident.id, actor="ui", remedy=Remedy.PROFILE, note="cron job")
    assert closed.state == "false_positive"
    (applied,) = closed.to_json()["resolution"]["applied"]
    assert applied["outcome"] == "added to the profile"
    assert "/usr/bin/curl" in agent.profiles.get(WEB.key).executables  # type: ignore[union-attr]
    versions = [v["version"] for v in store.profile_versions(WEB.key)]
    assert versions[-2:] == [1, 2]  # the remedy is a new, reviewed version
    before, after = (store.load_profile_version(WEB.key, v) for v in (1, 2))
    assert before is not None and after is not None
    change = diff_profiles(before.to_json(), after.to_json())
    assert change["changes"] == {
        "executables": {"added": ["/usr/bin/curl"], "removed": []},
        "arguments": {"added": ["/usr/bin/curl"], "removed": []},  # all the event showed
    }
    # The profile now knows it, after a restart too: no alert the next time.
    (stored,) = [p for p in open_store().load_profiles() if p.key == WEB.key]
    assert "/usr/bin/curl" in stored.executables
    assert asyncio.run(agent.handle(exec_event("/usr/bin/curl"))) == []


def test_false_positive_exception_drops_later_alerts(open_store: StoreOpener) -> None:
    store = open_store()
    agent, _ = make_agent(store)
    book = attach_incidents(agent, window=60)

    async def deviate() -> list[Alert]:
        return await agent.handle(connect_event("10.0.0.9", 443))

    async def learn() -> None:
        await agent.handle(exec_event("/bin/sh"))
        agent.lock(None)

    asyncio.run(learn())
    (raised,) = asyncio.run(deviate())
    (incident,) = book.list()
    closed = book.false_positive(incident.id, actor="api", remedy=Remedy.EXCEPTION)
    (applied,) = closed.to_json()["resolution"]["applied"]
    assert applied["item"] == "tcp/10.0.0.9:443" and applied["outcome"] == "exception added"
    # The profile reports each item once; forget that, so only the exception stands between.
    agent.profiles.get(WEB.key).reported.clear()  # type: ignore[union-attr]
    assert asyncio.run(deviate()) == []
    assert agent.alerts_suppressed == 1
    # A new agent on the same store loads the exception.
    agent2, _ = make_agent(open_store())
    attach_incidents(agent2)
    assert len(agent2.alert_filters) == 1
    assert agent2.alert_filters[0](raised) is True


def test_process_tree_links_parents_and_lineage() -> None:
    alerts = [
        {
            "id": "a1",
            "time": "1",
            "process": {
                "pid": 10,
                "ppid": 5,
                "exe": "/bin/sh",
                "parent_exe": "/usr/sbin/sshd",
                "ancestors": ["/usr/sbin/sshd", "/sbin/init"],
            },
        },
        {
            "id": "a2",
            "time": "2",
            "process": {"pid": 11, "ppid": 10, "exe": "/bin/nc", "cmdline": "nc -e /bin/sh"},
        },
        {"id": "a3", "time": "3", "process": {"pid": 12, "ppid": 10, "exe": "/bin/id"}},
    ]
    (root,) = [n.to_json() for n in process_tree(alerts)]
    assert root["exe"] == "/sbin/init" and root["inferred"]
    (sshd,) = root["children"]
    assert sshd["exe"] == "/usr/sbin/sshd" and sshd["pid"] == 5
    (shell,) = sshd["children"]
    assert shell["pid"] == 10 and shell["alert_ids"] == ["a1"]
    assert [c["exe"] for c in shell["children"]] == ["/bin/nc", "/bin/id"]


def test_amender_without_a_profile_declines(tmp_path: Path) -> None:
    from vigil.incidents import Behaviour

    store = Store.open(tmp_path)
    amender = ProfileBookAmender(
        ProfileService(ProfileBook(learning_period=None), store, StoreWriter())
    )
    assert amender.allow(Behaviour(WEB.key, "profile.new_executable", "/bin/x")) is False
    store.close()
