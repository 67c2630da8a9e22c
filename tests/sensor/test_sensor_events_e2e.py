"""Every event type of the eBPF sensor, produced by real actions in a real runc container.

One container run produces all of them (the module fixture); each test checks one event type's
decoded fields. Two more containers show where an executable came from (a writable overlay
layer, /dev/shm). What reaches user space and when is in test_sensor_delivery_e2e.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.marks import E2E
from tests.fixtures.sensor_e2e import (
    act_and_watch,
    actions_container,
    free_port,
    tcp_server,
)
from vigil.identity.resolver import IdentityResolver
from vigil.lab import RuncContainer, build_busybox_rootfs, runc_available
from vigil.models import Event, EventType
from vigil.sensor.ebpf import EbpfSensor
from vigil.sensor.watch import DEFAULT_WRITE, WatchedPaths

pytestmark = E2E


@dataclass
class Run:
    events: list[Event]
    cgroup_id: int
    container: RuncContainer
    server_port: int
    listen_port: int
    stats_filtered: int = 0


ACTIONS = """
cd /tmp
/bin/cat /etc/hostname
sh -c 'exit 5'
echo hello | nc 127.0.0.1 {server_port}
nc -l -p {listen_port} >/dev/null &
sleep 0.3
echo hi | nc 127.0.0.1 {listen_port}
timeout 1 nslookup vigil-probe.example 127.0.0.1
timeout 1 arping -c 1 -w 1 -I lo 127.0.0.1
cat /etc/shadow >/dev/null
echo x > /etc/vigil-written
echo x > /dev/shm/vigil-written
ln -s /etc/passwd /dev/shm/vigil-symlink
ln /dev/shm/vigil-written /dev/shm/vigil-hardlink
mv /dev/shm/vigil-written /dev/shm/vigil-renamed
rm /dev/shm/vigil-renamed
echo m > /dev/vigil-moved
mv /dev/vigil-moved /dev/shm/vigil-moved-in
cp /bin/busybox /dev/vigil-tool
chmod 4755 /dev/vigil-tool
/dev/vigil-tool true
/bin/vigil-actions
/bin/echo "$(printf 'ctl\\001\\377end')" "$(head -c 3000 /dev/zero | tr '\\0' a)"
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("events")
    with tcp_server() as server_port, actions_container(tmp) as container:
        cgroup_id = container.cgroup_id()
        listen_port = free_port()
        time.sleep(1.1)  # files copied from now on are newer than the container's start
        script = ACTIONS.format(server_port=server_port, listen_port=listen_port)

        async def main() -> list[Event]:
            # /dev/shm is watched too: the rootfs is read-only, /dev/shm is where files change
            watch = WatchedPaths(write=(*DEFAULT_WRITE, "/dev/shm/"))
            async with EbpfSensor(cache_dir=tmp / "bpf", watch=watch) as sensor:
                return await act_and_watch(sensor, container, cgroup_id, script)

        events = asyncio.run(main())
        yield Run(events, cgroup_id, container, server_port, listen_port)


def _of(run: Run, kind: EventType) -> list[Event]:
    return [e for e in run.events if e.type is kind]


# -- processes ---------------------------------------------------------------------------------
def test_exec_has_argv_cwd_ids_and_lineage(run: Run) -> None:
    cat = [e for e in _of(run, EventType.EXEC) if e.process.exe == "/bin/cat"]
    assert cat, f"no exec of /bin/cat among {[e.process.exe for e in _of(run, EventType.EXEC)]}"
    p = cat[0].process
    assert p.cmdline == "/bin/cat /etc/hostname"
    assert p.cwd == "/tmp"
    assert (p.uid, p.euid, p.gid) == (0, 0, 0)
    assert p.parent_exe == "/bin/sh"
    assert p.ancestors[0] == "/bin/sh" and len(p.ancestors) >= 2
    assert p.start_ns > 0
    assert not p.exe_changed_after_start and not p.exe_on_writable_layer


def test_exit_code_and_fork(run: Run) -> None:
    exits = [e.process.exit_code for e in _of(run, EventType.EXIT)]
    assert 5 in exits
    forks = _of(run, EventType.FORK)
    assert forks and all(e.process.pid != e.process.ppid for e in forks)
    assert any(e.process.exe == "/bin/sh" for e in forks)  # a fork runs its parent's program


def test_exe_changed_after_start(run: Run) -> None:
    # /dev/shm is noexec in runc's default spec: the copy runs from /dev (a tmpfs) instead;
    # test_an_exec_from_dev_shm_is_flagged runs one from /dev/shm
    tool = [e for e in _of(run, EventType.EXEC) if e.process.exe == "/dev/vigil-tool"]
    assert tool
    assert tool[0].process.exe_changed_after_start
    assert not tool[0].process.exe_from_dev_shm


