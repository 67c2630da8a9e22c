"""vigil.sensor.wakeups: when the reader drains on its own and when the programs wake it."""

from __future__ import annotations

import pytest

from tests.fixtures.fakes import FakeClock
from vigil.sensor.wakeups import MemoryCell, ReaderSchedule


def test_reader_schedule_polls_while_records_come_and_sleeps_after_its_promise() -> None:
    clock = FakeClock(1_000_000_000)
    cell = MemoryCell()
    schedule = ReaderSchedule(cell, interval=0.004, slack=0.016, clock_ns=clock)
    assert schedule.after_drain(found=True) == 0.004
    assert cell.get() == clock.now + 20_000_000  # the programs keep quiet for interval + slack
    clock.advance(4_000_000)
    assert schedule.after_drain(found=False) == 0.004  # the promise still holds: keep polling
    clock.advance(15_000_000)  # 1 ms of the promise left: one more drain just after it
    assert schedule.after_drain(found=False) == pytest.approx(0.0015)
    clock.advance(2_000_000)
    assert schedule.after_drain(found=False) is None  # kept: sleep until woken
    # a program that woke the reader promised 2 ms on its behalf: drained after those too
    cell.set(clock.now + 2_000_000)
    assert schedule.after_drain(found=False) == pytest.approx(0.0025)
