"""End to end: real runc containers, the real /proc and the real cgroup2 mount."""

from __future__ import annotations

import contextlib
import json
import os
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.agents import RunningAgent, cli, wait_for
from tests.fixtures.identity_host import CRI_ANNOTATIONS, CRIO_ANNOTATIONS
from tests.fixtures.marks import E2E
from vigil.identity import IdentityResolver
from vigil.lab import RuncContainer, build_busybox_rootfs
from vigil.models import ContainerInfo, Workload

pytestmark = E2E

CONTAINERD_K8S_ROOT = "/run/containerd/runc/k8s.io"


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_busybox_rootfs(tmp_path_factory.mktemp("identity-rootfs"))


@pytest.fixture
def resolver() -> IdentityResolver:
    resolver = IdentityResolver()
    if resolver.cgroup_root is None:
        pytest.skip("no cgroup2 mount: the sensor's cgroup ids mean nothing here")
    return resolver


def cgroup_id_of(resolver: IdentityResolver, container: RuncContainer) -> int:
    """What bpf_get_current_cgroup_id() reports for the container: its cgroup2 dir's inode."""
    state = container.state()
    assert state is not None
    with open(f"/proc/{state['pid']}/cgroup") as handle:
        unified = next(line[3:].strip() for line in handle if line.startswith("0::"))
    assert resolver.cgroup_root is not None
    return os.stat(resolver.cgroup_root + unified).st_ino


def sleeper(
    tmp_path: Path, rootfs: Path, container_id: str, annotations: dict[str, str], **options: Any
) -> RuncContainer:
    """A container that sleeps for a minute (long enough to be resolved) with ``annotations``."""
    bundle = tmp_path / "bundle"
    return RuncContainer(
        container_id, rootfs, bundle, ["sleep", "60"], annotations=annotations, **options
    )


def remove_dirs_created(paths: list[str], existed: set[str]) -> None:
    """rmdir, deepest first, the directories of ``paths`` that did not exist before the test.

    rmdir never removes a cgroup that still has processes or children, so this cannot harm
    anything that was there already.
    """
    for path in paths:
        if path not in existed:
            with contextlib.suppress(OSError):
                os.rmdir(path)


def cgroup_mounts() -> list[str]:
    with open("/proc/self/mounts") as mounts:
        return [f[1] for f in (line.split() for line in mounts) if f[2] in {"cgroup", "cgroup2"}]


@pytest.fixture
def k8s_root() -> Iterator[str]:
    """The containerd-like runc root, removed afterwards if this test made it."""
    dirs = [CONTAINERD_K8S_ROOT, "/run/containerd/runc", "/run/containerd"]
    existed = {d for d in dirs if os.path.exists(d)}
    yield CONTAINERD_K8S_ROOT
    remove_dirs_created(dirs, existed)


@pytest.fixture
def pod_cgroup() -> Iterator[str]:
    """A kubepods pod cgroup path; runc deletes the container's cgroup, not its parents."""
    pod = f"/kubepods/besteffort/pod{uuid.uuid4()}"
    parents = [pod, "/kubepods/besteffort", "/kubepods"]
    dirs = [mount + parent for parent in parents for mount in cgroup_mounts()]
    existed = {d for d in dirs if os.path.exists(d)}
    yield pod
    remove_dirs_created(dirs, existed)


def test_plain_runc_container_with_cri_o_annotations(
    rootfs: Path, tmp_path: Path, resolver: IdentityResolver
) -> None:
    container_id = f"vigil-id-{uuid.uuid4().hex[:8]}"
    annotations = {
        "io.kubernetes.pod.namespace": "shop",
        "io.kubernetes.pod.name": "web-7d4b9c8f6d-x2x9k",
        "io.kubernetes.container.name": "nginx",
    }
    with sleeper(tmp_path, rootfs, container_id, annotations) as container:
        identity = resolver.resolve(cgroup_id_of(resolver, container), container.pid)

        assert identity.container.id == container_id
        assert identity.container.runtime == "runc"
        assert identity.workload == Workload("shop", "Deployment", "web", "nginx", inferred=True)
        record = resolver.lookup(container_id)
        assert record is not None
        assert record.pid == container.pid
        assert record.state_root == "/run/runc"
        assert os.path.isdir(record.cgroup_paths[""])
        assert any(r.id == container_id for r in resolver.containers())

    # gone with its state directory
    assert resolver.lookup(container_id) is None


def test_containerd_like_kubepods_container(
    rootfs: Path, tmp_path: Path, resolver: IdentityResolver, k8s_root: str, pod_cgroup: str
) -> None:
    container_id = uuid.uuid4().hex + uuid.uuid4().hex  # 64 hex, as containerd names them
    with sleeper(
        tmp_path,
        rootfs,
        container_id,
        CRI_ANNOTATIONS,
        cgroups_path=f"{pod_cgroup}/{container_id}",
        root=k8s_root,
    ) as container:
        identity = resolver.resolve(cgroup_id_of(resolver, container), container.pid)

        assert identity.container.id == container_id
        assert identity.container.runtime == "containerd"
        assert identity.container.image == "docker.io/library/postgres:16"
        assert identity.workload == Workload("data", "StatefulSet", "db", "postgres", inferred=True)
        assert identity.cgroup_path == f"{pod_cgroup}/{container_id}"
        assert identity.record is not None
        assert identity.record.state_root == k8s_root

    assert resolver.lookup(container_id) is None


