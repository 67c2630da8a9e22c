"""The rule language: operators, fields, macros, lists, append/override, exceptions, errors."""

from __future__ import annotations

import dataclasses

import pytest

from tests.fixtures.rules_events import ev, read, run, write
from vigil.detect.rules import RuleEngine, compile_ruleset, load_rule_text
from vigil.detect.rules.ast import And, Compare
from vigil.detect.rules.parser import ParseError, parse_condition
from vigil.models import Event, EventType


def engine(text: str) -> RuleEngine:
    compiled = compile_ruleset(load_rule_text(text, "t.yaml"))
    assert compiled.errors == (), [str(e) for e in compiled.errors]
    return RuleEngine(compiled.rules)


def rule(condition: str) -> str:
    return f"- rule: r\n  desc: d\n  condition: {condition}\n  output: o\n  priority: WARNING\n"


def hits(condition: str, event: Event) -> bool:
    return bool(engine(rule(condition)).match(event))


@pytest.mark.parametrize(
    ("condition", "event", "expected"),
    [
        ("proc.name = sh", run("/bin/sh"), True),
        ("proc.name != sh", run("/bin/sh"), False),
        ("proc.name in (bash, sh)", run("/bin/sh"), True),
        ("proc.cmdline contains '-c id'", run("/bin/sh -c id"), True),
        ("proc.cmdline icontains 'STRATUM'", run("/x -o stratum+tcp://p"), True),
        ("proc.exepath startswith /usr/", run("/usr/bin/x"), True),
        ("proc.exepath endswith /x", run("/usr/bin/x"), True),
        ("proc.exepath glob '/usr/*/x'", run("/usr/bin/x"), True),
        ("proc.exepath glob '/opt/*'", run("/usr/bin/x"), False),
        ("fd.name pmatch (/etc, /var/log)", read("/etc/passwd"), True),
        ("fd.name pmatch (/et)", read("/etc/passwd"), False),
        ("user.uid > 999", run("/x", uid=1000), True),
        ("user.uid < 1000", run("/x", uid=1000), False),
        ("user.uid >= 1000 and user.uid <= 1000", run("/x", uid=1000), True),
        ("proc.cwd exists", run("/x", cwd="/app"), True),
        ("proc.cwd exists", run("/x"), False),
        ("not proc.cwd exists", run("/x"), True),
        ("proc.aname[2] = init", run("/x", parent="/bin/sh", ancestors=("/sbin/init",)), True),
        ("proc.aname = init", run("/x", parent="/bin/sh", ancestors=("/sbin/init",)), True),
        ("proc.aname[1] = init", run("/x", parent="/bin/sh", ancestors=("/sbin/init",)), False),
        ("proc.pname = sh and (proc.name = a or proc.name = x)", run("/x", parent="/bin/sh"), True),
        ("fd.sport = 443 and fd.sip = 1.2.3.4", ev("connect", ip="1.2.3.4", port=443), True),
        ("fd.snet in ('10.0.0.0/8')", ev("connect", ip="10.9.9.9", port=1), True),
        ("fd.net = '10.0.0.0/8'", ev("connect", ip="192.0.2.1", port=1), True),  # local end
        ("fd.snet = '10.0.0.0/8'", ev("connect", ip="192.0.2.1", port=1), False),
        (
            "evt.type = connect and evt.res = EINPROGRESS",
            ev("connect", ip="1.1.1.1", port=1, result=-115),
            True,
        ),
        ("evt.is_open_write = true", write("/etc/x"), True),
        ("evt.is_open_write = true", read("/etc/x"), False),
        ("evt.arg.flags contains O_WRONLY", write("/etc/x"), True),
        ("container.image.repository = registry.example/app", run("/x"), True),
        ("container.image.tag = '1.0'", run("/x"), True),
        ("k8s.ns.name = shop", run("/x"), True),
        ("proc.args intersects (-c, -x)", run("/bin/sh -c"), True),
        ("proc.tty != 0", run("/x"), False),  # a Falco field vigil cannot fill: absent
        ("not proc.tty != 0", run("/x"), True),
    ],
)
def test_operators_and_fields(condition: str, event: Event, expected: bool) -> None:
    assert hits(condition, event) is expected


def test_evt_type_accepts_falco_and_vigil_names_and_indexes_rules() -> None:
    eng = engine(rule("evt.type in (openat, exec)"))
    assert eng.candidates(EventType.OPEN) == 1
    assert eng.candidates(EventType.EXEC) == 1
    assert eng.candidates(EventType.CONNECT) == 0
    (compiled,) = eng.rules
    assert compiled.event_types == {EventType.OPEN, EventType.EXEC}


def test_not_evt_type_takes_the_complement() -> None:
    eng = engine(rule("evt.type != execve and proc.name = x"))
    assert eng.candidates(EventType.EXEC) == 0
    assert eng.candidates(EventType.OPEN) == 1


