"""The eBPF sensor on the real kernel, watching a real runc container.

Everything here is end-to-end (root, clang, bpftool, runc): loading, attaching, closing and
its error reports. The sensor's bookkeeping without a kernel is in test_sensor_ebpf_counts.py.
"""

from __future__ import annotations

import asyncio
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.marks import e2e
from tests.fixtures.sensor_e2e import (
    PROGRAMS,
    actions_container,
    bpf_fds,
    collect,
    program_loaded,
)
from vigil.errors import PrivilegeError, SensorError
from vigil.lab import RuncContainer
from vigil.models import Event, EventType
from vigil.sensor import SensorStats
from vigil.sensor.build import BuiltObject
from vigil.sensor.ebpf import SENSOR_NAME, EbpfSensor
from vigil.sensor.mounts import BPFFS, TRACEFS, mounted


@pytest.fixture(scope="module")
def bpf_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One compile for the whole module."""
    return tmp_path_factory.mktemp("bpf-cache")


@pytest.fixture
def container(tmp_path: Path) -> Iterator[RuncContainer]:
    with actions_container(tmp_path, prepare=False) as running:
        yield running


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the host\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _serve(server: http.server.HTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_port() -> Iterator[int]:
    yield from _serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet))


@pytest.fixture
def http6_port() -> Iterator[int | None]:
    try:
        server = _Server6(("::1", 0), _Quiet)
    except OSError:
        yield None  # no IPv6 loopback on this machine
        return
    yield from _serve(server)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@e2e
def test_exec_and_connects_in_a_container_are_seen(
    bpf_cache: Path, container: RuncContainer, http_port: int, http6_port: int | None
) -> None:
    cgroup_id = container.cgroup_id()
    udp_port = _free_udp_port()

    def in_container(events: list[Event]) -> list[Event]:
        return [e for e in events if e.cgroup_id == cgroup_id]

    def is_cat(e: Event) -> bool:
        return e.type is EventType.EXEC and e.process.exe == "/bin/cat"

    def connects_to(port: int, family: str, protocol: str) -> Callable[[Event], bool]:
        def match(e: Event) -> bool:
            net = e.network
            return (
                net is not None
                and net.dest_port == port
                and net.family == family
                and net.protocol == protocol
            )

        return match

    wanted = [
        is_cat,
        connects_to(http_port, "ipv4", "tcp"),
        connects_to(udp_port, "ipv4", "udp"),
    ]
    if http6_port is not None:
        wanted.append(connects_to(http6_port, "ipv6", "tcp"))

    def all_seen(events: list[Event]) -> bool:
        mine = in_container(events)
        return all(any(match(e) for e in mine) for match in wanted)

    async def scenario() -> tuple[list[Event], list[str], list[subprocess.CompletedProcess[str]]]:
        async with EbpfSensor(cache_dir=bpf_cache) as sensor:
            assert sensor.name == SENSOR_NAME == "ebpf"
            attached = sensor.attached_programs()
            runs = [
                await asyncio.to_thread(container.exec, ["/bin/cat", "/etc/hostname"]),
                await asyncio.to_thread(
                    container.exec,
                    ["/bin/wget", "-q", "-O-", f"http://127.0.0.1:{http_port}/"],
                ),
                # busybox nc has no -u; nslookup connect()s a UDP socket to the server it asks
                await asyncio.to_thread(
                    container.exec,
                    ["/bin/nslookup", f"-port={udp_port}", "vigil.test", "127.0.0.1"],
                    timeout=15.0,
                ),
            ]
            if http6_port is not None:
                runs.append(
                    await asyncio.to_thread(
                        container.exec, ["/bin/wget", "-q", "-O-", f"http://[::1]:{http6_port}/"]
                    )
                )
            events = await collect(sensor, all_seen)
            return events, attached, runs

    events, attached, runs = asyncio.run(scenario())
    assert set(attached) == PROGRAMS
    assert runs[0].stdout.strip() == "vigil-lab"  # build_busybox_rootfs writes it
    assert "hello from the host" in runs[1].stdout
    mine = in_container(events)
    assert mine, f"no event from cgroup {cgroup_id} among {len(events)} events"

    cat = next(e for e in mine if is_cat(e))
    assert cat.process.cmdline == "/bin/cat /etc/hostname"
    assert cat.process.pid > 0
    assert cat.process.ppid > 0
    assert cat.process.uid == 0
    assert not cat.process.cmdline_truncated
    assert abs(time.time() - cat.time.timestamp()) < 60

    tcp = next(e for e in mine if connects_to(http_port, "ipv4", "tcp")(e))
    assert tcp.network is not None
    assert tcp.network.dest_ip == "127.0.0.1"
    assert tcp.network.destination == f"tcp/127.0.0.1:{http_port}"
    assert tcp.process.pid > 0
    wget = [e for e in mine if e.type is EventType.EXEC and e.process.exe == "/bin/wget"]
    assert wget and tcp.process.pid == wget[0].process.pid
    # connect records carry no exe/argv: the sensor names the process from its exec
    assert tcp.process.exe == "/bin/wget"
    assert tcp.process.cmdline == f"/bin/wget -q -O- http://127.0.0.1:{http_port}/"

    udp = next(e for e in mine if connects_to(udp_port, "ipv4", "udp")(e))
    assert udp.network is not None
    assert udp.network.dest_ip == "127.0.0.1"

    if http6_port is not None:
        tcp6 = next(e for e in mine if connects_to(http6_port, "ipv6", "tcp")(e))
        assert tcp6.network is not None
        assert tcp6.network.dest_ip == "::1"


@e2e
def test_connects_of_processes_older_than_the_sensor_are_named_from_proc(
    bpf_cache: Path, http_port: int
) -> None:
    waiting = subprocess.Popen(  # exec'd before the sensor starts: no exec event for it
        [
            sys.executable,
            "-c",
            "import socket, sys; sys.stdin.readline(); "
            f"socket.create_connection(('127.0.0.1', {http_port})).close(); "
            "sys.stdin.readline()",  # stay alive until the test has seen the connect
        ],
        stdin=subprocess.PIPE,
    )
    assert waiting.stdin is not None

    async def run() -> list[Event]:
        async with EbpfSensor(cache_dir=bpf_cache) as sensor:
            assert waiting.stdin is not None
            waiting.stdin.write(b"go\n")
            waiting.stdin.flush()
            return await collect(
                sensor, lambda seen: any(e.process.pid == waiting.pid for e in seen)
            )

    try:
        events = asyncio.run(run())
    finally:
        waiting.stdin.close()
        waiting.wait(10)
    connect = next(e for e in events if e.process.pid == waiting.pid)
    assert connect.network is not None
    assert connect.network.dest_port == http_port
    assert connect.process.exe == os.path.realpath(sys.executable)
    assert "socket.create_connection" in connect.process.cmdline


def kernel_mounts() -> set[tuple[str, str]]:
    """The mounts the sensor manages (other containers on the machine mount and unmount too)."""
    return {mount for mount in mounted() if mount[0] in (BPFFS.fstype, TRACEFS.fstype)}


@e2e
def test_closing_detaches_every_program_and_unmounts(bpf_cache: Path) -> None:
    mounts_before = kernel_mounts()
    fds_before = bpf_fds()

    async def run() -> tuple[dict[str, int], set[tuple[str, str]], SensorStats]:
        async with EbpfSensor(cache_dir=bpf_cache) as sensor:
            ids = sensor.program_ids()
            during = mounted()
            assert all(program_loaded(prog_id) for prog_id in ids.values())
        return ids, during, sensor.stats()

    ids, mounts_during, stats_after = asyncio.run(run())
    assert set(ids) == PROGRAMS
    assert ("tracefs", "/sys/kernel/tracing") in mounts_during
    assert ("bpf", "/sys/fs/bpf") in mounts_during
    assert kernel_mounts() == mounts_before  # it unmounted exactly what it mounted
    assert bpf_fds() == fds_before
    assert stats_after.lost_kernel >= 0  # still readable after close

    deadline = time.monotonic() + 5.0  # programs are freed after an RCU grace period
    while any(program_loaded(i) for i in ids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [name for name, i in ids.items() if program_loaded(i)]


SENSOR_UNTIL_INTERRUPTED = """
import asyncio, sys
from pathlib import Path
from vigil.sensor.ebpf import EbpfSensor

