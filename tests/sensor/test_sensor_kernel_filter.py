"""vigil.sensor.kernel_filter: destination keys and FilterSync following profiles and containers."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tests.fixtures.sensor import T0
from vigil.models import Workload
from vigil.sensor.kernel_filter import FilterSync, dest_key


def test_destination_keys() -> None:
    v4 = dest_key(9, "tcp/10.0.0.1:443")
    v6 = dest_key(9, "udp/[::1]:53")
    assert v4 is not None and v6 is not None and len(v4) == len(v6) == 32
    assert struct.unpack_from("=Q16sHBB", v4)[2:] == (443, 1, 0)
    assert struct.unpack_from("=Q16sHBB", v6)[2:] == (53, 2, 1)
    for bad in ("tcp/10.0.0.1", "icmp/1.2.3.4:1", "tcp/[10.0.0.1]:1", "tcp/::1:53", "x"):
        assert dest_key(9, bad) is None


@dataclass
class FakeFilter:
    calls: list[tuple[str, object]] = field(default_factory=list)

    def allow(self, cgroup_ids: Iterable[int], destinations: Iterable[str]) -> None:
        self.calls.append(("allow", (list(cgroup_ids), sorted(destinations))))

    def forget(self, cgroup_id: int) -> None:
        self.calls.append(("forget", cgroup_id))


@dataclass
class FakeProfile:
    key: str
    state: str
    destinations: set[str]
    version: int = 1
    locked_at: datetime | None = None
    size: int = 0


@dataclass
class FakeContainer:
    workload: Workload
    cgroup_paths: dict[str, str]


def test_filter_sync_follows_locks_changes_and_departures() -> None:
    web = Workload("shop", "Deployment", "web", "nginx")
    containers = [FakeContainer(web, {"": "/cg/a"}), FakeContainer(web, {"": "/cg/b"})]
    target = FakeFilter()
    sync = FilterSync(
        target, lambda: containers, cgroup_id_of=lambda p: {"/cg/a": 1, "/cg/b": 2}[p]
    )
    profile = FakeProfile(web.key, "learning", set(), size=1)
    sync.sync([profile])
    assert target.calls == []  # learning: nothing enforced
    profile.state, profile.locked_at = "locked", T0
    sync.sync([profile])
    assert target.calls == [("allow", ([1], [])), ("allow", ([2], []))]
    target.calls.clear()
    sync.sync([profile])
    assert target.calls == []  # unchanged: no map writes
    profile.destinations.add("tcp/10.0.0.1:443")
    containers.pop()
    sync.sync([profile])
    assert ("forget", 2) in target.calls and ("forget", 1) in target.calls
    assert ("allow", ([1], ["tcp/10.0.0.1:443"])) in target.calls
    assert sync.filtered_cgroups == {1}


def test_filter_sync_forgets_remembered_execs_when_the_profile_changes() -> None:
    # an exec remembered as allowed was judged against the profile as it was: any change of
    # it (another version, a new item, a re-lock) starts the cgroup's filter afresh
    web = Workload("shop", "Deployment", "web", "nginx")
    target = FakeFilter()
    sync = FilterSync(target, lambda: [FakeContainer(web, {"": "/cg/a"})], cgroup_id_of=lambda p: 1)
    profile = FakeProfile(web.key, "locked", {"tcp/10.0.0.1:443"}, locked_at=T0, size=3)
    sync.sync([profile])
    for change in ({"size": 4}, {"version": 2}, {"locked_at": T0 + timedelta(seconds=1)}):
        target.calls.clear()
        for name, value in change.items():
            setattr(profile, name, value)
        sync.sync([profile])
        assert target.calls == [("forget", 1), ("allow", ([1], ["tcp/10.0.0.1:443"]))], change
