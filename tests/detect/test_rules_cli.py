"""`vigil rules check|list|report` as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.fixtures import REPO
from vigil.cli.main import app
from vigil.detect.rules.compat import find_falco_dir


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def vigil_rules(*args: str) -> Result:
    """In-process (the pack compiles once per call, not once per interpreter start)."""
    result = CliRunner().invoke(app, ["rules", *args])
    return Result(result.exit_code, result.stdout, result.stderr)


def test_runs_as_a_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vigil", "rules", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and "check" in result.stdout


@pytest.mark.parametrize("command", [[], ["check"], ["list"], ["report"]])
def test_help(command: list[str]) -> None:
    result = vigil_rules(*command, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout


def test_check_lists_every_error_and_exits_2(tmp_path: Path) -> None:
    first = tmp_path / "a.yaml"
    first.write_text(
        "- rule: a\n  desc: d\n  condition: proc.name = = x\n  output: o\n  priority: INFO\n"
    )
    second = tmp_path / "b.yaml"
    second.write_text(
        "- macro: m\n  condition: proc.name in (x\n"
        "- rule: b\n  desc: d\n  condition: m and user.uid = root\n  output: o\n  priority: INFO\n"
    )
    result = vigil_rules("check", str(first), str(second))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == f"{first}:3:26: expected a value, found '='"
    assert lines[1] == f"{second}:2:28: expected ')', found end of condition"
    assert lines[2] == f"{second}:5:31: user.uid: 'root' is not a number"
    assert lines[-1] == "3 error(s)"


def test_check_good_file_with_the_builtin_pack(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "- rule: Shell in web\n  desc: d\n  condition: vigil_spawned_process and "
        "proc.name in (vigil_shell_binaries) and k8s.ns.name = web\n"
        "  output: shell %proc.cmdline\n  priority: ERROR\n  tags: [T1059]\n"
    )
    assert vigil_rules("check", str(mine)).returncode == 2  # its macros live in the pack
    result = vigil_rules("check", "--with-builtin", str(mine))
    assert result.returncode == 0, result.stderr
    assert "ok: 55 rules compiled" in result.stdout


def test_list_shows_the_pack() -> None:
    result = vigil_rules("list")
    assert result.returncode == 0, result.stderr
    assert "Cgroup release_agent written" in result.stdout and "T1611" in result.stdout
    assert "54 rules" in result.stdout


def test_report_matches_committed_file() -> None:
    falco = find_falco_dir(REPO)
    if falco is None:
        pytest.skip("Falco's rule files not found in shared/data/falco above the checkout")
    result = vigil_rules("report", "--falco-dir", str(falco))
    assert result.returncode == 0, result.stderr
    committed = REPO / "docs" / "falco-compat.md"
    assert result.stdout == committed.read_text(encoding="utf-8")
    missing = vigil_rules("report", "--falco-dir", "/nonexistent")
    assert missing.returncode == 2 and "missing falco_rules.yaml" in missing.stderr


def test_throughput_benchmark_runs() -> None:
    bench = REPO / "bench" / "rules_throughput.py"
    result = subprocess.run(
        [sys.executable, str(bench), "--seconds", "0.05"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "events/s per CPU-second" in result.stdout and "target: >= 100,000" in result.stdout
