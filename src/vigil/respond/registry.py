"""The one list of response actions: each name with what it does to a workload and where it runs.

Config validation, the guardrails, the responder, the UI and (later) RBAC generation all read
this table; an action exists only if it is listed here. Implementations are bound by name in
:class:`vigil.respond.actions.ActionKit`, which a test checks against this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Scope(StrEnum):
    """Where an action is carried out."""

    #: on the node that saw the event (kernel, cgroup, /proc, the container runtime)
    NODE = "node"
    #: through the Kubernetes API (needs cluster RBAC)
    CLUSTER = "cluster"


@dataclass(frozen=True, slots=True)
class ActionSpec:
    name: str
    summary: str
    #: destroys evidence or the workload (forensics runs before the first of them)
    destructive: bool = False
    #: needs a Kubernetes API client
    needs_kubernetes: bool = False
    scope: Scope = Scope.NODE


def _table(*specs: ActionSpec) -> Mapping[str, ActionSpec]:
    return MappingProxyType({spec.name: spec for spec in specs})


ACTIONS: Mapping[str, ActionSpec] = _table(
    ActionSpec("block-exec", "make the offending executable die at exec in this container"),
    ActionSpec("enforce-profile", "only the profile's executables may run in this container"),
    ActionSpec("kill", "kill the offending process", destructive=True),
    ActionSpec("kill-tree", "kill the offending process and its descendants", destructive=True),
    ActionSpec("freeze", "freeze the container's cgroup"),
    ActionSpec("thaw", "thaw the container's cgroup"),
    ActionSpec("forensics", "capture the container's processes and executables"),
    ActionSpec("stop-container", "stop the container through its runtime", destructive=True),
    ActionSpec("kill-container", "kill the container through its runtime", destructive=True),
    ActionSpec(
        "delete-pod",
        "delete the pod so its owner restarts it clean",
        destructive=True,
        needs_kubernetes=True,
        scope=Scope.CLUSTER,
    ),
    ActionSpec(
        "isolate-pod",
        "cut the pod off the network with a NetworkPolicy",
        needs_kubernetes=True,
        scope=Scope.CLUSTER,
    ),
    ActionSpec(
        "scale-to-zero",
        "scale the pod's workload to zero replicas",
        destructive=True,
        needs_kubernetes=True,
        scope=Scope.CLUSTER,
    ),
    ActionSpec(
        "label-pod", "label the pod with the alert", needs_kubernetes=True, scope=Scope.CLUSTER
    ),
    ActionSpec(
        "annotate-pod",
        "annotate the pod with the alert",
        needs_kubernetes=True,
        scope=Scope.CLUSTER,
    ),
    ActionSpec(
        "cordon-node",
        "mark the pod's node unschedulable",
        needs_kubernetes=True,
        scope=Scope.CLUSTER,
    ),
    ActionSpec(
        "k8s-event",
        "record a Kubernetes Event on the pod",
        needs_kubernetes=True,
        scope=Scope.CLUSTER,
    ),
)

#: every action name, in the table's order
ACTION_NAMES: tuple[str, ...] = tuple(ACTIONS)
#: actions that destroy evidence (forensics runs before the first of them)
DESTRUCTIVE: frozenset[str] = frozenset(name for name, s in ACTIONS.items() if s.destructive)


def spec(name: str) -> ActionSpec:
    """The action called ``name``; :class:`KeyError` when there is none."""
    return ACTIONS[name]
