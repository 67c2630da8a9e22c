"""The eBPF sensor: vigil.bpf.c compiled for this kernel, loaded through libbpf, read via asyncio.

Life cycle (``async with EbpfSensor(...)``): mount tracefs/bpffs if missing → compile (cached) →
open → size the ring buffer → load → attach every program → read the ring buffer whenever it
polls readable (vigil.sensor.ringbuf). Leaving the block detaches every program, frees
everything and unmounts what was mounted, so Ctrl-C leaves nothing behind in the kernel.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import struct
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from types import TracebackType
from typing import Self

from vigil.errors import ConfigError, PrivilegeError, SensorError, VigilError
from vigil.identity.cgroups import cgroup2_root
from vigil.models import Event
from vigil.sensor import SensorStats
from vigil.sensor import libbpf as bpf
from vigil.sensor.build import DEFAULT_BTF, build_object
from vigil.sensor.decode import (
    EVENT_TYPES,
    KINDS,
    ExecRecord,
    MalformedRecord,
    WallClock,
    parse_record,
    record_event,
    walked_path,
)
from vigil.sensor.kernel_filter import EXEC_KEY, FILTER_ALL, dest_key
from vigil.sensor.layers import WritableLayers
from vigil.sensor.loss import LossTracker, loss_event
from vigil.sensor.mounts import KernelFilesystem, ensure_kernel_filesystems, unmount
from vigil.sensor.process_tree import ProcessTree
from vigil.sensor.ringbuf import RingReader, open_ring_reader
from vigil.sensor.wakeups import MappedCell, MemoryCell, ReaderSchedule
from vigil.sensor.watch import DEFAULT_WATCH, WatchedPaths

log = logging.getLogger("vigil.sensor.ebpf")

SENSOR_NAME = "ebpf"
RINGBUF_MAP = "events"
LOST_MAP = "lost_events"
FILTERED_MAP = "filtered_events"
CGROUP_LOSS_MAP = "cgroup_losses"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
#: without these the sensor is not worth running; every other program is optional (a kernel
#: without e.g. fchmodat2 or sys_enter_open still runs the rest, with a warning)
REQUIRED_PROGRAMS = frozenset({"vigil_exec", "vigil_conn_req", "vigil_conn_ret"})
CONFIG = struct.Struct("=IIQ")  # self_tgid, prefixes used, hash seed
PREFIX = struct.Struct("=II64s")  # kind, len, path
LOSS_KEY = struct.Struct("=QI4x")  # cgroup_id, type
LOSS_VALUE = struct.Struct("=QQQ")  # count, first_ns, last_ns
MAX_LOSS_ENTRIES = 4096
#: raw records handed out between two turns of the event loop: a consumer that never waits must
#: not starve the ring-buffer reader
RECORDS_PER_TURN = 256
FILTER_VALUE = struct.Struct("=I")
#: how late a drain timer may run before the programs wake the reader (vigil.sensor.wakeups)
DRAIN_SLACK_S = 0.016
QUIET_MAP = "reader_quiet_until"
#: execs remembered as allowed, per cgroup (the kernel map holds 65536 in all)
MAX_EXECS_PER_CGROUP = 1024
#: execs waiting for the agent's verdict (see remember_exec): a bounded table
PENDING_EXECS = 4096
ALLOWED = b"\x01"


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
        self.queue_size = queue_size
        self.watch = watch
        self.proc_root = proc_root
        self.loss_poll_interval = loss_poll_interval
        #: while records keep coming the reader drains this often on its own, and the programs
        #: do not wake it (vigil.sensor.wakeups): the longest a record waits during a burst
        self.drain_interval = drain_interval
        self._drain_timer: asyncio.TimerHandle | None = None
        self._schedule = ReaderSchedule(MemoryCell(), interval=drain_interval, slack=DRAIN_SLACK_S)
        #: drains that began because the ring buffer polled readable (a program woke the reader),
        #: as opposed to the reader's own timer
        self.wakeups = 0

        self._mounted: list[KernelFilesystem] = []
        self._object: int | None = None
        self._links: dict[str, int] = {}
        self._program_fds: dict[str, int] = {}
        self._ring: RingReader | None = None
        self._lost_fd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader_fd: int | None = None
        # Raw records (bytes), loss reports (Event) and the end-of-stream marker (None); one slot
        # above queue_size stays free for the marker.
        self._queue: asyncio.Queue[bytes | Event | None] | None = None
        self._clock = WallClock.now()
        self._boot_wall_ns = 0
        self._processes = ProcessTree(proc_root=proc_root, cgroup2_root=cgroup2_root())
        self._layers = WritableLayers(
            proc_root,
            cgroup_of=lambda pid: self._processes.cgroup_id_of(proc_root / str(pid)),
        )
        self._losses = LossTracker()
        self._pending_losses: list[Event] = []
        self._loss_task: asyncio.Task[None] | None = None
        self._map_fds: dict[str, int] = {}
        self._allowed: dict[int, tuple[list[bytes], list[bytes]]] = {}
        #: (pid, ktime) of each recent exec → (cgroup, the kernel's hash of it)
        self._exec_hashes: OrderedDict[tuple[int, int], tuple[int, int]] = OrderedDict()
        self._skipped: list[str] = []
        self._held: bytes | None = None
        self._paused = False
        self._final = False
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
            seeded = self._processes.seed()
            log.debug("process tree seeded with %d processes from %s", seeded, self.proc_root)
            self._start_reading()
        except BaseException:
            self._teardown()
            raise
        log.info("eBPF sensor attached: %d programs", len(self._links))
        if self._skipped:
            log.warning(
                "eBPF programs not attached (not in this kernel): %s", ", ".join(self._skipped)
            )
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
                event = self._decoded(item)
                if event is None:
                    continue
                item = event
            yield item
            while self._pending_losses:  # loss reports that found the queue full
                yield self._pending_losses.pop(0)

    def stats(self) -> SensorStats:
        self._poll_losses()
        return SensorStats(
            received=self._received,
            lost_kernel=self._read_lost_kernel(),
            lost_user=self._lost_user,
            malformed=self._malformed,
            filtered=self._read_counters(FILTERED_MAP),
            lost_by_type=dict(self._losses.total_by_type),
            lost_by_cgroup=dict(self._losses.total_by_cgroup),
        )

    # -- kernel filter (vigil.sensor.kernel_filter.KernelFilter, ExecVerdicts) ---------------
    def allow(self, cgroup_ids: Iterable[int], destinations: Iterable[str]) -> None:
        dests = list(destinations)
        for cgroup_id in cgroup_ids:
            dest_keys = [k for k in (dest_key(cgroup_id, d) for d in dests) if k is not None]
            for key in dest_keys:
                bpf.map_update(self._map_fd("allowed_dests"), key, ALLOWED, "allow destination")
            known = self._allowed.setdefault(cgroup_id, ([], []))
            known[1].extend(dest_keys)
            bpf.map_update(
                self._map_fd("filter_cgroups"),
                struct.pack("=Q", cgroup_id),
                FILTER_VALUE.pack(FILTER_ALL),
                "filter cgroup",
            )

    def remember_exec(self, event: Event) -> None:
        pending = self._exec_hashes.pop((event.process.pid, event.ktime_ns), None)
        if pending is None or self._object is None:
            return  # not one of ours, or already gone from the bounded table
        cgroup_id, exec_hash = pending
        known = self._allowed.get(cgroup_id)
        if known is None or len(known[0]) >= MAX_EXECS_PER_CGROUP:
            return  # not filtered (yet), or enough remembered: it goes on reaching user space
        key = EXEC_KEY.pack(cgroup_id, exec_hash)
        try:
            bpf.map_update(self._map_fd("allowed_execs"), key, ALLOWED, "remember exec")
        except SensorError as exc:  # e.g. the map is full: only a saving is missed
            log.debug("could not remember an allowed exec: %s", exc)
            return
        known[0].append(key)

    def forget(self, cgroup_id: int) -> None:
        if self._object is None:
            return
        bpf.map_delete(self._map_fd("filter_cgroups"), struct.pack("=Q", cgroup_id))
        exec_keys, dest_keys = self._allowed.pop(cgroup_id, ([], []))
        for key in exec_keys:
            bpf.map_delete(self._map_fd("allowed_execs"), key)
        for key in dest_keys:
            bpf.map_delete(self._map_fd("allowed_dests"), key)

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
    def _map_fd(self, name: str) -> int:
        if self._object is None:
            raise SensorError("the eBPF sensor is not started")
        fd = self._map_fds.get(name)
        if fd is None:
            fd = bpf.check_rc(bpf.lib().bpf_map__fd(bpf.find_map(self._object, name)), name)
            self._map_fds[name] = fd
        return fd

    def _configure(self) -> None:
        """Tell the programs who we are (never reported) and which paths are watched."""
        entries = self.watch.entries()
        for index, (kind, path) in enumerate(entries):
            encoded = os.fsencode(path)
            bpf.map_update(
                self._map_fd("prefixes"),
                struct.pack("=I", index),
                PREFIX.pack(kind, len(encoded), encoded),
                "write watched path",
            )
        bpf.map_update(
            self._map_fd("vigil_config_map"),
            struct.pack("=I", 0),
            CONFIG.pack(os.getpid(), len(entries), int.from_bytes(os.urandom(8), "little")),
            "write sensor config",
        )

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
        self._configure()
        for name, prog in bpf.programs(obj):
            self._program_fds[name] = lib.bpf_program__fd(prog)
            try:
                self._links[name] = bpf.attach_program(prog, name)
            except SensorError:
                if name in REQUIRED_PROGRAMS:
                    raise
                self._skipped.append(name)
                del self._program_fds[name]  # loaded but idle: not one of ours to report
        if not self._links:
            raise SensorError(f"{object_path} holds no BPF program")
        quiet_fd = bpf.check_rc(lib.bpf_map__fd(bpf.find_map(obj, QUIET_MAP)), "map fd")
        try:
            self._schedule.cell = MappedCell(quiet_fd)
        except OSError as exc:
            raise bpf.failure(f"map {QUIET_MAP}", exc.errno or errno.EINVAL) from exc
        ring_fd = bpf.check_rc(lib.bpf_map__fd(ringbuf_map), "ring buffer map fd")
        try:
            self._ring = open_ring_reader(ring_fd, self.ringbuf_bytes, self._on_record)
        except OSError as exc:
            raise bpf.failure("map the ring buffer", exc.errno or errno.EINVAL) from exc

    def _start_reading(self) -> None:
        assert self._loop is not None and self._ring is not None
        self._queue = asyncio.Queue(maxsize=self.queue_size + 1)
        self._clock = WallClock.now()
        self._boot_wall_ns = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        self._loss_task = self._loop.create_task(self._watch_losses())
        self._reader_fd = self._ring.fileno()
        self._loop.add_reader(self._reader_fd, self._on_readable)

    def _on_readable(self) -> None:
        self.wakeups += 1
        self._drain()

    def _drain_on_timer(self) -> None:
        self._drain_timer = None
        if not self._paused:
            self._drain()

    def _drain(self, final: bool = False) -> None:
        """Read the records waiting in the ring buffer (each one goes through _on_record; the
        reader is vigil.sensor.ringbuf's: the mapping itself on x86-64, libbpf elsewhere).

        Backpressure: when the queue is full, reading stops and the records wait in the kernel's
        ring buffer (which is sized for bursts) until the consumer has caught up, rather than
        being dropped in user space. Only a full ring buffer loses events.
        """
        if self._ring is None:
            return
        self._final = final
        if self._held is not None and not self._queue_full():
            assert self._queue is not None
            self._queue.put_nowait(self._held)
            self._held = None
        if self._held is not None:
            if not final:
                return
            self._lost_user += 1  # closing with a full queue: counted, as every loss is
            self._held = None
        rc = self._ring.consume()
        if not final and self._loop is not None:
            # a record still being written counts as found: its wake-up may have been skipped
            delay = self._schedule.after_drain(rc != 0 or self._ring.pending())
            if self._drain_timer is not None:
                self._drain_timer.cancel()  # this drain settled what it was armed for
            self._drain_timer = (
                None if delay is None else self._loop.call_later(delay, self._drain_on_timer)
            )
        if rc == -errno.EAGAIN and not final:
            self._pause()
        elif rc < 0:
            log.warning("reading the ring buffer failed: %s", os.strerror(-rc))

    def _queue_full(self) -> bool:
        return self._queue is None or self._queue.qsize() >= self.queue_size

    def _pause(self) -> None:
        if not self._paused and self._reader_fd is not None and self._loop is not None:
            self._loop.remove_reader(self._reader_fd)
            self._paused = True

    def _maybe_resume(self) -> None:
        if not self._paused or self._queue is None:
            return
        if self._queue.qsize() > self.queue_size // 2:
            return
        self._paused = False
        if self._reader_fd is not None and self._loop is not None:
            self._loop.add_reader(self._reader_fd, self._on_readable)
            self._loop.call_soon(self._drain)

    def _on_record(self, data: bytes) -> int:
        # Runs inside the ring-buffer reader on the loop's thread: never block, never raise, and
        # stay cheap (decoding waits until the record is taken out of the queue).
        self._received += 1
        queue = self._queue
        if queue is not None and self._queue_full() and not self._final and self._held is None:
            self._held = data  # consumed from the ring: kept until the queue has room
            return -errno.EAGAIN
        if queue is None or self._queue_full():
            self._lose(data)
            return 0
        queue.put_nowait(data)
        return 0

    def _lose(self, data: bytes) -> None:
        """Count a record there is no room for: per cgroup and type when it can be read."""
        try:
            record = parse_record(data)
        except MalformedRecord as exc:
            self._malformed += 1
            log.debug("skipping malformed record: %s", exc)
            return
        header = record.header
        self._lost_user += 1
        kind = str(KINDS[header.type])
        self._losses.add(header.cgroup_id, kind, 1, header.ktime_ns, header.ktime_ns)

    def _decoded(self, data: bytes) -> Event | None:
        """The record's event, or None (counted as malformed) when it cannot be decoded."""
        try:
            return self._decode(data)
        except MalformedRecord as exc:
            self._malformed += 1
            log.debug("skipping malformed record: %s", exc)
        except Exception:  # a decoder bug must not stop the sensor: count it like bad input
            self._malformed += 1
            log.exception("decoding a record failed")
        return None

    def _decode(self, data: bytes) -> Event:
        record = parse_record(data)
        event = self._processes.observe(record_event(record, self._clock))
        if isinstance(record, ExecRecord):
            event = self._exec_origin(record, event)
            # only a filtered cgroup's execs can be remembered (host execs never are)
            if record.exec_hash and record.header.cgroup_id in self._allowed:
                self._exec_hashes[(record.header.pid, record.header.ktime_ns)] = (
                    record.header.cgroup_id,
                    record.exec_hash,
                )
                if len(self._exec_hashes) > PENDING_EXECS:
                    self._exec_hashes.popitem(last=False)
        return event

    def _exec_origin(self, record: ExecRecord, event: Event) -> Event:
        """Where the executable came from: writable layer, changed since the container began."""
        header = record.header
        opened = walked_path(record.file) if record.file and record.file_complete else ""
        started = self._processes.cgroup_started_ns(header.cgroup_id)
        changed = (
            started is not None
            and record.file_ctime_s * 1_000_000_000 > self._boot_wall_ns + started
        )
        # the exec's own process first (the tree has just stored it: the most recent), then,
        # as it may be gone by now, any other process of the container
        pids = self._processes.pids_in_cgroup(header.cgroup_id)
        writable = self._layers.on_writable_layer(record.file_magic, opened, header.cgroup_id, pids)
        # in place, as the process tree fills lineage: the event is still the sensor's own
        event.process.exe_changed_after_start = changed
        event.process.exe_on_writable_layer = writable
        return event

    # -- losses -------------------------------------------------------------------------------
    async def _watch_losses(self) -> None:
        while True:
            await asyncio.sleep(self.loss_poll_interval)
            try:
                self._poll_losses()
            except SensorError as exc:
                log.warning("reading the lost-event counters failed: %s", exc)

    def _poll_losses(self) -> None:
        """Turn new losses (kernel and user space) into sensor_loss events."""
        if self._object is not None:
            fd = self._map_fd(CGROUP_LOSS_MAP)
            for key, value in bpf.map_items(fd, LOSS_KEY.size, LOSS_VALUE.size, MAX_LOSS_ENTRIES):
                cgroup_id, kind = LOSS_KEY.unpack(key)
                count, first, last = LOSS_VALUE.unpack(value)
                name = str(KINDS[kind]) if kind in KINDS else str(kind)
                self._losses.kernel_totals(cgroup_id, name, count, first, last)
        for cgroup_id, loss in self._losses.take().items():
            event = loss_event(cgroup_id, loss, self._clock.to_datetime)
            queue = self._queue
            if queue is not None and queue.qsize() < self.queue_size:
                queue.put_nowait(event)
            else:
                self._pending_losses.append(event)
            log.warning(
                "%d events lost for cgroup %d (%s)",
                loss.count,
                cgroup_id,
                ", ".join(f"{k}: {n}" for k, n in sorted(loss.by_type.items())),
            )

    def _read_lost_kernel(self) -> int:
        if self._lost_fd is None:
            return self._lost_kernel_at_close
        return sum(bpf.percpu_u64_sum(self._lost_fd, kind) for kind in range(EVENT_TYPES))

    def _read_counters(self, name: str) -> int:
        if self._object is None:
            return 0
        fd = self._map_fd(name)
        return sum(bpf.percpu_u64_sum(fd, kind) for kind in range(EVENT_TYPES))

    def _teardown(self) -> None:
        """Undo whatever __aenter__ did, in reverse; safe to call more than once."""
        if self._loss_task is not None:
            self._loss_task.cancel()
            self._loss_task = None
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        if self._reader_fd is not None and self._loop is not None:
            self._loop.remove_reader(self._reader_fd)
            self._reader_fd = None
        for name, link in list(self._links.items()):
            if bpf.lib().bpf_link__destroy(link) < 0:
                log.warning("detaching BPF program %s failed", name)
        self._links.clear()
        self._program_fds.clear()
        if self._ring is not None:
            self._paused = False
            self._drain(final=True)  # deliver what the programs wrote before they were detached
            self._ring.close()
            self._ring = None
        self._schedule.cell.close()
        self._schedule.cell = MemoryCell()
        loaded = self._lost_fd is not None  # else the maps were never made: nothing to read
        if self._lost_fd is not None:
            try:
                self._lost_kernel_at_close = self._read_lost_kernel()
            except SensorError as exc:
                log.warning("could not read the lost-event counters: %s", exc)
            self._lost_fd = None
        if self._object is not None:
            if loaded:
                # the last losses still become reports; an error here must not hide the one
                # that brought us here
                with contextlib.suppress(VigilError):
                    self._poll_losses()
            bpf.lib().bpf_object__close(self._object)
            self._object = None
            self._map_fds.clear()
            self._allowed.clear()
            self._exec_hashes.clear()
        unmount(self._mounted)
        self._mounted = []
        if self._queue is not None and not self._closed:
            self._queue.put_nowait(None)  # ends events(); the spare slot guarantees room
        self._closed = True
