"""IdentityResolver over fixture trees: a fake /proc, a fake cgroup2 mount and runtime state roots.

cgroup ids are the real inode numbers of the fixture's directories, as they are on a host.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from tests.fixtures.identity_host import (
    CREATED,
    CRI_ANNOTATIONS,
    CRIO_ANNOTATIONS,
    ID,
    ID2,
    UID,
    FakeHost,
)
from vigil.identity.runtime import StateDir
from vigil.models import HOST_CONTAINER, HOST_WORKLOAD, ContainerInfo, Workload


@pytest.fixture
def host(tmp_path: Path) -> FakeHost:
    return FakeHost(tmp_path)


def test_plain_runc_with_cri_o_annotations(host: FakeHost) -> None:
    cgroup_id = host.cgroup_dir("/t1")
    state_dir = host.runc_container("runc", "t1", "/t1", CRIO_ANNOTATIONS, pid=4242)
    resolver = host.resolver()  # cgroup root found through <proc>/self/mounts
    assert resolver.cgroup_root == str(host.cgroup)

    identity = resolver.resolve(cgroup_id, 4242)

    assert identity.container == ContainerInfo(
        id="t1", name="nginx", image="docker.io/library/nginx:1.25", runtime="runc"
    )
    assert identity.workload == Workload("shop", "Deployment", "web", "nginx", inferred=True)
    assert identity.cgroup_path == "/t1"
    record = identity.record
    assert record is not None
    assert record.state_root == str(host.run / "runc")
    assert record.state_dir == str(state_dir)
    assert record.pid == 4242
    assert record.bundle == str(host.run / "bundles" / "t1")
    assert record.created is not None and record.created.year == 2026
    assert record.cgroup_paths[""] == f"{host.cgroup}/t1"
    assert record.cgroup_paths["freezer"] == "/sys/fs/cgroup/freezer/t1"
    assert record.annotations["io.kubernetes.pod.namespace"] == "shop"
    assert record.complete
    assert resolver.lookup("t1") == record
    assert resolver.containers() == [record]


def test_containerd_k8s_namespace_with_cri_annotations(host: FakeHost) -> None:
    path = f"/kubepods/besteffort/pod{UID}/{ID}"
    cgroup_id = host.cgroup_dir(path)
    host.runc_container("containerd/runc/k8s.io", ID, path, CRI_ANNOTATIONS)

    identity = host.resolver().resolve(cgroup_id, 1)

    assert identity.container == ContainerInfo(
        id=ID, name="postgres", image="docker.io/library/postgres:16", runtime="containerd"
    )
    assert identity.workload == Workload("data", "StatefulSet", "db", "postgres", inferred=True)
    assert identity.record is not None
    assert identity.record.state_root == str(host.run / "containerd" / "runc" / "k8s.io")


def test_containerd_systemd_driver(host: FakeHost) -> None:
    uid = UID.replace("-", "_")
    path = (
        f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid}.slice/"
        f"cri-containerd-{ID}.scope"
    )
    cgroup_id = host.cgroup_dir(path)
    host.runc_container("containerd/runc/k8s.io", ID, path, CRI_ANNOTATIONS)

    identity = host.resolver().resolve(cgroup_id, 1)

    assert identity.container.runtime == "containerd"
    assert identity.workload.key == "data/StatefulSet/db/postgres"


def test_docker_container_without_kubernetes_is_its_own_workload(host: FakeHost) -> None:
    path = f"/system.slice/docker-{ID}.scope"
    cgroup_id = host.cgroup_dir(path)
    host.runc_container(
        "docker/runtime-runc/moby", ID, path, {"org.opencontainers.image.ref.name": "redis:7"}
    )

    identity = host.resolver().resolve(cgroup_id, 1)

    assert identity.container == ContainerInfo(id=ID, name=ID, image="redis:7", runtime="docker")
    assert identity.workload == Workload("", "Container", "redis:7", ID)


def test_docker_layout_without_visible_state_still_names_the_container(host: FakeHost) -> None:
    cgroup_id = host.cgroup_dir(f"/docker/{ID}")

    identity = host.resolver().resolve(cgroup_id, 1)

    assert identity.container == ContainerInfo(id=ID, name=ID, image="", runtime="docker")
    assert identity.workload == Workload("", "Container", ID, ID)
    assert identity.record is None


def test_podman_on_crun(host: FakeHost) -> None:
    path = f"/machine.slice/libpod-{ID}.scope"
    cgroup_id = host.cgroup_dir(path)
    state_dir = host.run / "crun" / ID
    state_dir.mkdir(parents=True)
    # crun keeps a "status" file (cgroup path relative to the mount) and a copy of config.json
    status = {"pid": 777, "cgroup-path": path, "bundle": "/nonexistent", "created": CREATED}
    (state_dir / "status").write_text(json.dumps(status))
    (state_dir / "config.json").write_text(
        json.dumps({"annotations": {"io.container.manager": "libpod"}})
    )
    resolver = host.resolver()

    identity = resolver.resolve(cgroup_id, 777)

    assert identity.container.runtime == "podman"
    assert identity.container.id == ID
    assert identity.record is not None
    assert identity.record.pid == 777
    assert identity.record.cgroup_paths == {"": f"{host.cgroup}{path}"}
    assert identity.record.annotations == {"io.container.manager": "libpod"}


@pytest.mark.parametrize(
    "path", ["/", "/system.slice/ssh.service", "/user.slice/user-0.slice/session-1.scope"]
)
def test_host_processes(host: FakeHost, path: str) -> None:
    cgroup_id = host.cgroup_dir(path) if path != "/" else os.stat(host.cgroup).st_ino
    identity = host.resolver().resolve(cgroup_id, 1)
    assert identity.container == HOST_CONTAINER
    assert identity.workload == HOST_WORKLOAD
    assert identity.record is None
    assert identity.cgroup_path == path


def test_corrupt_state_gives_a_container_with_runtime_and_warns_once(
    host: FakeHost, caplog: pytest.LogCaptureFixture
) -> None:
    cgroup_id = host.cgroup_dir("/t1")
    state_dir = host.runc_container("runc", "t1", "/t1", CRIO_ANNOTATIONS)
    (state_dir / "state.json").write_text('{"id": "t1", "init_process_pid": ')
    resolver = host.resolver()

    with caplog.at_level(logging.WARNING, logger="vigil.identity"):
        identities = []
        for _ in range(3):
            identities.append(resolver.resolve(cgroup_id, 1))
            host.clock.advance(10)  # past the retry interval: the state is read again
    identity = identities[0]

    assert identity.container == ContainerInfo(id="t1", name="t1", image="", runtime="runc")
    assert identity.record is not None
    assert not identity.record.complete
    # where it runs is still known, so the container can be frozen
    assert identity.record.cgroup_paths == {"": f"{host.cgroup}/t1"}
    warnings = [r for r in caplog.records if "state.json" in r.getMessage()]
    assert len(warnings) == 1
    assert str(state_dir / "state.json") in warnings[0].getMessage()


def test_corrupt_config_falls_back_to_runc_labels(host: FakeHost) -> None:
    cgroup_id = host.cgroup_dir("/t1")
    state_dir = host.runc_container("runc", "t1", "/t1", {})
    state = json.loads((state_dir / "state.json").read_text())
    state["config"]["labels"].append("io.kubernetes.pod.namespace=shop")
    state["config"]["labels"].append("io.kubernetes.pod.name=db-1")
    (state_dir / "state.json").write_text(json.dumps(state))
    (host.run / "bundles" / "t1" / "config.json").write_text("[not json")

    identity = host.resolver().resolve(cgroup_id, 1)

    assert identity.workload == Workload("shop", "StatefulSet", "db", "t1", inferred=True)


def test_state_appearing_later_is_picked_up_after_the_retry_interval(host: FakeHost) -> None:
    cgroup_id = host.cgroup_dir("/t1")
    resolver = host.resolver(retry_interval=5.0)
    assert resolver.resolve(cgroup_id, 1).container == HOST_CONTAINER
    host.runc_container("runc", "t1", "/t1", CRIO_ANNOTATIONS)
    assert resolver.resolve(cgroup_id, 1).container == HOST_CONTAINER  # cached
    host.clock.advance(5.0)
    assert resolver.resolve(cgroup_id, 1).container.id == "t1"


def test_an_exec_rechecks_a_cgroup_answered_before_its_state_existed(host: FakeHost) -> None:
    cgroup_id = host.cgroup_dir("/t2")
    resolver = host.resolver(retry_interval=5.0)
    # runc's setup (forks, mounts) in the new cgroup comes before its state.json
    assert resolver.resolve(cgroup_id, 1).container == HOST_CONTAINER
    assert resolver.resolve(cgroup_id, 1, recheck=True).container == HOST_CONTAINER
    host.runc_container("runc", "t2", "/t2", CRIO_ANNOTATIONS)
    # the container's first program: no waiting for the retry interval
    assert resolver.resolve(cgroup_id, 1, recheck=True).container.id == "t2"
    assert resolver.resolve(cgroup_id, 1).container.id == "t2"  # and the answer is kept


def test_recheck_costs_nothing_for_settled_host_paths(host: FakeHost) -> None:
    resolver = host.resolver()
    root_id = os.stat(host.cgroup).st_ino
    assert resolver.resolve(root_id, 1, recheck=True).container == HOST_CONTAINER
    looked: list[str] = []
    find = resolver._roots.find

    def recording_find(container_id: str) -> StateDir | None:
        looked.append(container_id)
        return find(container_id)

    resolver._roots.find = recording_find  # type: ignore[method-assign]
    for _ in range(3):
        assert resolver.resolve(root_id, 1, recheck=True).container == HOST_CONTAINER
    assert looked == []  # "/" can never become a container: no state lookups per event


def test_unknown_cgroup_id_is_resolved_through_proc(host: FakeHost) -> None:
    resolver = host.resolver(min_rescan_interval=60.0)
    resolver.resolve(os.stat(host.cgroup).st_ino, 1)  # first scan happens here

    # a container started after the scan; rescans are rate-limited, so /proc must answer
    path = f"/kubepods/besteffort/pod{UID}/{ID}"
    cgroup_id = host.cgroup_dir(path)
    host.runc_container("containerd/runc/k8s.io", ID, path, CRI_ANNOTATIONS)
    host.process(31337, path)
    assert resolver.resolve(cgroup_id, 31337).container.id == ID
    # … and the id is learnt: the next event needs no /proc entry
    assert resolver.resolve(cgroup_id, 99999).container.id == ID

    # an id no tree knows (e.g. from another cgroup namespace), with a live pid
    host.process(555, path)
    assert resolver.resolve(123_456_789_012, 555).container.id == ID
    # neither the id nor the pid can be found: host, and no exception
    assert resolver.resolve(123_456_789_013, 556).container == HOST_CONTAINER


def test_pure_cgroup_v1_host_resolves_by_pid(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, cgroup2=False)
    host.runc_container("docker/runtime-runc/moby", ID, f"/docker/{ID}", {})
    host.process(4242, "/", v1=f"/docker/{ID}")
    resolver = host.resolver()
    assert resolver.cgroup_root is None
    identity = resolver.resolve(1, 4242)  # every event carries the cgroup2 root id here
    assert identity.container.id == ID
    assert identity.container.runtime == "docker"
    host.process(1, "/", v1="/init.scope")
    assert resolver.resolve(1, 1).container == HOST_CONTAINER


def test_cache_is_bounded(host: FakeHost) -> None:
    resolver = host.resolver(max_cached=3)
    ids = {
        f"/system.slice/unit{i}.service": host.cgroup_dir(f"/system.slice/unit{i}.service")
        for i in range(10)
    }
    container_id = host.cgroup_dir("/t1")
    host.runc_container("runc", "t1", "/t1", CRIO_ANNOTATIONS)
    for path, cgroup_id in ids.items():
        assert resolver.resolve(cgroup_id, 1).cgroup_path == path
        assert resolver.cached_identities <= 3
    for _ in range(2):
        assert resolver.resolve(container_id, 1).container.id == "t1"
        for cgroup_id in ids.values():
            resolver.resolve(cgroup_id, 1)
        assert resolver.cached_identities == 3


def test_exited_container_is_forgotten(host: FakeHost) -> None:
    cgroup_id = host.cgroup_dir("/t1")
    state_dir = host.runc_container("runc", "t1", "/t1", CRIO_ANNOTATIONS)
    resolver = host.resolver()
    assert resolver.resolve(cgroup_id, 1).container.id == "t1"
    assert [r.id for r in resolver.containers()] == ["t1"]

    shutil.rmtree(state_dir)  # runc delete
    (host.cgroup / "t1").rmdir()
    assert resolver.lookup("t1") is None
    assert resolver.containers() == []
    resolver.forget(cgroup_id)
    host.clock.advance(10)
    assert resolver.resolve(cgroup_id, 1).container == HOST_CONTAINER


def test_forget_drops_the_cached_answer(host: FakeHost) -> None:
    cgroup_id = host.cgroup_dir("/t1")
    resolver = host.resolver(retry_interval=3600.0)
    assert resolver.resolve(cgroup_id, 1).container == HOST_CONTAINER
    host.runc_container("runc", "t1", "/t1", CRIO_ANNOTATIONS)
    resolver.forget(cgroup_id)
    host.clock.advance(1)
    assert resolver.resolve(cgroup_id, 1).container.id == "t1"


def test_lookup_finds_a_live_container_not_seen_yet(host: FakeHost) -> None:
    host.runc_container("containerd/runc/moby", ID2, f"/docker/{ID2}", {})
    record = host.resolver().lookup(ID2)
    assert record is not None
    assert record.runtime == "docker"  # containerd's "moby" namespace is Docker's
    assert record.state_root == str(host.run / "containerd" / "runc" / "moby")
    assert host.resolver().lookup("../../etc") is None
    assert host.resolver().lookup("missing") is None


def test_bad_inputs_never_raise(host: FakeHost) -> None:
    (host.proc / "66").mkdir()
    (host.proc / "66" / "cgroup").write_bytes(b"\xff\xfe garbage \x00")
    cgroup_id = host.cgroup_dir("/t1")
    state_dir = host.runc_container("runc", "t1", "/t1", {})
    (state_dir / "state.json").write_text(json.dumps(["not", "an", "object"]))
    resolver = host.resolver()
    assert resolver.resolve(-1, 66).container == HOST_CONTAINER
    assert resolver.resolve(cgroup_id, 66).container.runtime == "runc"


def test_scan_updates_changed_containers_and_forgets_exited_ones(host: FakeHost) -> None:
    cgroup_id = host.cgroup_dir("/t1")
    state_dir = host.runc_container("runc", "t1", "/t1", CRIO_ANNOTATIONS, pid=100)
    resolver = host.resolver()
    assert resolver.scan().added == ("t1",)
    assert resolver.resolve(cgroup_id, 100).record is not None

    # the runtime rewrites its state (e.g. the container was restarted under the same id)
    state = json.loads((state_dir / "state.json").read_text())
    state["init_process_pid"] = 200
    (state_dir / "state.json").write_text(json.dumps(state))
    os.utime(state_dir / "state.json", ns=(1, 2_000_000_000_000_000_000))
    assert resolver.scan().updated == ("t1",)
    identity = resolver.resolve(cgroup_id, 200)
    assert identity.record is not None
    assert identity.record.pid == 200  # the cached identity went with the old record
    assert resolver.scan() == type(resolver.scan())()  # nothing changed since

    shutil.rmtree(state_dir)
    assert resolver.scan().removed == ("t1",)
    assert resolver.containers() == []


def test_scan_is_bounded(host: FakeHost) -> None:
    for index in range(10):
        host.runc_container("runc", f"t{index}", f"/t{index}", {})
    resolver = host.resolver(max_containers=4)
    assert len(resolver.scan().added) == 4
    assert len(resolver.containers()) == 4
