"""Every runtime × cgroup driver × cgroup version, as fixture trees, through the real resolver,
and on to the alerts the agent records.

Each case lays out what the runtime leaves on a host: the cgroup directory (v2) or the process's
v1 cgroup lines, the low-level runtime's state directory under the engine's root, the bundle's
annotations, and the engine's own metadata (Docker's config.v2.json, Podman's SQLite state or
containers/storage's containers.json).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fixtures.fakes import FlagEvents, QueueSensor, exec_event
from tests.fixtures.identity_host import (
    CREATED,
    CRI_ANNOTATIONS,
    CRIO_ANNOTATIONS,
    ID,
    UID,
    FakeHost,
)
from vigil.agent import Agent
from vigil.detect.profiles import ProfileBook
from vigil.identity import Identity, IdentityResolver
from vigil.models import ContainerInfo, Workload
from vigil.record.store import Store
from vigil.respond.responder import Responder

UID_ = UID.replace("-", "_")
POD_ID = "7c1d" + "0a1b2c3d4e5f6789" * 3 + "aabbccddeeff"
COMPOSE = {
    "com.docker.compose.project": "shop",
    "com.docker.compose.service": "web",
    "com.docker.compose.container-number": "1",
}


@dataclass(frozen=True)
class Found:
    """What the resolver must make of one container, and the files it reads that from."""

    container: ContainerInfo
    workload: Workload
    source: str  # which of the resolver's sources named the workload
    annotations: dict[str, str] = field(default_factory=dict)
    engine: Callable[[FakeHost], object] | None = None  # writes the engine's own metadata


@dataclass(frozen=True)
class Case:
    name: str
    root: str  # state root under run/
    path: str  # cgroup path relative to the mount
    layout: str  # what the provenance's layout must mention
    found: Found
    crun: bool = False

    @property
    def container_id(self) -> str:
        return self.found.container.id


def bare(runtime: str, container_id: str) -> Found:
    """A container of the low-level runtime alone: nothing names it but its id."""
    container = ContainerInfo(container_id, container_id, "", runtime)
    return Found(container, Workload("", "Container", container_id, container_id), "container id")


def _docker_compose(host: FakeHost) -> object:
    return host.docker_config(ID, "shop-web-1", "nginx:1.25", COMPOSE)


def _docker_plain(host: FakeHost) -> object:
    return host.docker_config(ID, "cache", "redis:7")


def _podman_pod(host: FakeHost) -> object:
    config = {"id": ID, "name": "blog-db", "pod": POD_ID, "rootfsImageName": "docker.io/mariadb:11"}
    return host.podman_db([config], pods={POD_ID: "blog"})


def _podman_compose(host: FakeHost) -> object:
    config = {
        "id": ID,
        "name": "shop_web_1",
        "rootfsImageName": "docker.io/library/nginx:1.25",
        "labels": COMPOSE,
    }
    return host.podman_db([config])


def _podman_storage_only(host: FakeHost) -> object:
    metadata = {"image-name": "quay.io/prometheus/node-exporter:v1", "name": "exporter"}
    entry = {"id": ID, "names": ["exporter"], "image": "f" * 64, "metadata": json.dumps(metadata)}
    return host.storage_containers([entry])


LIBPOD = {"io.container.manager": "libpod"}
COMPOSE_WEB = Workload("shop", "ComposeService", "web", "web")
EXPORTER = "quay.io/prometheus/node-exporter:v1"
POSTGRES_POD = Found(
    ContainerInfo(ID, "postgres", "docker.io/library/postgres:16", "containerd"),
    Workload("data", "StatefulSet", "db", "postgres", inferred=True),
    "inferred from pod name",
    CRI_ANNOTATIONS,
)
NGINX_POD = Found(
    ContainerInfo(ID, "nginx", "docker.io/library/nginx:1.25", "cri-o"),
    Workload("shop", "Deployment", "web", "nginx", inferred=True),
    "inferred from pod name",
    CRIO_ANNOTATIONS,
)
DOCKER_COMPOSE = Found(
    ContainerInfo(ID, "shop-web-1", "nginx:1.25", "docker"),
    COMPOSE_WEB,
    "compose labels",
    engine=_docker_compose,
)
DOCKER_PLAIN = Found(
    ContainerInfo(ID, "cache", "redis:7", "docker"),
    Workload("", "Container", "redis:7", "cache"),
    "image",
    engine=_docker_plain,
)
PODMAN_POD = Found(
    ContainerInfo(ID, "blog-db", "docker.io/mariadb:11", "podman"),
    Workload("", "PodmanPod", "blog", "blog-db"),
    "podman pod",
    LIBPOD,
    _podman_pod,
)
PODMAN_COMPOSE = Found(
    ContainerInfo(ID, "shop_web_1", "docker.io/library/nginx:1.25", "podman"),
    COMPOSE_WEB,
    "compose labels",
    LIBPOD,
    _podman_compose,
)
PODMAN_STORAGE_ONLY = Found(
    ContainerInfo(ID, "exporter", EXPORTER, "podman"),
    Workload("", "Container", EXPORTER, "exporter"),
    "image",
    LIBPOD,
    _podman_storage_only,
)

CONTAINERD_K8S = "containerd/runc/k8s.io"
DOCKER_ROOT = "docker/runtime-runc/moby"
KUBE_SYSTEMD = "/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{uid}.slice/"

CASES = [
    Case("runc cgroupfs", "runc", "/t1", "<parent>/<id> (cgroupfs driver)", bare("runc", "t1")),
    Case(
        "runc systemd",
        "runc",
        "/system.slice/runc-t2.scope",
        "runc-<id>.scope (systemd driver)",
        bare("runc", "t2"),
    ),
    Case(
        "crun cgroupfs", "crun", "/machine/c1", "(cgroupfs driver)", bare("crun", "c1"), crun=True
    ),
    *[
        Case(
            f"containerd CRI cgroupfs {qos or 'guaranteed'}",
            CONTAINERD_K8S,
            f"/kubepods/{qos}pod{UID}/{ID}",
            "kubepods/[<qos>/]pod<uid>/<id> (cgroupfs driver)",
            POSTGRES_POD,
        )
        for qos in ("", "burstable/", "besteffort/")
    ],
    Case(
        "containerd CRI systemd",
        CONTAINERD_K8S,
        KUBE_SYSTEMD.format(qos="burstable", uid=UID_) + f"cri-containerd-{ID}.scope",
        "cri-containerd-<id> scope (systemd driver)",
        POSTGRES_POD,
    ),
    Case(
        "CRI-O cgroupfs",
        "runc",
        f"/kubepods/besteffort/pod{UID}/crio-{ID}",
        "crio-<id> (cgroupfs driver)",
        NGINX_POD,
    ),
    Case(
        "CRI-O systemd on crun",
        "crun",
        KUBE_SYSTEMD.format(qos="besteffort", uid=UID_) + f"crio-{ID}.scope",
        "crio-<id> scope (systemd driver)",
        NGINX_POD,
        crun=True,
    ),
    Case(
        "Docker cgroupfs, compose service",
        DOCKER_ROOT,
        f"/docker/{ID}",
        "docker/<id> (cgroupfs driver)",
        DOCKER_COMPOSE,
    ),
    *[
        Case(
            name,
            root,
            f"/system.slice/docker-{ID}.scope",
            "docker-<id> scope (systemd driver)",
            DOCKER_PLAIN,
        )
        for name, root in [
            ("Docker systemd, plain container", DOCKER_ROOT),
            ("Docker through containerd's moby namespace", "containerd/runc/moby"),
        ]
    ],
    Case(
        "Podman systemd, in a pod",
        "runc",
        f"/machine.slice/machine-libpod_pod_{POD_ID}.slice/libpod-{ID}.scope",
        "libpod-<id> scope (systemd driver)",
        PODMAN_POD,
    ),
    Case(
        "Podman cgroupfs, compose service, crun",
        "crun",
        f"/libpod_parent/libpod-{ID}",
        "libpod-<id> (cgroupfs driver)",
        PODMAN_COMPOSE,
        crun=True,
    ),
    Case(
        "Podman without its database (containers.json)",
        "runc",
        f"/machine.slice/libpod-{ID}.scope/container",
        "libpod-<id> scope (systemd driver)",
        PODMAN_STORAGE_ONLY,
    ),
]


def lay_out(host: FakeHost, case: Case, pid: int) -> None:
    if case.crun:
        state_dir = host.run / case.root / case.container_id
        state_dir.mkdir(parents=True)
        status = {"pid": pid, "cgroup-path": case.path, "bundle": "/gone", "created": CREATED}
        (state_dir / "status").write_text(json.dumps(status))
        config = {"ociVersion": "1.0.2", "annotations": case.found.annotations}
        (state_dir / "config.json").write_text(json.dumps(config))
    else:
        host.runc_container(
            case.root, case.container_id, case.path, case.found.annotations, pid=pid
        )
    if case.found.engine is not None:
        case.found.engine(host)


def resolve(tmp_path: Path, case: Case, cgroup_version: int) -> tuple[FakeHost, IdentityResolver]:
    host = FakeHost(tmp_path, cgroup2=cgroup_version == 2)
    lay_out(host, case, pid=4242)
    if cgroup_version == 2:
        host.cgroup_dir(case.path)
    host.process(4242, "/" if cgroup_version == 1 else case.path, v1=case.path)
    return host, host.resolver()


def cgroup_id(host: FakeHost, case: Case, cgroup_version: int) -> int:
    # on a v1 host every event carries the same (root) cgroup2 id: the pid decides
    return host.cgroup_dir(case.path) if cgroup_version == 2 else 1


@pytest.mark.parametrize("cgroup_version", [2, 1], ids=["cgroup2", "cgroup1"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_layout_is_attributed(tmp_path: Path, case: Case, cgroup_version: int) -> None:
    host, resolver = resolve(tmp_path, case, cgroup_version)

    identity = resolver.resolve(cgroup_id(host, case, cgroup_version), 4242)

    assert identity.container == case.found.container
    assert identity.workload == case.found.workload
    assert identity.cgroup_path == case.path
    record = identity.record
    assert record is not None
    assert record.state_root == str(host.run / case.root)
    assert case.layout in record.found.layout
    assert record.found.layout.endswith("[cgroup v1]") == (cgroup_version == 1)
    assert record.found.workload == case.found.source
    assert record.found.state == str(host.run / case.root)
    if case.found.engine is not None:
        assert record.found.metadata.startswith(str(tmp_path))
    if case.found.workload.kind == "ComposeService":
        assert record.labels["com.docker.compose.service"] == "web"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_containers_that_started_before_the_agent_are_found_by_a_scan(
    tmp_path: Path, case: Case
) -> None:
    _, resolver = resolve(tmp_path, case, 2)

    result = resolver.scan()

    assert result.added == (case.container_id,)
    (record,) = resolver.containers()
    assert record.container == case.found.container
    assert record.workload == case.found.workload
    # the layout is read from the state's cgroup path, not from an event
    assert case.layout in record.found.layout
    assert resolver.scan().added == ()


def test_alerts_carry_container_and_workload_for_every_layout(tmp_path: Path) -> None:
    """One agent, one host with every layout at once; each alert names its own container."""
    hosts: list[tuple[Case, FakeHost, IdentityResolver, int]] = []
    for index, case in enumerate(CASES):
        host, resolver = resolve(tmp_path / f"host{index}", case, 2)
        hosts.append((case, host, resolver, host.cgroup_dir(case.path)))

    class PerCaseIdentity:
        """Routes each test event (cgroup id = case index) to that case's fixture host."""

        def resolve(
            self, cgroup_id: int, pid: int, *, recheck: bool = False, settle: bool = False
        ) -> Identity:
            _, _, resolver, real_id = hosts[cgroup_id]
            return resolver.resolve(real_id, pid, recheck=recheck, settle=settle)

    sensor = QueueSensor()
    store = Store.open(tmp_path / "data")
    identity = PerCaseIdentity()
    agent = Agent(
        sensor=sensor,
        identity=identity,
        profiles=ProfileBook(learning_period=None),
        responder=Responder([], hosts[0][2]),
        store=store,
        outputs=[],
        detectors=[FlagEvents("test.every_event")],
    )
    for index in range(len(CASES)):
        sensor.push(exec_event("/bin/sh", cgroup_id=index, pid=4242))
    sensor.close()
    asyncio.run(agent.run(asyncio.Event()))

    alerts = list(reversed(store.alerts(limit=100)))
    assert len(alerts) == len(CASES)
    for (case, _, _, _), alert in zip(hosts, alerts, strict=True):
        assert alert["container"] == case.found.container.to_json(), case.name
        assert alert["workload"] == case.found.workload.to_json(), case.name
    store.close()