async def main():
    async with EbpfSensor(cache_dir=Path(sys.argv[1])) as sensor:
        print(*sensor.program_ids().values(), flush=True)
        async for _ in sensor.events():
            pass

asyncio.run(main())
"""


@e2e
def test_ctrl_c_detaches_every_program(bpf_cache: Path) -> None:
    mounts_before = kernel_mounts()
    agent = subprocess.Popen(
        [sys.executable, "-c", SENSOR_UNTIL_INTERRUPTED, str(bpf_cache)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert agent.stdout is not None
        ids = [int(i) for i in agent.stdout.readline().split()]
        assert len(ids) == len(PROGRAMS), agent.stderr.read() if agent.stderr else ""
        assert all(program_loaded(i) for i in ids)
        agent.send_signal(signal.SIGINT)
        _, err = agent.communicate(timeout=10)
    finally:
        agent.kill()
        agent.wait()
    assert "KeyboardInterrupt" in err
    deadline = time.monotonic() + 5.0
    while any(program_loaded(i) for i in ids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [i for i in ids if program_loaded(i)]
    assert kernel_mounts() == mounts_before


@e2e
def test_a_full_ring_buffer_counts_kernel_losses_and_recovers(bpf_cache: Path) -> None:
    marker = f"vigil-after-storm-{uuid.uuid4().hex[:6]}"

    async def run() -> tuple[SensorStats, list[Event]]:
        # 4 KiB holds three exec records: the storm overflows it while the loop is blocked.
        async with EbpfSensor(cache_dir=bpf_cache, ringbuf_bytes=4096) as sensor:
            subprocess.run(  # blocking on purpose: the loop cannot drain the ring buffer
                ["/bin/sh", "-c", "for i in $(seq 300); do /bin/true; done"], check=True
            )
            stats = sensor.stats()
            await asyncio.sleep(0.1)  # let the loop drain what did fit
            await asyncio.to_thread(subprocess.run, ["/bin/echo", marker], capture_output=True)
            after = await collect(
                sensor, lambda seen: any(marker in e.process.cmdline for e in seen)
            )
        return stats, after

    stats, after = asyncio.run(run())
    assert stats.lost_kernel > 0, stats
    assert stats.lost_kernel >= 300 - 3 - stats.received
    assert any(marker in e.process.cmdline for e in after), "sensor did not recover"


@e2e
def test_a_full_queue_stops_reading_instead_of_dropping(bpf_cache: Path) -> None:
    async def run() -> SensorStats:
        async with EbpfSensor(cache_dir=bpf_cache, queue_size=2) as sensor:
            # Nobody iterates events(): the queue of two fills, the rest waits in the ring.
            await asyncio.to_thread(
                subprocess.run, ["/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8; do /bin/true; done"]
            )
            await asyncio.sleep(0.2)
            return sensor.stats()

    stats = asyncio.run(run())
    assert stats.lost_user == 0 and stats.lost_kernel == 0, stats
    assert stats.received <= 3, stats  # two queued, one held; the rest is still in the kernel
    assert stats.received >= stats.lost_user + 2


def _refused_object(tmp_path: Path) -> BuiltObject:
    """vigil's BPF object built with one program the verifier must refuse."""
    from vigil.sensor.build import SOURCE_DIR, build_object

    sources = tmp_path / "src"
    shutil.copytree(SOURCE_DIR, sources)
    c_file = sources / "vigil.bpf.c"
    # let argv reads run past the 1 KiB buffer: the verifier must refuse the program
    c_file.write_text(c_file.read_text().replace("len > VIGIL_ARGS_MAX)", "len > 4096)"))
    assert "len > 4096)" in c_file.read_text()
    return build_object(tmp_path / "cache", source_dir=sources)


