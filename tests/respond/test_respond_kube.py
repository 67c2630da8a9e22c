"""Kubernetes actions with the real lightkube client against kmock (a real HTTP server that
emulates the API): the right requests are made, and every guardrail holds."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from kmock import KubernetesEmulator, Server
from lightkube import AsyncClient, KubeConfig

from tests.fixtures.fakes import WEB_1, FakeClock, exec_event
from vigil.errors import RuntimeActionError
from vigil.kube.actions import QUARANTINE_LABEL, KubeActions
from vigil.kube.objects import PodRef
from vigil.kube.owners import Controller, OwnerCache, Readiness
from vigil.models import Alert, Severity, Workload, utcnow
from vigil.respond.actions import ActionKit
from vigil.respond.guardrails import Guardrails
from vigil.respond.responder import Responder
from vigil.respond.settings import ActionStep, ResponseConfig

NS = "shop"
POD = PodRef(NS, "web-7d9f-abcde")


def pod(
    name: str, namespace: str = NS, owner: tuple[str, str] | None = ("ReplicaSet", "web-7d9f")
) -> dict[str, Any]:
    refs = (
        [
            {
                "apiVersion": "apps/v1",
                "kind": owner[0],
                "name": owner[1],
                "uid": "u1",
                "controller": True,
            }
        ]
        if owner
        else []
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "ownerReferences": refs},
        "spec": {"nodeName": "node-1", "containers": [{"name": "nginx", "image": "nginx"}]},
    }


def workload_spec(replicas: int) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}
    return {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": template}


def seed(kmock: KubernetesEmulator, ready: int = 3) -> None:
    kmock.objects["v1/pods", NS, POD.name] = pod(POD.name)
    kmock.objects["apps/v1/replicasets", NS, "web-7d9f"] = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "web-7d9f",
            "namespace": NS,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "web",
                    "uid": "u2",
                    "controller": True,
                }
            ],
        },
        "spec": workload_spec(3),
        "status": {"replicas": 3, "readyReplicas": ready},
    }
    kmock.objects["apps/v1/deployments", NS, "web"] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS},
        "spec": workload_spec(3),
        "status": {"replicas": 3, "readyReplicas": ready},
    }
    kmock.objects["v1/nodes", None, "node-1"] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "node-1"},
        "spec": {},
    }


#: kmock's emulated API server and a real lightkube client talking to it
KubeCluster = tuple[KubernetesEmulator, AsyncClient]


@pytest_asyncio.fixture
async def cluster() -> AsyncIterator[KubeCluster]:
    async with KubernetesEmulator() as kmock, Server(kmock) as server:
        config = KubeConfig.from_dict(
            {
                "clusters": [{"name": "kmock", "cluster": {"server": str(server.url)}}],
                "users": [{"name": "vigil", "user": {}}],
                "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "vigil"}}],
                "current-context": "kmock",
            }
        )
        client = AsyncClient(config)
        try:
            yield kmock, client
        finally:
            await client.close()


def writes(kmock: KubernetesEmulator) -> list[tuple[str, str, object]]:
    """(method, path, body) of every request that changes something."""
    return [
        (str(r.method.value), r.url.path, r.data)
        for r in kmock
        if str(r.method.value) in ("POST", "PATCH", "DELETE", "PUT")
    ]


@pytest.mark.asyncio
async def test_delete_pod_checks_the_owner_then_deletes(cluster: KubeCluster) -> None:
    kmock, client = cluster
    seed(kmock, ready=3)
    detail = await KubeActions(client, min_healthy_replicas=2).delete_pod(POD)
    assert detail == f"deleted pod {NS}/{POD.name} (Deployment web restarts it clean)"
    assert writes(kmock) == [("DELETE", f"/api/v1/namespaces/{NS}/pods/{POD.name}", None)]
    reads = [r.url.path for r in kmock if str(r.method.value) == "GET"]
    assert reads == [
        f"/api/v1/namespaces/{NS}/pods/{POD.name}",
        f"/apis/apps/v1/namespaces/{NS}/replicasets/web-7d9f",
    ]


@pytest.mark.asyncio
async def test_delete_pod_keeps_the_minimum_of_healthy_replicas(cluster: KubeCluster) -> None:
    kmock, client = cluster
    seed(kmock, ready=2)
    with pytest.raises(RuntimeActionError, match="Deployment web has 2 ready replica"):
        await KubeActions(client, min_healthy_replicas=2).delete_pod(POD)
    assert writes(kmock) == []


@pytest.mark.asyncio
async def test_a_bare_pod_is_never_deleted(cluster: KubeCluster) -> None:
    kmock, client = cluster
    kmock.objects["v1/pods", NS, "lonely"] = pod("lonely", owner=None)
    with pytest.raises(RuntimeActionError, match="no controller that would restart it"):
        await KubeActions(client).delete_pod(PodRef(NS, "lonely"))
    assert writes(kmock) == []


@pytest.mark.asyncio
async def test_protected_namespaces_get_no_request_at_all(cluster: KubeCluster) -> None:
    kmock, client = cluster
    kube = KubeActions(client, protected_namespaces=frozenset({"kube-system", "vigil"}))
    for ns in ("kube-system", "vigil"):
        ref = PodRef(ns, "coredns-1")
        for action in (kube.delete_pod, kube.scale_to_zero, kube.cordon_node):
            with pytest.raises(RuntimeActionError, match=f"namespace {ns} is protected"):
                await action(ref)
        with pytest.raises(RuntimeActionError, match="protected"):
            await kube.isolate_pod(ref, "a-1")
    assert list(kmock) == []


@pytest.mark.asyncio
async def test_isolate_scale_label_annotate_cordon_and_event(cluster: KubeCluster) -> None:
    kmock, client = cluster
    seed(kmock)
    kube = KubeActions(client)
    alert = {"id": "a-1", "rule": "profile.new_executable", "severity": "high", "message": "nc"}
    await kube.isolate_pod(POD, "a-1")
    await kube.isolate_pod(POD, "a-2")  # already isolated: the policy stays, no error
    await kube.scale_to_zero(POD)
    await kube.label_pod(POD, "a-1", "profile.new_executable")
    await kube.annotate_pod(POD, alert)
    await kube.cordon_node(POD)
    await kube.emit_event(POD, alert)

    policy = kmock.objects["networking.k8s.io/v1/networkpolicies", NS, f"vigil-isolate-{POD.name}"]
    assert policy["spec"] == {
        "podSelector": {"matchLabels": {QUARANTINE_LABEL: POD.name}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [],
        "egress": [],
    }
    stored_pod = kmock.objects["v1/pods", NS, POD.name]
    assert stored_pod["metadata"]["labels"] == {
        QUARANTINE_LABEL: POD.name,
        "vigil.io/alert": "a-1",
        "vigil.io/rule": "profile.new_executable",
    }
    assert stored_pod["metadata"]["annotations"]["vigil.io/severity"] == "high"
    assert kmock.objects["apps/v1/deployments", NS, "web"]["spec"]["replicas"] == 0
    assert kmock.objects["v1/nodes", None, "node-1"]["spec"] == {"unschedulable": True}
    (event,) = [o for k, o in kmock.objects.items() if k[0] == "v1/events"]
    assert event["involvedObject"]["name"] == POD.name
    assert (event["type"], event["reason"]) == ("Warning", "VigilAlert")
    assert [(m, p) for m, p, _ in writes(kmock)] == [
        ("POST", f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies"),
        ("PATCH", f"/api/v1/namespaces/{NS}/pods/{POD.name}"),
        ("POST", f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies"),  # 409
        ("PATCH", f"/api/v1/namespaces/{NS}/pods/{POD.name}"),
        ("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/web"),
        ("PATCH", f"/api/v1/namespaces/{NS}/pods/{POD.name}"),
        ("PATCH", f"/api/v1/namespaces/{NS}/pods/{POD.name}"),
        ("PATCH", "/api/v1/nodes/node-1"),
        ("POST", f"/api/v1/namespaces/{NS}/events"),
    ]


@dataclass
class PodRecord:
    id: str = "web-1"
    runtime: str = "containerd"
    state_root: str = "/run/containerd/runc/k8s.io"
    cgroup_paths: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(
        default_factory=lambda: {
            "io.kubernetes.pod.namespace": NS,
            "io.kubernetes.pod.name": POD.name,
        }
    )


class Lookup:
    def lookup(self, container_id: str) -> PodRecord:
        return PodRecord()


def pod_alert(alert_id: str, namespace: str = NS) -> Alert:
    from dataclasses import replace

    event = replace(
        exec_event("/bin/nc"),
        container=WEB_1,
        workload=Workload(namespace, "Deployment", "web", "nginx"),
    )
    return Alert(alert_id, utcnow(), "deviation", "r", Severity.HIGH, "m", event)


@pytest.mark.asyncio
async def test_through_the_responder_dry_run_rate_limit_and_cooldown(cluster: KubeCluster) -> None:
    from vigil.respond.settings import Playbook, PlaybookMatch

    kmock, client = cluster
    seed(kmock, ready=5)
    config = ResponseConfig(rate_per_workload=1, cooldown=60, forensics_before_destroy=False)
    kit = ActionKit(kube=KubeActions(client))
    delete = Playbook("del", PlaybookMatch(), "auto", (ActionStep("delete-pod"),))
    dry = Playbook("del", PlaybookMatch(), "auto", (ActionStep("delete-pod"),), dry_run=True)
    rails = Guardrails(config, agent_pid=1, agent_cgroups=frozenset(), environ={})

    dry_responder = Responder([dry], Lookup(), config=config, kit=kit, guardrails=rails)
    first = pod_alert("a-0")
    await dry_responder.respond(first)
    assert [a.outcome for a in first.actions] == ["dry-run"]
    assert writes(kmock) == []

    responder = Responder([delete], Lookup(), config=config, kit=kit, guardrails=rails)
    done, limited = pod_alert("a-1"), pod_alert("a-2")
    await responder.respond(done)
    await responder.respond(limited)
    assert [a.outcome for a in done.actions] == ["done"]
    assert limited.actions[0].outcome == "skipped"
    assert limited.actions[0].detail.startswith("cooldown: delete-pod ran on")
    system = pod_alert("a-3", namespace="kube-system")
    await responder.respond(system)
    assert system.actions[0].detail == "namespace kube-system is protected"
    assert [m for m, _, _ in writes(kmock)] == ["DELETE"]


# -- the delete's hot path: what is remembered between alerts, and when it is not trusted ------


def requests(kmock: KubernetesEmulator) -> list[tuple[str, str]]:
    return [(str(r.method.value), r.url.path) for r in kmock]


POD_PATH = f"/api/v1/namespaces/{NS}/pods"
RS_PATH = f"/apis/apps/v1/namespaces/{NS}/replicasets/web-7d9f"


def cached_kube(client: AsyncClient, clock: FakeClock[float], min_healthy: int = 1) -> KubeActions:
    owners = OwnerCache(max_age=2.0, clock=clock)
    return KubeActions(client, min_healthy_replicas=min_healthy, owners=owners)


async def warmed_kube(
    cluster: KubeCluster, min_healthy: int = 1
) -> tuple[KubeActions, FakeClock[float]]:
    """Cached kube actions after one delete of POD, which then comes back; 3 replicas ready."""
    kmock, client = cluster
    seed(kmock, ready=3)
    clock = FakeClock(1000.0)
    kube = cached_kube(client, clock, min_healthy)
    await kube.delete_pod(POD)  # cold: the pod, then its ReplicaSet
    kmock.objects["v1/pods", NS, POD.name] = pod(POD.name)  # (a StatefulSet-like comeback)
    return kube, clock


@pytest.mark.asyncio
async def test_a_known_owner_with_a_fresh_count_costs_no_read(cluster: KubeCluster) -> None:
    kmock, _ = cluster
    kube, clock = await warmed_kube(cluster)
    clock.now += 1.0
    await kube.delete_pod(POD)  # both known and fresh: the DELETE alone
    kmock.objects["v1/pods", NS, POD.name] = pod(POD.name)
    clock.now += 1.5
    await kube.delete_pod(POD)  # count older than max_age: read the ReplicaSet again, only it
    assert requests(kmock) == [
        ("GET", f"{POD_PATH}/{POD.name}"),
        ("GET", RS_PATH),
        ("DELETE", f"{POD_PATH}/{POD.name}"),
        ("DELETE", f"{POD_PATH}/{POD.name}"),
        ("GET", RS_PATH),
        ("DELETE", f"{POD_PATH}/{POD.name}"),
    ]


@pytest.mark.asyncio
async def test_a_stale_count_is_read_again_and_its_news_is_honoured(cluster: KubeCluster) -> None:
    kmock, _ = cluster
    kube, clock = await warmed_kube(cluster, min_healthy=2)
    replicaset = kmock.objects["apps/v1/replicasets", NS, "web-7d9f"].raw
    kmock.objects["apps/v1/replicasets", NS, "web-7d9f"] = {
        **replicaset,
        "status": {"replicas": 3, "readyReplicas": 2},
    }
    clock.now += 2.0  # the snapshot (3 ready) is too old to trust
    with pytest.raises(RuntimeActionError, match="Deployment web has 2 ready replica"):
        await kube.delete_pod(POD)
    assert [m for m, _ in requests(kmock)] == ["GET", "GET", "DELETE", "GET"]


@pytest.mark.asyncio
async def test_pods_deleted_since_the_read_count_as_gone(cluster: KubeCluster) -> None:
    """Two alerts on two pods of one ReplicaSet, before its status shows the first deletion."""
    kmock, client = cluster
    seed(kmock, ready=3)
    other = PodRef(NS, "web-7d9f-fghij")
    kmock.objects["v1/pods", NS, other.name] = pod(other.name)
    kube = cached_kube(client, FakeClock(1000.0), min_healthy=2)
    await kube.delete_pod(POD)  # 3 ready → 2 left: allowed
    with pytest.raises(RuntimeActionError, match="Deployment web has 2 ready replica"):
        await kube.delete_pod(other)  # the server still says 3; one of those is gone
    assert writes(kmock) == [("DELETE", f"{POD_PATH}/{POD.name}", None)]


@pytest.mark.asyncio
async def test_a_failed_read_refuses_the_delete(cluster: KubeCluster) -> None:
    kmock, _ = cluster
    kube, clock = await warmed_kube(cluster)
    del kmock.objects["apps/v1/replicasets", NS, "web-7d9f"]
    clock.now += 5.0  # stale, and the read that should refresh it fails
    refused = "get replicaset web-7d9f: API server answered 404"
    with pytest.raises(RuntimeActionError, match=refused):
        await kube.delete_pod(POD)
    assert [m for m, _, _ in writes(kmock)] == ["DELETE"]  # only the first one


@pytest.mark.asyncio
async def test_an_unreachable_api_with_a_stale_count_deletes_nothing(cluster: KubeCluster) -> None:
    kmock, client = cluster
    seed(kmock, ready=3)
    clock = FakeClock(1000.0)
    owners = OwnerCache(max_age=2.0, clock=clock)
    await KubeActions(client, owners=owners).delete_pod(POD)  # warms the cache
    clock.now += 5.0
    async with KubernetesEmulator() as gone, Server(gone) as server:
        url = str(server.url)
    dead = AsyncClient(
        KubeConfig.from_dict(
            {
                "clusters": [{"name": "k", "cluster": {"server": url}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "k", "context": {"cluster": "k", "user": "u"}}],
                "current-context": "k",
            }
        )
    )
    try:
        with pytest.raises(RuntimeActionError, match="get replicaset web-7d9f"):
            await KubeActions(dead, owners=owners).delete_pod(POD)
    finally:
        await dead.close()


@pytest.mark.asyncio
async def test_guardrails_hold_with_a_warm_cache(cluster: KubeCluster) -> None:
    """A cached owner never bypasses protected namespaces or the bare-pod rule."""
    kmock, client = cluster
    kmock.objects["v1/pods", NS, "lonely"] = pod("lonely", owner=None)
    clock = FakeClock(1000.0)
    kube = KubeActions(
        client,
        protected_namespaces=frozenset({"kube-system"}),
        owners=OwnerCache(max_age=60.0, clock=clock),
    )
    system = PodRef("kube-system", "coredns-1")
    kube.owners.remember_controller(system.namespace, system.name, Controller("ReplicaSet", "c"))
    kube.owners.remember_readiness(
        system.namespace, Controller("ReplicaSet", "c"), Readiness("Deployment", "c", 9, 9, 1000.0)
    )
    with pytest.raises(RuntimeActionError, match="namespace kube-system is protected"):
        await kube.delete_pod(system)
    for _ in range(2):  # a bare pod is read every time (never remembered) and never deleted
        with pytest.raises(RuntimeActionError, match="no controller that would restart it"):
            await kube.delete_pod(PodRef(NS, "lonely"))
    assert requests(kmock) == [("GET", f"{POD_PATH}/lonely")] * 2
