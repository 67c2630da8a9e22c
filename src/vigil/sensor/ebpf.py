"""The eBPF sensor: vigil.bpf.c compiled for this kernel, loaded through libbpf, read via asyncio.

Life cycle (``async with EbpfSensor(...)``): mount tracefs/bpffs if missing → compile (cached) →
open → size the ring buffer → load → attach every program → read the ring buffer whenever its
epoll fd is readable. Leaving the block detaches every program, frees everything and unmounts
what was mounted, so Ctrl-C leaves nothing behind in the kernel.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Self

from vigil.errors import ConfigError, PrivilegeError, SensorError
from vigil.models import Event
from vigil.sensor import SensorStats
from vigil.sensor import libbpf as bpf
from vigil.sensor.build import DEFAULT_BTF, build_object
from vigil.sensor.decode import (
    EVENT_TYPES,
    ExecRecord,
    MalformedRecord,
    WallClock,
    connect_event,
    exec_event,
    parse_record,
)
from vigil.sensor.mounts import KernelFilesystem, ensure_kernel_filesystems, unmount
from vigil.sensor.process_table import ProcessTable, Program, with_program

log = logging.getLogger("vigil.sensor.ebpf")

SENSOR_NAME = "ebpf"
RINGBUF_MAP = "events"
LOST_MAP = "lost_events"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class EbpfSensor:
    """Process executions and outbound TCP/UDP connections of every process on this host.

    ``received`` counts every record read from the ring buffer, so
    ``received == delivered + lost_user + malformed``.
    """

    name = SENSOR_NAME

    def __init__(
        self,
        *,
        cache_dir: Path,
        btf_path: Path = DEFAULT_BTF,
        ringbuf_bytes: int = 8 << 20,
        queue_size: int = 65536,
    ) -> None:
        if ringbuf_bytes < PAGE_SIZE or ringbuf_bytes & (ringbuf_bytes - 1):
            raise ConfigError(
                f"ring buffer size {ringbuf_bytes} must be a power of two of at least {PAGE_SIZE}"
            )
        if queue_size < 1:
            raise ConfigError(f"event queue size {queue_size} must be at least 1")
        self.cache_dir = cache_dir
        self.btf_path = btf_path
        self.ringbuf_bytes = ringbuf_bytes
        self.queue_size = queue_size

        self._mounted: list[KernelFilesystem] = []
        self._object: int | None = None
        self._links: dict[str, int] = {}
        self._program_fds: dict[str, int] = {}
        self._ringbuf: int | None = None
        self._sample_callback: object = None  # the C callback must outlive the ring buffer
        self._lost_fd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader_fd: int | None = None
        # One slot above queue_size stays free for the end-of-stream marker.
        self._queue: asyncio.Queue[Event | None] | None = None
        self._clock = WallClock.now()
        self._processes = ProcessTable()
        self._received = 0
        self._lost_user = 0
        self._malformed = 0
        self._lost_kernel_at_close = 0
        self._closed = False

    # -- Sensor protocol ----------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        if self._object is not None or self._queue is not None:
            raise SensorError("the eBPF sensor is already started")
        if os.geteuid() != 0:
            raise PrivilegeError("the eBPF sensor needs root", hint=bpf.PRIVILEGE_HINT)
        self._loop = asyncio.get_running_loop()
        try:
            self._mounted = ensure_kernel_filesystems()
            built = await asyncio.to_thread(
                build_object, self.cache_dir, btf_path=self.btf_path
            )  # compiling takes a second or two: keep the loop responsive
            self._load_and_attach(built.path)
            self._start_reading()
        except BaseException:
            self._teardown()
            raise
        log.info("eBPF sensor attached: %s", ", ".join(self._links))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._teardown()

    async def events(self) -> AsyncIterator[Event]:
        queue = self._queue
        if queue is None:
            raise SensorError("the eBPF sensor is not started: use 'async with EbpfSensor(...)'")
        while True:
            event = await queue.get()
            if event is None:
                queue.put_nowait(None)  # let any other reader end too
                return
            yield event

    def stats(self) -> SensorStats:
        return SensorStats(
            received=self._received,
            lost_kernel=self._read_lost_kernel(),
            lost_user=self._lost_user,
            malformed=self._malformed,
        )

    # -- diagnostics --------------------------------------------------------------------------
    def attached_programs(self) -> list[str]:
        """Names of the BPF programs currently attached."""
        return list(self._links)

    def program_ids(self) -> dict[str, int]:
        """Kernel ids of the loaded programs (as ``bpftool prog show id N`` knows them)."""
        ids: dict[str, int] = {}
        for name, fd in self._program_fds.items():
            for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines():
                if line.startswith("prog_id:"):
                    ids[name] = int(line.split()[1])
        return ids

    # -- internals ----------------------------------------------------------------------------
    def _load_and_attach(self, object_path: Path) -> None:
        lib = bpf.lib()
        custom_btf = None if self.btf_path == DEFAULT_BTF else self.btf_path
        self._object = obj = bpf.open_object(object_path, custom_btf)
        ringbuf_map = bpf.find_map(obj, RINGBUF_MAP)
        bpf.check_rc(
            lib.bpf_map__set_max_entries(ringbuf_map, self.ringbuf_bytes),
            f"set ring buffer size to {self.ringbuf_bytes}",
        )
        bpf.load_object(obj)
        self._lost_fd = bpf.check_rc(lib.bpf_map__fd(bpf.find_map(obj, LOST_MAP)), "map fd")
        for name, prog in bpf.programs(obj):
            self._program_fds[name] = lib.bpf_program__fd(prog)
            self._links[name] = bpf.attach_program(prog, name)
        if not self._links:
            raise SensorError(f"{object_path} holds no BPF program")
        self._sample_callback = bpf.make_sample_callback(self._on_record)
        self._ringbuf = bpf.check_ptr(
            lib.ring_buffer__new(
                bpf.check_rc(lib.bpf_map__fd(ringbuf_map), "ring buffer map fd"),
                self._sample_callback,
                None,
                None,
            ),
            "create ring buffer reader",
        )

    def _start_reading(self) -> None:
        assert self._loop is not None and self._ringbuf is not None
        self._queue = asyncio.Queue(maxsize=self.queue_size + 1)
        self._clock = WallClock.now()
        self._reader_fd = bpf.check_rc(
            bpf.lib().ring_buffer__epoll_fd(self._ringbuf), "ring buffer epoll fd"
        )
        self._loop.add_reader(self._reader_fd, self._drain)

    def _drain(self) -> None:
        """Read every record waiting in the ring buffer (each one goes through _on_record)."""
        if self._ringbuf is None:
            return
        rc = bpf.lib().ring_buffer__consume(self._ringbuf)
        if rc < 0:
            log.warning("reading the ring buffer failed: %s", os.strerror(-rc))

    def _on_record(self, data: bytes) -> None:
        # Runs inside ring_buffer__consume on the loop's thread: never block, never raise.
        self._received += 1
        try:
            event = self._decode(data)
        except MalformedRecord as exc:
            self._malformed += 1
            log.debug("skipping malformed record: %s", exc)
            return
        queue = self._queue
        if queue is None or queue.qsize() >= self.queue_size:
            self._lost_user += 1
            return
        queue.put_nowait(event)

    def _decode(self, data: bytes) -> Event:
        record = parse_record(data)
        pid, start_ns = record.header.pid, record.header.start_ns
        if isinstance(record, ExecRecord):
            event = exec_event(record, self._clock)
            self._processes.remember(pid, start_ns, Program.of(event))
            return event
        event = connect_event(record, self._clock)
        program = self._processes.lookup(pid, start_ns)
        return with_program(event, program) if program else event

    def _read_lost_kernel(self) -> int:
        if self._lost_fd is None:
            return self._lost_kernel_at_close
        return sum(bpf.percpu_u64_sum(self._lost_fd, kind) for kind in range(EVENT_TYPES))

    def _teardown(self) -> None:
        """Undo whatever __aenter__ did, in reverse; safe to call more than once."""
        if self._reader_fd is not None and self._loop is not None:
            self._loop.remove_reader(self._reader_fd)
            self._reader_fd = None
        for name, link in list(self._links.items()):
            if bpf.lib().bpf_link__destroy(link) < 0:
                log.warning("detaching BPF program %s failed", name)
        self._links.clear()
        self._program_fds.clear()
        if self._ringbuf is not None:
            self._drain()  # deliver what the programs wrote before they were detached
            bpf.lib().ring_buffer__free(self._ringbuf)
            self._ringbuf = None
        if self._lost_fd is not None:
            try:
                self._lost_kernel_at_close = self._read_lost_kernel()
            except SensorError as exc:
                log.warning("could not read the lost-event counters: %s", exc)
            self._lost_fd = None
        if self._object is not None:
            bpf.lib().bpf_object__close(self._object)
            self._object = None
        self._sample_callback = None
        unmount(self._mounted)
        self._mounted = []
        if self._queue is not None and not self._closed:
            self._queue.put_nowait(None)  # ends events(); the spare slot guarantees room
        self._closed = True