def test_cri_o_like_kubepods_container(
    rootfs: Path, tmp_path: Path, resolver: IdentityResolver, pod_cgroup: str
) -> None:
    """CRI-O's layout: runc root /run/runc, cgroupsPath /kubepods/<qos>/pod<uid>/crio-<id>."""
    container_id = uuid.uuid4().hex + uuid.uuid4().hex
    annotations = {**CRIO_ANNOTATIONS, "io.kubernetes.cri-o.ContainerType": "container"}
    with sleeper(
        tmp_path,
        rootfs,
        container_id,
        annotations,
        cgroups_path=f"{pod_cgroup}/crio-{container_id}",
    ) as container:
        identity = resolver.resolve(cgroup_id_of(resolver, container), container.pid)

        assert identity.container == ContainerInfo(
            container_id, "nginx", "docker.io/library/nginx:1.25", "cri-o"
        )
        assert identity.workload == Workload("shop", "Deployment", "web", "nginx", inferred=True)
        assert identity.cgroup_path == f"{pod_cgroup}/crio-{container_id}"
        assert identity.record is not None
        assert identity.record.state_root == "/run/runc"
        assert identity.record.found.layout == "crio-<id> (cgroupfs driver)"
        assert identity.record.found.workload == "inferred from pod name"

    assert resolver.lookup(container_id) is None


def test_container_started_before_the_agent_is_found_then_forgotten(
    rootfs: Path, tmp_path: Path
) -> None:
    container_id = f"vigil-id-{uuid.uuid4().hex[:8]}"
    annotations = {"io.kubernetes.pod.namespace": "ops", "io.kubernetes.pod.name": "db-0"}
    with sleeper(tmp_path, rootfs, container_id, annotations) as container:
        resolver = IdentityResolver()  # starts after the container
        if resolver.cgroup_root is None:
            pytest.skip("no cgroup2 mount")
        assert container_id in resolver.scan().added
        record = resolver.lookup(container_id)
        assert record is not None
        assert record.pid == container.pid
        assert record.workload == Workload("ops", "StatefulSet", "db", container_id, inferred=True)
        # its first event hits the record the scan made
        identity = resolver.resolve(cgroup_id_of(resolver, container), container.pid)
        assert identity.record == record
    assert container_id in resolver.scan().removed
    assert all(r.id != container_id for r in resolver.containers())


def test_agent_names_no_profile_after_a_bare_container_id(
    rootfs: Path, tmp_path: Path, k8s_root: str, pod_cgroup: str
) -> None:
    """containerd's layout: runc's setup of the container runs in its kubepods cgroup before
    the state exists; those events are held and learnt into the pod's workload."""
    annotations = CRI_ANNOTATIONS
    ids = [uuid.uuid4().hex + uuid.uuid4().hex for _ in range(3)]
    (tmp_path / "agent").mkdir()
    with RunningAgent(tmp_path / "agent", "profiles: {learning_period: null}\n") as agent:
        for index, container_id in enumerate(ids):
            with RuncContainer(
                container_id,
                rootfs,
                tmp_path / f"bundle{index}",
                ["/bin/sh", "-c", "/bin/cat /etc/hostname; /bin/sleep 60"],
                annotations=annotations,
                cgroups_path=f"{pod_cgroup}/{container_id}",
                root=k8s_root,
            ):

                def learned() -> list[dict[str, Any]] | None:
                    listed: list[dict[str, Any]] = json.loads(
                        cli("profiles", "list", "--json", "--api", agent.api).stdout
                    )
                    db = [p for p in listed if p["key"] == "data/StatefulSet/db/postgres"]
                    if db and {"/bin/cat", "/bin/sleep"} <= set(db[0]["executables"]):
                        return listed
                    return None

                listed = wait_for(learned, "the pod's workload to learn the container")
        keys = [p["key"] for p in listed]
        with urllib.request.urlopen(f"{agent.api}/metrics", timeout=10) as response:
            metrics = response.read().decode()
    hold_lines = [line for line in metrics.splitlines() if line.startswith("vigil_identity_")]
    print("\n".join(hold_lines))  # hold figures, for the report (-s)
    assert not [k for k in keys if any(c in k for c in ids)], keys
    assert keys.count("data/StatefulSet/db/postgres") == 1
    held = [float(x.split()[-1]) for x in hold_lines if x.startswith("vigil_identity_held")]
    assert held and held[0] > 0, "runc's setup of the container was not held"
