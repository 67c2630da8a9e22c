"""The registry's actions, implemented on the services they need (:class:`ActionKit`).

An action is ``async (alert, target) -> detail``; it raises :class:`RuntimeActionError` when it
cannot do its job. Blocking work (cgroup files, /proc, runc) runs in a worker thread so the
agent's loop keeps consuming events meanwhile. Names come only from
:mod:`vigil.respond.registry`: a method implements an action by ``@implements(name)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from vigil.errors import RuntimeActionError
from vigil.kube.objects import PodRef
from vigil.models import Alert
from vigil.respond.enforce import Enforcer
from vigil.respond.forensics import Forensics, cgroup_procs
from vigil.respond.freeze import set_frozen
from vigil.respond.process import ProcessKiller, relative_cgroup_paths
from vigil.respond.registry import ACTION_NAMES, ACTIONS, spec
from vigil.respond.runtime import RuntimeControl

if TYPE_CHECKING:  # lightkube comes in only with a Kubernetes API client (vigil.kube.setup)
    from vigil.kube.actions import KubeActions


class ContainerTarget(Protocol):
    """What every action needs of a container (identity's ContainerRecord fits)."""

    @property
    def cgroup_paths(self) -> Mapping[str, str]: ...


@runtime_checkable
class RuntimeTarget(Protocol):
    """What runtime and Kubernetes actions need in addition (ContainerRecord fits)."""

    @property
    def id(self) -> str: ...

    @property
    def runtime(self) -> str: ...

    @property
    def state_root(self) -> str: ...

    @property
    def cgroup_paths(self) -> Mapping[str, str]: ...

    @property
    def annotations(self) -> Mapping[str, str]: ...


class ContainerLookup(Protocol):
    def lookup(self, container_id: str) -> ContainerTarget | None: ...


Action = Callable[[Alert, ContainerTarget], Awaitable[str]]
_Implementation = TypeVar("_Implementation", bound=Callable[..., Awaitable[str]])

#: the attribute on an implementation that names the action it implements
_IMPLEMENTS = "vigil_action"
#: set on the implementations that need none of the kit's services
_STANDALONE = "vigil_standalone"
NO_KUBERNETES = "no Kubernetes API client is configured"


def implements(
    name: str, *, standalone: bool = False
) -> Callable[[_Implementation], _Implementation]:
    """Mark a method as the implementation of the registry's action ``name``.

    Raises :class:`KeyError` at import for a name the registry does not list; ``standalone``
    marks a static method that needs no service (a responder without a kit still has it).
    """
    spec(name)

    def mark(implementation: _Implementation) -> _Implementation:
        setattr(implementation, _IMPLEMENTS, name)
        setattr(implementation, _STANDALONE, standalone)
        return implementation

    return mark


def implementations(cls: type) -> dict[str, list[str]]:
    """Action name → the attributes of ``cls`` that implement it (there must be exactly one)."""
    found: dict[str, list[str]] = {}
    for attribute in sorted(dir(cls)):
        name = getattr(getattr(cls, attribute, None), _IMPLEMENTS, None)
        if isinstance(name, str):
            found.setdefault(name, []).append(attribute)
    return found


def _refuse(reason: str) -> Action:
    async def refused(alert: Alert, target: ContainerTarget) -> str:
        raise RuntimeActionError(reason)

    return refused


def _runtime_target(target: ContainerTarget) -> RuntimeTarget:
    if not isinstance(target, RuntimeTarget):
        raise RuntimeActionError("the container's runtime state is unknown")
    return target


class ActionKit:
    """The services behind the actions; any of them may be absent (its actions then fail)."""

    def __init__(
        self,
        *,
        killer: ProcessKiller | None = None,
        forensics: Forensics | None = None,
        runtime: RuntimeControl | None = None,
        enforcer: Enforcer | None = None,
        kube: KubeActions | None = None,
        profile_executables: Callable[[str], set[str]] | None = None,
    ) -> None:
        self.killer = killer or ProcessKiller()
        self.forensics = forensics
        self.runtime = runtime or RuntimeControl()
        self.enforcer = enforcer
        self.kube = kube
        self.profile_executables = profile_executables

    def registry(self) -> dict[str, Action]:
        """Every implemented action of the registry, in its order, bound to these services.

        Actions that need Kubernetes fail with one clear reason when no client is configured.
        """
        bound: dict[str, Action] = {}
        for name in ACTION_NAMES:
            attribute = _ATTRIBUTES.get(name)
            if attribute is None:
                continue  # a test keeps the registry and the implementations in step
            if ACTIONS[name].needs_kubernetes and self.kube is None:
                bound[name] = _refuse(NO_KUBERNETES)
            else:
                bound[name] = getattr(self, attribute)
        return bound

    @classmethod
    def standalone(cls) -> dict[str, Action]:
        """The actions that need no service: what a responder without a kit can do."""
        found: dict[str, Action] = {}
        for name, attribute in _ATTRIBUTES.items():
            implementation: Any = getattr(cls, attribute)
            if getattr(implementation, _STANDALONE, False):
                found[name] = implementation
        return found

    # -- cgroup --------------------------------------------------------------------------------
    @staticmethod
    @implements("freeze", standalone=True)
    async def freeze(alert: Alert, target: ContainerTarget) -> str:
        written = await asyncio.to_thread(set_frozen, target.cgroup_paths, True)
        return f"froze via {written}"

    @staticmethod
    @implements("thaw", standalone=True)
    async def thaw(alert: Alert, target: ContainerTarget) -> str:
        written = await asyncio.to_thread(set_frozen, target.cgroup_paths, False)
        return f"thawed via {written}"

    # -- kernel --------------------------------------------------------------------------------
    def _enforcer(self) -> Enforcer:
        if self.enforcer is None or not self.enforcer.active:
            raise RuntimeActionError("the in-kernel block is not loaded (needs root and BTF)")
        return self.enforcer

    @implements("block-exec")
    async def block_exec(self, alert: Alert, target: ContainerTarget) -> str:
        exe, cgroup_id = alert.event.process.exe, alert.event.cgroup_id
        if not exe or not cgroup_id:
            raise RuntimeActionError("the event names no executable or cgroup to block")
        self._enforcer().deny(cgroup_id, exe)
        return f"{exe} now dies at exec in cgroup {cgroup_id}"

    @implements("enforce-profile")
    async def enforce_profile(self, alert: Alert, target: ContainerTarget) -> str:
        workload = alert.event.workload
        if workload is None or self.profile_executables is None:
            raise RuntimeActionError("no profile is known for this container")
        allowed = self.profile_executables(workload.key)
        count = self._enforcer().allow_only(alert.event.cgroup_id, allowed)
        return f"only the {count} executable(s) of {workload.key}'s profile may run"

    # -- processes -----------------------------------------------------------------------------
    @implements("kill")
    async def kill(self, alert: Alert, target: ContainerTarget) -> str:
        return await _signal(self.killer.kill, alert, target)

    @implements("kill-tree")
    async def kill_tree(self, alert: Alert, target: ContainerTarget) -> str:
        return await _signal(self.killer.kill_tree, alert, target)

    @implements("forensics")
    async def capture(self, alert: Alert, target: ContainerTarget) -> str:
        if self.forensics is None:
            raise RuntimeActionError("no forensics directory is configured")
        pids = cgroup_procs(target.cgroup_paths) or [alert.event.process.pid]
        found = await asyncio.to_thread(self.forensics.capture, alert.id, pids)
        return (
            f"captured {found.processes} process(es), {found.executables} executable(s) "
            f"into {found.directory}"
        )

    # -- runtime -------------------------------------------------------------------------------
    @implements("stop-container")
    async def stop_container(self, alert: Alert, target: ContainerTarget) -> str:
        t = _runtime_target(target)
        return await asyncio.to_thread(
            self.runtime.stop, t.runtime, t.state_root, t.id, t.cgroup_paths
        )

    @implements("kill-container")
    async def kill_container(self, alert: Alert, target: ContainerTarget) -> str:
        t = _runtime_target(target)
        return await asyncio.to_thread(
            self.runtime.kill, t.runtime, t.state_root, t.id, t.cgroup_paths
        )

    # -- Kubernetes ----------------------------------------------------------------------------
    def _kube(self, target: ContainerTarget) -> tuple[KubeActions, PodRef]:
        if self.kube is None:
            raise RuntimeActionError(NO_KUBERNETES)
        return self.kube, PodRef.from_annotations(_runtime_target(target).annotations)

    @implements("delete-pod")
    async def delete_pod(self, alert: Alert, target: ContainerTarget) -> str:
        kube, pod = self._kube(target)
        return await kube.delete_pod(pod)

    @implements("isolate-pod")
    async def isolate_pod(self, alert: Alert, target: ContainerTarget) -> str:
        kube, pod = self._kube(target)
        return await kube.isolate_pod(pod, alert.id)

    @implements("scale-to-zero")
    async def scale_to_zero(self, alert: Alert, target: ContainerTarget) -> str:
        kube, pod = self._kube(target)
        return await kube.scale_to_zero(pod)

    @implements("label-pod")
    async def label_pod(self, alert: Alert, target: ContainerTarget) -> str:
        kube, pod = self._kube(target)
        return await kube.label_pod(pod, alert.id, alert.rule)

    @implements("annotate-pod")
    async def annotate_pod(self, alert: Alert, target: ContainerTarget) -> str:
        kube, pod = self._kube(target)
        return await kube.annotate_pod(pod, alert.to_json())

    @implements("cordon-node")
    async def cordon_node(self, alert: Alert, target: ContainerTarget) -> str:
        kube, pod = self._kube(target)
        return await kube.cordon_node(pod)

    @implements("k8s-event")
    async def k8s_event(self, alert: Alert, target: ContainerTarget) -> str:
        kube, pod = self._kube(target)
        return await kube.emit_event(pod, alert.to_json())


async def _signal(kill: Callable[..., str], alert: Alert, target: ContainerTarget) -> str:
    """Run one of the killer's methods on the alert's process, in a worker thread."""
    process = alert.event.process
    return await asyncio.to_thread(
        kill,
        process.pid,
        start_ns=process.start_ns,
        cgroup_suffixes=relative_cgroup_paths(target.cgroup_paths),
    )


#: action name → the ActionKit attribute that implements it (the first, if a test fails on two)
_ATTRIBUTES: Mapping[str, str] = {
    name: attributes[0] for name, attributes in implementations(ActionKit).items()
}
