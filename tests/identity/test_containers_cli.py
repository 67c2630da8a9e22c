"""`vigil containers` and GET /api/v1/containers over real HTTP, on a real resolver and a fixture
host, with the Kubernetes pod directory filled as the watch would fill it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tests.fixtures.api import serve_while
from tests.fixtures.fakes import QueueSensor, exec_event, wait_until
from tests.fixtures.identity_host import CRI_ANNOTATIONS, CRIO_ANNOTATIONS, ID, ID2, UID, FakeHost
from vigil.agent import Agent
from vigil.api.client import AgentClient
from vigil.api.server import create_app
from vigil.detect.profiles import ProfileBook
from vigil.identity import IdentityResolver
from vigil.kube.pods import PodDirectory, PodOwner
from vigil.record.store import Store
from vigil.respond.responder import Responder

T = TypeVar("T")


def with_agent(
    tmp_path: Path, resolver: IdentityResolver, check: Callable[[str, QueueSensor], T]
) -> T:
    sensor = QueueSensor()
    agent = Agent(
        sensor=sensor,
        identity=resolver,
        profiles=ProfileBook(learning_period=None),
        responder=Responder([], resolver),
        store=Store.open(tmp_path / "data"),
        outputs=[],
    )

    return serve_while(agent, create_app(agent), lambda url: check(url, sensor))


def vigil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_containers_command_shows_how_each_identity_was_found(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    kube_path = f"/kubepods/besteffort/pod{UID}/{ID}"
    kube_cgroup = host.cgroup_dir(kube_path)
    host.runc_container("containerd/runc/k8s.io", ID, kube_path, CRI_ANNOTATIONS)
    crio_path = f"/kubepods/burstable/pod{UID}/crio-{ID2}"
    host.cgroup_dir(crio_path)
    host.runc_container("runc", ID2, crio_path, CRIO_ANNOTATIONS)
    directory = PodDirectory()
    directory.put("data", "db-0", PodOwner("uid-db-0", "StatefulSet", "db"))
    directory.connected = True
    resolver = host.resolver(pod_owners=directory)
    resolver.scan()  # the CRI-O container has had no event: it is known from the scan

    def check(url: str, sensor: QueueSensor) -> None:
        sensor.push(exec_event("/bin/sh", cgroup_id=kube_cgroup))
        wait_until(lambda: AgentClient(url).profiles())
        answer = AgentClient(url).containers()
        by_id = {c["container"]["id"]: c for c in answer["containers"]}
        assert set(by_id) == {ID, ID2}
        assert answer["kubernetes"] == {
            "enabled": True, "connected": True, "pods": 1, "last_error": ""
        }  # fmt: skip
        kube = by_id[ID]
        assert kube["workload"] == {
            "namespace": "data", "kind": "StatefulSet", "name": "db", "container": "postgres"
        }  # fmt: skip
        assert kube["found_by"] == (
            "cgroup path layout: kubepods/[<qos>/]pod<uid>/<id> (cgroupfs driver); "
            f"state: {host.run}/containerd/runc/k8s.io; workload: kube API"
        )
        crio = by_id[ID2]
        assert crio["container"]["runtime"] == "cri-o"
        assert crio["workload"]["inferred"] is True
        assert crio["found"]["workload"] == "inferred from pod name"
        assert crio["found"]["layout"] == "crio-<id> (cgroupfs driver)"

        table = vigil("containers", "--api", url)
        assert table.returncode == 0, table.stderr
        assert "data/StatefulSet/db/postgres" in table.stdout
        assert "workload: kube API" in table.stdout
        assert "shop/Deployment/web/nginx (inferred)" in table.stdout
        assert "inferred from pod name" in table.stdout
        assert "Kubernetes API: connected, 1 pods on this node" in table.stdout
        as_json = vigil("containers", "--json", "--api", url)
        assert as_json.returncode == 0, as_json.stderr
        assert json.loads(as_json.stdout) == answer

    with_agent(tmp_path, resolver, check)


def test_containers_command_without_an_agent_is_one_line_and_exit_1() -> None:
    result = vigil("containers", "--api", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert "no vigil agent answers at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr
