"""In-kernel filtering of behaviour locked profiles allow, and its sync from the profiles.

A locked profile's executables and destinations are written into BPF hash maps keyed by the
cgroup id of each of the workload's containers; the BPF programs drop matching execs and
connects (and the cgroup's fork/exit, which only feed the process tree) before they reach the
ring buffer. Only events the profile does not allow — deviations — cost user space anything.

Keys must match what the kernel computes: executables by FNV-1a 64 of the path given to execve
(its first 255 bytes), destinations by (protocol, family, address, port).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from vigil.models import Workload

log = logging.getLogger(__name__)

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
EXE_HASHED = 255  # VIGIL_EXE_MAX - 1: the kernel hashes at most this many bytes
FILTER_EXEC, FILTER_CONNECT, FILTER_TASK = 1, 2, 4
FILTER_ALL = FILTER_EXEC | FILTER_CONNECT | FILTER_TASK
PROTOCOLS = {"tcp": 1, "udp": 2}

EXEC_KEY = struct.Struct("=QQ")  # cgroup_id, exe_hash
DEST_KEY = struct.Struct("=Q16sHBBI")  # cgroup_id, addr, port, protocol, family_v6, pad


def exe_hash(exe: str) -> int:
    """FNV-1a 64 of ``exe`` as the kernel sees it (bytes, cut at 255)."""
    value = FNV_OFFSET
    for byte in os.fsencode(exe)[:EXE_HASHED]:
        value = ((value ^ byte) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return value


def exec_key(cgroup_id: int, exe: str) -> bytes:
    return EXEC_KEY.pack(cgroup_id, exe_hash(exe))


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

    def allow(
        self, cgroup_ids: Iterable[int], executables: Iterable[str], destinations: Iterable[str]
    ) -> None:
        """Drop, for each of ``cgroup_ids``, execs of ``executables`` and connects to
        ``destinations`` (plus fork/exit) before they leave the kernel."""
        ...

    def forget(self, cgroup_id: int) -> None:
        """Stop filtering ``cgroup_id``: everything it does is reported again."""
        ...


class LockedProfile(Protocol):
    """What the filter needs of a profile (vigil.detect.profiles.Profile fits)."""

    @property
    def key(self) -> str: ...

    @property
    def state(self) -> object: ...  # str-like: "learning" | "locked"

    @property
    def executables(self) -> set[str]: ...

    @property
    def destinations(self) -> set[str]: ...


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
    executables: frozenset[str]
    destinations: frozenset[str]


class FilterSync:
    """Keeps the kernel filter equal to the locked profiles of the running containers.

    Cheap to call often: the maps are written only for cgroups whose allowed set changed.

    Execs are not filtered unless ``filter_execs``: a profile judges an exec by more than its
    executable (its parent, argument pattern and user), which only user space can compare, so
    dropping known executables in the kernel would hide new arguments or parents. Connects to
    known destinations, and the fork/exit of filtered cgroups, are dropped.
    """

    def __init__(
        self,
        target: KernelFilter,
        containers: Callable[[], Iterable[ContainerLike]],
        *,
        cgroup_id_of: Callable[[str], int | None] = cgroup_id_of_path,
        filter_execs: bool = False,
    ) -> None:
        self.target = target
        self.filter_execs = filter_execs
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
                executables = profile.executables if self.filter_execs else ()
                wanted[cgroup_id] = _Applied(
                    frozenset(executables), frozenset(profile.destinations)
                )
        for cgroup_id in set(self._applied) - set(wanted):
            self.target.forget(cgroup_id)
            del self._applied[cgroup_id]
        for cgroup_id, allowed in wanted.items():
            if self._applied.get(cgroup_id) == allowed:
                continue
            if cgroup_id in self._applied:
                self.target.forget(cgroup_id)  # an item may have left the profile
            self.target.allow([cgroup_id], allowed.executables, allowed.destinations)
            self._applied[cgroup_id] = allowed
            log.info(
                "kernel filter for cgroup %d: %d executables, %d destinations",
                cgroup_id,
                len(allowed.executables),
                len(allowed.destinations),
            )
