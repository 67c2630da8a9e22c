"""Reading a BPF ring buffer: straight from its memory mapping on x86-64, through libbpf elsewhere.

libbpf's ``ring_buffer`` maps the data area twice, back to back, so that a record wrapping past
the end reads as one piece, and hands each record to a C callback. That doubles the ring's share
of the agent's RSS (an 8 MB ring shows as 16 MB of ``anon_inode:bpf-map`` in /proc/PID/smaps)
and costs a ctypes callback per record. :class:`MmapRingBuffer` maps the data area once,
read-only (the kernel allows that shorter mapping: kernel/bpf/ringbuf.c, ringbuf_map_mmap), and
joins the two pieces of a wrapping record itself.

The mapping, as the kernel lays it out: page 0 holds ``consumer_pos`` (the only page user space
may map writable), page 1 ``producer_pos``, then the data area of ``max_entries`` bytes. Both
positions only grow; a position's offset in the data area is ``pos & (size - 1)``. Every record
starts with an 8-byte header, a u32 length whose bit 31 says the record is still being written
(BUSY) and bit 30 that it was discarded, and a u32 page offset; records are 8-byte aligned, so a
header never wraps.
"""

from __future__ import annotations

import errno
import logging
import mmap
import os
import platform
from collections.abc import Callable
from typing import Protocol

from vigil.sensor import libbpf as bpf

log = logging.getLogger("vigil.sensor.ringbuf")

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
SIZE_MASK = DISCARD_BIT - 1
HEADER_SIZE = 8
#: CPUs whose memory model makes plain loads and stores enough to follow the kernel's
#: smp_store_release/smp_load_acquire protocol: x86-64 (TSO: loads are not reordered with other
#: loads, stores not with earlier loads). Weaker CPUs (arm64, ...) need real barriers, which
#: Python cannot issue: they keep libbpf's reader.
PLAIN_LOADS_SUFFICE = frozenset({"x86_64", "amd64"})

#: Called with each record's bytes; a negative result stops reading (the record is consumed).
RecordHandler = Callable[[bytes], int | None]


class RingReader(Protocol):
    """What the sensor needs of a ring-buffer reader."""

    def fileno(self) -> int:
        """An fd that polls readable while records wait (for ``loop.add_reader``)."""
        ...

    def consume(self) -> int:
        """Hand every waiting record to the handler: how many, or the handler's negative value."""
        ...

    def pending(self) -> bool:
        """Whether a record was left behind (still being written) by the last consume()."""
        ...

    def close(self) -> None: ...


class MmapRingBuffer:
    """A BPF ring buffer read from its mapping: data mapped once, no callback per record.

    Only for CPUs in :data:`PLAIN_LOADS_SUFFICE` (see :func:`open_ring_reader`).
    """

    def __init__(
        self, map_fd: int, size: int, handler: RecordHandler, *, page_size: int = PAGE_SIZE
    ) -> None:
        if size < page_size or size & (size - 1):
            raise ValueError(f"ring buffer size {size} is not a power of two of pages")
        self._fd = map_fd
        self._size = size
        self._mask = size - 1
        self._handler = handler
        self._data_at = page_size  # the data area's offset in the producer mapping
        self._consumer_map = mmap.mmap(
            map_fd, page_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0
        )
        try:
            self._producer_map = mmap.mmap(
                map_fd, page_size + size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page_size
            )
        except BaseException:
            self._consumer_map.close()
            raise
        # Native-size views: one item is one aligned machine load or store (never torn, unlike a
        # byte-by-byte copy of a position the kernel is moving).
        self._consumer_pos = memoryview(self._consumer_map)[:8].cast("Q")
        self._producer_pos = memoryview(self._producer_map)[:8].cast("Q")
        self._words = memoryview(self._producer_map).cast("I")

    def fileno(self) -> int:
        return self._fd  # the ring-buffer map polls readable while data waits

    def consume(self) -> int:
        # Locals: this loop runs once per record, and attribute lookups are most of its cost.
        mask, base, limit = self._mask, self._data_at, self._size - HEADER_SIZE
        area_end = base + self._size
        words, area, handler = self._words, self._producer_map, self._handler
        consumer_pos, producer_pos = self._consumer_pos, self._producer_pos
        count = 0
        consumer = consumer_pos[0]
        while True:
            producer = producer_pos[0]
            if consumer >= producer:
                return count
            while consumer < producer:
                at = base + (consumer & mask)
                length = words[at >> 2]
                if length & BUSY_BIT:
                    return count  # still being written: later records wait for it
                size = length & SIZE_MASK
                if size > limit:
                    log.error("ring buffer record of %d bytes in a ring of %d", size, self._size)
                    return -errno.EBADMSG
                consumer += (size + HEADER_SIZE + 7) & ~7
                if length & DISCARD_BIT:
                    consumer_pos[0] = consumer
                    continue
                start = at + HEADER_SIZE
                end = start + size
                # mmap slices are bytes: one copy. A header in the last 8 bytes of the area
                # puts its record at the area's start: that is the wrapped case too.
                record = area[start:end] if end <= area_end else self._wrapped(start - base, size)
                # Copied out, so the kernel may reuse the space before the handler runs.
                consumer_pos[0] = consumer
                count += 1
                try:
                    result = handler(record)
                except Exception:  # the handler counts its own failures; reading goes on
                    log.exception("ring buffer handler failed")
                    continue
                if result is not None and result < 0:
                    return result

    def pending(self) -> bool:
        return bool(self._producer_pos[0] > self._consumer_pos[0])

    def _wrapped(self, start: int, size: int) -> bytes:
        """A record from data offset ``start`` that runs past the end of the area: its two
        pieces, the end of the area and its start, joined."""
        area, base = self._producer_map, self._data_at
        rest = start + size - self._size
        return area[base + start : base + self._size] + area[base : base + rest]

    def close(self) -> None:
        for view in (self._consumer_pos, self._producer_pos, self._words):
            view.release()  # exported views would keep the mappings from closing
        self._producer_map.close()
        self._consumer_map.close()


class LibbpfRingBuffer:
    """libbpf's ``ring_buffer``: a C callback per record, data mapped twice. Any CPU."""

    def __init__(self, map_fd: int, handler: RecordHandler) -> None:
        self._callback = bpf.make_sample_callback(handler)  # must outlive the ring buffer
        self._ring: int | None = bpf.ring_buffer_new(map_fd, self._callback)

    def fileno(self) -> int:
        assert self._ring is not None
        return bpf.ring_buffer_epoll_fd(self._ring)

    def consume(self) -> int:
        if self._ring is None:
            return 0
        return bpf.ring_buffer_consume(self._ring)

    def pending(self) -> bool:
        return False  # libbpf 1.1 does not tell; its records are written in one helper call

    def close(self) -> None:
        if self._ring is not None:
            bpf.ring_buffer_free(self._ring)
            self._ring = None


def open_ring_reader(
    map_fd: int, size: int, handler: RecordHandler, machine: str | None = None
) -> RingReader:
    """The cheapest correct reader for this CPU (see :data:`PLAIN_LOADS_SUFFICE`)."""
    if (machine or platform.machine()) in PLAIN_LOADS_SUFFICE:
        return MmapRingBuffer(map_fd, size, handler)
    return LibbpfRingBuffer(map_fd, handler)
