"""The sensor's user-space parts without a kernel: process tree over a fixture /proc, kernel
filter keys and sync, loss accounting and its alert, Falco/Tetragon adapters, proc-connector
parsing, watched-path configuration, and `vigil record`/`vigil replay`."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.cli.main import app
from vigil.config import parse_config
from vigil.errors import ConfigError
from vigil.models import ContainerInfo, Event, EventType, ProcessInfo, Workload
from vigil.sensor import Sensor
from vigil.sensor.adapters import falco_sensor, tetragon_sensor
from vigil.sensor.ebpf import EbpfSensor
from vigil.sensor.kernel_filter import FilterSync, dest_key
from vigil.sensor.layers import OVERLAYFS_MAGIC, WritableLayers
from vigil.sensor.loss import LOSS_RULE, LossDetector, LossTracker, loss_event
from vigil.sensor.proc_connector import (
    CN_IDX_PROC,
    CN_MSG,
    NLMSGHDR,
    PROC_EVENT,
    PROC_EVENT_EXIT,
    listen_message,
    parse_messages,
)
from vigil.sensor.process_tree import NSEC_PER_TICK, ProcessTree
from vigil.sensor.wakeups import MemoryCell, ReaderSchedule
from vigil.sensor.watch import DEFAULT_READ, WatchedPaths

DATA = Path(__file__).parent / "data"
T0 = datetime(2024, 5, 2, tzinfo=UTC)


# -- process tree ------------------------------------------------------------------------------
def fake_proc(root: Path, pid: int, ppid: int, exe: str, argv: list[str], start: int) -> None:
    base = root / str(pid)
    base.mkdir(parents=True)
    fields = ["S", str(ppid)] + ["0"] * 17 + [str(start)]
    (base / "stat").write_text(f"{pid} (x y) " + " ".join(fields) + " 0 0\n")
    (base / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (base / "exe").symlink_to(exe)


def ev(kind: EventType, pid: int, ppid: int, start: int, exe: str = "", cgroup: int = 7) -> Event:
    return Event(
        type=kind,
        time=T0,
        ktime_ns=1,
        cgroup_id=cgroup,
        process=ProcessInfo(pid=pid, ppid=ppid, uid=0, exe=exe, cmdline=exe, start_ns=start),
    )


def test_tree_seeds_from_proc_and_names_ancestors(tmp_path: Path) -> None:
    fake_proc(tmp_path, 1, 0, "/sbin/init", ["init"], 1)
    fake_proc(tmp_path, 100, 1, "/usr/bin/containerd-shim", ["shim"], 50)
    fake_proc(tmp_path, 200, 100, "/bin/sh", ["sh", "-c", "x"], 80)
    tree = ProcessTree(proc_root=tmp_path)
    assert tree.seed() == 3
    event = tree.observe(ev(EventType.CONNECT, 200, 100, 80 * NSEC_PER_TICK))
    p = event.process
    assert (p.exe, p.cmdline) == ("/bin/sh", "sh -c x")
    assert p.parent_exe == "/usr/bin/containerd-shim"
    assert p.ancestors == ("/usr/bin/containerd-shim", "/sbin/init")


def test_tree_follows_fork_exec_exit(tmp_path: Path) -> None:
    fake_proc(tmp_path, 200, 1, "/bin/sh", ["sh"], 80)
    tree = ProcessTree(proc_root=tmp_path, max_depth=3)
    tree.seed()
    fork = tree.observe(ev(EventType.FORK, 300, 200, 999))
    assert fork.process.exe == "/bin/sh" and fork.process.parent_exe == "/bin/sh"
    tree.observe(ev(EventType.EXEC, 300, 200, 999, exe="/bin/nc"))
    connect = tree.observe(ev(EventType.CONNECT, 300, 200, 999))
    assert connect.process.exe == "/bin/nc" and connect.process.ancestors[0] == "/bin/sh"
    tree.observe(ev(EventType.EXIT, 300, 200, 999))
    assert len(tree) == 1  # the exited process is gone
    assert tree.cgroup_started_ns(7) == 999


def test_tree_keeps_an_exec_that_overtook_its_fork(tmp_path: Path) -> None:
    # the child runs on the other CPU and execs before the parent's fork record is written
    fake_proc(tmp_path, 200, 1, "/bin/sh", ["sh"], 80)
    tree = ProcessTree(proc_root=tmp_path)
    tree.seed()
    tree.observe(ev(EventType.EXEC, 300, 200, 999, exe="/bin/cat"))
    fork = tree.observe(ev(EventType.FORK, 300, 200, 999))
    assert fork.process.exe == "/bin/sh"  # what the child was when forked
    opened = tree.observe(ev(EventType.OPEN, 300, 200, 999))
    assert opened.process.exe == "/bin/cat"


def test_tree_never_lends_a_recycled_pid_its_old_identity(tmp_path: Path) -> None:
    tree = ProcessTree(proc_root=tmp_path)
    tree.observe(ev(EventType.EXEC, 300, 1, 1000, exe="/bin/old"))
    other = tree.observe(ev(EventType.CONNECT, 300, 1, 2000))
    assert other.process.exe == ""  # a different process: not in /proc either


def test_an_ancestry_is_found_once_and_remembered(tmp_path: Path) -> None:
    fake_proc(tmp_path, 1, 0, "/sbin/init", ["init"], 1)
    fake_proc(tmp_path, 100, 1, "/usr/bin/containerd-shim", ["shim"], 50)
    fake_proc(tmp_path, 200, 100, "/bin/sh", ["sh"], 80)
    tree = ProcessTree(proc_root=tmp_path)
    tree.observe(ev(EventType.CONNECT, 200, 100, 80 * NSEC_PER_TICK))
    for pid in (1, 100, 200):  # gone from /proc: the tree no longer needs it
        shutil.rmtree(tmp_path / str(pid))
    tree.observe(ev(EventType.FORK, 300, 200, 999))
    tree.observe(ev(EventType.EXEC, 300, 200, 999, exe="/bin/nc"))
    connect = tree.observe(ev(EventType.CONNECT, 300, 200, 999))
    assert connect.process.ancestors == ("/bin/sh", "/usr/bin/containerd-shim", "/sbin/init")
    # re-parented when its parent exited: its ancestry is found again
    orphan = tree.observe(ev(EventType.CONNECT, 300, 1, 999))
    assert orphan.process.ancestors == ("/sbin/init",)


def test_an_ancestry_deeper_than_max_depth_is_cut_but_never_remembered_cut(
    tmp_path: Path,
) -> None:
    for pid in range(1, 7):  # /bin/p1 (pid 1) > /bin/p2 > ... > /bin/p6, found in /proc
        fake_proc(tmp_path, pid, pid - 1, f"/bin/p{pid}", [f"p{pid}"], pid)
    tree = ProcessTree(proc_root=tmp_path, max_depth=3)

    def ancestors(pid: int) -> tuple[str, ...]:
        return tree.observe(ev(EventType.OPEN, pid, pid - 1, pid * NSEC_PER_TICK)).process.ancestors

    assert ancestors(6) == ("/bin/p5", "/bin/p4", "/bin/p3")  # walked up to p3 only
    assert ancestors(4) == ("/bin/p3", "/bin/p2", "/bin/p1")
    assert ancestors(5) == ("/bin/p4", "/bin/p3", "/bin/p2")


def test_tree_is_bounded(tmp_path: Path) -> None:
    tree = ProcessTree(proc_root=tmp_path, capacity=10)
    for pid in range(2, 50):
        tree.observe(ev(EventType.EXEC, pid, 1, pid, exe=f"/bin/p{pid}"))
    assert len(tree) == 10


# -- kernel filter -----------------------------------------------------------------------------
def test_destination_keys() -> None:
    v4 = dest_key(9, "tcp/10.0.0.1:443")
    v6 = dest_key(9, "udp/[::1]:53")
    assert v4 is not None and v6 is not None and len(v4) == len(v6) == 32
    assert struct.unpack_from("=Q16sHBB", v4)[2:] == (443, 1, 0)
    assert struct.unpack_from("=Q16sHBB", v6)[2:] == (53, 2, 1)
    for bad in ("tcp/10.0.0.1", "icmp/1.2.3.4:1", "tcp/[10.0.0.1]:1", "tcp/::1:53", "x"):
        assert dest_key(9, bad) is None


@dataclass
class FakeFilter:
    calls: list[tuple[str, object]] = field(default_factory=list)

    def allow(self, cgroup_ids: Iterable[int], destinations: Iterable[str]) -> None:
        self.calls.append(("allow", (list(cgroup_ids), sorted(destinations))))

    def forget(self, cgroup_id: int) -> None:
        self.calls.append(("forget", cgroup_id))


@dataclass
class FakeProfile:
    key: str
    state: str
    destinations: set[str]
    version: int = 1
    locked_at: datetime | None = None
    size: int = 0


@dataclass
class FakeContainer:
    workload: Workload
    cgroup_paths: dict[str, str]


def test_filter_sync_follows_locks_changes_and_departures() -> None:
    web = Workload("shop", "Deployment", "web", "nginx")
    containers = [FakeContainer(web, {"": "/cg/a"}), FakeContainer(web, {"": "/cg/b"})]
    target = FakeFilter()
    sync = FilterSync(
        target, lambda: containers, cgroup_id_of=lambda p: {"/cg/a": 1, "/cg/b": 2}[p]
    )
    profile = FakeProfile(web.key, "learning", set(), size=1)
    sync.sync([profile])
    assert target.calls == []  # learning: nothing enforced
    profile.state, profile.locked_at = "locked", T0
    sync.sync([profile])
    assert target.calls == [("allow", ([1], [])), ("allow", ([2], []))]
    target.calls.clear()
    sync.sync([profile])
    assert target.calls == []  # unchanged: no map writes
    profile.destinations.add("tcp/10.0.0.1:443")
    containers.pop()
    sync.sync([profile])
    assert ("forget", 2) in target.calls and ("forget", 1) in target.calls
    assert ("allow", ([1], ["tcp/10.0.0.1:443"])) in target.calls
    assert sync.filtered_cgroups == {1}


def test_filter_sync_forgets_remembered_execs_when_the_profile_changes() -> None:
    # an exec remembered as allowed was judged against the profile as it was: any change of
    # it (another version, a new item, a re-lock) starts the cgroup's filter afresh
    web = Workload("shop", "Deployment", "web", "nginx")
    target = FakeFilter()
    sync = FilterSync(target, lambda: [FakeContainer(web, {"": "/cg/a"})], cgroup_id_of=lambda p: 1)
    profile = FakeProfile(web.key, "locked", {"tcp/10.0.0.1:443"}, locked_at=T0, size=3)
    sync.sync([profile])
    for change in ({"size": 4}, {"version": 2}, {"locked_at": T0 + timedelta(seconds=1)}):
        target.calls.clear()
        for name, value in change.items():
            setattr(profile, name, value)
        sync.sync([profile])
        assert target.calls == [("forget", 1), ("allow", ([1], ["tcp/10.0.0.1:443"]))], change


# -- loss --------------------------------------------------------------------------------------
def test_loss_tracker_reports_only_new_losses() -> None:
    tracker = LossTracker()
    tracker.kernel_totals(42, "exec", 5, 100, 200)
    tracker.add(42, "open", 2, 150, 300)
    losses = tracker.take()
    assert losses[42].count == 7 and (losses[42].first_ns, losses[42].last_ns) == (100, 300)
    assert losses[42].by_type == {"exec": 5, "open": 2}
    tracker.kernel_totals(42, "exec", 5, 100, 200)
    assert tracker.take() == {}  # the same total: nothing new
    tracker.kernel_totals(42, "exec", 8, 100, 400)
    assert tracker.take()[42].count == 3
    assert tracker.total_by_type == {"exec": 8, "open": 2} and tracker.total_by_cgroup == {42: 10}


def test_loss_alert_names_the_container_and_window() -> None:
    tracker = LossTracker()
    tracker.add(42, "exec", 3, 1_000_000_000, 3_000_000_000)
    clock = lambda ns: datetime.fromtimestamp(ns / 1e9, UTC)  # noqa: E731
    event = loss_event(42, tracker.take()[42], clock)
    container = ContainerInfo(id="web-1", name="web-1", image="nginx", runtime="runc")
    from dataclasses import replace

    findings = LossDetector().observe(replace(event, container=container))
    assert len(findings) == 1 and findings[0].rule == LOSS_RULE and findings[0].kind == "rule"
    message = findings[0].message
    assert "3 events lost (exec:3) for container web-1 (web-1)" in message
    assert "unmonitored from 1970-01-01T00:00:01.000000Z to 1970-01-01T00:00:03.000000Z" in message
    assert LossDetector().observe(ev(EventType.EXEC, 1, 0, 1)) == []


# -- adapters ----------------------------------------------------------------------------------
async def _drain(sensor: Sensor) -> list[Event]:
    async with sensor:
        return [event async for event in sensor.events()]


def test_falco_json_becomes_events() -> None:
    sensor = falco_sensor(str(DATA / "falco_events.jsonl"))
    events = asyncio.run(_drain(sensor))
    assert [e.type for e in events] == [EventType.EXEC, EventType.OPEN, EventType.CONNECT]
    shell = events[0]
    assert shell.process.exe == "/bin/sh" and shell.process.pid == 4711
    assert shell.process.parent_exe == "nginx" and shell.process.cwd == "/usr/share/nginx/"
    assert shell.container is not None and shell.container.image == "nginx:1.25"
    assert shell.workload is not None and shell.workload.namespace == "shop"
    assert shell.time == datetime(2024, 5, 2, 10, 15, 30, 123456, UTC)
    assert events[1].file is not None and events[1].file.path == "/etc/shadow"
    assert events[2].network is not None and events[2].network.destination == "tcp/203.0.113.7:4444"
    assert sensor.stats().malformed == 2  # the k8s_audit line and the non-JSON line


def test_tetragon_json_becomes_events() -> None:
    sensor = tetragon_sensor(str(DATA / "tetragon_events.jsonl"))
    events = asyncio.run(_drain(sensor))
    kinds = [e.type for e in events]
    assert kinds == [EventType.EXEC, EventType.CONNECT, EventType.OPEN, EventType.EXIT]
    exec_ = events[0]
    assert exec_.process.cmdline == "/usr/bin/curl https://example.com"
    assert exec_.process.parent_exe == "/bin/bash" and exec_.process.ppid == 19624
    assert exec_.container is not None and exec_.container.id.startswith("551e161c47d8")
    assert exec_.workload is not None and exec_.workload.key == "default/Pod/xwing/spaceship"
    assert events[1].network is not None
    assert events[1].network.destination == "tcp/93.184.216.34:443"
    assert events[1].network.local_port == 40312
    assert events[2].file is not None and events[2].file.path == "/etc/shadow"
    assert events[3].process.exit_code == 6
    assert sensor.stats().malformed == 1


# -- proc connector ----------------------------------------------------------------------------
def test_proc_connector_messages() -> None:
    listen = listen_message()
    assert NLMSGHDR.unpack_from(listen)[0] == len(listen)
    body = struct.pack("=IIII", 77, 77, 3 << 8, 0)
    cn = CN_MSG.pack(CN_IDX_PROC, 1, 0, 0, PROC_EVENT.size + len(body), 0)
    payload = cn + PROC_EVENT.pack(PROC_EVENT_EXIT, 0, 123) + body
    datagram = NLMSGHDR.pack(NLMSGHDR.size + len(payload), 3, 0, 0, 0) + payload
    assert parse_messages(datagram) == [(PROC_EVENT_EXIT, 123, body)]
    assert parse_messages(datagram[:10]) == []
    assert parse_messages(b"\xff" * 40) == []


# -- watched paths -----------------------------------------------------------------------------
def test_watched_paths_config() -> None:
    cfg = parse_config("sensor:\n  fallback: proc-connector\n  watch:\n    write: [/opt/app/]\n")
    assert cfg.sensor_fallback == "proc-connector"
    watch = WatchedPaths.configured(cfg.watch_read, cfg.watch_write)
    assert watch.write == ("/opt/app/",) and watch.read == DEFAULT_READ
    with pytest.raises(ConfigError, match=r"cfg\.yaml:3:5: sensor\.watch: watched path 'etc' must"):
        parse_config("sensor:\n  watch:\n    read:\n    - etc\n", "cfg.yaml")
    with pytest.raises(ConfigError, match=r"sensor\.fallback must be one of"):
        parse_config("sensor:\n  fallback: kprobes\n")


# -- record / replay ---------------------------------------------------------------------------
def test_record_from_falco_and_replay_it(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    runner = CliRunner()
    recorded = runner.invoke(
        app, ["record", "-o", str(out), "--source", f"falco:{DATA / 'falco_events.jsonl'}"]
    )
    assert recorded.exit_code == 0, recorded.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["type"] for line in lines] == ["exec", "open", "connect"]
    assert lines[0]["container"]["id"] == "3ad7b26ded6d"
    assert lines[0]["process"]["exe"] == "/bin/sh"
    # a loss report in the recording raises its alert on replay
    lines.append(
        loss_event(0, _one_loss(), lambda ns: datetime.fromtimestamp(ns / 1e9, UTC)).to_json()
    )
    out.write_text("".join(json.dumps(line) + "\n" for line in lines))
    replayed = runner.invoke(app, ["replay", str(out)])
    assert replayed.exit_code == 0, replayed.output
    alerts = [json.loads(line) for line in replayed.stdout.splitlines() if line.startswith("{")]
    # the built-in rules judge Falco's events too; the loss report is one more alert
    (loss,) = [a for a in alerts if a["rule"] == LOSS_RULE]
    assert "unmonitored from" in loss["message"]
    assert "Shell spawned by a server process" in [a["rule"] for a in alerts]


def _one_loss():  # type: ignore[no-untyped-def]
    tracker = LossTracker()
    tracker.add(0, "exec", 4, 1_000, 2_000)
    return tracker.take()[0]


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["replay", str(tmp_path / "missing.jsonl")]).exit_code == 2
    assert (
        runner.invoke(
            app, ["replay", "--format", "sysdig", str(DATA / "falco_events.jsonl")]
        ).exit_code
        == 2
    )
    result = runner.invoke(app, ["record", "-o", str(tmp_path / "x"), "--source", "nope"])
    assert result.exit_code == 2


def test_benchmark_script_runs() -> None:
    import subprocess
    import sys

    bench = Path(__file__).parent.parent / "bench" / "sensor_bench.py"
    shown = subprocess.run(
        [sys.executable, str(bench), "--help"], capture_output=True, text=True, check=False
    )
    assert shown.returncode == 0 and "exec,connect,cpu,burst,rss,all" in shown.stdout


# -- writable layer ----------------------------------------------------------------------------
def test_writable_layer_asks_only_live_processes_inside_the_container(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "bin").mkdir(parents=True)
    (upper / "bin" / "dropped").write_text("x")
    container_mounts = (
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
        f"2 1 0:50 / / rw - overlay overlay rw,lowerdir=/l,upperdir={upper},workdir=/w\n"
    )
    proc = tmp_path / "proc"
    for pid, mountinfo in ((300, container_mounts), (401, "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n")):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "mountinfo").write_text(mountinfo)
    tree = ProcessTree(proc_root=proc)
    tree.observe(ev(EventType.EXEC, 300, 1, 5, exe="/bin/sleep", cgroup=9))
    # 401 is alive but on the host (the `runc exec` that started the exec's process)
    cgroups = {300: 9, 401: 1}
    layers = WritableLayers(proc, cgroup_of=lambda pid: cgroups.get(pid, -1))
    # the exec's own process (400) exited before the record was read; its parent is 401
    pids = itertools.chain((400, 401), tree.pids_in_cgroup(9))
    assert layers.on_writable_layer(OVERLAYFS_MAGIC, "/bin/dropped", 9, pids)
    assert not layers.on_writable_layer(OVERLAYFS_MAGIC, "/bin/sleep", 9, ())  # cached: lower
    assert not layers.on_writable_layer(0xEF53, "/bin/dropped", 9, ())  # not an overlay
    # a container none of whose processes is inside any more is not remembered as overlay-less
    assert not layers.on_writable_layer(OVERLAYFS_MAGIC, "/bin/dropped", 7, (401,))
    cgroups[300] = 7
    assert layers.on_writable_layer(OVERLAYFS_MAGIC, "/bin/dropped", 7, (401, 300))


def test_a_process_found_in_proc_later_gets_the_id_of_the_cgroup_now_at_its_path(
    tmp_path: Path,
) -> None:
    cgroups, proc = tmp_path / "cgroup", tmp_path / "proc"
    (cgroups / "pod" / "c").mkdir(parents=True)
    for pid in (300, 301):
        fake_proc(proc, pid, 1, "/bin/sh", ["sh"], pid)
        (proc / str(pid) / "cgroup").write_text("0::/pod/c\n")
    tree = ProcessTree(proc_root=proc, cgroup2_root=cgroups)
    assert tree.seed() == 2
    first = (cgroups / "pod" / "c").stat().st_ino
    assert set(tree.pids_in_cgroup(first)) == {300, 301}
    # the container goes and another comes under the same path: a new cgroup, a new id
    (cgroups / "pod" / "new").mkdir()  # made while the old one exists: another inode
    (cgroups / "pod" / "c").rmdir()
    (cgroups / "pod" / "new").rename(cgroups / "pod" / "c")
    now = (cgroups / "pod" / "c").stat().st_ino
    fake_proc(proc, 302, 1, "/bin/sh", ["sh"], 302)
    (proc / "302" / "cgroup").write_text("0::/pod/c\n")
    tree.observe(ev(EventType.OPEN, 302, 1, 302 * NSEC_PER_TICK, cgroup=now))
    assert list(tree.pids_in_cgroup(now)) == [302]
    assert tree.cgroup_id_of(proc / "300") == now  # never the removed cgroup's id


# -- when the ring buffer is read ----------------------------------------------------------------
class _FakeRing:
    """A ring buffer whose records arrive when the test says, without waking anyone."""

    def __init__(self, handler: Callable[[bytes], int | None]) -> None:
        self.handler = handler
        self.waiting: list[bytes] = []

    def consume(self) -> int:
        taken, self.waiting = self.waiting, []
        for record in taken:
            self.handler(record)
        return len(taken)

    def pending(self) -> bool:
        return False

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        pass


def test_a_record_written_after_a_wake_up_is_read_without_another() -> None:
    # The programs do not wake the reader before the time it promised to drain on its own; the
    # drain it arms must come after that time. A drain armed by an earlier drain can fire before
    # a record written just after a later one, and then nothing reads it until some other event
    # wakes the reader.
    async def main() -> list[bytes]:
        sensor = EbpfSensor(cache_dir=Path("/nonexistent"), drain_interval=0.2)
        ring = _FakeRing(sensor._on_record)
        queue: asyncio.Queue[object] = asyncio.Queue()
        sensor._ring, sensor._loop, sensor._queue = ring, asyncio.get_running_loop(), queue  # type: ignore[assignment]
        ring.waiting.append(b"x")
        sensor._on_readable()  # a wake-up at T: quiet until T + 0.216, a drain at T + 0.2
        await asyncio.sleep(0.15)
        ring.waiting.append(b"a")
        sensor._on_readable()  # another at T + 0.15: quiet until T + 0.366
        await asyncio.sleep(0.1)
        ring.waiting.append(b"b")  # at T + 0.25: before the promised time, no wake-up
        await asyncio.sleep(0.35)
        sensor._ring = None  # nothing left to drain
        return [queue.get_nowait() for _ in range(queue.qsize())]  # type: ignore[misc]

    assert asyncio.run(main()) == [b"x", b"a", b"b"]


def test_a_stream_of_records_is_read_by_the_readers_own_timer_which_stops_when_idle() -> None:
    async def main() -> tuple[int, list[bytes], bool]:
        sensor = EbpfSensor(cache_dir=Path("/nonexistent"), drain_interval=0.01)
        ring = _FakeRing(sensor._on_record)
        queue: asyncio.Queue[object] = asyncio.Queue()
        sensor._ring, sensor._loop, sensor._queue = ring, asyncio.get_running_loop(), queue  # type: ignore[assignment]
        cell = sensor._schedule.cell
        sent: list[bytes] = []
        for i in range(60):  # a record every 3 ms: the programs wake the reader only when
            record = b"%d" % i  # the promised time has passed, as vigil.bpf.c's wakeup() does
            ring.waiting.append(record)
            sent.append(record)
            if time.monotonic_ns() >= cell.get():
                cell.set(time.monotonic_ns() + 2_000_000)
                sensor._on_readable()
            await asyncio.sleep(0.003)
        await asyncio.sleep(0.2)
        idle = sensor._drain_timer is None
        return sensor.wakeups, [queue.get_nowait() for _ in range(queue.qsize())], idle  # type: ignore[misc]

    wakeups, received, idle = asyncio.run(main())
    assert received == [b"%d" % i for i in range(60)]
    # the first record, and a timer late by more than the slack now and then on a loaded
    # machine; without the promise every record past the 2 ms window wakes it: ~60
    assert wakeups <= 10
    assert idle  # no timer left once the records stopped


def test_reader_schedule_polls_while_records_come_and_sleeps_after_its_promise() -> None:
    now = [1_000_000_000]
    cell = MemoryCell()
    schedule = ReaderSchedule(cell, interval=0.004, slack=0.016, clock_ns=lambda: now[0])
    assert schedule.after_drain(found=True) == 0.004
    assert cell.get() == now[0] + 20_000_000  # the programs keep quiet for interval + slack
    now[0] += 4_000_000
    assert schedule.after_drain(found=False) == 0.004  # the promise still holds: keep polling
    now[0] += 15_000_000  # 1 ms of the promise left: one more drain just after it
    assert schedule.after_drain(found=False) == pytest.approx(0.0015)
    now[0] += 2_000_000
    assert schedule.after_drain(found=False) is None  # kept: sleep until woken
    # a program that woke the reader promised 2 ms on its behalf: drained after those too
    cell.set(now[0] + 2_000_000)
    assert schedule.after_drain(found=False) == pytest.approx(0.0025)
