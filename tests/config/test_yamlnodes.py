"""Located YAML: every file's problems name their place; unknown keys suggest a close one."""

from __future__ import annotations

import pytest

from vigil.config import parse_config
from vigil.detect.profile_yaml import load_profile
from vigil.detect.rules import compile_ruleset
from vigil.detect.rules.loader import load_rule_text
from vigil.errors import ConfigError
from vigil.yamlnodes import Location, YamlSyntaxError, compose, describe, unknown_key_message


def test_unknown_keys_suggest_a_close_one_at_any_depth() -> None:
    text = (
        "respons: {}\n"  # 1
        "response:\n"
        "  rate_limit: {per_workloads: 3}\n"  # 3
        "playbooks:\n"
        "  - mode: alert\n"
        "    match: {severty: [high]}\n"  # 6
        "    actions: [{action: freeze, fallbak: kill}]\n"  # 7
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yaml")
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("c.yaml:1:1: unknown key 'respons' (known: api,")
    assert lines[0].endswith("; did you mean 'response'?")
    assert lines[1].endswith("; did you mean 'per_workload'?")
    assert lines[1].startswith("c.yaml:3:16: unknown key response.rate_limit.'per_workloads'")
    assert lines[2].startswith("c.yaml:6:13: unknown key playbooks[0].match.'severty'")
    assert lines[2].endswith("; did you mean 'severity'?")
    assert lines[3].startswith("c.yaml:7:32: unknown key playbooks[0].actions[0].'fallbak'")
    assert lines[3].endswith("; did you mean 'fallback'?")
    assert len(lines) == 4


def test_no_suggestion_when_nothing_is_close() -> None:
    assert unknown_key_message("zzz", ("api", "rules"), "") == (
        "unknown key 'zzz' (known: api, rules)"
    )


def test_a_bad_explicit_tag_is_a_located_error_not_a_traceback() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("incidents:\n  window: !!int ten\n", "c.yaml")
    assert str(caught.value).startswith("c.yaml:2:11: ")
    assert "'ten' is not a valid !!int" in str(caught.value)
    with pytest.raises(ConfigError, match=r"p.yaml:1:13: .*is not a valid !!int"):
        load_profile("apiVersion: !!int v1\n", "p.yaml")
    rules = load_rule_text("- list: l\n  items: [!!float x]\n", "r.yaml")
    assert [str(e) for e in rules.errors] == [
        "r.yaml:2:11: not valid YAML: 'x' is not a valid !!float"
    ]


def test_a_bare_equals_in_a_rule_file_stays_a_string() -> None:
    rules = load_rule_text("- list: l\n  items: [=, in]\n", "r.yaml")
    assert not rules.errors
    assert rules.lists["l"].items == ("=", "in")


def test_null_agent_namespace_means_none() -> None:
    assert parse_config("response: {agent_namespace: null}").response.agent_namespace is None
    assert parse_config("response: {agent_namespace: vigil}").response.agent_namespace == "vigil"


def test_syntax_errors_carry_line_and_column() -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        compose("a: [1\nb: c: d\n", "f.yaml")
    assert caught.value.location == Location("f.yaml", 2, 2)
    assert str(caught.value).startswith("f.yaml:2:2: not valid YAML")


def test_locations_render_one_way() -> None:
    assert str(Location("f.yaml", 3, 5)) == "f.yaml:3:5"
    assert str(Location("f.yaml", 3)) == "f.yaml:3"
    assert str(Location("f.yaml")) == "f.yaml"


def test_config_errors_name_as_much_of_the_place_as_is_known() -> None:
    assert str(ConfigError("bad", path="f.yaml", line=3, column=5)) == "f.yaml:3:5: bad"
    assert str(ConfigError("bad", path="f.yaml", line=3)) == "f.yaml:3: bad"
    assert str(ConfigError("bad", path="f.yaml")) == "f.yaml: bad"
    assert str(ConfigError("bad")) == "bad"


def test_rule_files_and_config_files_share_one_location() -> None:
    loaded = load_rule_text("- list: l\n  items: x\n- macro: m\n  condition: (a\n", "r.yaml")
    compiled = compile_ruleset(loaded)
    assert compiled.errors  # one from the loader (a node), one from the parser (a text offset)
    for error in (*loaded.errors, *compiled.errors):
        assert type(error.location) is Location, error
    assert [str(e.location) for e in compiled.errors] == ["r.yaml:2:10", "r.yaml:4:15"]


def test_error_paths_read_as_written() -> None:
    assert describe(("playbooks", 0, "match", "severity", 1)) == "playbooks[0].match.severity"
    assert describe(("playbooks", 0, "actions", 2, "timeout"), ("actions",)) == (
        "playbooks[0].timeout"
    )
    assert describe(("profiles", "overrides", 0), item=True) == "profiles.overrides[0]"


def test_a_misspelt_action_suggests_the_registered_one() -> None:
    text = "playbooks:\n  - name: x\n    mode: auto\n    actions: [freez]\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "a.yaml")
    assert str(caught.value).startswith("a.yaml:4:15: playbooks[0]: unknown action 'freez'")
    assert str(caught.value).endswith("; did you mean 'freeze'?")
