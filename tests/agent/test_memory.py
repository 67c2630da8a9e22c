"""Freed heap memory goes back to the kernel (vigil.memory)."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from vigil.memory import glibc_trim, release_freed_memory


def rss_anon_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/self/status")


def test_glibc_trim_returns_a_freed_hole_in_the_heap() -> None:
    trim = glibc_trim()
    if trim is None:
        pytest.skip("not glibc: no malloc_trim")
    # 40 MB of heap chunks (below the mmap threshold), the last one kept alive so that the
    # freed ones are a hole below the top of the heap, which free() alone never returns.
    chunks = [bytearray(4096) for _ in range(10_000)]
    keeper = chunks.pop()
    del chunks
    before = rss_anon_kib()
    trim()
    after = rss_anon_kib()
    assert before - after > 20_000, (before, after)
    assert len(keeper) == 4096


@pytest.mark.asyncio
async def test_trims_once_ready_then_periodically_until_stopped() -> None:
    ready, stop = asyncio.Event(), asyncio.Event()
    calls: list[float] = []
    third = asyncio.Event()

    def trim() -> bool:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) == 3:
            third.set()
        return True

    task = asyncio.create_task(release_freed_memory(ready, stop, trim=trim, interval=0.05))
    await asyncio.sleep(0.1)
    assert calls == []  # not before the pipeline is up
    ready.set()
    await asyncio.wait_for(third.wait(), 10)  # counted by order, not within a timed sleep
    stop.set()
    trims = await asyncio.wait_for(task, 1)
    assert trims == len(calls) == 3  # stopping ends the wait at once: no trim after it
    gaps = [later - earlier for earlier, later in itertools.pairwise(calls)]
    assert all(gap >= 0.045 for gap in gaps), gaps  # one interval apart, never back to back


@pytest.mark.asyncio
async def test_stopping_before_ready_never_trims() -> None:
    ready, stop = asyncio.Event(), asyncio.Event()
    calls: list[int] = []

    def trim() -> bool:
        calls.append(1)
        return False

    task = asyncio.create_task(release_freed_memory(ready, stop, trim=trim))
    stop.set()
    assert await asyncio.wait_for(task, 1) == 0
    assert calls == []
