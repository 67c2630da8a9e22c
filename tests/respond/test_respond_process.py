"""pidfd kills and forensics on real processes of this host (our own children)."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vigil.errors import RuntimeActionError
from vigil.respond.forensics import REDACTED, Forensics, redact_environ
from vigil.respond.process import ProcessKiller, descendants, read_stat, relative_cgroup_paths

TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def start_ns_of(pid: int) -> int:
    stat = read_stat(Path("/proc"), pid)
    assert stat is not None
    return stat.start_ticks * TICK_NS


def wait_exit(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> int:
    return proc.wait(timeout=timeout)


def test_kill_through_pidfd_checks_the_process_identity() -> None:
    proc = subprocess.Popen(["sleep", "30"])
    try:
        killer = ProcessKiller()
        with pytest.raises(RuntimeActionError, match="pid reused"):
            killer.kill(proc.pid, start_ns=start_ns_of(proc.pid) + 10 * TICK_NS)
        assert proc.poll() is None  # the wrong "process" was left alone
        detail = killer.kill(proc.pid, start_ns=start_ns_of(proc.pid))
        assert detail == f"sent SIGKILL to pid {proc.pid} via pidfd"
        assert wait_exit(proc) == -signal.SIGKILL
        with pytest.raises(RuntimeActionError, match="refusing to signal protected"):
            killer.kill(os.getpid())
    finally:
        proc.kill()


def test_kill_tree_reaches_every_descendant() -> None:
    # sh → (sh → sleep, sleep): the grandchildren must die too, not be reparented and live on
    proc = subprocess.Popen(["sh", "-c", "(sleep 30 & sleep 30) & sleep 30 & wait"])
    try:
        deadline = time.monotonic() + 5
        while len(descendants(Path("/proc"), proc.pid)) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        tree = descendants(Path("/proc"), proc.pid)
        assert len(tree) >= 4
        detail = ProcessKiller().kill_tree(proc.pid, start_ns=start_ns_of(proc.pid))
        assert f"{len(tree)} process(es)" in detail
        assert wait_exit(proc) == -signal.SIGKILL
        deadline = time.monotonic() + 5
        while any(read_stat(Path("/proc"), p) for p in tree[1:]) and time.monotonic() < deadline:
            time.sleep(0.02)
        alive = [p for p in tree[1:] if (s := read_stat(Path("/proc"), p)) and s.ppid != 0]
        zombies_or_gone = [p for p in alive if "Z" not in Path(f"/proc/{p}/stat").read_text()]
        assert zombies_or_gone == []
    finally:
        proc.kill()


def test_relative_cgroup_paths_for_v1_hybrid_and_pure_v2() -> None:
    assert relative_cgroup_paths(
        {
            "freezer": "/sys/fs/cgroup/freezer/default/c1",
            "": "/sys/fs/cgroup/unified/default/c1",
        }
    ) == {"/default/c1"}
    assert relative_cgroup_paths({"": "/sys/fs/cgroup/kubepods/pod1/c2"}) == {"/kubepods/pod1/c2"}


def test_environment_secrets_are_redacted() -> None:
    env = redact_environ(
        b"PATH=/bin\0DB_PASSWORD=hunter2\0AWS_SECRET_ACCESS_KEY=x\0HDR=Bearer abc\0MODE=prod\0"
    )
    assert env == {
        "PATH": "/bin",
        "DB_PASSWORD": REDACTED,
        "AWS_SECRET_ACCESS_KEY": REDACTED,
        "HDR": REDACTED,
        "MODE": "prod",
    }


def test_forensics_capture_of_a_live_process(tmp_path: Path) -> None:
    script = (
        "import socket, time\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "f = open(__import__('sys').argv[1], 'w')\n"
        "print(s.getsockname()[1], flush=True)\n"
        "time.sleep(30)\n"
    )
    opened = tmp_path / "held-open.txt"
    env = {"PATH": "/usr/bin:/bin", "API_TOKEN": "s3cr3t", "GREETING": "hello"}
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(opened)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        capture = Forensics(tmp_path / "forensics").capture("alert/../1", [proc.pid])
        assert capture.directory == tmp_path / "forensics" / "alert_.._1"
        (info,) = json.loads((capture.directory / "processes.json").read_text())
        assert info["pid"] == proc.pid
        assert info["cmdline"][:2] == [sys.executable, "-c"]
        assert info["environ"]["API_TOKEN"] == REDACTED
        assert info["environ"]["GREETING"] == "hello"
        assert str(opened) in [f["path"] for f in info["files"]]
        listening = [s for s in info["sockets"] if s.get("local", "").endswith(f":{port}")]
        assert listening and listening[0]["proto"] == "tcp"
        exe = Path(os.readlink(f"/proc/{proc.pid}/exe"))
        digest = hashlib.sha256(exe.read_bytes()).hexdigest()
        assert info["exe_sha256"] == digest
        assert (capture.directory / "exe" / digest).read_bytes() == exe.read_bytes()
        assert "s3cr3t" not in (capture.directory / "processes.json").read_text()
    finally:
        proc.kill()
        proc.wait()


def test_forensics_of_nothing_is_a_clear_failure(tmp_path: Path) -> None:
    with pytest.raises(RuntimeActionError, match="no process left to capture"):
        Forensics(tmp_path).capture("a", [999_999_999])
