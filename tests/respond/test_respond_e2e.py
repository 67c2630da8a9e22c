"""Response actions end to end on real runc containers: in-kernel block at exec, pidfd kill,
freeze and thaw, forensics, stop through the runtime — driven through the Responder as the
agent drives it (a playbook, the real identity resolver, the real kernel)."""

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.fixtures.fakes import exec_event
from tests.fixtures.marks import E2E
from vigil.identity.resolver import IdentityResolver
from vigil.lab import RuncContainer, build_busybox_rootfs
from vigil.models import Alert, ContainerInfo, Severity, Workload, utcnow
from vigil.respond.actions import ActionKit
from vigil.respond.audit import AuditLog, verify
from vigil.respond.enforce import Enforcer
from vigil.respond.forensics import Forensics
from vigil.respond.guardrails import Guardrails
from vigil.respond.process import read_stat
from vigil.respond.responder import Responder
from vigil.respond.settings import ActionStep, Playbook, PlaybookMatch, ResponseConfig

pytestmark = E2E

TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = build_busybox_rootfs(tmp_path_factory.mktemp("respond") / "rootfs")
    # A second copy of busybox under its own path: the program the tests block.
    (root / "blocked").mkdir()
    shutil.copy2(root / "bin" / "busybox", root / "blocked" / "busybox")
    return root


@pytest.fixture
def container(rootfs: Path, tmp_path: Path) -> Iterator[RuncContainer]:
    out = tmp_path / "out"
    out.mkdir()
    cid = f"vigil-respond-{secrets.token_hex(4)}"
    box = RuncContainer(cid, rootfs, tmp_path / "bundle", ["sleep", "300"], binds={"/out": out})
    with box:
        yield box


def alert_for(box: RuncContainer, pid: int, exe: str, cgroup_id: int = 0) -> Alert:
    stat = read_stat(Path("/proc"), pid)
    assert stat is not None
    event = exec_event(exe, pid=pid, cgroup_id=cgroup_id)
    event = replace(
        event,
        ktime_ns=time.monotonic_ns(),
        process=replace(event.process, start_ns=stat.start_ticks * TICK_NS),
        container=ContainerInfo(box.id, box.id, "", "runc"),
        workload=Workload("e2e", "Deployment", "web", "app"),
    )
    return Alert(f"alert-{secrets.token_hex(3)}", utcnow(), "rule", "r", Severity.HIGH, "m", event)


def responder(tmp_path: Path, *steps: str, enforcer: Enforcer | None = None) -> Responder:
    config = ResponseConfig(cooldown=0)
    return Responder(
        [Playbook("e2e", PlaybookMatch(), "auto", tuple(ActionStep(s) for s in steps))],
        IdentityResolver(),
        config=config,
        kit=ActionKit(forensics=Forensics(tmp_path / "forensics"), enforcer=enforcer),
        audit=AuditLog(tmp_path / "audit.jsonl"),
        guardrails=Guardrails(config),
    )


def spawn_in(box: RuncContainer, script: str, comm: str = "sh") -> int:
    """Start ``sh -c script`` in the container; the host pid of its new ``comm`` process."""
    before = set(_procs(box))
    box.spawn(["sh", "-c", script])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        new = [p for p in _procs(box) if p not in before and _comm(p) == comm]
        if new:
            return new[0]
        time.sleep(0.02)
    raise AssertionError("the spawned shell did not show up")


