"""The host's process tree in user space, from exec/fork/exit events and a /proc scan at start.

The kernel sends exe and argv only at exec; every other event names its process by pid and start
time. The tree gives each event its process's program, its parent's executable and its
ancestors' (nearest first, ``max_depth`` of them), which rules match as ``proc.pname`` and
``proc.aname[n]``.

Entries are keyed by pid but carry the start time, so a recycled pid never inherits another
process's identity. Processes the tree does not know (they started before the sensor, or their
events were dropped in the kernel because a locked profile allows them) are read once from
/proc, with the same start-time check. The tree is bounded: least recently used out.

Each process also carries the cgroup its program was exec'd in. An event whose process has moved
to another cgroup since (a runtime's ``runc init`` joins a new container's cgroup, sets it up,
then execs the container's process) says where it came from in ``Event.entered_from_cgroup``;
identity decides whether that was the host (see vigil.identity.runtime_setup). Processes read
from /proc have no known exec cgroup: their events are judged as any other.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from vigil.models import Event, EventType
from vigil.sensor.records import ARGS_MAX, EXE_MAX
from vigil.sensor.text import argv_text, safe_text

NSEC_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
#: fields of /proc/<pid>/stat counted from the first field after the ")" of comm
PPID_INDEX = 4 - 3
STARTTIME_INDEX = 22 - 3
DEFAULT_MAX_DEPTH = 8


class Program(NamedTuple):  # one per exec: a named tuple is the cheapest immutable record
    exe: str
    cmdline: str
    #: argv was cut or escaped (same meaning as ProcessInfo.cmdline_truncated)
    truncated: bool


@dataclass(slots=True)
class Node:
    pid: int
    #: ns since boot; 0 when unknown (matches any start when looked up)
    start_ns: int
    ppid: int
    program: Program | None
    cgroup_id: int = 0
    #: executables of its ancestors, nearest first, once found (see ProcessTree.ancestors)
    ancestors: tuple[str, ...] | None = None
    #: the cgroup its program was exec'd in (a fork's is its parent's); 0 when unknown
    exec_cgroup: int = 0


class ProcessTree:
    def __init__(
        self,
        *,
        capacity: int = 32768,
        proc_root: Path = Path("/proc"),
        cgroup2_root: Path | None = None,
        max_depth: int = DEFAULT_MAX_DEPTH,
    ) -> None:
        self.capacity = capacity
        self.proc_root = proc_root
        self.cgroup2_root = cgroup2_root
        self.max_depth = max_depth
        # Not vigil.caches.BoundedCache: this is looked up several times per event, and a
        # plain OrderedDict measured 111 ns per lookup against its 145 (store: 87 against 144);
        # pids_in_cgroup also walks it newest first, which BoundedCache does not offer.
        self._nodes: OrderedDict[int, Node] = OrderedDict()
        #: cgroup id → the earliest process start seen in it (≈ when the container started)
        self._cgroup_start: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    # -- building the tree -----------------------------------------------------------------
    def seed(self) -> int:
        """Add every process /proc lists now; returns how many were added."""
        added = 0
        try:
            entries = [e for e in os.listdir(self.proc_root) if e.isdigit()]
        except OSError:
            return 0
        # most processes share a few cgroups; their ids are known for as long as this lasts
        # (a removed cgroup's path may later name a new one: ids are never kept longer)
        cgroup_ids: dict[str, int] = {}
        for entry in entries[: self.capacity]:
            node = self._from_proc(int(entry), None, cgroup_ids)
            if node is not None:
                self._store(node)
                added += 1
        return added

    def observe(self, event: Event) -> Event:
        """Update the tree with ``event``; fill in its process's lineage in place; return it."""
        p = event.process
        self._note_cgroup(event.cgroup_id, p.start_ns)
        if event.type is EventType.EXEC:
            program = Program(p.exe, p.cmdline, p.cmdline_truncated)
            execed = Node(p.pid, p.start_ns, p.ppid, program, event.cgroup_id)
            execed.exec_cgroup = event.cgroup_id
            known = self._nodes.get(p.pid)
            if known is not None and known.start_ns == p.start_ns:
                # the exec that ends a runtime's setup still says where it came from
                event.entered_from_cgroup = _entered_from(known, event.cgroup_id)
                if known.ppid == p.ppid:
                    execed.ancestors = known.ancestors  # an exec changes the program only
            self._store(execed)
            return self._with_lineage(event, execed, None)
        if event.type is EventType.FORK:
            parent = self._node(p.ppid, 0)
            inherited = parent.program if parent else None
            child = self._nodes.get(p.pid)
            # unless the child's exec, recorded on another CPU, came first: it knows better
            if child is None or child.start_ns != p.start_ns:
                child = Node(p.pid, p.start_ns, p.ppid, inherited, event.cgroup_id)
                child.exec_cgroup = parent.exec_cgroup if parent else 0
                self._store(child)
            event.entered_from_cgroup = _entered_from(child, event.cgroup_id)
            return self._with_lineage(event, child, inherited)
        node = self._node(p.pid, p.start_ns)
        if node is not None:
            event.entered_from_cgroup = _entered_from(node, event.cgroup_id)
        if node is not None and p.ppid and node.ppid != p.ppid:
            node.ppid = p.ppid  # re-parented to a subreaper
            node.ancestors = None
        enriched = self._with_lineage(event, node, node.program if node else None)
        if event.type is EventType.EXIT:
            self._nodes.pop(p.pid, None)
        return enriched

    def pids_in_cgroup(self, cgroup_id: int) -> Iterator[int]:
        """Processes the tree knows in ``cgroup_id``, most recently active first."""
        for node in reversed(self._nodes.values()):
            if node.cgroup_id == cgroup_id:
                yield node.pid

    def cgroup_started_ns(self, cgroup_id: int) -> int | None:
        """The earliest process start (ns since boot) seen in ``cgroup_id``."""
        return self._cgroup_start.get(cgroup_id)

    def ancestors(self, node: Node) -> tuple[str, ...]:
        """Executables of ``node``'s ancestors, nearest first (parent first), at most
        ``max_depth``: walked up to the nearest ancestor that knows its own, then remembered on
        every node walked. So each event costs a lookup, not a walk, and an ancestry is as it
        was when first found (as the kernel's lineage hash is, copied at fork): a later exec of
        an ancestor does not rename it, a re-parented process finds its ancestry again."""
        if node.ancestors is not None:
            return node.ancestors
        walked = [node]
        seen = {node.pid}
        above: tuple[str, ...] = ()
        complete = True  # False: stopped at max_depth with more ancestors beyond
        while True:
            ppid = walked[-1].ppid
            if ppid <= 0 or ppid in seen:
                break
            if len(walked) > self.max_depth:
                complete = False
                break
            parent = self._node(ppid, 0)
            if parent is None:
                break
            if parent.ancestors is not None:
                above = (_exe_of(parent), *parent.ancestors)
                break
            seen.add(ppid)
            walked.append(parent)
        for below in reversed(walked):
            known = above[: self.max_depth]
            if complete or below is node:
                below.ancestors = known
            above = (_exe_of(below), *known)
        return node.ancestors or ()

    # -- internals -------------------------------------------------------------------------
    def _with_lineage(self, event: Event, node: Node | None, program: Program | None) -> Event:
        # In place: the event is the sensor's own until it is published (see vigil.models).
        p = event.process
        if node is None:  # neither seen nor in /proc: its parent may still be known
            node = Node(p.pid, p.start_ns, p.ppid, None)
        ancestors = self.ancestors(node)
        p.ancestors = ancestors
        p.parent_exe = ancestors[0] if ancestors else ""
        if program is not None and event.type is not EventType.EXEC:
            p.exe, p.cmdline, p.cmdline_truncated = program.exe, program.cmdline, program.truncated
        return event

    def _note_cgroup(self, cgroup_id: int, start_ns: int) -> None:
        if not cgroup_id or not start_ns:
            return
        known = self._cgroup_start.get(cgroup_id)
        if known is None or start_ns < known:
            if known is None and len(self._cgroup_start) >= self.capacity:
                self._cgroup_start.pop(next(iter(self._cgroup_start)))
            self._cgroup_start[cgroup_id] = start_ns

    def _node(self, pid: int, start_ns: int) -> Node | None:
        """The live process ``pid`` (started at ``start_ns``, 0 = any), from the tree or /proc."""
        node = self._nodes.get(pid)
        if node is not None and (not start_ns or not node.start_ns or node.start_ns == start_ns):
            self._nodes.move_to_end(pid)
            return node
        node = self._from_proc(pid, start_ns or None)
        if node is not None:
            self._store(node)
        return node

    def _store(self, node: Node) -> None:
        self._nodes[node.pid] = node
        self._nodes.move_to_end(node.pid)
        while len(self._nodes) > self.capacity:
            self._nodes.popitem(last=False)

    def _from_proc(
        self, pid: int, start_ns: int | None, cgroup_ids: dict[str, int] | None = None
    ) -> Node | None:
        base = self.proc_root / str(pid)
        stat = stat_fields(base)
        if stat is None or (start_ns is not None and stat[1] != start_ns // NSEC_PER_TICK):
            return None
        try:
            with (base / "cmdline").open("rb") as f:
                raw_args = f.read(ARGS_MAX + 1)
            exe_raw = os.fsencode(os.readlink(base / "exe"))[:EXE_MAX]
        except OSError:  # gone, or a kernel thread without exe
            exe_raw, raw_args = b"", b""
        again = stat_fields(base)
        if again is None or again[1] != stat[1]:  # the pid was recycled while we read
            return None
        cmdline, args_escaped = argv_text(raw_args[:ARGS_MAX])
        exe, exe_escaped = safe_text(exe_raw)
        program = Program(exe, cmdline, len(raw_args) > ARGS_MAX or args_escaped or exe_escaped)
        started = start_ns if start_ns is not None else stat[1] * NSEC_PER_TICK
        cgroup_id = self.cgroup_id_of(base, cgroup_ids)
        self._note_cgroup(cgroup_id, started)
        return Node(pid, started, stat[0], program, cgroup_id)

    def cgroup_id_of(self, base: Path, known: dict[str, int] | None = None) -> int:
        """The cgroup2 id of the process at ``base`` (a /proc/<pid> dir); 0 when unknown.

        ``known`` (cgroup path → id) saves a stat per process when many are looked up at once."""
        if self.cgroup2_root is None:
            return 0
        try:
            lines = (base / "cgroup").read_text().splitlines()
        except OSError:
            return 0
        for line in lines:
            if line.startswith("0::"):
                path = line[3:]
                if known is not None and path in known:
                    return known[path]
                try:
                    found = os.stat(self.cgroup2_root / path.lstrip("/")).st_ino
                except OSError:
                    return 0
                if known is not None:
                    known[path] = found
                return found
        return 0


def _entered_from(node: Node, cgroup_id: int) -> int:
    """The cgroup ``node``'s program was exec'd in, if it has moved to ``cgroup_id`` since
    without exec'ing (as a runtime's ``runc init`` does into a new container); else 0."""
    if node.exec_cgroup and cgroup_id and node.exec_cgroup != cgroup_id:
        return node.exec_cgroup
    return 0


def _exe_of(node: Node) -> str:
    return node.program.exe if node.program else ""


def stat_fields(base: Path) -> tuple[int, int] | None:
    """(ppid, starttime in clock ticks) from ``base/stat``."""
    try:
        stat = (base / "stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    if len(fields) <= STARTTIME_INDEX:
        return None
    return int(fields[PPID_INDEX]), int(fields[STARTTIME_INDEX])
