"""The Kubernetes adapter against kmock (a real HTTP server emulating the API) and real lightkube.

Objects are created over HTTP, so the emulator sends the watch events a cluster would send.
kmock does not filter by field selectors: the tests check that vigil asks for its node's pods
and still drops pods of other nodes itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import kmock as km
import pytest

from tests.fixtures.identity_host import CRI_ANNOTATIONS, ID, UID, FakeHost
from vigil import bootstrap
from vigil.errors import EXIT_BAD_USAGE
from vigil.kube.client import (
    KubeApi,
    KubeApiError,
    KubeConfigError,
    KubeUnavailable,
    OwnerRef,
    load_config,
)
from vigil.kube.pods import PodDirectory, PodOwner, PodWatcher
from vigil.kube.settings import KubernetesConfig
from vigil.kube.setup import pod_watcher
from vigil.models import Workload

NODE = "node-1"
PODS = km.resource("v1", "pods")
REPLICASETS = km.resource("apps/v1", "replicasets")


def kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "lab", "cluster": {"server": server}}],
                "users": [{"name": "vigil", "user": {"token": "not-a-secret"}}],
                "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "vigil"}}],
                "current-context": "lab",
            }
        )
    )
    return path


def api_for(tmp_path: Path, server: str) -> KubeApi:
    return KubeApi.from_config(load_config(kubeconfig(tmp_path, server)), timeout=2.0)


def owner(kind: str, name: str, api_version: str = "apps/v1") -> list[dict[str, Any]]:
    return [
        {"apiVersion": api_version, "kind": kind, "name": name, "uid": f"uid-{name}",
         "controller": True, "blockOwnerDeletion": True}
    ]  # fmt: skip


def pod(
    namespace: str, name: str, owners: list[dict[str, Any]] | None = None, node: str = NODE
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "ownerReferences": owners or [],
        },
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}]},
    }


def controller(
    kind: str, namespace: str, name: str, owners: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    api_version = "batch/v1" if kind in {"Job", "CronJob"} else "apps/v1"
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": name}}}
    if kind == "CronJob":
        spec = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {}}}}
    elif kind == "Job":
        spec = {"template": {"spec": {"containers": []}}}
    elif kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}:
        spec["template"] = {"spec": {"containers": []}}
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "ownerReferences": owners or []},
        "spec": spec,
    }


@pytest.fixture
def kmock(kmock: km.KubernetesEmulator) -> km.KubernetesEmulator:
    """kmock's own fixture, with the resources declared as an empty cluster has them."""
    for resource in ("v1/pods", "apps/v1/replicasets", "batch/v1/jobs"):
        kmock.resources[resource] = km.ResourceInfo()  # what kmock makes of `= {}`
    return kmock


async def create(kmock: km.KubernetesEmulator, obj: dict[str, Any]) -> None:
    plural = obj["kind"].lower() + "s"
    prefix = "/api/v1" if obj["apiVersion"] == "v1" else f"/apis/{obj['apiVersion']}"
    namespace = obj["metadata"]["namespace"]
    response = await kmock.post(f"{prefix}/namespaces/{namespace}/{plural}", json=obj)
    assert response.status == 200, await response.text()


async def eventually(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


async def with_watcher(watcher: PodWatcher, check: Callable[[], Awaitable[None]]) -> None:
    task = asyncio.create_task(watcher.run())
    try:
        await check()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await watcher.api.close()


async def a_cluster(kmock: km.KubernetesEmulator) -> None:
    """One of each owner chain on this node, plus a pod of another node."""
    await create(kmock, controller("Deployment", "shop", "web"))
    await create(
        kmock, controller("ReplicaSet", "shop", "web-7d4b9c8f6d", owner("Deployment", "web"))
    )
    await create(kmock, pod("shop", "web-7d4b9c8f6d-x2x9k", owner("ReplicaSet", "web-7d4b9c8f6d")))
    await create(kmock, controller("StatefulSet", "data", "db"))
    await create(kmock, pod("data", "db-0", owner("StatefulSet", "db")))
    await create(kmock, pod("kube-system", "proxy-x7ncz", owner("DaemonSet", "proxy")))
    await create(kmock, controller("CronJob", "ops", "report"))
    await create(
        kmock, controller("Job", "ops", "report-28731540", owner("CronJob", "report", "batch/v1"))
    )
    await create(
        kmock, pod("ops", "report-28731540-fz5k2", owner("Job", "report-28731540", "batch/v1"))
    )
    await create(kmock, controller("Job", "ops", "migrate"))
    await create(kmock, pod("ops", "migrate-bq7xz", owner("Job", "migrate", "batch/v1")))
    await create(kmock, controller("ReplicaSet", "shop", "bare-rs"))
    await create(kmock, pod("shop", "bare-rs-k2w9p", owner("ReplicaSet", "bare-rs")))
    await create(kmock, pod("default", "debug"))
    await create(
        kmock, pod("shop", "elsewhere-0", owner("StatefulSet", "elsewhere"), node="node-2")
    )


# -- configuration ---------------------------------------------------------------------------
def test_kubeconfig_and_in_cluster_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(kubeconfig(tmp_path, "http://127.0.0.1:6443"))
    assert config.cluster.server == "http://127.0.0.1:6443"

    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("token")
    (account / "namespace").write_text("vigil")
    (account / "ca.crt").write_text("")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    in_cluster = load_config(service_account_dir=str(account))
    assert in_cluster.cluster.server == "https://10.96.0.1:443"
    assert in_cluster.namespace == "vigil"


def test_missing_or_broken_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match=r"nope\.yaml") as missing:
        load_config(tmp_path / "nope.yaml")
    assert missing.value.exit_code == EXIT_BAD_USAGE
    broken = tmp_path / "broken.yaml"
    broken.write_text("clusters: [oops\n")
    with pytest.raises(KubeConfigError, match=r"broken\.yaml"):
        load_config(broken)


