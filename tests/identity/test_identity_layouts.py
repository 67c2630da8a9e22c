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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fixtures.fakes import QueueSensor, exec_event
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
from vigil.models import ContainerInfo, Event, Severity, Workload
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
class Case:
    name: str
    root: str  # state root under run/
    path: str  # cgroup path relative to the mount
    container_id: str
    expected_container: ContainerInfo
    expected_workload: Workload
    layout: str  # what the provenance's layout must mention
    workload_source: str
    annotations: dict[str, str] = field(default_factory=dict)
    engine: Callable[[FakeHost], object] | None = None
    crun: bool = False


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


K8S_DB = Workload("data", "StatefulSet", "db", "postgres", inferred=True)
K8S_WEB = Workload("shop", "Deployment", "web", "nginx", inferred=True)
POSTGRES = ContainerInfo(ID, "postgres", "docker.io/library/postgres:16", "containerd")
NGINX_CRIO = ContainerInfo(ID, "nginx", "docker.io/library/nginx:1.25", "cri-o")
CONTAINERD_K8S = "containerd/runc/k8s.io"
LIBPOD = {"io.container.manager": "libpod"}

CASES = [
    Case(
        "runc cgroupfs",
        "runc",
        "/t1",
        "t1",
        ContainerInfo("t1", "t1", "", "runc"),
        Workload("", "Container", "t1", "t1"),
        "<parent>/<id> (cgroupfs driver)",
        "container id",
    ),
    Case(
        "runc systemd",
        "runc",
        "/system.slice/runc-t2.scope",
        "t2",
        ContainerInfo("t2", "t2", "", "runc"),
        Workload("", "Container", "t2", "t2"),
        "runc-<id>.scope (systemd driver)",
        "container id",
    ),
    Case(
        "crun cgroupfs",
        "crun",
        "/machine/c1",
        "c1",
        ContainerInfo("c1", "c1", "", "crun"),
        Workload("", "Container", "c1", "c1"),
        "(cgroupfs driver)",
        "container id",
        crun=True,
    ),
    *[
        Case(
            f"containerd CRI cgroupfs {qos or 'guaranteed'}",
            CONTAINERD_K8S,
            f"/kubepods/{qos}pod{UID}/{ID}",
            ID,
            POSTGRES,
            K8S_DB,
            "kubepods/[<qos>/]pod<uid>/<id> (cgroupfs driver)",
            "inferred from pod name",
            CRI_ANNOTATIONS,
        )
        for qos in ("", "burstable/", "besteffort/")
    ],
    Case(
        "containerd CRI systemd",
        CONTAINERD_K8S,
        f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/"
        f"cri-containerd-{ID}.scope",
        ID,
        POSTGRES,
        K8S_DB,
        "cri-containerd-<id> scope (systemd driver)",
        "inferred from pod name",
        CRI_ANNOTATIONS,
    ),
    Case(
        "CRI-O cgroupfs",
        "runc",
        f"/kubepods/besteffort/pod{UID}/crio-{ID}",
        ID,
        NGINX_CRIO,
        K8S_WEB,
        "crio-<id> (cgroupfs driver)",
        "inferred from pod name",
        CRIO_ANNOTATIONS,
    ),
    Case(
        "CRI-O systemd on crun",
        "crun",
        f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice/"
        f"crio-{ID}.scope",
        ID,
        NGINX_CRIO,
        K8S_WEB,
        "crio-<id> scope (systemd driver)",
        "inferred from pod name",
        CRIO_ANNOTATIONS,
        crun=True,
    ),
    Case(
        "Docker cgroupfs, compose service",
        "docker/runtime-runc/moby",
        f"/docker/{ID}",
        ID,
        ContainerInfo(ID, "shop-web-1", "nginx:1.25", "docker"),
        Workload("shop", "ComposeService", "web", "web"),
        "docker/<id> (cgroupfs driver)",
        "compose labels",
        engine=_docker_compose,
    ),
    Case(
        "Docker systemd, plain container",
        "docker/runtime-runc/moby",
        f"/system.slice/docker-{ID}.scope",
        ID,
        ContainerInfo(ID, "cache", "redis:7", "docker"),
        Workload("", "Container", "redis:7", "cache"),
        "docker-<id> scope (systemd driver)",
        "image",
        engine=_docker_plain,
    ),
    Case(
        "Docker through containerd's moby namespace",
        "containerd/runc/moby",
        f"/system.slice/docker-{ID}.scope",
        ID,
        ContainerInfo(ID, "cache", "redis:7", "docker"),
        Workload("", "Container", "redis:7", "cache"),
        "docker-<id> scope (systemd driver)",
        "image",
        engine=_docker_plain,
    ),
    Case(
        "Podman systemd, in a pod",
        "runc",
        f"/machine.slice/machine-libpod_pod_{POD_ID}.slice/libpod-{ID}.scope",
        ID,
        ContainerInfo(ID, "blog-db", "docker.io/mariadb:11", "podman"),
        Workload("", "PodmanPod", "blog", "blog-db"),
        "libpod-<id> scope (systemd driver)",
        "podman pod",
        LIBPOD,
        engine=_podman_pod,
    ),
    Case(
        "Podman cgroupfs, compose service, crun",
        "crun",
        f"/libpod_parent/libpod-{ID}",
        ID,
        ContainerInfo(ID, "shop_web_1", "docker.io/library/nginx:1.25", "podman"),
        Workload("shop", "ComposeService", "web", "web"),
        "libpod-<id> (cgroupfs driver)",
        "compose labels",
        LIBPOD,
        engine=_podman_compose,
        crun=True,
    ),
    Case(
        "Podman without its database (containers.json)",
        "runc",
        f"/machine.slice/libpod-{ID}.scope/container",
        ID,
        ContainerInfo(ID, "exporter", "quay.io/prometheus/node-exporter:v1", "podman"),
        Workload("", "Container", "quay.io/prometheus/node-exporter:v1", "exporter"),
        "libpod-<id> scope (systemd driver)",
        "image",
        LIBPOD,
        engine=_podman_storage_only,
    ),
]


