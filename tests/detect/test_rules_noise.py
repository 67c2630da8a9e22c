"""Noise control (dedup, profile awareness, exceptions), the egress policy, and the rules
detector inside the agent's pipeline, wired from configuration."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from tests.fixtures.fakes import QueueSensor, TableIdentity
from tests.fixtures.rules_events import APP_WORKLOAD, ev, run
from vigil.agent import Agent
from vigil.bootstrap import build_rules
from vigil.config import parse_config
from vigil.detect.profiles import ProfileBook
from vigil.detect.rules import (
    Deduplicator,
    Destination,
    EgressGuard,
    EgressPolicy,
    LockedProfiles,
    RuleEngine,
    RulesDetector,
    builtin_rule_files,
    compile_files,
)
from vigil.detect.settings import RulesConfig
from vigil.errors import ConfigError
from vigil.models import ContainerInfo
from vigil.record.store import Store
from vigil.respond.responder import Responder

PACK = RuleEngine(compile_files(builtin_rule_files()).rules)
MINER = "Crypto miner run"


def test_dedup_keeps_the_first_counts_the_rest_and_reports_the_count() -> None:
    detector = RulesDetector(PACK, dedup=Deduplicator(60))
    miner = run("/opt/xmrig -t 4")
    first = detector.observe(miner)
    assert [m.rule for m in first] == [MINER]
    for second in range(1, 4):  # three repeats inside the window: counted, not alerted
        later = replace(miner, time=miner.time + timedelta(seconds=second))
        assert detector.observe(later) == []
    assert detector.dedup.pending() == {(MINER, "app-1"): 3}
    other = replace(miner, container=ContainerInfo("app-2", "app", "", "runc"))
    assert [m.rule for m in detector.observe(other)] == [MINER]  # per container
    after = replace(miner, time=miner.time + timedelta(seconds=61))
    (again,) = detector.observe(after)
    assert again.message.endswith("(+3 similar suppressed in the previous 60s)")
    assert detector.dedup.suppressed_total == 3


def test_dedup_memory_is_bounded() -> None:
    dedup = Deduplicator(60, max_keys=2)
    when = run("/x").time
    for container in ("a", "b", "c"):
        assert dedup.admit("r", container, when).emit
    assert len(dedup._windows) == 2
    # the least recently seen went first: "b" is still in its window, "a" was forgotten
    assert not dedup.admit("r", "b", when).emit
    assert dedup.admit("r", "a", when).emit


def test_profile_aware_rule_is_quiet_for_a_locked_profile_that_knows_the_behaviour() -> None:
    book = ProfileBook(learning_period=None)
    apt = run("apt-get install -y curl")
    detector = RulesDetector(PACK, profiles=LockedProfiles(book))
    book.observe(apt)  # learning: the profile takes it in, but is not yet authoritative
    assert [m.rule for m in detector.observe(apt)] == ["Package manager run in a container"]
    book.lock_all()
    assert detector.observe(apt) == []
    assert detector.quieted_by_profile == 1
    # The same rule still fires for what the profile does not know; other rules are not
    # profile-aware at all.
    assert detector.observe(run("/usr/bin/yum install x"))
    assert detector.observe(run("/opt/xmrig"))


def test_egress_policy_allows_listed_destinations_and_the_cluster_only() -> None:
    guard = EgressGuard(
        [
            EgressPolicy(
                "shop/app", (Destination.parse("1.1.1.0/24"), Destination.parse("8.8.8.8:443"))
            )
        ]
    )
    detector = RulesDetector(RuleEngine(()), egress=guard)
    # Documentation ranges (203.0.113.0/24, …) are not the internet either.
    assert detector.observe(ev("connect", ip="203.0.113.7", port=22)) == []
    assert detector.observe(ev("connect", ip="10.0.0.9", port=5432)) == []  # not the internet
    assert detector.observe(ev("connect", ip="1.1.1.20", port=80)) == []
    assert detector.observe(ev("connect", ip="8.8.8.8", port=443)) == []
    (denied,) = detector.observe(ev("connect", ip="8.8.8.8", port=22))
    assert denied.rule == "Egress to the internet denied by policy"
    assert "tcp/8.8.8.8:22" in denied.message and denied.mitre
    other = replace(
        ev("connect", ip="9.9.9.9", port=53), workload=replace(APP_WORKLOAD, namespace="dev")
    )
    assert detector.observe(other) == []  # no policy for that workload


def test_namespace_policy_and_destination_parsing() -> None:
    guard = EgressGuard([EgressPolicy("shop", ())])
    assert guard.check(ev("connect", ip="2001:4860:4860::8888", port=443)) is not None
    assert Destination.parse("[2001:db8::1]:443").port == 443
    with pytest.raises(ValueError):
        Destination.parse("10.0.0.0/8:70000")


def test_rules_config_section_and_errors() -> None:
    cfg = parse_config(
        "rules:\n  builtin: false\n  files: [/x.yaml]\n  dedup_window: 30\n"
        "  egress:\n    - namespace: shop\n      allow: [10.0.0.0/8, '203.0.113.7:443']\n"
    )
    assert cfg.rules.builtin is False and cfg.rules.files == (Path("/x.yaml"),)
    assert cfg.rules.dedup_window == 30 and cfg.rules.egress[0].selector == "shop"
    with pytest.raises(ConfigError) as caught:
        parse_config(
            "rules:\n  egress:\n    - namespace: a\n      allow: [nope]\n  bogus: 1\n", "c.yaml"
        )
    assert "c.yaml:4:15: rules.egress[0].allow: 'nope' is not CIDR" in str(caught.value)
    assert "c.yaml:5:3: unknown key rules.'bogus'" in str(caught.value)


def test_bad_rule_file_in_config_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "mine.yaml"
    bad.write_text(
        "- rule: x\n  desc: d\n  condition: proc.nmae = a\n  output: o\n  priority: INFO\n"
    )
    with pytest.raises(ConfigError) as caught:
        build_rules(RulesConfig(files=(bad,)))
    assert caught.value.exit_code == 2
    assert f"{bad}:3:14: unknown field 'proc.nmae'" in str(caught.value)


def test_rule_alerts_flow_through_the_agent(tmp_path: Path) -> None:
    """Built from config like `vigil run` does; an event the sensor would send → alert JSON."""
    sensor = QueueSensor()
    jsonl = tmp_path / "alerts.jsonl"
    from vigil.record.outputs import JsonlFileOutput

    profiles = ProfileBook(learning_period=None)
    agent = Agent(
        sensor=sensor,
        identity=TableIdentity(),
        profiles=profiles,
        responder=Responder([], TableIdentity()),
        store=Store.open(tmp_path / "data"),
        outputs=[JsonlFileOutput(jsonl)],
        detectors=[build_rules(RulesConfig(dedup_window=60), profiles)],
    )

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        await agent.ready.wait()
        sensor.push(ev("connect", exe="/usr/bin/wget", ip="169.254.169.254", port=80))
        sensor.push(ev("connect", exe="/usr/bin/wget", ip="169.254.169.254", port=80))
        sensor.close()
        await task

    asyncio.run(scenario())
    alerts = [json.loads(line) for line in jsonl.read_text().splitlines()]
    rule_alerts = [a for a in alerts if a["kind"] == "rule"]
    assert len(rule_alerts) == 1, alerts  # the repeat is deduplicated
    (alert,) = rule_alerts
    assert alert["rule"] == "Cloud metadata service contacted"
    assert alert["severity"] == "high" and alert["mitre"] == ["T1552.005"]
    assert alert["network"]["dest_ip"] == "169.254.169.254"
    assert alert["message"].startswith(
        "Cloud metadata service 169.254.169.254:80 contacted by /usr/bin/wget"
    )
