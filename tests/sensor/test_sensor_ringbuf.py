"""vigil.sensor.ringbuf on a real BPF ring buffer, fed by a real BPF program.

tests/data/bpf/ringbuf_probe.bpf.c sends the first N bytes of a map the test writes whenever this
process calls getpgid(MAGIC << 16 | N): records of exact sizes, so that wrap-around at every
place and a full ring happen on purpose. Both readers (the mapping and libbpf's) must agree.
"""

from __future__ import annotations

import os
import random
import select
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fixtures import DATA
from tests.fixtures.marks import E2E
from vigil.sensor import libbpf as bpf
from vigil.sensor.bpf_object import BpfObject
from vigil.sensor.build import build_object
from vigil.sensor.mounts import ensure_kernel_filesystems, unmount
from vigil.sensor.ringbuf import (
    PAGE_SIZE,
    LibbpfRingBuffer,
    MmapRingBuffer,
    RingReader,
    open_ring_reader,
)

pytestmark = E2E

SOURCE_DIR = DATA / "bpf"
MAGIC = 0x7E5
RING_SIZE = 4096  # probe_ring's max_entries: one page
PAYLOAD_MAX = 4096


@dataclass
class Probe:
    """The loaded probe: write a payload, make the program send a prefix of it."""

    ring_fd: int
    payload_fd: int
    counts_fd: int

    def send(self, record: bytes) -> None:
        assert 0 < len(record) < PAYLOAD_MAX
        bpf.map_update(
            self.payload_fd, struct.pack("=I", 0), record.ljust(PAYLOAD_MAX, b"\0"), "payload"
        )
        with pytest.raises(ProcessLookupError):
            os.getpgid(MAGIC << 16 | len(record))

    def counts(self) -> tuple[int, int]:
        """(records sent, records the full ring refused)"""
        return self._count(0), self._count(1)

    def _count(self, key: int) -> int:
        value = bpf.map_lookup(self.counts_fd, struct.pack("=I", key), 8)
        assert value is not None
        return int(struct.unpack("=Q", value)[0])


