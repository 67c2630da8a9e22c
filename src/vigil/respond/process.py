"""Kill a process, or its whole tree, through pidfds: no PID-reuse race.

A pid from an event may have been reused by the time we act. We open a pidfd first (it pins that
one process), then check through /proc that the process behind it is the one the event named
(same start time, same cgroup); only then is the signal sent through the pidfd, which can reach
no other process even if the pid is reused a microsecond later.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from vigil.errors import RuntimeActionError

#: boot-time ns vs /proc's clock ticks: the start times agree within one tick
_TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
MAX_TREE_ROUNDS = 5


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    ppid: int
    start_ticks: int


def read_stat(proc_root: Path, pid: int) -> ProcStat | None:
    try:
        raw = (proc_root / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None
    # comm may hold spaces and parentheses: the fields start after the last ')'
    fields = raw[raw.rindex(")") + 2 :].split()
    return ProcStat(pid=pid, ppid=int(fields[1]), start_ticks=int(fields[19]))


def same_process(stat: ProcStat, start_ns: int) -> bool:
    """Whether /proc's start time (ticks) is the event's (``start_boottime`` ns)."""
    if start_ns <= 0:
        return True  # the event did not say; the cgroup check still applies
    return abs(stat.start_ticks * _TICK_NS - start_ns) <= _TICK_NS


def _in_cgroup(proc_root: Path, pid: int, cgroup_suffixes: frozenset[str]) -> bool:
    if not cgroup_suffixes:
        return True
    try:
        lines = (proc_root / str(pid) / "cgroup").read_text().splitlines()
    except OSError:
        return False
    paths = {line.split(":", 2)[2] for line in lines if line.count(":") >= 2}
    return any(p.endswith(s) for p in paths for s in cgroup_suffixes if p not in ("", "/"))


def relative_cgroup_paths(cgroup_paths: Mapping[str, str]) -> frozenset[str]:
    """The container's cgroup paths as /proc/<pid>/cgroup shows them (below each mount).

    ``/sys/fs/cgroup/freezer/x/y`` (v1) and ``/sys/fs/cgroup/unified/x/y`` (hybrid v2) and, on a
    pure v2 host, ``/sys/fs/cgroup/x/y`` all become ``/x/y``.
    """
    found = set()
    for controller, absolute in cgroup_paths.items():
        parts = Path(absolute).parts
        if "cgroup" not in parts:
            continue
        below = list(parts[parts.index("cgroup") + 1 :])
        if below and (controller or below[0] == "unified"):
            below = below[1:]  # the controller's (or the unified) mount directory
        if below:
            found.add("/" + "/".join(below))
    return frozenset(found)


def all_stats(proc_root: Path) -> Iterator[ProcStat]:
    for entry in proc_root.iterdir():
        if entry.name.isdigit():
            stat = read_stat(proc_root, int(entry.name))
            if stat is not None:
                yield stat


def descendants(proc_root: Path, root_pid: int) -> list[int]:
    """``root_pid`` and every process below it, parents first."""
    children: dict[int, list[int]] = {}
    for stat in all_stats(proc_root):
        children.setdefault(stat.ppid, []).append(stat.pid)
    order, queue = [], [root_pid]
    while queue:
        pid = queue.pop(0)
        order.append(pid)
        queue.extend(sorted(children.get(pid, [])))
    return order


class ProcessKiller:
    """Signals processes through pidfds. ``proc_root`` is injectable for tests over fixtures."""

    def __init__(self, proc_root: str = "/proc", *, protected_pids: frozenset[int] = frozenset()):
        self.proc_root = Path(proc_root)
        self.protected = protected_pids | {1, os.getpid()}

    @contextlib.contextmanager
    def _pidfd(self, pid: int) -> Iterator[int]:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            raise RuntimeActionError(f"process {pid} has already exited") from None
        except OSError as exc:
            raise RuntimeActionError(f"cannot open a pidfd for {pid}: {exc.strerror}") from None
        try:
            yield fd
        finally:
            os.close(fd)

    def kill(
        self,
        pid: int,
        *,
        start_ns: int = 0,
        cgroup_suffixes: frozenset[str] = frozenset(),
        signum: int = signal.SIGKILL,
    ) -> str:
        """Signal the one process the event named; refuse if ``pid`` now names another."""
        if pid in self.protected:
            raise RuntimeActionError(f"refusing to signal protected process {pid}")
        with self._pidfd(pid) as fd:
            stat = read_stat(self.proc_root, pid)
            if stat is None:
                raise RuntimeActionError(f"process {pid} has already exited")
            if not same_process(stat, start_ns):
                raise RuntimeActionError(f"pid {pid} now names another process (pid reused)")
            if not _in_cgroup(self.proc_root, pid, cgroup_suffixes):
                raise RuntimeActionError(f"process {pid} is not in the alert's container")
            signal.pidfd_send_signal(fd, signum)
        return f"sent {signal.Signals(signum).name} to pid {pid} via pidfd"

    def kill_tree(
        self,
        pid: int,
        *,
        start_ns: int = 0,
        cgroup_suffixes: frozenset[str] = frozenset(),
    ) -> str:
        """SIGKILL ``pid`` and all its descendants.

        The tree is first stopped (SIGSTOP through pinned pidfds) and re-scanned until no new
        member appears, so a fork racing the scan cannot escape; then every member is killed.
        """
        with self._pidfd(pid) as root_fd:
            stat = read_stat(self.proc_root, pid)
            if stat is None or not same_process(stat, start_ns):
                raise RuntimeActionError(f"process {pid} has exited or its pid was reused")
            if not _in_cgroup(self.proc_root, pid, cgroup_suffixes):
                raise RuntimeActionError(f"process {pid} is not in the alert's container")
            pinned: dict[int, int] = {pid: root_fd}
            try:
                signal.pidfd_send_signal(root_fd, signal.SIGSTOP)
                for _ in range(MAX_TREE_ROUNDS):
                    fresh = [
                        p
                        for p in descendants(self.proc_root, pid)
                        if p not in pinned and p not in self.protected
                    ]
                    if not fresh:
                        break
                    for member in fresh:
                        fd = self._pin(member, cgroup_suffixes)
                        if fd is not None:
                            pinned[member] = fd
                            signal.pidfd_send_signal(fd, signal.SIGSTOP)
                for fd in pinned.values():
                    with contextlib.suppress(ProcessLookupError):
                        signal.pidfd_send_signal(fd, signal.SIGKILL)
            finally:
                for member, fd in pinned.items():
                    if member != pid:
                        os.close(fd)
        return f"sent SIGKILL to {len(pinned)} process(es) of the tree of pid {pid} via pidfds"

    def _pin(self, pid: int, cgroup_suffixes: frozenset[str]) -> int | None:
        """A pidfd for a tree member still in the container, or ``None`` if it is gone."""
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            return None  # it exited between the scan and now
        if not _in_cgroup(self.proc_root, pid, cgroup_suffixes):
            os.close(fd)
            return None
        return fd
