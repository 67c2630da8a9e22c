"""`vigil run` end to end: the real kernel, real runc containers, the CLI against the API."""

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.agents import RunningAgent, cli, wait_for
from tests.fixtures.marks import E2E
from vigil.lab import RuncContainer, build_busybox_rootfs

pytestmark = E2E

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


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[RunningAgent]:
    with RunningAgent(tmp_path, CONFIG) as running:
        yield running


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


def test_deviation_alert_freeze_and_clean_detach(tmp_path: Path, agent: RunningAgent) -> None:
    rootfs = build_busybox_rootfs(tmp_path / "rootfs")
    api = agent.api
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
            listed: list[dict[str, Any]] = json.loads(
                cli("profiles", "list", "--json", "--api", api).stdout
            )
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
        alerts = wait_for(agent.alert_list, "the deviation alert")
        assert len(alerts) == 1, alerts
        (alert,) = alerts
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
        assert agent.proc is not None
        running = bpf_programs_of(agent.proc.pid)
        assert {"vigil_exec", "vigil_conn_req", "vigil_conn_ret"} <= set(running.values())

    # Containers are gone (thawed and deleted by the context managers); stop the agent.
    assert agent.stop() == 0, agent.log.read_text()
    still_loaded = {prog["id"] for prog in bpf_programs()}
    assert not still_loaded & set(running), "programs left behind after Ctrl-C"
