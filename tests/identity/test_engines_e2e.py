"""End to end on real container engines: containerd (as Kubernetes' CRI plugin drives it),
the Docker engine and Podman, with runc and crun; images imported offline.

For each engine, ``vigil record`` (the real eBPF sensor and identity) runs while a container is
started and exec'd into; the first event of its cgroup must already carry its id, name, image,
runtime and workload. A container started before the recorder is attributed on its first event
too. One engine daemon per engine (module scope), one recorder per engine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.agents import VIGIL, RunningAgent, wait_for
from tests.fixtures.marks import E2E
from vigil.api.client import AgentClient
from vigil.errors import VigilError
from vigil.identity import IdentityResolver
from vigil.lab import build_busybox_rootfs
from vigil.lab.engines import (
    ContainerdEngine,
    DockerEngine,
    Engine,
    LabContainer,
    PodmanEngine,
    PodRef,
    RunSpec,
)
from vigil.models import Workload

pytestmark = E2E

IMAGE = "vigil.lab/busybox:1"
POD = PodRef("shop", "web-7d4f8b9c6d-x2x9z")
#: keeps exec'ing something, so that a container started before the recorder has events later
BUSY = ("sh", "-c", "while true; do cat /etc/hostname >/dev/null; sleep 0.3; done")
ON_POD = RunSpec(BUSY, pod=POD)
CGROUP2 = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"

ENGINES: dict[str, Callable[[], Engine]] = {
    "containerd-runc": lambda: ContainerdEngine("runc"),
    "containerd-crun": lambda: ContainerdEngine("crun"),
    "docker": DockerEngine,
    "podman-runc": lambda: PodmanEngine("runc"),
    "podman-crun": lambda: PodmanEngine("crun"),
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir for every recorder of the module: the BPF object is compiled once."""
    return tmp_path_factory.mktemp("engines-data")


@pytest.fixture(scope="module", params=sorted(ENGINES))
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    made = ENGINES[request.param]()
    missing = made.missing()
    if missing:
        pytest.skip(f"{request.param}: {missing}")
    workdir = tmp_path_factory.mktemp(request.param)
    made.start(workdir / "daemon")
    try:
        made.import_image(build_busybox_rootfs(workdir / "rootfs"), IMAGE)
        probe = made.run(f"vigil-probe-{uuid.uuid4().hex[:6]}", IMAGE, RunSpec(BUSY))
        made.remove(probe.id)
    except BaseException as exc:
        made.stop()
        if isinstance(exc, VigilError) and "hybrid mode not supported" in str(exc):
            # crun 1.8 runs only on pure v1 or pure v2 hosts; here cgroup2 holds hugetlb
            pytest.skip(f"{request.param}: crun: 'cgroups in hybrid mode not supported' here")
        raise
    yield made
    made.stop()


class Recorder:
    """`vigil record` into a JSONL file, started and attached before the block, stopped after."""

    def __init__(self, tmp: Path, data_dir: Path) -> None:
        self.output = tmp / "events.jsonl"
        self.log = tmp / "record.log"
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Recorder:
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [*VIGIL, "record", "--output", str(self.output), "--data-dir", str(self.data_dir)],
                stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        proc = self.proc
        wait_for(
            lambda: proc.poll() is not None or "recording" in self.log.read_text(),
            "the recorder to attach",
            timeout=120,
        )
        assert proc.poll() is None, self.log.read_text()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=30)

    def events(self) -> list[dict[str, Any]]:
        lines = self.output.read_text().splitlines() if self.output.exists() else []
        return [json.loads(line) for line in lines if line]


def cgroup_id(container: LabContainer) -> int:
    """What the sensor tags the container's events with: its cgroup2 directory's inode."""
    return os.stat(CGROUP2 + container.cgroup_path).st_ino


def expected(engine: Engine, container: LabContainer) -> tuple[dict[str, Any], Workload]:
    """The container and workload identity must report for a container of ``engine``."""
    info = {"id": container.id, "name": container.name, "image": IMAGE, "runtime": engine.runtime}
    if isinstance(engine, ContainerdEngine):
        return info, Workload(POD.namespace, "Deployment", "web", container.name, inferred=True)
    return info, Workload("", "Container", IMAGE, container.name)


def assert_attributed(event: dict[str, Any], engine: Engine, container: LabContainer) -> None:
    info, workload = expected(engine, container)
    what = f"{event['type']} {event['process'].get('cmdline', '')!r}"
    assert {k: event.get("container", {}).get(k) for k in info} == info, what
    assert event.get("workload") == workload.to_json(), what


@dataclass(frozen=True)
class Recording:
    """One engine's scenario: a container started before the recorder, one after (exec'd into)."""

    engine: Engine
    before: LabContainer
    new: LabContainer
    events: list[dict[str, Any]]
    #: each container's cgroup id, read while it ran (the directory goes with the container)
    cgroups: dict[str, int]

    def of(self, container: LabContainer) -> list[dict[str, Any]]:
        mine = [e for e in self.events if e["cgroup_id"] == self.cgroups[container.id]]
        assert mine, f"no event of {container.name} ({container.cgroup_path}) was recorded"
        return sorted(mine, key=lambda e: int(e["ktime_ns"]))


