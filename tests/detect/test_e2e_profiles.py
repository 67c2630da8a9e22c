"""Profiles end to end: real kernel, real runc containers, `vigil run` and `vigil profiles`.

A container started before the agent gives a partial profile; one started after converges and
locks by itself; after lock each new behaviour is one alert; export → import makes a new
version; a restart of the agent keeps every profile and its state.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.agents import RunningAgent, cli, wait_for
from tests.fixtures.marks import E2E
from vigil.lab import RuncContainer, build_busybox_rootfs

pytestmark = E2E

CONFIG = """
profiles:
  min_learning: 1
  max_learning: 300
  stability_events: 15
  stability_seconds: 3
"""
LOOP = "while true; do /bin/cat /etc/hostname >/dev/null; /bin/sleep 0.2; done"


class ProfilesAgent(RunningAgent):
    def profiles(self) -> dict[str, dict[str, Any]]:
        listed = cli("profiles", "list", "--json", "--api", self.api)
        assert listed.returncode == 0, listed.stderr
        return {p["key"]: p for p in json.loads(listed.stdout)}


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[ProfilesAgent]:
    running = ProfilesAgent(tmp_path, CONFIG)
    try:
        yield running
    finally:
        assert running.stop() in (0, None), running.log.read_text()


def pod_annotations(name: str) -> dict[str, str]:
    return {
        "io.kubernetes.pod.namespace": "e2e-profiles",
        # a ReplicaSet pod's name: <deployment>-<hash>-<5 chars>
        "io.kubernetes.pod.name": f"{name}-5f7c9d8b6-"
        + "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5)),
        "io.kubernetes.container.name": name,
    }


def test_partial_converge_lock_deviate_export_import_restart(
    tmp_path: Path, agent: ProfilesAgent
) -> None:
    rootfs = build_busybox_rootfs(tmp_path / "rootfs")
    suffix = secrets.token_hex(3)
    pre_key = "e2e-profiles/Deployment/pre/pre"
    fresh_key = "e2e-profiles/Deployment/fresh/fresh"
    with RuncContainer(
        f"vigil-e2e-pre-{suffix}", rootfs, tmp_path / "b-pre", ["/bin/sh", "-c", LOOP],
        annotations=pod_annotations("pre"),
    ):  # fmt: skip
        agent.start()
        with RuncContainer(
            f"vigil-e2e-fresh-{suffix}", rootfs, tmp_path / "b-fresh", ["/bin/sh", "-c", LOOP],
            annotations=pod_annotations("fresh"),
        ) as fresh:  # fmt: skip

            def converged() -> dict[str, Any] | None:
                found = agent.profiles().get(fresh_key)
                return found if found and found["state"] == "locked" else None

            try:
                profile = wait_for(converged, "the fresh profile to converge and lock", 60)
            except AssertionError:
                mine = {k: v for k, v in agent.profiles().items() if k.startswith("e2e-profiles")}
                raise AssertionError(json.dumps(mine, indent=1)[:4000]) from None
            assert profile["lock_reason"] == "converged"
            assert profile["partial"] is False
            assert {"/bin/cat", "/bin/sleep"} <= set(profile["executables"])
            assert "/bin/sleep <num>" in profile["arguments"]
            assert profile["users"] == ["0"]
            pre = agent.profiles()[pre_key]
            assert pre["partial"] is True  # its container was there before the agent

            # After lock: each new behaviour is one alert, the second time none.
            # `runc exec` is a parent the workload never had (like `kubectl exec`); the shell
            # it starts runs a known program with new arguments; /bin/id is new altogether.
            for _ in range(2):
                fresh.exec(["/bin/sh", "-c", "/bin/cat /etc/passwd >/dev/null; true"])
                fresh.exec(["/bin/id"])
            # one alert per new item: sh's arguments, cat's arguments, id; and sh's parent,
            # unless the profile learnt runc as sh's parent from the entrypoint (runc starts it
            # too; whether its parent was still there to be named depends on timing)
            wait_for(lambda: len(agent.alert_list()) >= 3, "three deviation alerts")
            time.sleep(1.5)  # the repeats must add nothing
            alerts = agent.alert_list()
            rules = sorted(a["rule"] for a in alerts)
            by_rule = {a["rule"]: a for a in alerts}
            if "profile.new_process" in by_rule:
                rules.remove("profile.new_process")
                assert "exec /bin/sh by /usr/sbin/runc" in by_rule["profile.new_process"]["message"]
            else:
                assert "/usr/sbin/runc -> /bin/sh" in agent.profiles()[fresh_key]["processes"]
            assert rules == [
                "profile.new_arguments",
                "profile.new_arguments",
                "profile.new_executable",
            ], [a["message"] for a in alerts]
            (cat_args,) = [a for a in alerts if "exec /bin/cat with '/etc/passwd'" in a["message"]]
            assert "'/etc/hostname'" in cat_args["message"]
            assert by_rule["profile.new_executable"]["process"]["exe"] == "/bin/id"
            assert all(a["container"]["id"] == fresh.id for a in alerts)

            # Review as code: export, edit (accept /bin/id), import as a new version.
            exported = cli("profiles", "export", fresh_key, "--api", agent.api)
            assert exported.returncode == 0, exported.stderr
            edited = tmp_path / "fresh.yaml"
            edited.write_text(exported.stdout.replace("- /bin/cat\n", "- /bin/cat\n- /bin/id\n"))
            imported = cli("profiles", "import", str(edited), "--api", agent.api)
            assert imported.returncode == 0, imported.stderr
            assert "as version 2 (locked)" in imported.stdout

    # Restart: every profile comes back with its state, version and partial mark.
    before = agent.profiles()
    assert agent.stop() == 0, agent.log.read_text()
    agent.start()
    after = agent.profiles()
    for key in (pre_key, fresh_key):
        for field in ("state", "version", "partial", "executables", "arguments", "lock_reason"):
            assert after[key][field] == before[key][field], (key, field)
    assert after[fresh_key]["version"] == 2 and "/bin/id" in after[fresh_key]["executables"]