@pytest.fixture(scope="module")
def probe_object(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("probe-cache")
    return build_object(cache, source_dir=SOURCE_DIR, sources=("ringbuf_probe.bpf.c",)).path


@pytest.fixture
def probe(probe_object: Path) -> Iterator[Probe]:
    """A freshly loaded probe (empty ring, zero counts) attached for this test only."""
    mounted = ensure_kernel_filesystems()
    obj = BpfObject(probe_object)
    try:
        obj.load()
        obj.attach()
        assert len(obj.attached()) == 1
        yield Probe(
            ring_fd=obj.map_fd("probe_ring"),
            payload_fd=obj.map_fd("probe_payload"),
            counts_fd=obj.map_fd("probe_counts"),
        )
    finally:
        obj.close()
        unmount(mounted)


@dataclass
class Collected:
    records: list[bytes] = field(default_factory=list)
    #: what the handler returns for the record of that index (default: 0)
    results: dict[int, int] = field(default_factory=dict)
    raise_at: set[int] = field(default_factory=set)

    def __call__(self, record: bytes) -> int:
        index = len(self.records)
        self.records.append(record)
        if index in self.raise_at:
            raise RuntimeError("handler bug")
        return self.results.get(index, 0)


Reader = Callable[[Probe, Collected], RingReader]


def mmap_reader(probe: Probe, handler: Collected) -> RingReader:
    return MmapRingBuffer(probe.ring_fd, RING_SIZE, handler)


def libbpf_reader(probe: Probe, handler: Collected) -> RingReader:
    return LibbpfRingBuffer(probe.ring_fd, handler)


READERS = pytest.mark.parametrize(
    "make_reader", [mmap_reader, libbpf_reader], ids=["mmap", "libbpf"]
)


def record_of(size: int, rng: random.Random) -> bytes:
    return rng.randbytes(size)


def slot(size: int) -> int:
    """Bytes a record of ``size`` takes in the ring: 8-byte header, 8-byte aligned."""
    return (size + 8 + 7) & ~7


@READERS
def test_records_arrive_whole_and_in_order_across_the_wrap(
    probe: Probe, make_reader: Reader
) -> None:
    rng = random.Random(3)  # noqa: S311 - reproducible test data
    # 4080 leaves its successor's header in the last 8 bytes (payload starts at offset 0);
    # 4000 after 100 straddles the end; then sizes of every alignment, random after that
    sizes = [4080, 100, 4000, 1, 7, 8, 9, 2048, 2040, 3000, 500, 1500]
    sizes += [rng.randint(1, 2100) for _ in range(60)]
    handler = Collected()
    reader = make_reader(probe, handler)
    sent: list[bytes] = []
    position, waiting, header_at_end, straddling = 0, 0, 0, 0
    try:
        for size in sizes:
            if waiting + slot(size) >= RING_SIZE:  # would not fit: read what waits first
                assert reader.consume() >= 1
                waiting = 0
            at = position % RING_SIZE
            header_at_end += at + 8 == RING_SIZE
            straddling += at + 8 < RING_SIZE < at + 8 + size
            position += slot(size)
            waiting += slot(size)
            record = record_of(size, rng)
            probe.send(record)
            sent.append(record)
        reader.consume()
    finally:
        reader.close()
    assert header_at_end >= 1 and straddling >= 5  # the sequence does wrap both ways
    assert probe.counts() == (len(sizes), 0)
    assert [len(r) for r in handler.records] == sizes
    assert handler.records == sent


@READERS
def test_a_full_ring_refuses_records_and_the_reader_recovers(
    probe: Probe, make_reader: Reader
) -> None:
    rng = random.Random(7)  # noqa: S311 - reproducible test data
    records = [record_of(1000, rng) for _ in range(6)]
    handler = Collected()
    reader = make_reader(probe, handler)
    try:
        for record in records:
            probe.send(record)
        fitting = RING_SIZE // slot(1000)
        assert probe.counts() == (fitting, len(records) - fitting)
        assert reader.consume() == fitting
        assert handler.records == records[:fitting]
        assert reader.consume() == 0
        late = record_of(3000, rng)  # the whole ring is free again
        probe.send(late)
        assert reader.consume() == 1
        assert handler.records[-1] == late
    finally:
        reader.close()


@READERS
def test_a_negative_result_stops_after_that_record_and_errors_do_not(
    probe: Probe, make_reader: Reader
) -> None:
    handler = Collected(results={1: -11}, raise_at={0})
    reader = make_reader(probe, handler)
    try:
        for index in range(4):
            probe.send(bytes([index]) * 16)
        assert reader.consume() == -11  # record 0 raised and was skipped; record 1 stopped it
        assert [r[0] for r in handler.records] == [0, 1]
        assert reader.consume() == 2  # record 1 was consumed: reading resumes at 2
        assert [r[0] for r in handler.records] == [0, 1, 2, 3]
    finally:
        reader.close()


@READERS
def test_fileno_polls_readable_only_while_records_wait(probe: Probe, make_reader: Reader) -> None:
    handler = Collected()
    reader = make_reader(probe, handler)

    def readable() -> bool:
        return bool(select.select([reader.fileno()], [], [], 0.2)[0])

    try:
        assert not readable()
        probe.send(b"wake up")
        assert readable()
        reader.consume()
        assert not readable()
    finally:
        reader.close()


def bpf_map_mapped_kb() -> int:
    """Size (kB) of this process's mappings of BPF maps."""
    total, current = 0, ""
    for line in Path("/proc/self/smaps").read_text().splitlines():
        first = line.split(maxsplit=1)[0] if line else ""
        if "-" in first and not first.endswith(":"):
            current = line
        elif first == "Size:" and "anon_inode:bpf-map" in current:
            total += int(line.split()[1])
    return total


@pytest.mark.parametrize(
    ("make_reader", "data_copies"), [(mmap_reader, 1), (libbpf_reader, 2)], ids=["mmap", "libbpf"]
)
def test_the_mapping_reader_maps_the_data_once(
    probe: Probe, make_reader: Reader, data_copies: int
) -> None:
    before = bpf_map_mapped_kb()
    reader = make_reader(probe, Collected())
    try:
        mapped = bpf_map_mapped_kb() - before
    finally:
        reader.close()
    assert mapped * 1024 == 2 * PAGE_SIZE + data_copies * RING_SIZE
    assert bpf_map_mapped_kb() == before  # closing unmaps everything


def test_the_mapping_reader_is_chosen_only_where_plain_loads_suffice(probe: Probe) -> None:
    for machine, kind in (("x86_64", MmapRingBuffer), ("aarch64", LibbpfRingBuffer)):
        reader = open_ring_reader(probe.ring_fd, RING_SIZE, Collected(), machine=machine)
        try:
            assert isinstance(reader, kind)
        finally:
            reader.close()


def test_ring_sizes_must_be_powers_of_two_of_pages() -> None:
    with pytest.raises(ValueError, match="power of two"):
        MmapRingBuffer(-1, 3 * PAGE_SIZE, Collected())
