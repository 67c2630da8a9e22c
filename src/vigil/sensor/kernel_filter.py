"""In-kernel filtering of behaviour locked profiles allow, and its sync from the profiles.

For every container of a workload whose profile is locked, the cgroup is marked in a BPF map and
its profile's destinations are written into another, keyed by cgroup id; the BPF programs then
drop, before they reach the ring buffer:

- connects to those destinations;
- the cgroup's fork/exit, which only feed the process tree (it falls back to /proc);
- execs the agent judged before and found allowed (no deviation, no rule), exactly: the kernel
  hashes what such a verdict reads — the path given to execve, argv, the parent's program and
  its ancestry, uid/euid/gid, the executable file's identity and change time, the cwd — and the
  agent writes the hash of each allowed exec back (:class:`ExecVerdicts`). A known program run
  with new arguments, by a new parent or after its file changed hashes differently and reaches
  user space again.

Only events the profile does not allow — deviations, or what a rule may match — cost user space
anything. Any change of a profile (relearn, unlock, import, new version, new item) forgets its
cgroups' entries.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from vigil.models import Event, Workload

log = logging.getLogger(__name__)

FILTER_EXEC, FILTER_CONNECT, FILTER_TASK = 1, 2, 4
FILTER_ALL = FILTER_EXEC | FILTER_CONNECT | FILTER_TASK
PROTOCOLS = {"tcp": 1, "udp": 2}

EXEC_KEY = struct.Struct("=QQ")  # cgroup_id, exec_hash
DEST_KEY = struct.Struct("=Q16sHBBI")  # cgroup_id, addr, port, protocol, family_v6, pad


def dest_key(cgroup_id: int, destination: str) -> bytes | None:
    """The map key of a profile destination (``tcp/10.0.0.1:443``, ``udp/[::1]:53``), or None."""
    protocol, slash, rest = destination.partition("/")
    host, colon, port_text = rest.rpartition(":")
    if not slash or not colon or protocol not in PROTOCOLS or not port_text.isdigit():
        return None
    v6 = host.startswith("[") and host.endswith("]")
    try:
        address = ipaddress.ip_address(host[1:-1] if v6 else host)
    except ValueError:
        return None
    if (address.version == 6) != v6 or not 0 <= int(port_text) < 65536:
        return None
    packed = address.packed.ljust(16, b"\0")
    return DEST_KEY.pack(cgroup_id, packed, int(port_text), PROTOCOLS[protocol], int(v6), 0)


@runtime_checkable
class KernelFilter(Protocol):
    """A sensor that can drop allowed behaviour in the kernel (EbpfSensor)."""

    def allow(self, cgroup_ids: Iterable[int], destinations: Iterable[str]) -> None:
        """Filter ``cgroup_ids``: drop their connects to ``destinations``, their fork/exit, and
        execs remembered as allowed, before they leave the kernel."""
        ...

    def forget(self, cgroup_id: int) -> None:
        """Stop filtering ``cgroup_id``: everything it does is reported again."""
        ...


@runtime_checkable
class ExecVerdicts(Protocol):
    """A sensor that can drop exact repeats of execs the agent found allowed (EbpfSensor)."""

    def remember_exec(self, event: Event) -> None:
        """``event`` (an exec this sensor produced) broke no rule and its workload's locked
        profile allows it: drop its exact repeats in the kernel while the cgroup is filtered."""
        ...


class LockedProfile(Protocol):
    """What the filter needs of a profile (vigil.detect.profile.Profile fits)."""

    @property
    def key(self) -> str: ...

    @property
    def state(self) -> object: ...  # str-like: "learning" | "locked"

    @property
    def destinations(self) -> set[str]: ...

    @property
    def version(self) -> int: ...

    @property
    def locked_at(self) -> datetime | None: ...

    @property
    def size(self) -> int: ...


class ContainerLike(Protocol):
    """What the filter needs of a container (vigil.identity.records.ContainerRecord fits)."""

    @property
    def workload(self) -> Workload: ...

    @property
    def cgroup_paths(self) -> Mapping[str, str]: ...


def cgroup_id_of_path(path: str) -> int | None:
    """A cgroup2 directory's id: its inode number."""
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class _Applied:
    destinations: frozenset[str]
    #: any change of the profile shows here, and forgets the execs remembered under it
    revision: tuple[int, datetime | None, int]


class FilterSync:
    """Keeps the kernel filter equal to the locked profiles of the running containers.

    Cheap to call often: the maps are written only for cgroups whose profile changed.
    """

    def __init__(
        self,
        target: KernelFilter,
        containers: Callable[[], Iterable[ContainerLike]],
        *,
        cgroup_id_of: Callable[[str], int | None] = cgroup_id_of_path,
    ) -> None:
        self.target = target
        self._containers = containers
        self._cgroup_id_of = cgroup_id_of
        self._applied: dict[int, _Applied] = {}

    @property
    def filtered_cgroups(self) -> set[int]:
        return set(self._applied)

    def sync(self, profiles: Iterable[LockedProfile]) -> None:
        locked = {p.key: p for p in profiles if str(p.state) == "locked"}
        wanted: dict[int, _Applied] = {}
        for container in self._containers():
            profile = locked.get(container.workload.key)
            path = container.cgroup_paths.get("")
            if profile is None or not path:
                continue
            cgroup_id = self._cgroup_id_of(path)
            if cgroup_id is not None:
                wanted[cgroup_id] = _Applied(
                    frozenset(profile.destinations),
                    (profile.version, profile.locked_at, profile.size),
                )
        for cgroup_id in set(self._applied) - set(wanted):
            self.target.forget(cgroup_id)
            del self._applied[cgroup_id]
        for cgroup_id, allowed in wanted.items():
            if self._applied.get(cgroup_id) == allowed:
                continue
            if cgroup_id in self._applied:
                self.target.forget(cgroup_id)  # an item may have left the profile
            self.target.allow([cgroup_id], allowed.destinations)
            self._applied[cgroup_id] = allowed
            log.info(
                "kernel filter for cgroup %d: %d destinations", cgroup_id, len(allowed.destinations)
            )
