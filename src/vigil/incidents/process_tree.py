"""The process tree behind an incident, rebuilt from its alerts' process objects.

Processes link by ppid; a parent that raised no alert of its own is shown from what its child
knew of it (``parent_exe``, ``ancestors``), so the tree always ends in the chain that led there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ProcessNode:
    pid: int | None
    exe: str
    cmdline: str = ""
    alert_ids: list[str] = field(default_factory=list)
    children: list[ProcessNode] = field(default_factory=list)
    #: known only from a child's lineage, not seen by an alert itself
    inferred: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "exe": self.exe,
            "cmdline": self.cmdline,
            "alert_ids": self.alert_ids,
            "inferred": self.inferred,
            "children": [c.to_json() for c in self.children],
        }


def process_tree(alerts: list[dict[str, Any]]) -> list[ProcessNode]:
    """Roots of the forest formed by the alerts' processes, oldest alert first."""
    nodes: dict[int, ProcessNode] = {}
    parents: dict[int, int] = {}
    lineage: dict[int, tuple[str, list[str]]] = {}
    for alert in sorted(alerts, key=lambda a: str(a.get("time", ""))):
        process = alert.get("process") or {}
        pid = int(process.get("pid", 0))
        node = nodes.get(pid)
        if node is None:
            node = nodes[pid] = ProcessNode(
                pid, str(process.get("exe", "")), str(process.get("cmdline", ""))
            )
        node.alert_ids.append(str(alert.get("id", "")))
        parents[pid] = int(process.get("ppid", 0))
        lineage[pid] = (
            str(process.get("parent_exe", "")),
            [str(a) for a in process.get("ancestors", [])],
        )
    roots: list[ProcessNode] = []
    synthetic: dict[int, ProcessNode] = {}
    for pid, node in nodes.items():
        ppid = parents[pid]
        if ppid in nodes and ppid != pid:
            nodes[ppid].children.append(node)
            continue
        parent_exe, ancestors = lineage[pid]
        if ppid in synthetic:
            synthetic[ppid].children.append(node)
            continue
        parent = ProcessNode(ppid or None, parent_exe or "?", inferred=True, children=[node])
        synthetic[ppid] = parent
        top = parent
        chain = ancestors[1:] if ancestors and ancestors[0] == parent_exe else ancestors
        for exe in chain:
            top = ProcessNode(None, exe, inferred=True, children=[top])
        roots.append(top)
    return roots