def test_exe_from_memfd_and_proc_self_exe(run: Run) -> None:
    execs = _of(run, EventType.EXEC)
    memfd = [e for e in execs if e.process.exe_from_memfd]
    assert memfd, [e.process.exe for e in execs]
    assert memfd[0].process.exe.startswith("/memfd:vigil-payload")
    reexec = [e for e in execs if e.process.cmdline.startswith("vigil-reexec")]
    assert reexec and reexec[0].process.exe == "/bin/vigil-actions"


def test_hostile_argv_is_cut_escaped_and_marked(run: Run) -> None:
    echo = [e for e in _of(run, EventType.EXEC) if e.process.exe == "/bin/echo"]
    assert echo
    p = echo[0].process
    assert p.cmdline_truncated
    assert "ctl\\x01\\xffend" in p.cmdline
    assert len(p.cmdline) <= 1100


# -- network -----------------------------------------------------------------------------------
def test_connect_with_result(run: Run) -> None:
    connects = [
        e
        for e in _of(run, EventType.CONNECT)
        if e.network and e.network.dest_port == run.server_port
    ]
    assert connects
    net = connects[0].network
    assert net is not None
    # busybox nc uses an IPv6 socket with the IPv4-mapped address
    assert net.protocol == "tcp" and net.dest_ip in ("127.0.0.1", "::ffff:127.0.0.1")
    assert net.result == 0
    # busybox sh runs applets by re-exec'ing /proc/self/exe: the real file is reported
    assert connects[0].process.exe == "/bin/busybox"
    assert connects[0].process.cmdline.startswith("nc ")


def test_listen_and_accept(run: Run) -> None:
    listens = [
        e
        for e in _of(run, EventType.LISTEN)
        if e.network and e.network.local_port == run.listen_port
    ]
    assert listens and listens[0].network is not None
    assert listens[0].network.protocol == "tcp"
    accepts = [
        e
        for e in _of(run, EventType.ACCEPT)
        if e.network and e.network.local_port == run.listen_port
    ]
    assert accepts and accepts[0].network is not None
    assert accepts[0].network.dest_ip in ("127.0.0.1", "::ffff:127.0.0.1")
    assert accepts[0].network.dest_port > 0


def test_dns_query_parsed(run: Run) -> None:
    queries = [e for e in _of(run, EventType.DNS) if e.dns and e.dns.name == "vigil-probe.example"]
    assert queries, [e.dns for e in _of(run, EventType.DNS)]
    assert queries[0].dns is not None and queries[0].dns.qtype in ("A", "AAAA")
    assert queries[0].network is not None and queries[0].network.dest_port == 53
    # the address travels packed right after the query's bytes
    assert queries[0].network.dest_ip == "127.0.0.1"


def test_packet_socket(run: Run) -> None:
    packets = _of(run, EventType.PACKET_SOCKET)
    assert packets and packets[0].process.cmdline.startswith("arping ")
    assert packets[0].syscall is not None and packets[0].syscall.name == "socket"


# -- files -------------------------------------------------------------------------------------
def test_sensitive_read_and_watched_write(run: Run) -> None:
    opens = {(e.file.path, e.file.operation) for e in _of(run, EventType.OPEN) if e.file}
    assert ("/etc/shadow", "read") in opens
    assert ("/etc/vigil-written", "create") in opens
    assert not any(path == "/etc/hostname" for path, _ in opens)  # not sensitive: filtered


def test_links_rename_unlink_chmod(run: Run) -> None:
    def files(kind: EventType) -> list[tuple[str, str]]:
        return [(e.file.path, e.file.target) for e in _of(run, kind) if e.file]

    assert ("/etc/passwd", "/dev/shm/vigil-symlink") in files(EventType.SYMLINK)
    assert ("/dev/shm/vigil-written", "/dev/shm/vigil-hardlink") in files(EventType.LINK)
    assert ("/dev/shm/vigil-written", "/dev/shm/vigil-renamed") in files(EventType.RENAME)
    assert ("/dev/shm/vigil-renamed", "") in files(EventType.UNLINK)
    # only the target is watched: the kernel matched the second packed string
    assert ("/dev/vigil-moved", "/dev/shm/vigil-moved-in") in files(EventType.RENAME)
    chmods = [e.file for e in _of(run, EventType.CHMOD) if e.file]
    assert any(f.path == "/dev/vigil-tool" and f.mode == 0o4755 for f in chmods)


