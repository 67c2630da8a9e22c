"""Audit lines go through the store's writer: a slow disk never delays a response, and the
hash chain stays in order."""

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from tests.fixtures.fakes import WEB, WEB_1, FakeRecord, FixedIdentity, TableIdentity, exec_event
from vigil.models import Alert, Severity, utcnow
from vigil.record.writer import StoreWriter
from vigil.respond.audit import AuditLog, verify
from vigil.respond.responder import Responder
from vigil.respond.settings import Playbook, PlaybookMatch

#: what every audit append costs on the slow disk
APPEND_DELAY = 0.2


class SlowAuditLog(AuditLog):
    """An audit log on a disk that takes 200 ms per append; notes the thread of each."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.threads: list[str] = []

    def record(self, **entry: Any) -> dict[str, Any]:
        self.threads.append(threading.current_thread().name)
        time.sleep(APPEND_DELAY)
        return super().record(**entry)


def _alert(number: int) -> Alert:
    event = exec_event(f"/bin/tool{number}")
    event.container, event.workload = WEB_1, WEB
    return Alert(
        id=f"alert-{number}",
        time=utcnow(),
        kind="deviation",
        rule="new executable",
        severity=Severity.HIGH,
        message="new executable",
        mitre=[],
        event=event,
    )


def test_audit_appends_leave_the_event_loop_and_keep_their_order(tmp_path: Path) -> None:
    freezer = tmp_path / "cgroup" / "freezer" / "web-1"
    freezer.mkdir(parents=True)
    (freezer / "freezer.state").write_text("THAWED\n")
    identity = TableIdentity(records={"web-1": FakeRecord({"freezer": str(freezer)})})
    audit = SlowAuditLog(tmp_path / "audit.jsonl")
    writer = StoreWriter()
    freeze = Playbook(
        name="freeze",
        match=PlaybookMatch(severities=frozenset({Severity.HIGH})),
        mode="auto",
        actions=("freeze",),
    )
    responder = Responder([freeze], identity, audit=audit, writer=writer)
    alerts = 3

    async def scenario() -> float:
        writer.start()
        started = time.monotonic()
        for number in range(alerts):
            await responder.respond(_alert(number))
        responded_after = time.monotonic() - started
        await writer.stop()
        return responded_after

    elapsed = asyncio.run(scenario())
    # Inline, each response would wait for its 200 ms append; through the writer none does.
    assert elapsed < APPEND_DELAY, elapsed
    assert (freezer / "freezer.state").read_text() == "FROZEN"
    ids = [e["alert_id"] for e in audit.entries()]
    assert ids == sorted(ids) and set(ids) == {f"alert-{n}" for n in range(alerts)}
    assert all(thread.startswith("vigil-store-writer") for thread in audit.threads)
    assert verify(audit.path).ok


def test_the_writer_changes_when_audit_lines_are_written_not_what_they_say(
    tmp_path: Path,
) -> None:
    def audited(writer: StoreWriter | None, where: Path) -> list[tuple[str, str, str]]:
        identity = TableIdentity(by_cgroup={100: FixedIdentity(WEB_1, WEB)})
        where.mkdir()
        audit = AuditLog(where / "audit.jsonl")
        freeze = Playbook(name="freeze", match=PlaybookMatch(), mode="auto", actions=("freeze",))
        responder = Responder([freeze], identity, audit=audit, writer=writer)

        async def scenario() -> None:
            if writer is not None:
                writer.start()
            await responder.respond(_alert(0))
            if writer is not None:
                await writer.stop()

        asyncio.run(scenario())
        return [(e["event"], e["outcome"], e["alert_id"]) for e in audit.entries()]

    inline = audited(None, tmp_path / "inline")
    assert inline  # the refused freeze (no container record) is audited
    assert audited(StoreWriter(), tmp_path / "queued") == inline