@e2e
def test_a_verifier_rejection_is_explained(tmp_path: Path) -> None:
    from vigil.sensor import libbpf

    built = _refused_object(tmp_path)
    obj = libbpf.open_object(built.path)
    try:
        with pytest.raises(SensorError) as caught:
            libbpf.load_object(obj)
    finally:
        libbpf.close_object(obj)
    message = str(caught.value)
    assert message.startswith("load BPF object failed")
    assert "invalid access to" in message  # the verifier's own reason, quoted
    assert "vigil_exec" in message
    assert not isinstance(caught.value, PrivilegeError)
    assert len(message) < 1000


@e2e
def test_a_sensor_that_cannot_load_reports_why_and_not_its_cleanup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cleaning up after a failed load once read the loss maps of an object never loaded:
    libbpf's -1 for a map not made read as EPERM, and "run vigil as root" hid the reason."""
    import vigil.sensor.ebpf as ebpf_module

    built = _refused_object(tmp_path)
    monkeypatch.setattr(ebpf_module, "build_object", lambda *args, **kwargs: built)

    async def enter() -> None:
        async with EbpfSensor(cache_dir=tmp_path / "bpf"):
            pass

    with pytest.raises(SensorError) as caught:
        asyncio.run(enter())
    assert str(caught.value).startswith("load BPF object failed")
    assert "invalid access to" in str(caught.value)
