"""Naming the process behind a connect: exec records first, /proc (start-time checked) second."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from vigil.models import Event, EventType, NetworkInfo, ProcessInfo
from vigil.sensor.process_table import NSEC_PER_TICK, ProcessTable, Program, with_program

START_TICKS = 123456
START_NS = START_TICKS * NSEC_PER_TICK + 42  # sub-tick nanoseconds are lost in /proc


def fake_process(
    proc: Path, pid: int, *, ticks: int = START_TICKS, cmdline: bytes = b"curl\0-s\0x\0"
) -> None:
    base = proc / str(pid)
    base.mkdir(parents=True)
    # comm may hold spaces and parentheses: the parser must split after the last ")"
    fields = ["S", "1", *["0"] * 17, str(ticks), "0"]  # starttime is field 22
    (base / "stat").write_text(f"{pid} (we ird) (name) " + " ".join(fields) + "\n")
    (base / "cmdline").write_bytes(cmdline)
    (base / "exe").symlink_to("/usr/bin/curl")


def test_exec_records_are_remembered_by_pid_and_start(tmp_path: Path) -> None:
    table = ProcessTable(proc_root=tmp_path)
    table.remember(10, START_NS, Program("/bin/wget", "wget x", False))
    assert table.lookup(10, START_NS) == Program("/bin/wget", "wget x", False)
    assert table.lookup(10, START_NS + 1) is None  # same pid, another process, not in /proc


def test_unknown_processes_come_from_proc(tmp_path: Path) -> None:
    fake_process(tmp_path, 77)
    table = ProcessTable(proc_root=tmp_path)
    assert table.lookup(77, START_NS) == Program("/usr/bin/curl", "curl -s x", False)


def test_a_recycled_pid_is_not_mistaken_for_the_process(tmp_path: Path) -> None:
    fake_process(tmp_path, 77, ticks=START_TICKS + 500)
    assert ProcessTable(proc_root=tmp_path).lookup(77, START_NS) is None


def test_vanished_processes_are_unknown(tmp_path: Path) -> None:
    assert ProcessTable(proc_root=tmp_path).lookup(99, START_NS) is None


def test_hostile_proc_cmdline_is_escaped_and_bounded(tmp_path: Path) -> None:
    fake_process(tmp_path, 5, cmdline=b"evil\0\x1b[31m\0" + b"A" * 5000)
    program = ProcessTable(proc_root=tmp_path).lookup(5, START_NS)
    assert program is not None
    assert program.cmdline.startswith("evil \\x1b[31m AAA")
    assert len(program.cmdline) < 1100
    assert program.truncated


def test_the_table_is_bounded(tmp_path: Path) -> None:
    table = ProcessTable(capacity=3, proc_root=tmp_path)
    for pid in range(10):
        table.remember(pid, START_NS, Program("/bin/true", "true", False))
    assert len(table) == 3
    assert table.lookup(9, START_NS) is not None
    assert table.lookup(0, START_NS) is None


def test_this_process_is_found_in_the_real_proc() -> None:
    stat = Path("/proc/self/stat").read_bytes()
    ticks = int(stat[stat.rfind(b")") + 2 :].split()[19])
    program = ProcessTable().lookup(os.getpid(), ticks * NSEC_PER_TICK)
    assert program is not None
    assert program.exe == os.path.realpath(sys.executable)
    assert "pytest" in program.cmdline


def test_with_program_fills_exe_and_cmdline() -> None:
    event = Event(
        type=EventType.CONNECT,
        time=datetime.now(UTC),
        ktime_ns=1,
        cgroup_id=2,
        process=ProcessInfo(pid=3, ppid=1, uid=0, exe="", cmdline=""),
        network=NetworkInfo("tcp", "ipv4", "10.0.0.1", 443),
    )
    named = with_program(event, Program("/bin/wget", "wget -q x", True))
    assert named.process.exe == "/bin/wget"
    assert named.process.cmdline == "wget -q x"
    assert named.process.cmdline_truncated
    assert named.process.pid == 3
    assert named.network == event.network
