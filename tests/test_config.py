from pathlib import Path

import pytest

from vigil.config import AgentConfig, load_config, parse_config
from vigil.errors import ConfigError
from vigil.models import Severity


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
        "agent.yaml:1: api.listen must be HOST:PORT, not 'nowhere'",
        "agent.yaml:2: unknown key 'bogus' "
        "(known: api, profiles, outputs, playbooks, sensor, store, incidents)",
        "agent.yaml:4: playbooks[0].match.severity: 'extreme' is not one of "
        "critical, high, medium, low, info",
        "agent.yaml:5: playbooks[0].mode must be one of alert, auto",
        "agent.yaml:6: playbooks[0]: unknown action 'explode' (known: freeze)",
        "agent.yaml:7: profiles.learning_period must be a non-negative number, not -5",
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


def test_store_url_and_incident_window() -> None:
    config = parse_config("store: {url: 'postgresql://vigil@db/vigil'}\nincidents: {window: 120}\n")
    assert config.store_url == "postgresql://vigil@db/vigil"
    assert config.incident_window == 120
    with pytest.raises(ConfigError) as caught:
        parse_config("store:\n  url: mysql://x\nincidents:\n  window: 0\n", "a.yaml")
    assert str(caught.value).splitlines() == [
        "a.yaml:2: store.url must be a postgresql://user:password@host/db URL",
        "a.yaml:4: incidents.window must be a positive number of seconds",
    ]
