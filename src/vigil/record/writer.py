"""The store's one writer: every write leaves the event loop and runs, in order, in one thread.

The pipeline hands writes over without waiting (alerts, incident grouping, profile saves,
held actions), so a slow database never stalls the sensor's ring buffer. Writes queued together
run as one batch, and the writes of one kind among them (alerts) as one call. Nothing queued
is lost at :meth:`StoreWriter.stop`: the queue is drained first. A failed write is logged, never
raised into the pipeline; a full queue drops the write and counts it (nothing is dropped
silently). Readers that must see what was written before (the API) :meth:`~StoreWriter.flush`
first, or run through :meth:`~StoreWriter.call` in the same order as the writes.

Before :meth:`~StoreWriter.start` and after :meth:`~StoreWriter.stop` writes run at once, in the
caller's thread: tests and one-shot commands need no running writer.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vigil.errors import truncate

log = logging.getLogger(__name__)

T = TypeVar("T")

#: writes waiting at most; past it a write is dropped and counted
DEFAULT_CAPACITY = 10_000
#: writes taken from the queue at once
DEFAULT_BATCH = 500


@dataclass(slots=True)
class _Write:
    #: what the write is, for the log when it fails ("alert 1f2e…", "profiles")
    what: str
    run: Callable[[], Any] | None = None
    #: with ``item``: consecutive writes with the same ``many`` are done as one call
    many: Callable[[list[Any]], None] | None = None
    item: Any = None
    #: set with the result (or error) for callers that wait (:meth:`StoreWriter.call`)
    done: Future[Any] | None = field(default=None)


class StoreWriter:
    """A bounded queue of store writes, drained in batches by one worker thread."""

    def __init__(
        self, *, capacity: int = DEFAULT_CAPACITY, batch: int = DEFAULT_BATCH, name: str = "store"
    ) -> None:
        self._queue: queue.Queue[_Write | None] = queue.Queue(maxsize=capacity)
        self._batch = batch
        self._name = name
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.failed = 0

    @property
    def running(self) -> bool:
        return self._thread is not None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._work, name=f"vigil-{self._name}-writer", daemon=True
            )
            self._thread.start()

    async def stop(self) -> None:
        """Write everything queued, then end the thread; later writes run at once."""
        thread = self._thread
        if thread is None:
            return
        await asyncio.to_thread(self._queue.put, None)
        await asyncio.to_thread(thread.join)
        self._thread = None
        # Writes handed over while the thread was ending: not lost either.
        self._apply(self._drain(self._queue.qsize()))

    # -- handing writes over ---------------------------------------------------------------
    def submit(self, what: str, write: Callable[[], Any]) -> None:
        """Queue one write; never blocks, never raises."""
        self._put(_Write(what, run=write))

    def submit_many(self, what: str, write_many: Callable[[list[T]], None], item: T) -> None:
        """Queue ``item`` for ``write_many``, which takes it with its queued neighbours at once."""
        self._put(_Write(what, many=write_many, item=item))

    async def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` after every write queued before it; its result, or its error, raised."""
        if self._thread is None:
            return await asyncio.to_thread(fn)
        done: Future[T] = Future()
        write = _Write(what, run=fn, done=done)
        try:
            self._queue.put_nowait(write)
        except queue.Full:  # a caller that waits may wait for room too
            await asyncio.to_thread(self._queue.put, write)
        return await asyncio.wrap_future(done)

    async def flush(self) -> None:
        """Wait until every write queued so far is done (read-your-writes for readers)."""
        await self.call("flush", lambda: None)

    def _put(self, write: _Write) -> None:
        if self._thread is None:
            self._apply([write])
            return
        try:
            self._queue.put_nowait(write)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error(
                    "the %s is behind: %d writes dropped so far (last: %s)",
                    self._name,
                    self.dropped,
                    truncate(write.what, 80),
                )

    # -- the worker thread -----------------------------------------------------------------
    def _work(self) -> None:
        while True:
            first = self._queue.get()
            writes = [first, *self._drain(self._batch - 1)]
            stop = None in writes
            self._apply([w for w in writes if w is not None])
            if stop:
                return

    def _drain(self, most: int) -> list[_Write | None]:
        taken: list[_Write | None] = []
        while len(taken) < most:
            try:
                taken.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return taken

    def _apply(self, writes: list[_Write | None]) -> None:
        """In order, except that writes of one kind are done as one call, where the first of
        them stood: a write may run earlier than queued, never later."""
        groups: dict[Callable[[list[Any]], None], list[_Write]] = {}
        steps: list[_Write | list[_Write]] = []
        for write in writes:
            if write is None:
                continue
            if write.many is None:
                steps.append(write)
            elif write.many in groups:
                groups[write.many].append(write)
            else:
                steps.append(groups.setdefault(write.many, [write]))
        for step in steps:
            if isinstance(step, list):
                assert step[0].many is not None
                self._run_many(step[0].many, step)
            else:
                self._run(step)

    def _run(self, write: _Write) -> None:
        assert write.run is not None
        try:
            result = write.run()
        except Exception as exc:
            if write.done is not None:
                write.done.set_exception(exc)
            else:
                self._failed(write, exc)
            return
        if write.done is not None:
            write.done.set_result(result)

    def _run_many(self, many: Callable[[list[Any]], None], group: list[_Write]) -> None:
        try:
            many([w.item for w in group])
        except Exception:
            # One bad write must not take its batch with it: each on its own, to know which.
            for write in group:
                try:
                    many([write.item])
                except Exception as exc:
                    self._failed(write, exc)

    def _failed(self, write: _Write, exc: Exception) -> None:
        self.failed += 1
        log.error("could not store %s: %s", truncate(write.what, 80), truncate(exc, 160))
