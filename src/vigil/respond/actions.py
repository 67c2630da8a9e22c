"""Every action a playbook can name, bound to the services it needs (one :class:`ActionKit`).

An action is ``async (alert, target) -> detail``; it raises :class:`RuntimeActionError` when it
cannot do its job. Blocking work (cgroup files, /proc, runc) runs in a worker thread so the
agent's loop keeps consuming events meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from vigil.errors import RuntimeActionError
from vigil.kube.objects import PodRef
from vigil.models import Alert
from vigil.respond.enforce import Enforcer
from vigil.respond.forensics import Forensics, cgroup_procs
from vigil.respond.freeze import set_frozen
from vigil.respond.process import ProcessKiller, relative_cgroup_paths
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


def _runtime_target(target: ContainerTarget) -> RuntimeTarget:
    if not isinstance(target, RuntimeTarget):
        raise RuntimeActionError("the container's runtime state is unknown")
    return target


async def freeze_action(alert: Alert, target: ContainerTarget) -> str:
    written = await asyncio.to_thread(set_frozen, target.cgroup_paths, True)
    return f"froze via {written}"


async def thaw_action(alert: Alert, target: ContainerTarget) -> str:
    written = await asyncio.to_thread(set_frozen, target.cgroup_paths, False)
    return f"thawed via {written}"


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
        return {
            "block-exec": self.block_exec,
            "enforce-profile": self.enforce_profile,
            "kill": self.kill,
            "kill-tree": self.kill_tree,
            "freeze": freeze_action,
            "thaw": thaw_action,
            "forensics": self.capture,
            "stop-container": self.stop_container,
            "kill-container": self.kill_container,
            "delete-pod": self.delete_pod,
            "isolate-pod": self.isolate_pod,
            "scale-to-zero": self.scale_to_zero,
            "label-pod": self.label_pod,
            "annotate-pod": self.annotate_pod,
            "cordon-node": self.cordon_node,
            "k8s-event": self.k8s_event,
        }

    # -- kernel --------------------------------------------------------------------------------
    def _enforcer(self) -> Enforcer:
        if self.enforcer is None or not self.enforcer.active:
            raise RuntimeActionError("the in-kernel block is not loaded (needs root and BTF)")
        return self.enforcer

    async def block_exec(self, alert: Alert, target: ContainerTarget) -> str:
        exe, cgroup_id = alert.event.process.exe, alert.event.cgroup_id
        if not exe or not cgroup_id:
            raise RuntimeActionError("the event names no executable or cgroup to block")
        self._enforcer().deny(cgroup_id, exe)
        return f"{exe} now dies at exec in cgroup {cgroup_id}"

    async def enforce_profile(self, alert: Alert, target: ContainerTarget) -> str:
        workload = alert.event.workload
        if workload is None or self.profile_executables is None:
            raise RuntimeActionError("no profile is known for this container")
        allowed = self.profile_executables(workload.key)
        count = self._enforcer().allow_only(alert.event.cgroup_id, allowed)
        return f"only the {count} executable(s) of {workload.key}'s profile may run"

    # -- processes -----------------------------------------------------------------------------
    async def kill(self, alert: Alert, target: ContainerTarget) -> str:
        process = alert.event.process
        return await asyncio.to_thread(
            self.killer.kill,
            process.pid,
            start_ns=process.start_ns,
            cgroup_suffixes=relative_cgroup_paths(target.cgroup_paths),
        )

    async def kill_tree(self, alert: Alert, target: ContainerTarget) -> str:
        process = alert.event.process
        return await asyncio.to_thread(
            self.killer.kill_tree,
            process.pid,
            start_ns=process.start_ns,
            cgroup_suffixes=relative_cgroup_paths(target.cgroup_paths),
        )

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
    async def stop_container(self, alert: Alert, target: ContainerTarget) -> str:
        t = _runtime_target(target)
        return await asyncio.to_thread(
            self.runtime.stop, t.runtime, t.state_root, t.id, t.cgroup_paths
        )

    async def kill_container(self, alert: Alert, target: ContainerTarget) -> str:
        t = _runtime_target(target)
        return await asyncio.to_thread(
            self.runtime.kill, t.runtime, t.state_root, t.id, t.cgroup_paths
        )

    # -- Kubernetes ----------------------------------------------------------------------------
    def _kube(self, target: ContainerTarget) -> tuple[KubeActions, PodRef]:
        if self.kube is None:
            raise RuntimeActionError("no Kubernetes API client is configured")
        return self.kube, PodRef.from_annotations(_runtime_target(target).annotations)

    async def delete_pod(self, alert: Alert, target: ContainerTarget) -> str:
        kube, pod = self._kube(target)
        return await kube.delete_pod(pod)

    async def isolate_pod(self, alert: Alert, target: ContainerTarget) -> str:
        kube, pod = self._kube(target)
        return await kube.isolate_pod(pod, alert.id)

    async def scale_to_zero(self, alert: Alert, target: ContainerTarget) -> str:
        kube, pod = self._kube(target)
        return await kube.scale_to_zero(pod)

    async def label_pod(self, alert: Alert, target: ContainerTarget) -> str:
        kube, pod = self._kube(target)
        return await kube.label_pod(pod, alert.id, alert.rule)

    async def annotate_pod(self, alert: Alert, target: ContainerTarget) -> str:
        kube, pod = self._kube(target)
        return await kube.annotate_pod(pod, alert.to_json())

    async def cordon_node(self, alert: Alert, target: ContainerTarget) -> str:
        kube, pod = self._kube(target)
        return await kube.cordon_node(pod)

    async def k8s_event(self, alert: Alert, target: ContainerTarget) -> str:
        kube, pod = self._kube(target)
        return await kube.emit_event(pod, alert.to_json())
