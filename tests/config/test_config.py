from pathlib import Path

import pytest

from vigil.config import AgentConfig, load_config, parse_config
from vigil.errors import ConfigError
from vigil.kube.settings import KubernetesConfig
from vigil.models import Severity
from vigil.respond.registry import ACTION_NAMES as KNOWN_ACTIONS


def test_playbook_config_reads_as_written() -> None:
    config = parse_config(
        "playbooks: [{name: freeze-critical, match: {severity: [critical, high]},"
        " mode: auto, actions: [freeze]}]\n"
    )
    (book,) = config.playbooks
    assert book.name == "freeze-critical"
    assert book.mode == "auto"
    assert book.actions == ("freeze",)
    assert book.match.severities == {Severity.CRITICAL, Severity.HIGH}


def test_empty_config_gives_defaults() -> None:
    assert parse_config("") == AgentConfig(source="<config>")


def test_every_error_is_reported_with_its_line() -> None:
    text = (
        "api: {listen: nowhere}\n"  # line 1
        "bogus: 1\n"  # line 2
        "playbooks:\n"
        "  - match: {severity: [extreme]}\n"  # line 4
        "    mode: sometimes\n"  # line 5
        "    actions: [explode]\n"  # line 6
        "profiles: {learning_period: -5}\n"  # line 7
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "agent.yaml")
    lines = str(caught.value).splitlines()
    assert lines == [
        "agent.yaml:1:15: api.listen must be HOST:PORT, not 'nowhere'",
        "agent.yaml:2:1: unknown key 'bogus' "
        "(known: api, profiles, outputs, playbooks, response, sensor, kubernetes, rules, store, "
        "incidents)",
        "agent.yaml:4:24: playbooks[0].match.severity: 'extreme' is not one of "
        "critical, high, medium, low, info",
        "agent.yaml:5:11: playbooks[0].mode must be one of alert, approve, auto",
        "agent.yaml:6:15: playbooks[0]: unknown action 'explode' "
        f"(known: {', '.join(KNOWN_ACTIONS)})",
        "agent.yaml:7:29: profiles.learning_period must be a non-negative number, not -5",
    ]
    assert caught.value.exit_code == 2


def test_broken_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("api:\n  listen: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}:")
    assert caught.value.line is not None


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_unknown_output_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown output 'kafka:x'"):
        parse_config("outputs: ['kafka:x']")


def test_learning_period_null_means_manual_lock() -> None:
    assert parse_config("profiles: {learning_period: null}").learning_period is None


def test_kubernetes_section() -> None:
    config = parse_config(
        "kubernetes:\n  enabled: true\n  kubeconfig: /etc/vigil/kubeconfig\n  node_name: node-1\n"
    )
    assert config.kubernetes == KubernetesConfig(
        enabled="on", kubeconfig=Path("/etc/vigil/kubeconfig"), node_name="node-1"
    )
    assert parse_config("kubernetes: {enabled: false}").kubernetes.enabled == "off"
    assert parse_config("").kubernetes == KubernetesConfig(enabled="auto")


def test_kubernetes_errors_name_their_lines() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            "kubernetes:\n  enabled: sometimes\n  kubeconfig: 3\n  nodename: x\n", "agent.yaml"
        )
    lines = str(caught.value).splitlines()
    assert lines == [
        "agent.yaml:2:12: kubernetes.enabled must be auto, true or false, not 'sometimes'",
        "agent.yaml:3:15: kubernetes.kubeconfig must be a file path",
        "agent.yaml:4:3: unknown key kubernetes.'nodename' "
        "(known: enabled, kubeconfig, node_name); did you mean 'node_name'?",
    ]


def test_profiles_section_with_overrides() -> None:
    from vigil.detect.policy import ProfilePolicy
    from vigil.models import Workload

    config = parse_config(
        "profiles:\n"
        "  min_learning: 30\n"
        "  max_learning: 3600\n"
        "  stability_events: 500\n"
        "  stability_seconds: 90\n"
        "  max_items: 256\n"
        "  overrides:\n"
        "    - namespace: batch\n"
        "      auto_lock: false\n"
        "    - workload: shop/web\n"
        "      max_learning: null\n"
    )
    policies = config.profile_policies
    assert policies is not None
    assert policies.default == ProfilePolicy(
        min_learning=30,
        max_learning=3600,
        stability_events=500,
        stability_seconds=90,
        max_items=256,
    )
    web = policies.for_workload(Workload("shop", "Deployment", "web", "nginx"))
    assert web.max_learning is None and web.stability_events == 500
    assert policies.for_workload(Workload("batch", "Job", "x", "x")).auto_lock is False
    # the older single setting still reads as before: null = lock by hand
    legacy = parse_config("profiles: {learning_period: null}\n").profile_policies
    assert legacy is not None and legacy.default.auto_lock is False


def test_profiles_section_errors_have_lines() -> None:
    text = (
        "profiles:\n"
        "  stability_events: 0\n"  # line 2
        "  max_items: many\n"  # line 3
        "  overrides:\n"
        "    - auto_lock: maybe\n"  # line 5
        "    - namespace: x\n"
        "      colour: red\n"  # line 7
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "agent.yaml")
    assert str(caught.value).splitlines() == [
        "agent.yaml:2:21: profiles.stability_events must be a positive whole number",
        "agent.yaml:3:14: profiles.max_items must be a positive whole number",
        "agent.yaml:5:7: profiles.overrides[0] needs a namespace or a workload",
        "agent.yaml:5:18: profiles.overrides[0].auto_lock must be true or false",
        "agent.yaml:7:7: unknown key profiles.overrides[1].'colour' (known: namespace, workload, "
        "auto_lock, min_learning, max_learning, stability_events, stability_seconds, max_items)",
    ]


def test_store_url_and_incident_window() -> None:
    config = parse_config("store: {url: 'postgresql://vigil@db/vigil'}\nincidents: {window: 120}\n")
    assert config.store_url == "postgresql://vigil@db/vigil"
    assert config.incident_window == 120
    with pytest.raises(ConfigError) as caught:
        parse_config("store:\n  url: mysql://x\nincidents:\n  window: 0\n", "a.yaml")
    assert str(caught.value).splitlines() == [
        "a.yaml:2:8: store.url must be a postgresql://user:password@host/db URL",
        "a.yaml:4:11: incidents.window must be a positive number of seconds",
    ]