def lay_out(host: FakeHost, case: Case, pid: int) -> None:
    if case.crun:
        state_dir = host.run / case.root / case.container_id
        state_dir.mkdir(parents=True)
        status = {"pid": pid, "cgroup-path": case.path, "bundle": "/gone", "created": CREATED}
        (state_dir / "status").write_text(json.dumps(status))
        config = {"ociVersion": "1.0.2", "annotations": case.annotations}
        (state_dir / "config.json").write_text(json.dumps(config))
    else:
        host.runc_container(case.root, case.container_id, case.path, case.annotations, pid=pid)
    if case.engine is not None:
        case.engine(host)


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

    assert identity.container == case.expected_container
    assert identity.workload == case.expected_workload
    assert identity.cgroup_path == case.path
    record = identity.record
    assert record is not None
    assert record.state_root == str(host.run / case.root)
    assert case.layout in record.found.layout
    assert record.found.layout.endswith("[cgroup v1]") == (cgroup_version == 1)
    assert record.found.workload == case.workload_source
    assert record.found.state == str(host.run / case.root)
    if case.engine is not None:
        assert record.found.metadata.startswith(str(tmp_path))
    if case.expected_workload.kind == "ComposeService":
        assert record.labels["com.docker.compose.service"] == "web"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_containers_that_started_before_the_agent_are_found_by_a_scan(
    tmp_path: Path, case: Case
) -> None:
    _, resolver = resolve(tmp_path, case, 2)

    result = resolver.scan()

    assert result.added == (case.container_id,)
    (record,) = resolver.containers()
    assert record.container == case.expected_container
    assert record.workload == case.expected_workload
    # the layout is read from the state's cgroup path, not from an event
    assert case.layout in record.found.layout
    assert resolver.scan().added == ()


class EveryEvent:
    """A detector that reports every event (to see exactly what alerts carry)."""

    @dataclass(frozen=True)
    class Seen:
        event: Event
        kind: str = "rule"
        rule: str = "test.every_event"
        severity: Severity = Severity.INFO
        message: str = "seen"
        mitre: list[str] = field(default_factory=list)

    def observe(self, event: Event) -> Sequence[Seen]:
        return [self.Seen(event)]


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
        detectors=[EveryEvent()],
    )
    for index in range(len(CASES)):
        sensor.push(exec_event("/bin/sh", cgroup_id=index, pid=4242))
    sensor.close()
    asyncio.run(agent.run(asyncio.Event()))

    alerts = list(reversed(store.alerts(limit=100)))
    assert len(alerts) == len(CASES)
    for (case, _, _, _), alert in zip(hosts, alerts, strict=True):
        assert alert["container"] == case.expected_container.to_json(), case.name
        assert alert["workload"] == case.expected_workload.to_json(), case.name
    store.close()
