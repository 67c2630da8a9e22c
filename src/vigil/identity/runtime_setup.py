"""Is an event the container runtime's own work of setting a container up?

A runtime creates a container from the host: ``runc run`` execs ``runc init`` in its own cgroup,
moves it into the new container's cgroup, where it mounts, pivots, unshares and writes under
``/proc/self``, and then execs the container's process; ``runc exec`` does the same into a
running container before it execs the requested command. So an event is runtime setup when its
process is in a container's cgroup, its program was exec'd in a host cgroup, and it has not
exec'd since (the process tree says so in ``Event.entered_from_cgroup``; its first exec in the
container clears it). This is decided from the process tree and cgroups, never from a name: a
process of a container calling itself ``runc``, or exec'ing a binary named so, was exec'd in the
container and is judged as any other.

Such events are recorded (``runtime_setup`` in their JSON) but raise nothing and are not learned.
"""

from __future__ import annotations

from typing import Protocol

from vigil.models import ContainerInfo, Event, EventType


class _Resolved(Protocol):
    @property
    def container(self) -> ContainerInfo: ...


class CgroupOwners(Protocol):
    """Identity as this needs it (vigil.identity.IdentityResolver fits)."""

    def resolve(self, cgroup_id: int, pid: int, *, recheck: bool = False) -> _Resolved: ...


def mark_runtime_setup(event: Event, identity: CgroupOwners) -> bool:
    """Set ``event.runtime_setup`` if the event is a runtime's setup; return it.

    Call after the event is attributed. The exec that ends the setup is the container's own
    process starting: it is judged, never marked."""
    came_from = event.entered_from_cgroup
    if event.runtime_setup or not came_from or event.type is EventType.EXEC:
        return event.runtime_setup
    if event.container is None or event.container.is_host:
        return False  # a host process moving between host cgroups is judged as before
    # the runtime that made the process is its parent, still where it exec'd the process
    runtime = identity.resolve(came_from, event.process.ppid)
    event.runtime_setup = runtime.container.is_host
    return event.runtime_setup
