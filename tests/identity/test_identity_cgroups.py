"""cgroup path layouts → container ids, and the small parsers around them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fixtures.fakes import FakeClock
from vigil.identity.cgroups import (
    CgroupTree,
    ContainerRef,
    cgroup2_dir_of,
    cgroup2_root,
    find_cgroup2_mount,
    parse_container_path,
    parse_proc_cgroup,
    pick_cgroup_path,
    plain_candidates,
)

ID = "4f1e0b3c9a7d" + "0123456789abcdef" * 3 + "0a1b"
UID = "8d3c2a10-5b7e-4f62-9c1d-2e3f4a5b6c7d"
UID_ = UID.replace("-", "_")
assert len(ID) == 64

LAYOUTS = [
    # Docker, cgroupfs and systemd drivers
    (f"/docker/{ID}", ContainerRef(ID, "docker", certain=True)),
    (f"/system.slice/docker-{ID}.scope", ContainerRef(ID, "docker", certain=True)),
    # containerd CRI, cgroupfs: burstable/besteffort and guaranteed (no QoS level)
    (f"/kubepods/burstable/pod{UID}/{ID}", ContainerRef(ID, "containerd", certain=False)),
    (f"/kubepods/besteffort/pod{UID}/{ID}", ContainerRef(ID, "containerd", certain=False)),
    (f"/kubepods/pod{UID}/{ID}", ContainerRef(ID, "containerd", certain=False)),
    (f"/kubepods/pod{UID}/shortid", ContainerRef("shortid", "containerd", certain=False)),
    # containerd CRI, systemd driver
    (
        f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/"
        f"cri-containerd-{ID}.scope",
        ContainerRef(ID, "containerd", certain=True),
    ),
    (
        f"/kubepods.slice/kubepods-pod{UID_}.slice/cri-containerd-{ID}.scope",
        ContainerRef(ID, "containerd", certain=True),
    ),
    # CRI-O, systemd and cgroupfs drivers
    (
        f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice/"
        f"crio-{ID}.scope",
        ContainerRef(ID, "cri-o", certain=True),
    ),
    (f"/kubepods/burstable/pod{UID}/crio-{ID}", ContainerRef(ID, "cri-o", certain=True)),
    # Podman, systemd and cgroupfs managers; a container's own sub-cgroup
    (f"/machine.slice/libpod-{ID}.scope", ContainerRef(ID, "podman", certain=True)),
    (f"/machine.slice/libpod-{ID}.scope/container", ContainerRef(ID, "podman", certain=True)),
    (f"/libpod_parent/libpod-{ID}", ContainerRef(ID, "podman", certain=True)),
    # nested under a prefix (this machine puts everything under /process_api/<hex>)
    (f"/process_api/f86ec689c739f2e8/docker/{ID}", ContainerRef(ID, "docker", certain=True)),
    (
        f"/process_api/f86ec689c739f2e8/kubepods/besteffort/pod{UID}/{ID}",
        ContainerRef(ID, "containerd", certain=False),
    ),
    (f"/system.slice/docker-{ID}.scope/init.scope", ContainerRef(ID, "docker", certain=True)),
]

NOT_CONTAINERS = [
    "/",
    "/init.scope",
    "/system.slice/ssh.service",
    "/system.slice/containerd.service",
    "/system.slice/docker.service",
    "/user.slice/user-0.slice/session-1.scope",
    "/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service",
    "/machine.slice",
    # runtime monitors live next to containers but are not in them
    f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice/"
    f"crio-conmon-{ID}.scope",
    f"/machine.slice/libpod-conmon-{ID}.scope",
    f"/kubepods/burstable/pod{UID}/crio-conmon-{ID}",
    # the pod-level cgroup itself, and QoS levels
    f"/kubepods/besteffort/pod{UID}",
    "/kubepods/besteffort",
    f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice",
    # a hex name that is not under docker/ or a pod (plain runc: only a state root can tell)
    f"/{ID}",
    f"/docker/{ID[:12]}",
    f"/kubepods/besteffort/pod{UID}/../{ID}x",
]


@pytest.mark.parametrize(("path", "expected"), LAYOUTS, ids=[p for p, _ in LAYOUTS])
def test_layouts_name_their_container(path: str, expected: ContainerRef) -> None:
    assert parse_container_path(path) == expected


@pytest.mark.parametrize("path", NOT_CONTAINERS)
def test_host_paths_and_monitors_are_not_containers(path: str) -> None:
    assert parse_container_path(path) is None


@pytest.mark.parametrize(
    ("path", "candidates"),
    [
        ("/t1", ["t1"]),
        ("/process_api/f86ec689/t1", ["t1"]),
        ("/system.slice/runc-t1.scope", ["runc-t1.scope", "t1"]),
        ("/system.slice/ssh.service", ["ssh.service"]),
        ("/", []),
        ("/a/..", []),
    ],
)
def test_plain_candidates(path: str, candidates: list[str]) -> None:
    assert plain_candidates(path) == candidates


def test_cgroup2_mount_found_in_hybrid_and_pure_v2_mounts() -> None:
    hybrid = (
        "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n"
        "cgroup /sys/fs/cgroup/freezer cgroup rw,relatime,freezer 0 0\n"
        "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n"
    )
    assert find_cgroup2_mount(hybrid) == "/sys/fs/cgroup/unified"
    assert find_cgroup2_mount("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n") == "/sys/fs/cgroup"
    assert find_cgroup2_mount("cgroup2 /mnt/my\\040cg cgroup2 rw 0 0\n") == "/mnt/my cg"
    assert find_cgroup2_mount("cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n") is None


def test_a_process_cgroup2_dir_from_a_proc_tree(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "mounts").write_text(
        "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n"
        "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n"
    )
    (proc / "42").mkdir()
    (proc / "42" / "cgroup").write_text("4:cpu:/v1/path\n0::/kubepods/pod1/abc\n")
    assert cgroup2_root(proc / "self" / "mounts") == Path("/sys/fs/cgroup/unified")
    assert cgroup2_dir_of(42, proc) == Path("/sys/fs/cgroup/unified/kubepods/pod1/abc")
    assert cgroup2_dir_of(43, proc) is None  # gone
    (proc / "44").mkdir()
    (proc / "44" / "cgroup").write_text("4:cpu:/v1/path\n")
    assert cgroup2_dir_of(44, proc) is None  # only in v1 hierarchies
    (proc / "self" / "mounts").write_text("cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n")
    assert cgroup2_dir_of(42, proc) is None  # no cgroup2 mounted


def test_proc_cgroup_prefers_unified_and_falls_back_to_v1() -> None:
    paths = parse_proc_cgroup("9:name=systemd:/t1\n6:freezer:/t1\n0::/t1\n")
    assert paths == {"name=systemd": "/t1", "freezer": "/t1", "": "/t1"}
    assert pick_cgroup_path(paths) == "/t1"
    # the runtime joined v1 controllers only: cgroup2 says root
    v1_only = parse_proc_cgroup(f"6:freezer:/docker/{ID}\n0::/\n")
    assert pick_cgroup_path(v1_only) == f"/docker/{ID}"
    assert pick_cgroup_path(parse_proc_cgroup("0::/\n")) == "/"
    assert pick_cgroup_path(parse_proc_cgroup("6:freezer:/x\n0::/y\n"), prefer_v1=True) == "/x"


def test_tree_maps_inodes_to_paths_and_rescans_at_most_once_per_interval(tmp_path: Path) -> None:
    clock = FakeClock(100.0)
    (tmp_path / "a" / "b").mkdir(parents=True)
    tree = CgroupTree(str(tmp_path), clock=clock, min_rescan_interval=1.0)
    b_id = os.stat(tmp_path / "a" / "b").st_ino
    assert tree.path_of(b_id) == "/a/b"
    assert tree.path_of(os.stat(tmp_path).st_ino) == "/"
    assert tree.scans == 1

    (tmp_path / "c").mkdir()
    c_id = os.stat(tmp_path / "c").st_ino
    for _ in range(50):  # a flood of unknown ids inside one interval: no rescans
        assert tree.path_of(c_id + 10_000_000) is None
    assert tree.path_of(c_id) is None
    assert tree.scans == 1
    clock.advance(1.0)
    assert tree.path_of(c_id) == "/c"
    assert tree.scans == 2