def _procs(box: RuncContainer) -> list[int]:
    path = Path("/sys/fs/cgroup/pids") / box.id / "cgroup.procs"
    if not path.exists():
        path = Path("/sys/fs/cgroup/unified") / box.id / "cgroup.procs"
    return [int(p) for p in path.read_text().split()]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def test_in_kernel_block_kills_before_the_first_instruction(
    container: RuncContainer, tmp_path: Path
) -> None:
    allowed = container.exec(["/blocked/busybox", "touch", "/out/before"])
    assert allowed.returncode == 0 and (container.binds["/out"] / "before").exists()
    cgroup_id = container.cgroup_id()
    with Enforcer(tmp_path / "bpf") as enforcer:
        respond = responder(tmp_path, "block-exec", enforcer=enforcer)
        alert = alert_for(container, container.pid, "/blocked/busybox", cgroup_id)
        asyncio.run(respond.respond(alert))
        assert [a.outcome for a in alert.actions] == ["done"], alert.actions
        blocked = container.exec(["/blocked/busybox", "touch", "/out/after"])
        assert blocked.returncode == 137  # 128 + SIGKILL
        assert not (container.binds["/out"] / "after").exists()  # not one instruction of it ran
        assert enforcer.kills() == 1
        # Everything else in the container still runs, and only this cgroup is affected.
        assert container.exec(["touch", "/out/other"]).returncode == 0
        # Allow-list mode: only what the profile knows may run.
        enforcer.allow_only(cgroup_id, {"/bin/sleep", "/bin/touch", "/bin/sh"})
        assert container.exec(["/bin/touch", "/out/known"]).returncode == 0
        assert container.exec(["/bin/mkdir", "/out/unknown"]).returncode == 137
        assert not (container.binds["/out"] / "unknown").exists()
    # Detached: the program runs again.
    assert container.exec(["/blocked/busybox", "touch", "/out/later"]).returncode == 0


def test_kill_process_tree_with_forensics_first(container: RuncContainer, tmp_path: Path) -> None:
    shell = spawn_in(container, "SECRET_TOKEN=hunter2 sleep 200 & sleep 201 & wait")
    deadline = time.monotonic() + 5
    while len(_procs(container)) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    respond = responder(tmp_path, "kill-tree")
    alert = alert_for(container, shell, "/bin/sh")
    asyncio.run(respond.respond(alert))
    assert [(a.action, a.outcome) for a in alert.actions] == [
        ("forensics", "done"),
        ("kill-tree", "done"),
    ], alert.actions
    deadline = time.monotonic() + 5
    while len(_procs(container)) > 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _procs(container) == [container.pid]  # only the container's own sleep is left
    assert container.status() == "running"
    captured = json.loads((tmp_path / "forensics" / alert.id / "processes.json").read_text())
    cmdlines = [" ".join(p["cmdline"]) for p in captured]
    assert "sleep 200" in cmdlines and "sleep 201" in cmdlines
    assert all(p["environ"].get("SECRET_TOKEN") in (None, "<redacted>") for p in captured)
    assert alert.actions[1].latency_ms is not None
    assert verify(tmp_path / "audit.jsonl").ok


def test_kill_one_process_by_pidfd(container: RuncContainer, tmp_path: Path) -> None:
    shell = spawn_in(container, "sleep 100", comm="sleep")  # sh execs sleep in its place
    respond = responder(tmp_path, "kill")
    respond.config = replace(respond.config, forensics_before_destroy=False)
    alert = alert_for(container, shell, "/bin/sleep")
    asyncio.run(respond.respond(alert))
    assert [(a.action, a.outcome) for a in alert.actions] == [("kill", "done")], alert.actions
    deadline = time.monotonic() + 5
    while shell in _procs(container) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert shell not in _procs(container)
    assert container.status() == "running"


def test_freeze_then_thaw(container: RuncContainer, tmp_path: Path) -> None:
    alert = alert_for(container, container.pid, "/bin/sleep")
    asyncio.run(responder(tmp_path, "freeze").respond(alert))
    assert alert.actions[0].outcome == "done", alert.actions
    assert container.status() == "paused"  # runc sees the freezer state we wrote
    again = alert_for(container, container.pid, "/bin/sleep")
    asyncio.run(responder(tmp_path, "thaw").respond(again))
    assert again.actions[0].outcome == "done", again.actions
    assert container.status() == "running"
    assert container.exec(["true"]).returncode == 0


def test_stop_through_the_runtime_even_when_frozen(
    container: RuncContainer, tmp_path: Path
) -> None:
    alert = alert_for(container, container.pid, "/bin/sleep")
    respond = responder(tmp_path, "freeze", "stop-container")
    respond.config = replace(respond.config, forensics_before_destroy=False)
    asyncio.run(respond.respond(alert))
    assert [(a.action, a.outcome) for a in alert.actions] == [
        ("freeze", "done"),
        ("stop-container", "done"),
    ], alert.actions
    assert container.status() == "stopped"
    state = subprocess.run(
        ["runc", "state", container.id], capture_output=True, text=True, check=False
    )
    assert json.loads(state.stdout)["status"] == "stopped"
