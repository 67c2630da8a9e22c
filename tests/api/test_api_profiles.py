"""Profile review and lifecycle through the real HTTP API and the `vigil profiles` CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fixtures.api import with_running_api
from tests.fixtures.fakes import WEB, QueueSensor, connect_event, exec_event, wait_until
from vigil.agent import Agent
from vigil.api.client import AgentClient


def vigil(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil", "profiles", *args, "--api", url],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_list_export_import_diff_unlock_relearn(tmp_path: Path) -> None:
    def check(url: str, agent: Agent, sensor: QueueSensor) -> None:
        client = AgentClient(url)
        sensor.push(exec_event("/bin/sh"))
        sensor.push(connect_event("10.0.0.7", 5432))
        wait_until(lambda: client.profiles() and client.profiles()[0]["size"] == 4)

        listed = vigil(url, "list")
        assert listed.returncode == 0, listed.stderr
        assert WEB.key in listed.stdout and "4/1024" in listed.stdout
        assert "locks by hand" in listed.stdout  # learning_period=None
        (as_json,) = client.profiles()
        assert as_json["learning"]["auto_lock"] is False
        assert as_json["at_cap"] is False and as_json["version"] == 1

        assert client.lock("web") == [WEB.key]
        exported = vigil(url, "export", "shop/web")
        assert exported.returncode == 0, exported.stderr
        assert "state: locked" in exported.stdout and "- tcp/10.0.0.7:5432" in exported.stdout

        # a reviewed edit, imported: a new version, locked, with the edit
        edited = tmp_path / "web.yaml"
        edited.write_text(exported.stdout.replace("- /bin/sh", "- /bin/sh\n- /usr/bin/curl"))
        imported = vigil(url, "import", str(edited))
        assert imported.returncode == 0, imported.stderr
        assert f"imported {WEB.key} as version 2 (locked)" in imported.stdout
        sensor.push(exec_event("/usr/bin/curl"))  # now known: no alert
        sensor.push(exec_event("/usr/bin/wget"))  # one alert
        wait_until(lambda: agent.alerts_emitted == 1)
        (alert,) = client.alerts()
        assert alert["rule"] == "profile.new_executable"
        assert "/usr/bin/wget" in alert["message"]

        diff = vigil(url, "diff", "web")
        assert diff.returncode == 0, diff.stderr
        assert diff.stdout.splitlines()[:2] == [f"--- {WEB.key}@1", f"+++ {WEB.key}@2"]
        assert "+ /usr/bin/curl" in diff.stdout
        same = client.diff_profiles("web@2", "web")
        assert same["changes"] == {} and same["attributes"] == {}
        missing = vigil(url, "diff", "web@9")
        assert missing.returncode == 1 and "has no version 9" in missing.stderr

        unlocked = vigil(url, "unlock", "web")
        assert f"unlocked {WEB.key}: learning" in unlocked.stdout
        relearn = vigil(url, "relearn", "--all")
        assert f"relearning {WEB.key}@3" in relearn.stdout
        versions = client.profile_versions("web")
        assert versions["current"] == 3
        assert [v["version"] for v in versions["versions"]] == [1, 2, 3]
        shown = vigil(url, "versions", "web")
        assert "3 (current)" in shown.stdout

        health = client.health()
        assert health["profile_stats"]["total"] == 1
        assert health["profile_stats"]["learning"] == 1
        assert client.profile_metrics() == health["profile_stats"]

    with_running_api(tmp_path, check)
