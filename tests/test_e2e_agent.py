"""`vigil run` end to end: the real kernel, real runc containers, the CLI against the API."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vigil.api.client import AgentClient
from vigil.errors import ApiError
from vigil.lab import RuncContainer, build_busybox_rootfs

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for eBPF and runc"),
    pytest.mark.skipif(
        not all(shutil.which(tool) for tool in ("runc", "clang", "bpftool")),
        reason="needs runc, clang and bpftool (scripts/install.sh)",
    ),
]

VIGIL = [sys.executable, "-m", "vigil"]
ANNOTATIONS = {
    "io.kubernetes.pod.namespace": "e2e",
    "io.kubernetes.container.name": "app",
}
CONFIG = """
profiles: {learning_period: null}
playbooks:
  - name: freeze-new-process
    match: {kind: [deviation], severity: [high]}
    mode: auto
    actions: [freeze]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[dict[str, Any]]:
    config = tmp_path / "agent.yaml"
    config.write_text(CONFIG)
    alerts = tmp_path / "alerts.jsonl"
    api = f"http://127.0.0.1:{free_port()}"
    log = (tmp_path / "agent.log").open("w")
    proc = subprocess.Popen(
        [
            *VIGIL,
            "run",
            "--config",
            str(config),
            "--data-dir",
            str(tmp_path / "data"),
            "--output",
            f"jsonl:{alerts}",
            "--listen",
            api.removeprefix("http://"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    info = {"proc": proc, "api": api, "alerts": alerts, "log": tmp_path / "agent.log"}
    try:
        wait_for(lambda: proc.poll() is not None or attached(api), "the agent to attach")
        assert proc.poll() is None, (tmp_path / "agent.log").read_text()
        yield info
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


def attached(api: str) -> bool:
    try:
        return bool(AgentClient(api).health()["status"] == "ok")
    except ApiError:
        return False


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VIGIL, *args], capture_output=True, text=True, timeout=30, check=False)


def bpf_programs() -> list[dict[str, Any]]:
    shown = subprocess.run(
        ["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True
    )
    programs: list[dict[str, Any]] = json.loads(shown.stdout)
    return programs


def bpf_programs_of(pid: int) -> dict[int, str]:
    """id → name of the BPF programs that process ``pid`` holds open (from its fdinfo)."""
    held: set[int] = set()
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            text = info.read_text()
        except OSError:
            continue
        held.update(
            int(line.split()[1]) for line in text.splitlines() if line.startswith("prog_id:")
        )
    return {prog["id"]: prog.get("name", "") for prog in bpf_programs() if prog["id"] in held}


def test_deviation_alert_freeze_and_clean_detach(tmp_path: Path, agent: dict[str, Any]) -> None:
    rootfs = build_busybox_rootfs(tmp_path / "rootfs")
    api = agent["api"]
    loop = "while true; do /bin/cat /etc/hostname >/dev/null; /bin/sleep 0.3; done"
    with (
        RuncContainer(
            "vigil-e2e-a1",
            rootfs,
            tmp_path / "b1",
            ["/bin/sh", "-c", loop],
            annotations=ANNOTATIONS | {"io.kubernetes.pod.name": "app-5f7c9d8b6-x7k2p"},
        ),
        RuncContainer(
            "vigil-e2e-a2",
            rootfs,
            tmp_path / "b2",
            ["/bin/sh", "-c", loop],
            annotations=ANNOTATIONS | {"io.kubernetes.pod.name": "app-5f7c9d8b6-m9q4z"},
        ) as a2,
    ):

        def learned() -> dict[str, Any] | None:
            listed = json.loads(cli("profiles", "list", "--json", "--api", api).stdout)
            found = [p for p in listed if p["key"] == "e2e/Deployment/app/app"]
            if found and {"/bin/sh", "/bin/cat", "/bin/sleep"} <= set(found[0]["executables"]):
                return found[0]
            return None

        profile = wait_for(learned, "the shared profile to learn both replicas")
        assert profile["state"] == "learning"
        locked = cli("profiles", "lock", "e2e/app", "--api", api)
        assert locked.returncode == 0, locked.stderr
        assert "locked e2e/Deployment/app/app" in locked.stdout
        listed = cli("profiles", "list", "--api", api)
        assert "e2e/Deployment/app/app" in listed.stdout and "locked" in listed.stdout

        # A new program in a2: one alert (its parent and arguments are part of the same news).
        a2.spawn(["/bin/id"])
        alert = wait_for(
            lambda: (
                [json.loads(line) for line in agent["alerts"].read_text().splitlines()]
                if agent["alerts"].exists()
                else None
            ),
            "the deviation alert",
        )
        assert len(alert) == 1, alert
        (alert,) = alert
        assert alert["kind"] == "deviation"
        assert alert["rule"] == "profile.new_executable"
        assert alert["container"]["id"] == "vigil-e2e-a2"
        assert alert["container"]["runtime"] == "runc"
        assert alert["workload"] == {
            "namespace": "e2e",
            "kind": "Deployment",
            "name": "app",
            "container": "app",
            "inferred": True,
        }
        assert alert["process"]["exe"] == "/bin/id"
        (action,) = alert["response"]["actions"]
        assert action["action"] == "freeze" and action["outcome"] == "done", action
        assert a2.wait_for_status("paused", 5.0), a2.status()
        running = bpf_programs_of(agent["proc"].pid)
        assert {"vigil_exec", "vigil_conn_req", "vigil_conn_ret"} <= set(running.values())

    # Containers are gone (thawed and deleted by the context managers); stop the agent.
    proc = agent["proc"]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0, agent["log"].read_text()
    still_loaded = {prog["id"] for prog in bpf_programs()}
    assert not still_loaded & set(running), "programs left behind after Ctrl-C"