# -- owners, list and watch ------------------------------------------------------------------
@pytest.mark.asyncio
async def test_owner_chains_of_every_kind(kmock: km.KubernetesEmulator, tmp_path: Path) -> None:
    await a_cluster(kmock)
    directory = PodDirectory()
    watcher = PodWatcher(api_for(tmp_path, str(kmock.url)), NODE, directory)

    async def check() -> None:
        await asyncio.wait_for(watcher.synced.wait(), 10)
        assert directory.connected
        seen = {
            (ns, pod): directory.workload(ns, pod, "main")
            for ns, pod in [
                ("shop", "web-7d4b9c8f6d-x2x9k"),
                ("data", "db-0"),
                ("kube-system", "proxy-x7ncz"),
                ("ops", "report-28731540-fz5k2"),
                ("ops", "migrate-bq7xz"),
                ("shop", "bare-rs-k2w9p"),
                ("default", "debug"),
                ("shop", "elsewhere-0"),
            ]
        }
        assert seen == {
            ("shop", "web-7d4b9c8f6d-x2x9k"): Workload("shop", "Deployment", "web", "main"),
            ("data", "db-0"): Workload("data", "StatefulSet", "db", "main"),
            ("kube-system", "proxy-x7ncz"): Workload("kube-system", "DaemonSet", "proxy", "main"),
            ("ops", "report-28731540-fz5k2"): Workload("ops", "CronJob", "report", "main"),
            ("ops", "migrate-bq7xz"): Workload("ops", "Job", "migrate", "main"),
            ("shop", "bare-rs-k2w9p"): Workload("shop", "ReplicaSet", "bare-rs", "main"),
            ("default", "debug"): Workload("default", "Pod", "debug", "main"),
            ("shop", "elsewhere-0"): None,  # another node's pod
        }
        assert not any(w.inferred for w in seen.values() if w)

    await with_watcher(watcher, check)
    pod_requests = [r for r in list(kmock) if r.url.path == "/api/v1/pods"]
    assert pod_requests
    assert all(r.params.get("fieldSelector") == f"spec.nodeName={NODE}" for r in pod_requests)
    assert any(r.params.get("watch") == "true" for r in pod_requests)
    # one lookup per controller, however many pods it has
    assert watcher.owners.lookups == 4


@pytest.mark.asyncio
async def test_watch_events_add_modify_delete(kmock: km.KubernetesEmulator, tmp_path: Path) -> None:
    await create(kmock, controller("StatefulSet", "data", "db"))
    directory = PodDirectory()
    watcher = PodWatcher(api_for(tmp_path, str(kmock.url)), NODE, directory)

    async def check() -> None:
        await asyncio.wait_for(watcher.synced.wait(), 10)
        assert len(directory) == 0
        # ADDED: a pod whose ReplicaSet cannot be read yet (404) stays inferred, not wrong
        await create(
            kmock, pod("shop", "api-5b9f7c6d48-bx7kq", owner("ReplicaSet", "api-5b9f7c6d48"))
        )
        await create(kmock, pod("data", "db-1", owner("StatefulSet", "db")))
        await eventually(lambda: directory.workload("data", "db-1", "c") is not None)
        assert directory.workload("shop", "api-5b9f7c6d48-bx7kq", "c") is None
        # MODIFIED: once its ReplicaSet exists, the next event of the pod resolves it
        await create(
            kmock, controller("ReplicaSet", "shop", "api-5b9f7c6d48", owner("Deployment", "api"))
        )
        patched = await kmock.patch(
            "/api/v1/namespaces/shop/pods/api-5b9f7c6d48-bx7kq",
            json={"metadata": {"labels": {"ready": "yes"}}},
        )
        assert patched.status == 200
        await eventually(
            lambda: (
                directory.workload("shop", "api-5b9f7c6d48-bx7kq", "c")
                == Workload("shop", "Deployment", "api", "c")
            )
        )
        # DELETED
        generation = directory.generation
        deleted = await kmock.delete("/api/v1/namespaces/data/pods/db-1")
        assert deleted.status == 200
        await eventually(lambda: directory.workload("data", "db-1", "c") is None)
        assert directory.generation > generation

    await with_watcher(watcher, check)


