"""Records from the ring buffer into the sensor's queue: when to read, and what to do when full.

The reader drains the ring buffer whenever it polls readable (a program woke it) and, while
records keep coming, on its own timer (vigil.sensor.wakeups). Records wait in the queue as the
kernel's raw bytes: reading the ring stays cheap, which is what keeps a burst from overflowing
it. Backpressure: when the queue is full, reading stops and the records wait in the kernel's
ring buffer (sized for bursts) until the consumer has caught up, rather than being dropped in
user space. Only a full ring buffer loses events.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from vigil.models import Event
from vigil.sensor.ringbuf import RingReader
from vigil.sensor.wakeups import MemoryCell, ReaderSchedule

log = logging.getLogger("vigil.sensor.ebpf")

#: raw records handed out between two turns of the event loop: a consumer that never waits must
#: not starve the ring-buffer reader
RECORDS_PER_TURN = 256
#: how late a drain timer may run before the programs wake the reader (vigil.sensor.wakeups)
DRAIN_SLACK_S = 0.016


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class ReaderLoop(Protocol):
    """What the reader needs of the event loop (asyncio's; a virtual-time one in tests)."""

    def add_reader(self, fd: int, callback: Callable[[], object]) -> object: ...

    def remove_reader(self, fd: int) -> bool: ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> Cancellable: ...

    def call_soon(self, callback: Callable[[], object]) -> object: ...


class RecordQueue:
    """Raw records (bytes), loss reports (Event) and the end-of-stream marker (None), in one
    asyncio queue; one slot above ``queue_size`` stays free for the marker.

    ``received`` counts every record read from the ring; a record there is no room for goes to
    ``on_lost`` (which counts it), one held back at close to ``dropped_at_close``.
    """

    def __init__(
        self,
        queue_size: int,
        drain_interval: float,
        *,
        on_lost: Callable[[bytes], None],
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.queue_size = queue_size
        self.schedule = ReaderSchedule(
            MemoryCell(), interval=drain_interval, slack=DRAIN_SLACK_S, clock_ns=clock_ns
        )
        self._on_lost = on_lost
        #: drains that began because the ring buffer polled readable (a program woke the
        #: reader), as opposed to the reader's own timer
        self.wakeups = 0
        self.received = 0
        self.dropped_at_close = 0
        self.ring: RingReader | None = None
        self.queue: asyncio.Queue[bytes | Event | None] | None = None
        self.drain_timer: Cancellable | None = None
        self._loop: ReaderLoop | None = None
        self._reader_fd: int | None = None
        self._held: bytes | None = None
        self._paused = False
        self._final = False
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        """Make the queue (records read before this are lost, and counted)."""
        self.queue = asyncio.Queue(maxsize=self.queue_size + 1)

    def start(self, loop: ReaderLoop) -> None:
        """Read :attr:`ring` (set first) whenever it polls readable on ``loop``."""
        assert self.ring is not None
        self._loop = loop
        if self.queue is None:
            self.open()
        self._reader_fd = self.ring.fileno()
        loop.add_reader(self._reader_fd, self.on_readable)

    def stop(self) -> None:
        """Stop reading; deliver what the programs wrote before (call after detaching them)."""
        if self.drain_timer is not None:
            self.drain_timer.cancel()
            self.drain_timer = None
        if self._reader_fd is not None and self._loop is not None:
            self._loop.remove_reader(self._reader_fd)
            self._reader_fd = None
        if self.ring is not None:
            self._paused = False
            self.drain(final=True)
            self.ring.close()
            self.ring = None
        self.schedule.cell.close()
        self.schedule.cell = MemoryCell()

    def end(self) -> None:
        """End :meth:`events` (once; the spare slot guarantees room for the marker)."""
        if self.queue is not None and not self._closed:
            self.queue.put_nowait(None)
        self._closed = True

    # -- the consumer's side -----------------------------------------------------------------
    async def events(
        self, decode: Callable[[bytes], Event | None], late_reports: list[Event]
    ) -> AsyncIterator[Event]:
        """Records (as ``decode`` makes them events; None: skipped) and loss reports until
        :meth:`end`; after each, the ``late_reports`` that found the queue full."""
        queue = self.queue
        assert queue is not None
        taken = 0
        while True:
            item = await queue.get()
            if item is None:
                queue.put_nowait(None)  # let any other reader end too
                return
            self._maybe_resume()
            if isinstance(item, bytes):
                taken += 1
                if taken % RECORDS_PER_TURN == 0:
                    await asyncio.sleep(0)  # a turn of the loop: the reader may run
                event = decode(item)
                if event is None:
                    continue
                item = event
            yield item
            while late_reports:
                yield late_reports.pop(0)

    def offer(self, event: Event) -> bool:
        """Queue a loss report if there is room for it now."""
        if self.queue is not None and self.queue.qsize() < self.queue_size:
            self.queue.put_nowait(event)
            return True
        return False

    # -- the reader's side -------------------------------------------------------------------
    def on_readable(self) -> None:
        self.wakeups += 1
        self.drain()

    def _drain_on_timer(self) -> None:
        self.drain_timer = None
        if not self._paused:
            self.drain()

    def drain(self, final: bool = False) -> None:
        """Read the records waiting in the ring buffer (each one goes through on_record; the
        reader is vigil.sensor.ringbuf's: the mapping itself on x86-64, libbpf elsewhere)."""
        if self.ring is None:
            return
        self._final = final
        if self._held is not None and not self._queue_full():
            assert self.queue is not None
            self.queue.put_nowait(self._held)
            self._held = None
        if self._held is not None:
            if not final:
                return
            self.dropped_at_close += 1  # closing with a full queue: counted, as every loss is
            self._held = None
        rc = self.ring.consume()
        if not final and self._loop is not None:
            # a record still being written counts as found: its wake-up may have been skipped
            delay = self.schedule.after_drain(rc != 0 or self.ring.pending())
            if self.drain_timer is not None:
                self.drain_timer.cancel()  # this drain settled what it was armed for
            self.drain_timer = (
                None if delay is None else self._loop.call_later(delay, self._drain_on_timer)
            )
        if rc == -errno.EAGAIN and not final:
            self._pause()
        elif rc < 0:
            log.warning("reading the ring buffer failed: %s", os.strerror(-rc))

    def on_record(self, data: bytes) -> int:
        # Runs inside the ring-buffer reader on the loop's thread: never block, never raise, and
        # stay cheap (decoding waits until the record is taken out of the queue).
        self.received += 1
        queue = self.queue
        if queue is not None and self._queue_full() and not self._final and self._held is None:
            self._held = data  # consumed from the ring: kept until the queue has room
            return -errno.EAGAIN
        if queue is None or self._queue_full():
            self._on_lost(data)
            return 0
        queue.put_nowait(data)
        return 0

    def _queue_full(self) -> bool:
        return self.queue is None or self.queue.qsize() >= self.queue_size

    def _pause(self) -> None:
        if not self._paused and self._reader_fd is not None and self._loop is not None:
            self._loop.remove_reader(self._reader_fd)
            self._paused = True

    def _maybe_resume(self) -> None:
        if not self._paused or self.queue is None:
            return
        if self.queue.qsize() > self.queue_size // 2:
            return
        self._paused = False
        if self._reader_fd is not None and self._loop is not None:
            self._loop.add_reader(self._reader_fd, self.on_readable)
            self._loop.call_soon(self.drain)
