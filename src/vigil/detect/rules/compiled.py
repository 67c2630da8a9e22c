"""What compilation yields: one predicate per event type for each rule, and the report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vigil.detect.rules.fields import Getter
from vigil.detect.rules.model import RuleDef, RuleError
from vigil.detect.rules.output import OutputFormat
from vigil.models import Event, EventType

Predicate = Callable[[Event], bool]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    definition: RuleDef
    #: event type → predicate; types the rule can never match are absent
    predicates: Mapping[EventType, Predicate]
    output: OutputFormat
    #: Falco fields the rule names that vigil cannot fill (they read as absent)
    unsupported_fields: frozenset[str] = frozenset()
    #: evt.type names that select no vigil event
    unsupported_types: frozenset[str] = frozenset()
    #: unfillable fields named only in the output (they print as <NA>)
    unsupported_output_fields: frozenset[str] = frozenset()
    #: a string field the rule requires to be one of some values (``proc.name in (…)`` as a
    #: top-level conjunct): the engine offers the rule only events with such a value
    key: tuple[str, Getter, frozenset[str]] | None = None
    #: the predicates' Python expressions over ``e`` and the names they use, so the engine
    #: can fuse many rules into one function
    code: Mapping[EventType, str] = field(default_factory=dict, compare=False)
    namespace: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def event_types(self) -> frozenset[EventType]:
        return frozenset(self.predicates)


@dataclass(frozen=True, slots=True)
class Compilation:
    rules: tuple[CompiledRule, ...]
    errors: tuple[RuleError, ...]
    #: enabled rules of other sources (k8s_audit, …) that were not compiled
    skipped: tuple[RuleDef, ...] = ()
    #: rules disabled in their files
    disabled: tuple[RuleDef, ...] = ()