@pytest.fixture(scope="module")
def recording(
    engine: Engine, tmp_path_factory: pytest.TempPathFactory, data_dir: Path
) -> Recording:
    suffix = uuid.uuid4().hex[:6]
    before = engine.run(f"app-before-{suffix}", IMAGE, ON_POD)
    cgroups = {before.id: cgroup_id(before)}
    try:
        with Recorder(tmp_path_factory.mktemp("record"), data_dir) as recorder:
            new = engine.run(f"app-new-{suffix}", IMAGE, ON_POD)
            cgroups[new.id] = cgroup_id(new)
            try:
                probe = engine.exec(new.id, ["cat", "/etc/hostname"])
                assert probe.returncode == 0, probe.stderr
                time.sleep(1.5)  # a few loop rounds of both containers
            finally:
                engine.remove(new.id)
    finally:
        engine.remove(before.id)
    events = recorder.events()
    print(f"\n{type(engine).__name__}: {len(events)} events recorded")
    return Recording(engine, before, new, events, cgroups)


def test_container_started_before_is_attributed_on_its_first_event(recording: Recording) -> None:
    assert_attributed(recording.of(recording.before)[0], recording.engine, recording.before)


def test_new_container_program_and_exec_are_attributed(recording: Recording) -> None:
    """The first exec of the container's own program and of the exec'd probe."""
    execs = [e for e in recording.of(recording.new) if e["type"] == "exec"]
    for wanted in ("sh -c while true", "cat /etc/hostname"):
        first = next(e for e in execs if e["process"].get("cmdline", "").startswith(wanted))
        assert_attributed(first, recording.engine, recording.new)


def test_new_container_first_event_is_attributed(recording: Recording) -> None:
    """The very first event of the new container's cgroup: the runtime setting it up. Events
    before the runtime state exists are held (vigil.identity.hold), in `vigil record` as in the
    agent, and come out with the container's identity."""
    assert_attributed(recording.of(recording.new)[0], recording.engine, recording.new)


#: a gap in vigil.identity.engines, reported: Podman before 4.8 keeps labels and pods only in
#: its BoltDB state (libpod/bolt_state.db), which vigil does not read; containers.json has the
#: name and image only, so compose labels and Podman pods are not seen there
PODMAN_LABELS = (
    "Podman 4.3 (Debian 12) keeps labels and pods only in libpod/bolt_state.db, not read by "
    "vigil.identity.engines: compose services and Podman pods fall back to the image"
)

AGENT_CONFIG = "profiles: {learning_period: null}\n"


def listed_by(agent: RunningAgent, container_id: str) -> dict[str, Any] | None:
    for listed in AgentClient(agent.api).containers()["containers"]:
        if listed["container"]["id"] == container_id:
            return dict(listed)
    return None


def test_agent_knows_a_container_started_before_it(
    engine: Engine, tmp_path: Path, data_dir: Path
) -> None:
    """`vigil run`'s start-up scan lists it (GET /api/v1/containers) with its full identity."""
    before = engine.run(f"app-early-{uuid.uuid4().hex[:6]}", IMAGE, ON_POD)
    (tmp_path / "data").symlink_to(data_dir)  # the BPF object compiled once for the module
    try:
        with RunningAgent(tmp_path, AGENT_CONFIG) as agent:
            listed = wait_for(
                lambda: listed_by(agent, before.id), f"the agent to list {before.name}"
            )
    finally:
        engine.remove(before.id)
    info, workload = expected(engine, before)
    assert {k: listed["container"][k] for k in info} == info
    assert listed["workload"] == workload.to_json()


COMPOSE = {"com.docker.compose.project": "shop", "com.docker.compose.service": "web"}


def test_compose_service_is_the_workload(engine: Engine, request: pytest.FixtureRequest) -> None:
    """A container started by docker compose / podman-compose belongs to its service."""
    if isinstance(engine, ContainerdEngine):
        pytest.skip("compose runs on Docker and Podman")
    if isinstance(engine, PodmanEngine):
        request.applymarker(pytest.mark.xfail(strict=True, reason=PODMAN_LABELS))
    container = engine.run(f"shop-web-{uuid.uuid4().hex[:6]}", IMAGE, RunSpec(BUSY, labels=COMPOSE))
    try:
        identity = IdentityResolver().lookup(container.id)
    finally:
        engine.remove(container.id)
    assert identity is not None
    assert identity.workload == Workload("shop", "ComposeService", "web", "web")


def test_the_runtimes_setup_is_marked_and_the_containers_program_is_not(
    recording: Recording,
) -> None:
    """runc init's work in the new container (before it execs the container's program) is
    recorded as runtime setup, on every engine; the program and what it runs are not."""
    events = recording.of(recording.new)
    setup = [e for e in events if e.get("runtime_setup")]
    assert setup, "no event of the new container was marked as the runtime's setup"
    program = next(
        i
        for i, e in enumerate(events)
        if e["type"] == "exec" and e["process"].get("cmdline", "").startswith("sh -c while true")
    )
    assert all(not e.get("runtime_setup") for e in events[program:] if e["type"] == "exec")
    assert not any(
        e.get("runtime_setup")
        for e in events
        if e["process"]["pid"] == events[program]["process"]["pid"]
        and e["ktime_ns"] >= events[program]["ktime_ns"]
    )
