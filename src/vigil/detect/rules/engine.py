"""The rule engine: compiled rules indexed by event type, evaluated per event; and
:class:`RulesDetector`, the :class:`vigil.detect.Detector` the agent runs (rules, egress
policy, profile awareness, deduplication)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vigil.detect.rules.compiled import CompiledRule, Predicate
from vigil.detect.rules.dedup import Deduplicator
from vigil.detect.rules.egress import EgressGuard
from vigil.detect.rules.fields import Getter
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
    """Offers each event only to the rules that can match it: first by event type, then —
    for rules that require e.g. ``proc.name in (…)`` — by that field's value, read once."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self.rules = tuple(rules)
        plain: dict[EventType, list[tuple[CompiledRule, Predicate]]] = {t: [] for t in EventType}
        keyed: dict[
            EventType, dict[str, tuple[Getter, dict[str, list[tuple[CompiledRule, Predicate]]]]]
        ] = {t: {} for t in EventType}
        for rule in self.rules:
            for etype, predicate in rule.predicates.items():
                if rule.key is None:
                    plain[etype].append((rule, predicate))
                    continue
                field, getter, values = rule.key
                _, table = keyed[etype].setdefault(field, (getter, {}))
                for value in values:
                    table.setdefault(value, []).append((rule, predicate))
        self._plain = {t: tuple(pairs) for t, pairs in plain.items()}
        self._fused = {t: _fuse(t, pairs) for t, pairs in self._plain.items()}
        self._keyed = {
            t: tuple(
                (getter, {v: tuple(pairs) for v, pairs in table.items()})
                for getter, table in by_field.values()
            )
            for t, by_field in keyed.items()
        }

    def candidates(self, etype: EventType) -> int:
        """Rules that can match an event of ``etype`` (before the value index)."""
        return len({rule.name for rule in self.rules if etype in rule.predicates})

    def offered(self, event: Event) -> int:
        """Rules whose predicate ``event`` is actually offered to."""
        count = len(self._plain[event.type])
        for getter, table in self._keyed[event.type]:
            count += len(table.get(getter(event), ()))
        return count

    def match(self, event: Event) -> list[CompiledRule]:
        found = self._fused[event.type](event)
        for getter, table in self._keyed[event.type]:
            pairs = table.get(getter(event))
            if pairs:
                found.extend(
                    rule for rule, predicate in pairs if predicate(event) and rule not in found
                )
        return found


def _fuse(
    etype: EventType, pairs: tuple[tuple[CompiledRule, Predicate], ...]
) -> Callable[[Event], list[CompiledRule]]:
    """One generated function testing every rule of ``etype`` in turn: no call per rule."""
    namespace: dict[str, Any] = {}
    lines = ["def fused(e):", "    found = []"]
    for index, (rule, _) in enumerate(pairs):
        namespace.update(rule.namespace)
        namespace[f"rule_{index}"] = rule
        lines.append(f"    if {rule.code[etype]}:")
        lines.append(f"        found.append(rule_{index})")
    lines.append("    return found")
    scope: dict[str, Any] = {}
    source = "\n".join(lines) + "\n"
    exec(compile(source, f"<rules for {etype.value}>", "exec"), namespace, scope)  # noqa: S102 - our own generated code
    fused: Callable[[Event], list[CompiledRule]] = scope["fused"]
    return fused


@dataclass
class RulesDetector:
    engine: RuleEngine
    egress: EgressGuard = field(default_factory=lambda: EgressGuard(()))
    profiles: ProfileKnowledge | None = None
    dedup: Deduplicator = field(default_factory=lambda: Deduplicator(0))
    #: matches silenced because the workload's profile knows the behaviour
    quieted_by_profile: int = 0

    def observe(self, event: Event) -> list[RuleMatch]:
        matched = self.engine.match(event)
        if not matched and not self.egress.policies:
            return []
        found: list[RuleMatch] = []
        for rule in matched:
            if self._known_to_profile(rule, event):
                self.quieted_by_profile += 1
                continue
            note = self._admitted(rule.name, event)
            if note is None:
                continue  # a repeat inside the window: not even its message is built
            found.append(
                RuleMatch(
                    rule=rule.name,
                    severity=rule.definition.priority,
                    message=rule.output.format(event) + note,
                    mitre=list(rule.definition.mitre),
                    event=event,
                )
            )
        violation = self.egress.check(event)
        if violation is not None and (note := self._admitted(violation.rule, event)) is not None:
            found.append(
                RuleMatch(
                    violation.rule,
                    violation.severity,
                    violation.message + note,
                    violation.mitre,
                    event,
                )
            )
        return found

    def _known_to_profile(self, rule: CompiledRule, event: Event) -> bool:
        kind = rule.definition.profile
        if kind is None or self.profiles is None or event.workload is None:
            return False
        item = profile_item(kind, event)
        return item is not None and self.profiles.knows(event.workload.key, kind, item)

    def _admitted(self, rule: str, event: Event) -> str | None:
        """``None`` for a repeat the dedup window swallows, else the note its message gets."""
        container = event.container.id if event.container else "host"
        verdict = self.dedup.admit(rule, container, event.time)
        if not verdict.emit:
            return None
        if verdict.suppressed_before:
            seconds = f"{self.dedup.window:g}"
            return f" (+{verdict.suppressed_before} similar suppressed in the previous {seconds}s)"
        return ""
