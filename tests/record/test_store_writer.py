"""The store's writer: a slow database never delays the pipeline, and nothing queued is lost."""

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from tests.fixtures.fakes import (
    WEB,
    WEB_1,
    FakeRecord,
    FixedIdentity,
    QueueSensor,
    TableIdentity,
    exec_event,
)
from vigil.agent import Agent
from vigil.bootstrap import attach_incidents
from vigil.detect.profiles import ProfileBook
from vigil.models import Alert, Severity
from vigil.record.store import Store
from vigil.record.writer import StoreWriter
from vigil.respond.responder import Responder
from vigil.respond.settings import Playbook, PlaybookMatch

#: what every call of the slow store costs
STORE_DELAY = 0.2


class SlowStore(Store):
    """A store whose every write takes 200 ms, like a PostgreSQL far away or under load."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner.engine, inner.location)
        self.calls: list[tuple[str, str]] = []  # (what, thread name)

    def _slow(self, what: str) -> None:
        self.calls.append((what, threading.current_thread().name))
        time.sleep(STORE_DELAY)

    def save_alerts(self, alerts: list[Alert]) -> None:
        self._slow("alerts")
        super().save_alerts(alerts)

    def save_profile_rows(self, current: list[dict[str, Any]], history: Any = ()) -> None:
        self._slow("profiles")
        super().save_profile_rows(current, history)


class TimedOutput:
    """Notes when each alert reached it (monotonic seconds)."""

    name = "timed"

    def __init__(self) -> None:
        self.seen: list[tuple[float, str]] = []

    def emit(self, alert: Alert) -> None:
        self.seen.append((time.monotonic(), alert.id))

    def close(self) -> None:
        pass


def test_slow_store_delays_neither_alerts_nor_response(tmp_path: Path) -> None:
    freezer = tmp_path / "cgroup" / "freezer" / "web-1"
    freezer.mkdir(parents=True)
    (freezer / "freezer.state").write_text("THAWED\n")
    identity = TableIdentity(
        by_cgroup={100: FixedIdentity(WEB_1, WEB)},
        records={"web-1": FakeRecord({"freezer": str(freezer)})},
    )
    store = SlowStore(Store.open(tmp_path / "data"))
    sensor = QueueSensor()
    output = TimedOutput()
    freeze = Playbook(
        name="freeze",
        match=PlaybookMatch(severities=frozenset({Severity.HIGH})),
        mode="auto",
        actions=("freeze",),
    )
    agent = Agent(
        sensor=sensor,
        identity=identity,
        profiles=ProfileBook(learning_period=None),
        responder=Responder([freeze], identity),
        store=store,
        outputs=[output],
    )
    incidents = attach_incidents(agent, window=60)
    deviations = 5

    async def scenario() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        await agent.ready.wait()
        await agent.handle(exec_event("/bin/sh"))
        agent.lock(None)  # a profile save: 200 ms in the writer
        started = time.monotonic()
        for number in range(deviations):
            sensor.push(exec_event(f"/bin/tool{number}"))
        while len(output.seen) < deviations:
            await asyncio.sleep(0.005)
        frozen_after = time.monotonic() - started
        assert (freezer / "freezer.state").read_text() == "FROZEN"
        stop.set()
        await task
        return frozen_after

    elapsed = asyncio.run(scenario())
    # Written inline, five alerts and a profile save would take 6 x 200 ms before the last
    # alert got out; through the writer, the outputs and the freeze do not wait for any.
    assert elapsed < STORE_DELAY * (deviations + 1) / 2, elapsed
    assert elapsed < 0.5, elapsed
    # Everything queued was written by the time run() returned, off the event loop.
    assert {a["id"] for a in store.alerts()} == {alert_id for _, alert_id in output.seen}
    assert all(thread.startswith("vigil-store-writer") for _, thread in store.calls)
    assert sum(1 for what, _ in store.calls if what == "alerts") < deviations  # batched
    (incident,) = incidents.list()
    assert incident.alert_count == deviations
    (profile,) = store.load_profiles()
    assert profile.state.value == "locked"


def test_writer_keeps_order_drains_on_stop_and_logs_failures(tmp_path: Path) -> None:
    writer = StoreWriter(capacity=100, batch=10)
    done: list[str] = []
    batches: list[list[int]] = []

    def fail() -> None:
        raise RuntimeError("disk full")

    async def scenario() -> Any:
        writer.start()
        release = threading.Event()
        writer.submit("hold", release.wait)  # the writer is busy: the rest queues up
        for number in range(5):
            writer.submit_many("item", batches.append, number)
        writer.submit("boom", fail)
        writer.submit("after", lambda: done.append("after"))
        release.set()
        result = await writer.call("read", lambda: list(done))
        writer.submit("last", lambda: done.append("last"))
        await writer.stop()
        return result

    assert asyncio.run(scenario()) == ["after"]  # read-your-writes through call()
    assert batches == [[0, 1, 2, 3, 4]]  # queued together: one call
    assert done == ["after", "last"]  # nothing lost on stop
    assert writer.failed == 1
    writer.submit("inline", lambda: done.append("inline"))  # stopped: written at once
    assert done[-1] == "inline"


def test_full_queue_drops_and_counts_instead_of_blocking() -> None:
    writer = StoreWriter(capacity=2, batch=1)

    async def scenario() -> None:
        writer.start()
        release = threading.Event()
        writer.submit("hold", release.wait)
        await asyncio.sleep(0.05)  # the worker took "hold"; the queue has room for two
        for _ in range(5):
            writer.submit("more", lambda: None)
        release.set()
        await writer.stop()

    asyncio.run(scenario())
    assert writer.dropped == 3
