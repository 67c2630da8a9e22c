"""The eBPF sensor: vigil.bpf.c compiled for this kernel, loaded through libbpf, read via asyncio.

Life cycle (``async with EbpfSensor(...)``): mount tracefs/bpffs if missing → compile (cached) →
open → size the ring buffer → load → attach every program → read the ring buffer whenever it
polls readable (vigil.sensor.ringbuf). Leaving the block detaches every program, frees
everything and unmounts what was mounted, so Ctrl-C leaves nothing behind in the kernel.

The sensor composes small parts: the object's lifecycle (vigil.sensor.bpf_object), the queue
of raw records and when the ring is read (vigil.sensor.record_queue), decoding and enrichment
(vigil.sensor.enrich), the kernel filter's maps (vigil.sensor.filter_maps) and the account of
losses (vigil.sensor.loss_accounts).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import struct
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Self

from vigil.errors import ConfigError, PrivilegeError, SensorError
from vigil.models import Event
from vigil.sensor import SensorStats
from vigil.sensor import libbpf as bpf
from vigil.sensor.bpf_object import BpfObject
from vigil.sensor.build import DEFAULT_BTF, build_object
from vigil.sensor.enrich import RecordDecoder
from vigil.sensor.filter_maps import FilterMaps
from vigil.sensor.loss_accounts import LossAccounts
from vigil.sensor.mounts import KernelFilesystem, ensure_kernel_filesystems, unmount
from vigil.sensor.record_queue import RecordQueue
from vigil.sensor.records import MalformedRecord
from vigil.sensor.ringbuf import open_ring_reader
from vigil.sensor.wakeups import MappedCell
from vigil.sensor.watch import DEFAULT_WATCH, WatchedPaths

log = logging.getLogger("vigil.sensor.ebpf")

SENSOR_NAME = "ebpf"
RINGBUF_MAP = "events"
QUIET_MAP = "reader_quiet_until"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
#: without these the sensor is not worth running; every other program is optional (a kernel
#: without e.g. fchmodat2 or sys_enter_open still runs the rest, with a warning)
REQUIRED_PROGRAMS = frozenset({"vigil_exec", "vigil_conn_req", "vigil_conn_ret"})
CONFIG = struct.Struct("=IIQ")  # self_tgid, prefixes used, hash seed
PREFIX = struct.Struct("=II64s")  # kind, len, path
INDEX = struct.Struct("=I")


class EbpfSensor:
    """Process, network, file, privilege and kernel activity of every process on this host.

    ``received`` counts every record read from the ring buffer, so
    ``received == delivered + lost_user + malformed`` once the queue is drained. Records wait
    in the queue as the kernel's raw bytes and are decoded when taken out: reading the ring
    stays cheap (it is what keeps a burst from overflowing it), and a waiting record costs its
    bytes rather than a decoded event's objects. Events a locked profile allows are
    dropped in the kernel (:meth:`allow`) and counted as ``filtered``; losses are counted per
    event type and per cgroup and reported as ``sensor_loss`` events (see vigil.sensor.loss).
    """

    name = SENSOR_NAME

    def __init__(
        self,
        *,
        cache_dir: Path,
        btf_path: Path = DEFAULT_BTF,
        ringbuf_bytes: int = 2 << 20,
        queue_size: int = 131072,
        watch: WatchedPaths = DEFAULT_WATCH,
        proc_root: Path = Path("/proc"),
        loss_poll_interval: float = 1.0,
        drain_interval: float = 0.004,
    ) -> None:
        if drain_interval <= 0:
            raise ConfigError(f"drain interval {drain_interval}s must be positive")
        if ringbuf_bytes < PAGE_SIZE or ringbuf_bytes & (ringbuf_bytes - 1):
            raise ConfigError(
                f"ring buffer size {ringbuf_bytes} must be a power of two of at least {PAGE_SIZE}"
            )
        if queue_size < 1:
            raise ConfigError(f"event queue size {queue_size} must be at least 1")
        self.cache_dir = cache_dir
        self.btf_path = btf_path
        self.ringbuf_bytes = ringbuf_bytes
        self.watch = watch
        self.proc_root = proc_root
        self.loss_poll_interval = loss_poll_interval
        #: while records keep coming the reader drains this often on its own, and the programs
        #: do not wake it (vigil.sensor.wakeups): the longest a record waits during a burst
        self.drain_interval = drain_interval

        self.losses = LossAccounts()
        self.records = RecordQueue(queue_size, drain_interval, on_lost=self.losses.lose)
        self.filter = FilterMaps()
        self.decoder = RecordDecoder(proc_root, on_exec=self.filter.note_exec)
        self.object: BpfObject | None = None
        self._mounted: list[KernelFilesystem] = []
        self._loss_task: asyncio.Task[None] | None = None

    @property
    def queue_size(self) -> int:
        return self.records.queue_size

    @property
    def wakeups(self) -> int:
        """Drains that began because a program woke the reader (see RecordQueue)."""
        return self.records.wakeups

    # -- Sensor protocol ----------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        if self.object is not None or self.records.queue is not None:
            raise SensorError("the eBPF sensor is already started")
        if os.geteuid() != 0:
            raise PrivilegeError("the eBPF sensor needs root", hint=bpf.PRIVILEGE_HINT)
        loop = asyncio.get_running_loop()
        try:
            self._mounted = ensure_kernel_filesystems()
            built = await asyncio.to_thread(
                build_object, self.cache_dir, btf_path=self.btf_path
            )  # compiling takes a second or two: keep the loop responsive
            self._load_and_attach(built.path)
            seeded = self.decoder.processes.seed()
            log.debug("process tree seeded with %d processes from %s", seeded, self.proc_root)
            self.records.open()
            self.decoder.set_clocks()
            self._loss_task = loop.create_task(self._watch_losses())
            self.records.start(loop)
        except BaseException:
            self._teardown()
            raise
        assert self.object is not None
        log.info("eBPF sensor attached: %d programs", len(self.object.attached()))
        if self.object.skipped:
            log.warning(
                "eBPF programs not attached (not in this kernel): %s",
                ", ".join(self.object.skipped),
            )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._teardown()

    def events(self) -> AsyncIterator[Event]:
        if self.records.queue is None:
            raise SensorError("the eBPF sensor is not started: use 'async with EbpfSensor(...)'")
        # the queue's own generator: no second one per event on this hot path
        return self.records.events(self._decoded, self.losses.pending)

    def stats(self) -> SensorStats:
        self._poll_losses()
        return SensorStats(
            received=self.records.received,
            lost_kernel=self.losses.lost_kernel(),
            lost_user=self.losses.lost_user + self.records.dropped_at_close,
            malformed=self.losses.malformed,
            filtered=self.losses.filtered(),
            lost_by_type=dict(self.losses.tracker.total_by_type),
            lost_by_cgroup=dict(self.losses.tracker.total_by_cgroup),
        )

    # -- kernel filter (vigil.sensor.kernel_filter.KernelFilter, ExecVerdicts) ---------------
    def allow(self, cgroup_ids: Iterable[int], destinations: Iterable[str]) -> None:
        self.filter.allow(cgroup_ids, destinations)

    def remember_exec(self, event: Event) -> None:
        self.filter.remember_exec(event)

    def forget(self, cgroup_id: int) -> None:
        self.filter.forget(cgroup_id)

    # -- diagnostics --------------------------------------------------------------------------
    def attached_programs(self) -> list[str]:
        """Names of the BPF programs currently attached."""
        return [] if self.object is None else self.object.attached()

    def program_ids(self) -> dict[str, int]:
        """Kernel ids of the loaded programs (as ``bpftool prog show id N`` knows them)."""
        ids: dict[str, int] = {}
        fds = {} if self.object is None else self.object.program_fds()
        for name, fd in fds.items():
            for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines():
                if line.startswith("prog_id:"):
                    ids[name] = int(line.split()[1])
        return ids

    # -- internals ----------------------------------------------------------------------------
    def _configure(self, obj: BpfObject) -> None:
        """Tell the programs who we are (never reported) and which paths are watched."""
        entries = self.watch.entries()
        for index, (kind, path) in enumerate(entries):
            encoded = os.fsencode(path)
            bpf.map_update(
                obj.map_fd("prefixes"),
                INDEX.pack(index),
                PREFIX.pack(kind, len(encoded), encoded),
                "write watched path",
            )
        bpf.map_update(
            obj.map_fd("vigil_config_map"),
            INDEX.pack(0),
            CONFIG.pack(os.getpid(), len(entries), int.from_bytes(os.urandom(8), "little")),
            "write sensor config",
        )

    def _load_and_attach(self, object_path: Path) -> None:
        custom_btf = None if self.btf_path == DEFAULT_BTF else self.btf_path
        self.object = obj = BpfObject(object_path, btf_custom_path=custom_btf)
        obj.set_max_entries(
            RINGBUF_MAP, self.ringbuf_bytes, f"set ring buffer size to {self.ringbuf_bytes}"
        )
        obj.load()
        self.losses.maps = self.filter.maps = obj
        self._configure(obj)
        obj.attach(required=REQUIRED_PROGRAMS.__contains__)
        try:
            self.records.schedule.cell = MappedCell(obj.map_fd(QUIET_MAP))
        except OSError as exc:
            raise bpf.failure(f"map {QUIET_MAP}", exc.errno or errno.EINVAL) from exc
        ring_fd = obj.map_fd(RINGBUF_MAP)
        try:
            ring = open_ring_reader(ring_fd, self.ringbuf_bytes, self.records.on_record)
        except OSError as exc:
            raise bpf.failure("map the ring buffer", exc.errno or errno.EINVAL) from exc
        self.records.ring = ring

    def _decoded(self, data: bytes) -> Event | None:
        """The record's event, or None (counted as malformed) when it cannot be decoded."""
        try:
            return self.decoder.decode(data)
        except MalformedRecord as exc:
            self.losses.count_malformed(exc)
        except Exception:  # a decoder bug must not stop the sensor: count it like bad input
            self.losses.malformed += 1
            log.exception("decoding a record failed")
        return None

    async def _watch_losses(self) -> None:
        while True:
            await asyncio.sleep(self.loss_poll_interval)
            try:
                self._poll_losses()
            except SensorError as exc:
                log.warning("reading the lost-event counters failed: %s", exc)

    def _poll_losses(self) -> None:
        self.losses.poll(self.decoder.clock.to_datetime, self.records.offer)

    def _teardown(self) -> None:
        """Undo whatever __aenter__ did, in reverse; safe to call more than once."""
        if self._loss_task is not None:
            self._loss_task.cancel()
            self._loss_task = None
        if self.object is not None:
            self.object.detach()
        self.records.stop()  # delivers what the programs wrote before they were detached
        self.losses.close(self.decoder.clock.to_datetime, self.records.offer)
        if self.object is not None:
            self.object.close()
            self.object = None
            self.filter.close()
        unmount(self._mounted)
        self._mounted = []
        self.records.end()
