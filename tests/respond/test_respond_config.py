"""The ``playbooks:`` and ``response:`` sections of the agent's configuration."""

import pytest

from vigil.config import parse_config
from vigil.errors import ConfigError
from vigil.models import Severity
from vigil.respond.registry import ACTION_NAMES as KNOWN_ACTIONS
from vigil.respond.settings import ActionStep, ResponseConfig

LADDER = """\
playbooks:
  - name: contain-miners
    match:
      rule: [crypto.*]
      tags: [T1496]
      workload: [shop/*]
      labels: {team: shop}
      namespace: shop
    mode: approve
    dry_run: true
    actions:
      - forensics
      - {action: kill-tree, fallback: freeze, timeout: 2}
      - {action: delete-pod, fallback: stop-container}
response:
  dry_run: false
  protected_namespaces: [vigil-system]
  rate_limit: {per_workload: 3, overall: 20, window: 30}
  cooldown: 15
  min_healthy_replicas: 2
  approval_timeout: 600
"""


def test_a_full_ladder_and_the_response_section() -> None:
    config = parse_config(LADDER)
    (book,) = config.playbooks
    assert book.mode == "approve"
    assert book.dry_run is True
    assert book.steps == (
        ActionStep("forensics"),
        ActionStep("kill-tree", fallback="freeze", timeout=2.0),
        ActionStep("delete-pod", fallback="stop-container"),
    )
    assert book.match.rules == {"crypto.*"}
    assert book.match.tags == {"T1496"}
    assert book.match.workloads == {"shop/*"}
    assert book.match.labels == (("team", "shop"),)
    assert book.match.namespaces == {"shop"}
    assert config.response == ResponseConfig(
        protected_namespaces=frozenset({"kube-system", "vigil-system"}),
        rate_per_workload=3,
        rate_overall=20,
        rate_window=30.0,
        cooldown=15.0,
        min_healthy_replicas=2,
        approval_timeout=600.0,
    )


def test_the_issue_example_keeps_working() -> None:
    config = parse_config(
        "playbooks: [{name: freeze-critical, match: {severity: [critical, high]},"
        " mode: auto, actions: [freeze]}]\n"
    )
    (book,) = config.playbooks
    assert book.actions == ("freeze",)
    assert book.steps == (ActionStep("freeze"),)
    assert book.match.severities == {Severity.CRITICAL, Severity.HIGH}


def test_ladder_and_response_errors_name_their_lines() -> None:
    text = (
        "playbooks:\n"
        "  - mode: approve\n"  # 2
        "    actions:\n"
        "      - {action: kill, fallback: nuke, timeout: 0}\n"  # 4
        "      - {fallback: freeze}\n"  # 5
        "    match: {labels: [x], color: red}\n"  # 6
        "response:\n"
        "  dry_run: maybe\n"  # 8
        "  rate_limit: {per_workload: -1, window: 0, burst: 3}\n"  # 9
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "a.yaml")
    assert str(caught.value).splitlines() == [
        f"a.yaml:4:34: playbooks[0]: unknown action 'nuke' (known: {', '.join(KNOWN_ACTIONS)})",
        "a.yaml:4:49: playbooks[0].timeout must be more than 0 seconds",
        "a.yaml:5:9: playbooks[0] needs an 'action'",
        "a.yaml:6:26: unknown key playbooks[0].match.'color' (known: kind, severity, rule, "
        "namespace, tags, workload, labels)",
        "a.yaml:6:21: playbooks[0].match.labels must be a mapping",
        "a.yaml:8:12: response.dry_run must be true or false, not maybe",
        "a.yaml:9:45: unknown key response.rate_limit.'burst' "
        "(known: per_workload, overall, window)",
        "a.yaml:9:30: response.rate_limit.per_workload must be a non-negative integer, not -1",
        "a.yaml:9:42: response.rate_limit.window must be more than 0 seconds",
    ]
    assert caught.value.exit_code == 2


def test_approve_and_auto_need_actions() -> None:
    with pytest.raises(ConfigError, match="mode 'approve' needs at least one action"):
        parse_config("playbooks: [{mode: approve}]\n")