def test_tree_is_immutable() -> None:
    tree = parse_condition("a.b = 1 and c.d in (x, 'y z')")
    assert isinstance(tree, And)
    compare = tree.terms[1]
    assert isinstance(compare, Compare) and [v.text for v in compare.values] == ["x", "y z"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        compare.op = "="  # type: ignore[misc]


def test_parse_error_carries_offset() -> None:
    with pytest.raises(ParseError) as caught:
        parse_condition("proc.name = sh and (proc.name = x")
    assert caught.value.pos == len("proc.name = sh and (proc.name = x")


MACROS_AND_LISTS = """
- list: shells
  items: [sh, bash]
- list: more_shells
  items: [shells, zsh]
- macro: spawned
  condition: evt.type = execve
- macro: shell
  condition: proc.name in (more_shells)
- rule: r
  desc: d
  condition: spawned and shell
  output: "%proc.name ran"
  priority: ERROR
  tags: [T1059, TA0002, other]
"""


def test_macros_and_nested_lists_expand() -> None:
    eng = engine(MACROS_AND_LISTS)
    assert eng.match(run("/bin/zsh")) and eng.match(run("/bin/sh"))
    assert not eng.match(run("/bin/ls"))
    assert eng.rules[0].definition.mitre == ("T1059", "TA0002")


def test_append_and_override() -> None:
    text = (
        MACROS_AND_LISTS
        + """
- list: shells
  items: [ash]
  append: true
- macro: shell
  condition: or proc.name = fish
  override: {condition: append}
- rule: r
  priority: CRITICAL
  override: {priority: replace}
"""
    )
    eng = engine(text)
    assert eng.match(run("/bin/ash")) and eng.match(run("/bin/fish"))
    assert str(eng.rules[0].definition.priority) == "critical"


def test_rule_condition_append_and_enabled_toggle() -> None:
    text = (
        MACROS_AND_LISTS
        + """
- rule: r
  condition: and proc.pname = init
  append: true
"""
    )
    eng = engine(text)
    assert eng.match(run("/bin/sh", parent="/sbin/init"))
    assert not eng.match(run("/bin/sh", parent="/bin/x"))
    disabled = engine(MACROS_AND_LISTS + "- rule: r\n  enabled: false\n")
    assert disabled.rules == ()


def test_exceptions_silence_matching_tuples_and_take_appended_values() -> None:
    text = """
- rule: writes
  desc: d
  condition: evt.type = openat and evt.is_open_write = true
  output: o
  priority: WARNING
  exceptions:
    - name: known_writers
      fields: [proc.name, fd.name]
      comps: [=, startswith]
      values:
        - [sed, /etc/nginx/]
    - name: names
      fields: proc.name
      values: [dpkg, rpm]
- rule: writes
  exceptions:
    - name: known_writers
      values:
        - [tee, /var/log/]
  append: true
"""
    eng = engine(text)
    assert not eng.match(write("/etc/nginx/a.conf", exe="/bin/sed"))
    assert not eng.match(write("/var/log/x", exe="/usr/bin/tee"))
    assert not eng.match(write("/etc/x", exe="/usr/bin/dpkg"))
    assert eng.match(write("/etc/x", exe="/bin/sed"))
    assert eng.match(write("/etc/nginx/a.conf", exe="/usr/bin/tee"))


BROKEN = """- rule: a
  desc: d
  condition: >
    evt.type = execve and
    proc.nmae = sh and fd.sport = http and missing_macro
  output: "%proc.bogus"
  priority: LOUD
- macro: m
  condition: (proc.name = x
- list: l
  items: x
- rule: b
  condition: proc.name = x
- rule: c
  desc: d
  condition: proc.name = x
  output: o
  priority: INFO
  append: true
  override: {condition: append}
"""


def test_every_error_is_collected_with_file_line_column() -> None:
    compiled = compile_ruleset(load_rule_text(BROKEN, "bad.yaml"))
    shown = [str(e) for e in compiled.errors]
    expected = [
        "bad.yaml:5:5: unknown field 'proc.nmae'",
        "bad.yaml:5:35: fd.sport: 'http' is not a number",
        "bad.yaml:5:44: macro 'missing_macro' is undefined",
        "bad.yaml:6:11: rule 'a': output names unknown field 'proc.bogus'",
        "bad.yaml:7:13: unknown priority 'LOUD'",
        "bad.yaml:9:27: expected ')', found end of condition",
        "bad.yaml:11:10: list 'l' items must be a list",
        "bad.yaml:12:3: rule 'b' needs output, priority",
        "bad.yaml:19:11: rule 'c': use either append or override, not both",
    ]
    for wanted in expected:
        assert any(s.startswith(wanted) for s in shown), (wanted, shown)
    assert len(shown) == len(expected), shown


def test_macro_cycles_are_errors() -> None:
    text = "- macro: a\n  condition: b\n- macro: b\n  condition: a\n" + rule("a")
    compiled = compile_ruleset(load_rule_text(text, "c.yaml"))
    assert any("refers to itself" in str(e) for e in compiled.errors)


def test_yaml_syntax_error_has_position() -> None:
    compiled = compile_ruleset(load_rule_text("- rule: [x\n", "y.yaml"))
    assert str(compiled.errors[0]).startswith("y.yaml:2:1: not valid YAML")
