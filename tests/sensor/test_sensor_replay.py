"""`vigil record` and `vigil replay` (vigil.cli.record, vigil.sensor.replay) on Falco events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from tests.fixtures import DATA
from vigil.cli.main import app
from vigil.sensor.loss import LOSS_RULE, Loss, LossTracker, loss_event


def test_record_from_falco_and_replay_it(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    runner = CliRunner()
    recorded = runner.invoke(
        app, ["record", "-o", str(out), "--source", f"falco:{DATA / 'falco_events.jsonl'}"]
    )
    assert recorded.exit_code == 0, recorded.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["type"] for line in lines] == ["exec", "open", "connect"]
    assert lines[0]["container"]["id"] == "3ad7b26ded6d"
    assert lines[0]["process"]["exe"] == "/bin/sh"
    # a loss report in the recording raises its alert on replay
    lines.append(
        loss_event(0, _one_loss(), lambda ns: datetime.fromtimestamp(ns / 1e9, UTC)).to_json()
    )
    out.write_text("".join(json.dumps(line) + "\n" for line in lines))
    replayed = runner.invoke(app, ["replay", str(out)])
    assert replayed.exit_code == 0, replayed.output
    alerts = [json.loads(line) for line in replayed.stdout.splitlines() if line.startswith("{")]
    # the built-in rules judge Falco's events too; the loss report is one more alert
    (loss,) = [a for a in alerts if a["rule"] == LOSS_RULE]
    assert "unmonitored from" in loss["message"]
    assert "Shell spawned by a server process" in [a["rule"] for a in alerts]


def _one_loss() -> Loss:
    tracker = LossTracker()
    tracker.add(0, "exec", 4, 1_000, 2_000)
    return tracker.take()[0]


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["replay", str(tmp_path / "missing.jsonl")]).exit_code == 2
    assert (
        runner.invoke(
            app, ["replay", "--format", "sysdig", str(DATA / "falco_events.jsonl")]
        ).exit_code
        == 2
    )
    result = runner.invoke(app, ["record", "-o", str(tmp_path / "x"), "--source", "nope"])
    assert result.exit_code == 2
