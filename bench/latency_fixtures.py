"""What the response benchmark runs against: kmock in its own process, the pods and workloads
it serves, and the alerts that ask for their deletion (used by bench/response_latency.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.models import (
    Alert,
    ContainerInfo,
    Event,
    EventType,
    ProcessInfo,
    Severity,
    Workload,
    utcnow,
)


class EmulatorProcess:
    """kmock (a real HTTP server) in its own process (``bench/kmock_server.py``).

    As an API server would be: not on the measured loop, not under the measured process's GIL.
    Between rounds the objects are set through its stdin; ``delete_arrivals()`` tells when
    DELETE requests reached it.
    """

    def __init__(self) -> None:
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> EmulatorProcess:
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("kmock_server.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self._read()["url"]
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def _read(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the kmock process ended")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(command) + "\n")
        self._proc.stdin.flush()
        return self._read()

    def put(self, resource: str, namespace: str | None, name: str, obj: dict[str, Any]) -> None:
        self._ask({"op": "put", "key": [resource, namespace, name], "object": obj})

    def forget_requests(self) -> None:
        """kmock's cost grows with its request log; an API server's does not (see kmock_server)."""
        self._ask({"op": "forget"})

    def delete_arrivals(self) -> list[int]:
        arrivals: list[int] = self._ask({"op": "arrivals"})["delete"]
        return arrivals


class RequestClock:
    """httpx event hooks on the client: when each request left, when its answer came back."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []
        self.answered: list[tuple[str, int]] = []

    async def on_request(self, request: Any) -> None:
        self.sent.append((request.method, time.monotonic_ns()))

    async def on_response(self, response: Any) -> None:
        self.answered.append((response.request.method, time.monotonic_ns()))

    def last(self, method: str, which: list[tuple[str, int]]) -> int:
        return next(t for m, t in reversed(which) if m == method)


#: the namespace of the benchmark's Deployment, ReplicaSet and pods
NAMESPACE = "shop"
OWNER_REF = {"apiVersion": "apps/v1", "uid": "u", "controller": True}
SPEC = {
    "replicas": 5,
    "selector": {"matchLabels": {"app": "web"}},
    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}},
}


@dataclass
class PodRecord:
    name: str
    id: str = "c"
    runtime: str = "containerd"
    state_root: str = ""

    @property
    def cgroup_paths(self) -> dict[str, str]:
        return {}

    @property
    def annotations(self) -> dict[str, str]:
        return {"io.kubernetes.pod.namespace": NAMESPACE, "io.kubernetes.pod.name": self.name}


class PodLookup:
    current = PodRecord("web-0")

    def lookup(self, container_id: str) -> PodRecord:
        return self.current


def _ready_controller(name: str, *owners: dict[str, object]) -> dict[str, Any]:
    """A Deployment or ReplicaSet with all of its five replicas ready."""
    metadata: dict[str, Any] = {"name": name, "namespace": NAMESPACE}
    if owners:
        metadata["ownerReferences"] = list(owners)
    return {"metadata": metadata, "spec": SPEC, "status": {"replicas": 5, "readyReplicas": 5}}


def seed_objects(server: EmulatorProcess) -> None:
    deployment = {**OWNER_REF, "kind": "Deployment", "name": "web"}
    server.put("apps/v1/replicasets", NAMESPACE, "web-rs", _ready_controller("web-rs", deployment))
    server.put("apps/v1/deployments", NAMESPACE, "web", _ready_controller("web"))
    server.put(
        "v1/pods",
        NAMESPACE,
        "probe",
        {
            "metadata": {"name": "probe", "namespace": NAMESPACE},
            "spec": {"containers": []},
        },
    )


def recreate_pod(server: EmulatorProcess) -> None:
    # One pod name, re-created each round: kmock scans every object it ever held on each
    # request, so fresh names would measure the mock, not vigil.
    server.put(
        "v1/pods",
        NAMESPACE,
        "web-0",
        {
            "metadata": {
                "name": "web-0",
                "namespace": NAMESPACE,
                "ownerReferences": [{**OWNER_REF, "kind": "ReplicaSet", "name": "web-rs"}],
            },
            "spec": {"containers": [{"name": "c", "image": "x"}]},
        },
    )


def pod_alert(alert_id: str) -> Alert:
    # the "kernel event" is stamped now: what follows is vigil's response, not the sensor's path
    event = Event(
        type=EventType.EXEC,
        time=utcnow(),
        ktime_ns=time.monotonic_ns(),
        cgroup_id=1,
        process=ProcessInfo(pid=10**6, ppid=1, uid=0, exe="/bin/nc", cmdline="nc"),
        container=ContainerInfo("c", "c", "", "containerd"),
        workload=Workload("shop", "Deployment", "web", "c"),
    )
    return Alert(alert_id, utcnow(), "rule", "r", Severity.HIGH, "m", event)
