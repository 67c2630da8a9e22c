"""vigil.sensor.process_tree over a fixture /proc: lineage, recycled pids, bounds, cgroup ids."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.fixtures.sensor import ev, fake_proc
from vigil.models import EventType
from vigil.sensor.process_tree import NSEC_PER_TICK, ProcessTree


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
