"""Profiles converge on recorded traces, lock by themselves, then stay quiet for benign replicas
and speak exactly once for each new kind of behaviour."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest

from tests.fixtures.fakes import FakeClock
from tests.fixtures.profiles import learnt_book, replay
from tests.fixtures.traces import (
    REPORTS,
    WEB,
    read_trace,
    reports_trace,
    web_trace,
)
from vigil.detect.policy import ProfilePolicies
from vigil.detect.profiles import ProfileBook
from vigil.models import Event


def test_steady_workload_converges_and_locks_by_itself() -> None:
    trace = read_trace("steady-web.jsonl")
    book, _ = learnt_book(trace)
    (profile,) = book.all()
    assert profile.key == WEB.key
    assert profile.lock_reason == "converged"
    learnt_for = (profile.locked_at - trace[0].time).total_seconds()  # type: ignore[operator]
    # well before its 6-hour limit: 200 quiet events at 2/s after the last new item
    assert 100 <= learnt_for < 200, learnt_for
    # generalised: one /24 of database replicas, numbered names, random temp files
    assert profile.destinations == {"tcp/10.0.1.0/24:5432"}
    assert profile.dns == {"db-<num>.shop.svc.cluster.local"}
    assert "/var/cache/web/<hash>.tmp" in profile.file_writes
    assert "/bin/sleep <num>" in profile.arguments
    assert "/usr/sbin/web -> /bin/sleep" in profile.processes
    assert profile.listening == {"tcp/8080"}
    assert profile.users == {"101"}
    # the server looked the database up by name before connecting: the names are kept with it
    assert profile.resolved == {"tcp/10.0.1.0/24:5432": {"db-<num>.shop.svc.cluster.local"}}
    assert profile.partial is False


def test_bursty_workload_waits_for_its_own_activity_not_the_clock() -> None:
    trace = read_trace("bursty-reports.jsonl")
    book, _ = learnt_book(trace)
    (profile,) = book.all()
    assert profile.key == REPORTS.key
    assert profile.lock_reason == "converged"
    # it saw the every-fourth-burst vacuum before locking
    assert "/usr/bin/vacuumdb" in profile.executables
    assert profile.destinations >= {"tcp/10.0.2.5:5432", "tcp/52.218.1.0/24:443"}
    assert profile.file_writes == {"/data/out/<num>-<num>-<num>.sql"}

    # A learner on a two-minute timer locks after the first burst and then cries wolf.
    naive_clock = FakeClock(trace[0].time)
    naive = ProfileBook(policies=ProfilePolicies.from_learning_period(120), clock=naive_clock)
    false_alarms, _ = replay(naive, naive_clock, trace)
    assert len(false_alarms) >= 3


@pytest.mark.parametrize(
    ("fixture", "generator", "start_after"),
    [
        (
            "steady-web.jsonl",
            lambda seed, start: web_trace("r" + str(seed), seed=seed, events=4000, start=start),
            0,
        ),
        (
            "bursty-reports.jsonl",
            lambda seed, start: reports_trace(
                "r" + str(seed), seed=seed, bursts=40, start=start, first=8
            ),
            0,
        ),
    ],
)
def test_after_lock_benign_replicas_raise_no_alert(
    fixture: str, generator: Callable[[int, datetime], Iterator[Event]], start_after: int
) -> None:
    trace = read_trace(fixture)
    book, clock = learnt_book(trace)
    start = trace[-1].time + timedelta(seconds=1)
    total = 0
    for seed in (11, 12, 13):
        events = list(generator(seed, start))
        total += len(events)
        deviations, _ = replay(book, clock, events)
        assert deviations == [], [d.message for d in deviations[:3]]
    assert total > 2000