# -- privilege and kernel ----------------------------------------------------------------------
def test_privilege_and_kernel_calls(run: Run) -> None:
    def calls(kind: EventType) -> list[tuple[str, dict[str, int | str]]]:
        return [(e.syscall.name, e.syscall.args) for e in _of(run, kind) if e.syscall]

    assert ("setuid", {"uid": 4321}) in calls(EventType.SETUID)
    assert ("setgid", {"gid": 1234}) in calls(EventType.SETGID)
    ptrace = calls(EventType.PTRACE)
    assert ptrace and ptrace[0][1]["request"] == 16 and int(ptrace[0][1]["target_pid"]) > 0
    mounts = calls(EventType.MOUNT)
    assert ("mount", {"source": "none", "target": "/tmp", "fstype": "tmpfs", "flags": 0}) in mounts
    assert calls(EventType.UMOUNT)[0][1]["target"] == "/tmp/vigil-none"
    assert calls(EventType.UNSHARE)[0][1]["flags"] == 0x04000000  # CLONE_NEWUTS
    assert calls(EventType.SETNS)[0][1]["nstype"] == 0x04000000
    assert ("memfd_create", {"name": "vigil-payload", "flags": 0}) in calls(EventType.MEMFD_CREATE)
    assert calls(EventType.BPF)[0][1]["cmd"] == 0


def test_every_event_carries_identity_and_time(run: Run) -> None:
    assert run.events
    for event in run.events:
        assert event.cgroup_id == run.cgroup_id and event.ktime_ns > 0
        assert event.process.pid > 0 and event.process.start_ns > 0
    who = IdentityResolver().resolve(run.cgroup_id, run.events[0].process.pid)
    assert who.container.id == run.container.id


# -- the writable layer ----------------------------------------------------------------------
@contextlib.contextmanager
def _overlay_root(tmp: Path) -> Iterator[Path]:
    """A container root as engines make one: the image read-only below, a writable layer above."""
    lower = build_busybox_rootfs(tmp / "lower")
    upper, work, merged = tmp / "upper", tmp / "work", tmp / "merged"
    for directory in (upper, work, merged):
        directory.mkdir()
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    mounted = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(merged)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount an overlay here: {mounted.stderr.strip()[:200]}")
    try:
        yield merged
    finally:
        subprocess.run(["umount", "-l", str(merged)], check=False)


def test_an_executable_dropped_on_the_writable_layer_is_flagged(tmp_path: Path) -> None:
    if not runc_available():
        pytest.skip("runc is not installed")
    with _overlay_root(tmp_path) as root:
        name = f"vigil-layer-{uuid.uuid4().hex[:8]}"
        with RuncContainer(name, root, tmp_path / "bundle", ["/bin/sleep", "120"]) as container:
            assert container.wait_for_status("running")
            cgroup_id = container.cgroup_id()
            time.sleep(1.1)  # the dropped file's ctime is a later second than the start
            # dropped after the start, through the overlay: it lands in the upper layer
            (root / "bin" / "vigil-dropped").write_bytes((root / "bin" / "busybox").read_bytes())
            (root / "bin" / "vigil-dropped").chmod(0o755)

            async def main() -> list[Event]:
                async with EbpfSensor(cache_dir=tmp_path / "bpf") as sensor:
                    return await act_and_watch(
                        sensor, container, cgroup_id, "/bin/true; /bin/vigil-dropped true"
                    )

            events = asyncio.run(main())
    execs = {e.process.exe: e.process for e in events if e.type is EventType.EXEC}
    dropped, image = execs["/bin/vigil-dropped"], execs["/bin/true"]
    assert dropped.exe_on_writable_layer and dropped.exe_changed_after_start
    assert not image.exe_on_writable_layer and not image.exe_changed_after_start


class _ShmExecContainer(RuncContainer):
    """runc's default spec mounts /dev/shm noexec; many engines' do not (and attackers use it)."""

    def _spec(self) -> dict[str, object]:
        spec = super()._spec()
        for mount in spec["mounts"]:
            if mount["destination"] == "/dev/shm":
                mount["options"] = [o for o in mount["options"] if o != "noexec"]
        return spec


def test_an_exec_from_dev_shm_is_flagged(tmp_path: Path) -> None:
    if not runc_available():
        pytest.skip("runc is not installed")
    rootfs = build_busybox_rootfs(tmp_path / "rootfs")
    name = f"vigil-shm-{uuid.uuid4().hex[:8]}"
    with _ShmExecContainer(name, rootfs, tmp_path / "bundle", ["/bin/sleep", "120"]) as container:
        assert container.wait_for_status("running")
        cgroup_id = container.cgroup_id()
        tool = "/dev/shm/vigil-shm-tool"
        script = f"cp /bin/busybox {tool} && {tool} true; /bin/true"

        async def main() -> list[Event]:
            async with EbpfSensor(cache_dir=tmp_path / "bpf") as sensor:
                return await act_and_watch(sensor, container, cgroup_id, script)

        events = asyncio.run(main())
    execs = {e.process.exe: e.process for e in events if e.type is EventType.EXEC}
    assert execs["/dev/shm/vigil-shm-tool"].exe_from_dev_shm
    assert execs["/dev/shm/vigil-shm-tool"].exe_changed_after_start
    assert not execs["/bin/true"].exe_from_dev_shm
