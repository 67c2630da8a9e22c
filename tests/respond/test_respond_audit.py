"""The audit log's hash chain: intact across restarts, and any tampering found at its line."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.cli.main import app
from vigil.respond.audit import AuditLog, verify


def write_log(path: Path, count: int = 4) -> AuditLog:
    log = AuditLog(path)
    for i in range(count):
        log.record(actor="vigil", event="action", why=f"alert {i}", outcome="done", latency_ms=i)
    return log


def test_chain_holds_and_continues_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path, 2)
    write_log(path, 2)  # a restarted agent picks the chain up where it was
    result = verify(path)
    assert result.ok and result.entries == 4
    seqs = [json.loads(line)["seq"] for line in path.read_text().splitlines()]
    assert seqs == [1, 2, 3, 4]


def edit(lines: list[str]) -> list[str]:
    entry = json.loads(lines[2])
    entry["outcome"] = "skipped"  # hide what was done
    return [*lines[:2], json.dumps(entry, sort_keys=True), *lines[3:]]


def edit_and_rehash(lines: list[str]) -> list[str]:
    from vigil.respond.audit import entry_hash

    entry = json.loads(lines[2])
    entry.pop("hash")
    entry["actor"] = "someone-else"
    entry["hash"] = entry_hash(entry["prev"], entry)  # rehashing one entry breaks the next
    return [*lines[:2], json.dumps(entry, sort_keys=True), *lines[3:]]


@pytest.mark.parametrize(
    ("tamper", "line", "reason"),
    [
        (edit, 3, "hash does not match the entry's content"),
        (edit_and_rehash, 4, "prev does not match the entry before"),
        (lambda lines: [*lines[:1], *lines[2:]], 2, "prev does not match the entry before"),
        (lambda lines: [lines[1], lines[0], *lines[2:]], 1, "prev does not match the entry before"),
        (lambda lines: [*lines[:3], "{not json"], 4, "not valid JSON"),
    ],
    ids=["edited", "edited-and-rehashed", "deleted", "reordered", "garbage"],
)
def test_tampering_is_detected_at_its_line(
    tamper: Callable[[list[str]], list[str]], line: int, reason: str, tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(tamper(lines)) + "\n")
    broken = verify(path).broken
    assert broken is not None
    assert (broken.line, broken.reason) == (line, reason)


def test_vigil_audit_verify_exit_codes(tmp_path: Path) -> None:
    write_log(tmp_path / "audit.jsonl")
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--data-dir", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    assert "4 entries, hash chain intact" in ok.output
    path = tmp_path / "audit.jsonl"
    path.write_text(path.read_text().replace('"alert 1"', '"alert 9"'))
    broken = runner.invoke(app, ["audit", "verify", "--file", str(path)])
    assert broken.exit_code == 1
    assert f"{path}:2: audit log broken: hash does not match" in broken.output
    missing = runner.invoke(app, ["audit", "verify", "--data-dir", str(tmp_path / "none")])
    assert missing.exit_code == 2
