"""Giving memory the agent freed back to the kernel, so that its RSS is what it really uses.

glibc keeps freed heap memory for reuse and returns it only from the top of the heap. Start-up
frees a lot in the middle of it: libbpf loads the kernel's BTF (several MB) to relocate the BPF
programs and frees it once they are loaded, rules and configuration are parsed, modules are
compiled. ``malloc_trim(0)`` hands every whole free page back (``madvise``), which a
long-running agent that shares its node with the workloads it watches should do: once when the
pipeline is up, then now and then. Elsewhere (musl, macOS) there is nothing to call and nothing
happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

#: seconds between two trims once the agent runs
TRIM_INTERVAL = 30.0

Trim = Callable[[], bool]


def glibc_trim() -> Trim | None:
    """``malloc_trim(0)`` of the C library, or None where there is none (not glibc)."""
    try:
        # The process's own symbols (the C library among them): no library search, no ldconfig.
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int
    return lambda: bool(malloc_trim(0))


async def release_freed_memory(
    ready: asyncio.Event,
    stop: asyncio.Event,
    *,
    trim: Trim | None = None,
    interval: float = TRIM_INTERVAL,
) -> int:
    """Trim once ``ready`` is set (the sensor attached), then every ``interval`` until ``stop``.

    Returns how many trims ran (what the tests look at)."""
    trim = trim or glibc_trim()
    if trim is None:
        log.debug("no malloc_trim in this C library: freed memory stays with the allocator")
        return 0
    ready_or_stop = [asyncio.create_task(ready.wait()), asyncio.create_task(stop.wait())]
    try:
        await asyncio.wait(ready_or_stop, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in ready_or_stop:
            task.cancel()
    trims = 0
    while not stop.is_set():
        trim()
        trims += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
    return trims