# -- errors and degradation ------------------------------------------------------------------
@pytest.mark.asyncio
async def test_api_errors_are_wrapped_truncated_and_retried(
    kmock: km.KubernetesEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    failing = {"on": True}

    def list_pods(request: km.Request) -> None:
        if failing["on"]:
            raise km.KubernetesError(status=503, reason="Unavailable", message="etcd " * 2000)

    kmock["list", PODS] << list_pods
    await create(kmock, pod("data", "db-0", owner("StatefulSet", "db")))
    directory = PodDirectory()
    watcher = PodWatcher(
        api_for(tmp_path, str(kmock.url)), NODE, directory, min_retry=0.05, max_retry=0.1
    )

    async def check() -> None:
        await eventually(lambda: watcher.failures >= 2)
        assert not directory.connected
        assert directory.workload("data", "db-0", "c") is None
        assert "list pods on node node-1: 503 etcd" in directory.last_error
        assert len(directory.last_error) < 400  # the 10 kB message is cut
        warnings = [r for r in caplog.records if r.name == "vigil.kube.pods"]
        assert len(warnings) == 1  # the same error is logged once, not once per retry
        failing["on"] = False
        await asyncio.wait_for(watcher.synced.wait(), 10)
        assert directory.workload("data", "db-0", "c") == Workload("data", "StatefulSet", "db", "c")
        assert directory.connected

    with caplog.at_level(logging.WARNING, logger="vigil.kube"):
        await with_watcher(watcher, check)


@pytest.mark.asyncio
async def test_each_call_raises_our_own_errors(
    kmock: km.KubernetesEmulator, tmp_path: Path
) -> None:
    api = api_for(tmp_path, str(kmock.url))
    try:
        with pytest.raises(KubeApiError, match="get ReplicaSet shop/gone: 404") as missing:
            await api.controller_of("ReplicaSet", "shop", "gone")
        assert missing.value.status == 404
        # an object the client cannot decode (a ReplicaSet without its required spec)
        kmock["get", REPLICASETS, km.name("odd")] << {"metadata": {"name": "odd"}}
        with pytest.raises(KubeApiError, match="unexpected answer"):
            await api.controller_of("ReplicaSet", "shop", "odd")
        await create(
            kmock, controller("Job", "ops", "nightly-1", owner("CronJob", "nightly", "batch/v1"))
        )
        assert await api.controller_of("Job", "ops", "nightly-1") == OwnerRef("CronJob", "nightly")
        assert await api.controller_of("StatefulSet", "ops", "x") is None  # owns its pods itself
    finally:
        await api.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.asyncio
async def test_unreachable_api_degrades_to_inference_without_blocking_events(
    tmp_path: Path,
) -> None:
    host = FakeHost(tmp_path)
    path = f"/kubepods/besteffort/pod{UID}/{ID}"
    cgroup_id = host.cgroup_dir(path)
    host.runc_container("containerd/runc/k8s.io", ID, path, CRI_ANNOTATIONS)
    directory = PodDirectory()
    resolver = host.resolver(pod_owners=directory)
    api = api_for(tmp_path, f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(KubeUnavailable, match="unreachable"):
        await api.list_pods(NODE)
    watcher = PodWatcher(api, NODE, directory, min_retry=0.05, max_retry=0.1)

    async def check() -> None:
        await eventually(lambda: watcher.failures >= 3)
        started = time.perf_counter()
        for _ in range(1000):
            identity = resolver.resolve(cgroup_id, 1)
        per_event = (time.perf_counter() - started) / 1000
        assert identity.workload == Workload("data", "StatefulSet", "db", "postgres", inferred=True)
        assert identity.record is not None
        assert identity.record.found.workload == "inferred from pod name"
        assert per_event < 0.001  # a dict lookup, not a network call
        assert "unreachable" in directory.last_error

    await with_watcher(watcher, check)


@pytest.mark.asyncio
async def test_resolver_switches_from_inference_to_the_api_owner(
    kmock: km.KubernetesEmulator, tmp_path: Path
) -> None:
    host = FakeHost(tmp_path)
    path = f"/kubepods/besteffort/pod{UID}/{ID}"
    cgroup_id = host.cgroup_dir(path)
    annotations = dict(CRI_ANNOTATIONS)
    # a bare Job's pod: its name looks like a DaemonSet's to inference
    annotations["io.kubernetes.cri.sandbox-namespace"] = "ops"
    annotations["io.kubernetes.cri.sandbox-name"] = "migrate-bq7xz"
    host.runc_container("containerd/runc/k8s.io", ID, path, annotations)
    directory = PodDirectory()
    resolver = host.resolver(pod_owners=directory)
    before = resolver.resolve(cgroup_id, 1)
    assert before.workload == Workload("ops", "DaemonSet", "migrate", "postgres", inferred=True)

    await create(kmock, controller("Job", "ops", "migrate"))
    await create(kmock, pod("ops", "migrate-bq7xz", owner("Job", "migrate", "batch/v1")))
    watcher = PodWatcher(api_for(tmp_path, str(kmock.url)), NODE, directory)

    async def check() -> None:
        await asyncio.wait_for(watcher.synced.wait(), 10)
        after = resolver.resolve(cgroup_id, 1)
        assert after.workload == Workload("ops", "Job", "migrate", "postgres")
        assert after.record is not None
        assert after.record.found.workload == "kube API"
        assert resolver.containers()[0].workload == after.workload
        # the pod goes away from the API: back to inference, still attributed
        await kmock.delete("/api/v1/namespaces/ops/pods/migrate-bq7xz")
        await eventually(lambda: resolver.resolve(cgroup_id, 1).workload.inferred)

    await with_watcher(watcher, check)


# -- wiring from configuration ---------------------------------------------------------------
def test_watcher_from_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.setenv("NODE_NAME", "from-downward-api")
    directory = PodDirectory()
    assert pod_watcher(KubernetesConfig(enabled="off"), directory) is None
    assert pod_watcher(KubernetesConfig(enabled="auto"), directory) is None  # no config: infer
    with pytest.raises(KubeConfigError, match="absent"):
        pod_watcher(KubernetesConfig(enabled="on"), directory)

    path = kubeconfig(tmp_path, "http://127.0.0.1:6443")
    watcher = pod_watcher(KubernetesConfig(kubeconfig=path), directory)
    assert watcher is not None
    assert watcher.node == "from-downward-api"
    assert watcher.api.server == "http://127.0.0.1:6443"
    named = pod_watcher(KubernetesConfig(kubeconfig=path, node_name="n7"), directory)
    assert named is not None and named.node == "n7"


def test_pod_directory_is_bounded_and_counts_changes() -> None:
    directory = PodDirectory(max_pods=3)
    for index in range(5):
        directory.put("ns", f"p{index}", PodOwner(f"u{index}", "Pod", f"p{index}"))
    assert len(directory) == 3
    assert directory.workload("ns", "p0", "c") is None  # the oldest went first
    assert directory.workload("ns", "p4", "c") == Workload("ns", "Pod", "p4", "c")
    generation = directory.generation
    directory.put("ns", "p4", PodOwner("u4", "Pod", "p4"))  # no change, no new generation
    assert directory.generation == generation
    directory.remove("ns", "p4")
    assert directory.generation == generation + 1


@pytest.mark.asyncio
async def test_agent_keeps_identity_current_in_the_background(
    kmock: km.KubernetesEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What run_agent runs next to the pipeline: the pod watch and periodic state scans."""
    monkeypatch.setattr(bootstrap, "STATE_SCAN_INTERVAL", 0.05)
    await create(kmock, controller("StatefulSet", "data", "db"))
    await create(kmock, pod("data", "db-0", owner("StatefulSet", "db")))
    host = FakeHost(tmp_path)
    directory = PodDirectory()
    resolver = host.resolver(pod_owners=directory)
    watcher = PodWatcher(api_for(tmp_path, str(kmock.url)), NODE, directory)
    stop = asyncio.Event()
    task = asyncio.create_task(bootstrap.keep_identity_current(resolver, watcher, stop))

    path = f"/kubepods/besteffort/pod{UID}/{ID}"
    host.runc_container("containerd/runc/k8s.io", ID, path, CRI_ANNOTATIONS)  # started later
    await eventually(lambda: [r.workload.inferred for r in resolver.containers()] == [False])
    (record,) = resolver.containers()
    assert record.workload == Workload("data", "StatefulSet", "db", "postgres")
    assert record.found.workload == "kube API"

    stop.set()
    await asyncio.wait_for(task, 5)
