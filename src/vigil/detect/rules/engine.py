"""The rule engine: compiled rules indexed by event type, evaluated per event; and
:class:`RulesDetector`, the :class:`vigil.detect.Detector` the agent runs (rules, egress
policy, profile awareness, deduplication)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from vigil.detect.rules.compiler import CompiledRule, Predicate
from vigil.detect.rules.dedup import Deduplicator
from vigil.detect.rules.egress import EgressGuard
from vigil.detect.rules.profile import ProfileKnowledge, profile_item
from vigil.models import Event, EventType, Severity


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A finding from a rule (``kind`` "rule")."""

    rule: str
    severity: Severity
    message: str
    mitre: list[str]
    event: Event
    kind: str = "rule"


class RuleEngine:
    """Offers each event only to the rules that can match its type."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self.rules = tuple(rules)
        index: dict[EventType, list[tuple[CompiledRule, Predicate]]] = {t: [] for t in EventType}
        for rule in self.rules:
            for etype, predicate in rule.predicates.items():
                index[etype].append((rule, predicate))
        self._index = {t: tuple(pairs) for t, pairs in index.items()}

    def candidates(self, etype: EventType) -> int:
        return len(self._index[etype])

    def match(self, event: Event) -> list[CompiledRule]:
        return [rule for rule, predicate in self._index[event.type] if predicate(event)]


@dataclass
class RulesDetector:
    engine: RuleEngine
    egress: EgressGuard = field(default_factory=lambda: EgressGuard(()))
    profiles: ProfileKnowledge | None = None
    dedup: Deduplicator = field(default_factory=lambda: Deduplicator(0))
    #: matches silenced because the workload's profile knows the behaviour
    quieted_by_profile: int = 0

    def observe(self, event: Event) -> list[RuleMatch]:
        found: list[RuleMatch] = []
        for rule in self.engine.match(event):
            if self._known_to_profile(rule, event):
                self.quieted_by_profile += 1
                continue
            found.append(
                RuleMatch(
                    rule=rule.name,
                    severity=rule.definition.priority,
                    message=rule.output.format(event),
                    mitre=list(rule.definition.mitre),
                    event=event,
                )
            )
        violation = self.egress.check(event)
        if violation is not None:
            found.append(
                RuleMatch(
                    violation.rule, violation.severity, violation.message, violation.mitre, event
                )
            )
        return [kept for match in found if (kept := self._deduplicated(match)) is not None]

    def _known_to_profile(self, rule: CompiledRule, event: Event) -> bool:
        kind = rule.definition.profile
        if kind is None or self.profiles is None or event.workload is None:
            return False
        item = profile_item(kind, event)
        return item is not None and self.profiles.knows(event.workload.key, kind, item)

    def _deduplicated(self, match: RuleMatch) -> RuleMatch | None:
        container = match.event.container.id if match.event.container else "host"
        verdict = self.dedup.admit(match.rule, container, match.event.time)
        if not verdict.emit:
            return None
        if verdict.suppressed_before:
            seconds = f"{self.dedup.window:g}"
            note = f" (+{verdict.suppressed_before} similar suppressed in the previous {seconds}s)"
            return RuleMatch(
                match.rule, match.severity, match.message + note, match.mitre, match.event
            )
        return match
