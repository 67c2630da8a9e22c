"""vigil.sensor.loss: new losses only, and the alert naming the container and the window."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.fixtures.sensor import ev
from vigil.models import ContainerInfo, EventType
from vigil.sensor.loss import LOSS_RULE, LossDetector, LossTracker, loss_event


def test_loss_tracker_reports_only_new_losses() -> None:
    tracker = LossTracker()
    tracker.kernel_totals(42, "exec", 5, 100, 200)
    tracker.add(42, "open", 2, 150, 300)
    losses = tracker.take()
    assert losses[42].count == 7 and (losses[42].first_ns, losses[42].last_ns) == (100, 300)
    assert losses[42].by_type == {"exec": 5, "open": 2}
    tracker.kernel_totals(42, "exec", 5, 100, 200)
    assert tracker.take() == {}  # the same total: nothing new
    tracker.kernel_totals(42, "exec", 8, 100, 400)
    assert tracker.take()[42].count == 3
    assert tracker.total_by_type == {"exec": 8, "open": 2} and tracker.total_by_cgroup == {42: 10}


def test_loss_alert_names_the_container_and_window() -> None:
    tracker = LossTracker()
    tracker.add(42, "exec", 3, 1_000_000_000, 3_000_000_000)
    clock = lambda ns: datetime.fromtimestamp(ns / 1e9, UTC)  # noqa: E731
    event = loss_event(42, tracker.take()[42], clock)
    container = ContainerInfo(id="web-1", name="web-1", image="nginx", runtime="runc")
    from dataclasses import replace

    findings = LossDetector().observe(replace(event, container=container))
    assert len(findings) == 1 and findings[0].rule == LOSS_RULE and findings[0].kind == "rule"
    message = findings[0].message
    assert "3 events lost (exec:3) for container web-1 (web-1)" in message
    assert "unmonitored from 1970-01-01T00:00:01.000000Z to 1970-01-01T00:00:03.000000Z" in message
    assert LossDetector().observe(ev(EventType.EXEC, 1, 0, 1)) == []
