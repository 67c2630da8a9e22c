"""Fallback sensor: process exec/exit (and fork) from the kernel's proc connector over netlink.

For hosts where eBPF cannot load. It sees only that processes start, exec and exit; everything
else (network, files, privilege and kernel events) is invisible, argv and exe are read from
/proc after the fact (a process that exits at once may be gone: its exe stays empty), and the
kernel cannot filter anything. The agent says so in one warning when it falls back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Self

from vigil.errors import PrivilegeError, SensorError
from vigil.identity.cgroups import cgroup2_root
from vigil.models import Event, EventType, ProcessInfo
from vigil.sensor import SensorStats
from vigil.sensor.decode import WallClock, exit_status
from vigil.sensor.process_tree import NSEC_PER_TICK, ProcessTree, stat_fields

log = logging.getLogger(__name__)

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2
PROC_EVENT_FORK = 0x00000001
PROC_EVENT_EXEC = 0x00000002
PROC_EVENT_EXIT = 0x80000000
NLMSG_DONE = 3

NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
CN_MSG = struct.Struct("=IIIIHH")  # idx, val, seq, ack, len, flags
PROC_EVENT = struct.Struct("=IIQ")  # what, cpu, timestamp_ns
FORK_BODY = struct.Struct("=IIII")  # parent pid, parent tgid, child pid, child tgid
EXEC_BODY = struct.Struct("=II")  # pid, tgid
EXIT_BODY = struct.Struct("=IIII")  # pid, tgid, exit_code, exit_signal

BLIND_SPOTS = (
    "proc-connector fallback sees only process exec/fork/exit: no network, file, privilege "
    "or kernel events, no in-kernel filtering, and argv/exe read late from /proc"
)


def listen_message(op: int = PROC_CN_MCAST_LISTEN) -> bytes:
    payload = struct.pack("=I", op)
    cn = CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0) + payload
    return NLMSGHDR.pack(NLMSGHDR.size + len(cn), NLMSG_DONE, 0, 0, os.getpid()) + cn


def parse_messages(data: bytes) -> list[tuple[int, int, bytes]]:
    """(what, timestamp_ns, body) of each proc event in one netlink datagram."""
    found = []
    at = 0
    while at + NLMSGHDR.size <= len(data):
        length = NLMSGHDR.unpack_from(data, at)[0]
        if length < NLMSGHDR.size or at + length > len(data):
            break
        start = at + NLMSGHDR.size
        if length >= NLMSGHDR.size + CN_MSG.size + PROC_EVENT.size:
            idx, val, *_ = CN_MSG.unpack_from(data, start)
            if (idx, val) == (CN_IDX_PROC, CN_VAL_PROC):
                body_at = start + CN_MSG.size
                what, _cpu, stamp = PROC_EVENT.unpack_from(data, body_at)
                found.append((what, stamp, data[body_at + PROC_EVENT.size : at + length]))
        at += (length + 3) & ~3
    return found


class ProcConnectorSensor:
    name = "proc-connector"

    def __init__(self, *, proc_root: Path = Path("/proc"), queue_size: int = 65536) -> None:
        self.proc_root = proc_root
        self.queue_size = queue_size
        self._socket: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Event | None] | None = None
        self._tree = ProcessTree(proc_root=proc_root, cgroup2_root=cgroup2_root())
        self._clock = WallClock.now()
        self._stats = SensorStats()

    async def __aenter__(self) -> Self:
        if os.geteuid() != 0:
            raise PrivilegeError("the proc connector needs root", hint="run vigil as root")
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
            sock.bind((os.getpid(), CN_IDX_PROC))
            sock.send(listen_message())
        except OSError as exc:
            raise SensorError(f"cannot open the proc connector: {exc.strerror or exc}") from exc
        sock.setblocking(False)
        self._socket = sock
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(maxsize=self.queue_size + 1)
        self._tree.seed()
        self._loop.add_reader(sock.fileno(), self._drain)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._socket is not None and self._loop is not None:
            self._loop.remove_reader(self._socket.fileno())
            with contextlib.suppress(OSError):
                self._socket.send(listen_message(PROC_CN_MCAST_IGNORE))
            self._socket.close()
            self._socket = None
        if self._queue is not None:
            self._queue.put_nowait(None)

    async def events(self) -> AsyncIterator[Event]:
        if self._queue is None:
            raise SensorError("the proc-connector sensor is not started")
        while (event := await self._queue.get()) is not None:
            yield event
        self._queue.put_nowait(None)

    def stats(self) -> SensorStats:
        return self._stats

    def _drain(self) -> None:
        assert self._socket is not None
        while True:
            try:
                data = self._socket.recv(65536)
            except BlockingIOError:
                return
            except OSError as exc:  # ENOBUFS: the kernel dropped messages for us
                self._stats.lost_kernel += 1
                log.warning("proc connector: %s", exc.strerror or exc)
                return
            for what, stamp, body in parse_messages(data):
                self._stats.received += 1
                try:
                    event = self._event(what, stamp, body)
                except (struct.error, ValueError):
                    self._stats.malformed += 1
                    continue
                if event is None:
                    continue
                assert self._queue is not None
                if self._queue.qsize() >= self.queue_size:
                    self._stats.lost_user += 1
                    continue
                self._queue.put_nowait(self._tree.observe(event))

    def _event(self, what: int, stamp: int, body: bytes) -> Event | None:
        if what == PROC_EVENT_EXEC:
            _pid, tgid = EXEC_BODY.unpack_from(body)
            return self._process_event(EventType.EXEC, tgid, stamp)
        if what == PROC_EVENT_EXIT:
            pid, tgid, code, _signal = EXIT_BODY.unpack_from(body)
            if pid != tgid:
                return None  # a thread
            return self._process_event(EventType.EXIT, tgid, stamp, exit_code=exit_status(code))
        if what == PROC_EVENT_FORK:
            _ppid, ptgid, pid, tgid = FORK_BODY.unpack_from(body)
            if pid != tgid:
                return None
            return self._process_event(EventType.FORK, tgid, stamp, ppid=ptgid)
        return None

    def _process_event(
        self,
        kind: EventType,
        pid: int,
        stamp: int,
        *,
        ppid: int | None = None,
        exit_code: int | None = None,
    ) -> Event:
        base = self.proc_root / str(pid)
        fields = stat_fields(base)
        exe = cmdline = ""
        uid = 0
        if kind is EventType.EXEC:
            try:
                exe = os.readlink(base / "exe")
                raw = (base / "cmdline").read_bytes()[:1024]
                cmdline = raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "backslashreplace")
            except OSError:
                pass
        with contextlib.suppress(OSError):
            uid = os.stat(base).st_uid
        # proc events carry CLOCK_MONOTONIC timestamps, like the eBPF sensor's
        return Event(
            type=kind,
            time=self._clock.to_datetime(stamp or time.monotonic_ns()),
            ktime_ns=stamp,
            cgroup_id=self._tree.cgroup_id_of(base),
            process=ProcessInfo(
                pid=pid,
                ppid=ppid if ppid is not None else (fields[0] if fields else 0),
                uid=uid,
                exe=exe,
                cmdline=cmdline,
                start_ns=fields[1] * NSEC_PER_TICK if fields else 0,
                exit_code=exit_code,
            ),
        )
