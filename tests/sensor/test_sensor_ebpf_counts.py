"""The eBPF sensor's bookkeeping without a kernel: counts of records received, malformed and
lost, records waiting raw, and the errors of a sensor used wrongly."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.fixtures.sensor_records import syscall_record
from vigil.errors import ConfigError, PrivilegeError, SensorError
from vigil.models import Event, EventType
from vigil.sensor import SensorStats, records
from vigil.sensor.ebpf import EbpfSensor
from vigil.sensor.records import EVENT_EXEC, EXEC_DATA


def test_malformed_records_are_counted_and_skipped(tmp_path: Path) -> None:
    sensor = EbpfSensor(cache_dir=tmp_path)
    sensor.records.on_record(b"\x01\x00")
    sensor.records.on_record(EVENT_EXEC.to_bytes(4, sys.byteorder) + b"\0" * (EXEC_DATA - 4 - 1))
    stats = sensor.stats()
    assert stats.malformed == 2
    assert stats.received == 2


def test_records_wait_raw_and_are_decoded_when_taken(tmp_path: Path) -> None:
    good = syscall_record(records.EVENT_OPEN, (0,), (b"/etc/shadow",))
    cut = syscall_record(records.EVENT_RENAME, (), (b"/etc/a", b"/etc/b"))[:-1]

    async def run() -> tuple[list[Event], SensorStats, SensorStats]:
        sensor = EbpfSensor(cache_dir=tmp_path, queue_size=4)
        sensor.records.open()
        queue = sensor.records.queue
        assert queue is not None and queue.maxsize == 5
        for record in (good, cut, good):
            assert sensor.records.on_record(record) == 0
        waiting = sensor.stats()  # nothing decoded yet: the cut record is not known bad yet
        queue.put_nowait(None)
        events = [event async for event in sensor.events()]
        return events, waiting, sensor.stats()

    events, waiting, done = asyncio.run(run())
    assert (waiting.received, waiting.malformed) == (3, 0)
    assert [(e.type, e.file.path if e.file else "") for e in events] == [
        (EventType.OPEN, "/etc/shadow"),
        (EventType.OPEN, "/etc/shadow"),
    ]
    assert (done.received, done.malformed, done.lost_user) == (3, 1, 0)


def test_records_without_room_are_lost_per_cgroup_or_malformed(tmp_path: Path) -> None:
    sensor = EbpfSensor(cache_dir=tmp_path)  # not started: no queue, every record is lost
    sensor.records.on_record(syscall_record(records.EVENT_OPEN, (0,), (b"/etc/shadow",)))
    sensor.records.on_record(b"\x09\x00")
    stats = sensor.stats()
    assert (stats.received, stats.lost_user, stats.malformed) == (2, 1, 1)
    assert stats.lost_by_cgroup == {98765: 1}


def test_events_before_start_is_an_error(tmp_path: Path) -> None:
    async def first() -> None:
        async for _ in EbpfSensor(cache_dir=tmp_path).events():
            pass

    with pytest.raises(SensorError, match="not started"):
        asyncio.run(first())


@pytest.mark.parametrize("size", [0, 1000, 4097, 3 << 20])
def test_ring_buffer_size_must_be_a_power_of_two_pages(tmp_path: Path, size: int) -> None:
    with pytest.raises(ConfigError, match="power of two"):
        EbpfSensor(cache_dir=tmp_path, ringbuf_bytes=size)


def test_non_root_gets_a_privilege_error(tmp_path: Path) -> None:
    started = EbpfSensor(cache_dir=tmp_path)

    async def enter() -> None:
        async with started:
            pass

    was_root = os.geteuid() == 0
    if was_root:
        os.seteuid(65534)  # the real uid stays 0, so the finally clause can switch back
    try:
        with pytest.raises(PrivilegeError) as caught:
            asyncio.run(enter())
    finally:
        if was_root:
            os.seteuid(0)
    assert str(caught.value).startswith("the eBPF sensor needs root")
    assert "CAP_BPF" in str(caught.value)
    assert "\n" not in str(caught.value)
