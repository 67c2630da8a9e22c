"""Which event types a condition can match, worked out before it is compiled, so that the
engine offers a rule only those events and each predicate is compiled with ``evt.type``
folded to a constant."""

from __future__ import annotations

from vigil.detect.rules.ast import And, Compare, Exists, FieldRef, MacroRef, Not
from vigil.detect.rules.evttypes import ALL_TYPES, event_type_named
from vigil.detect.rules.resolve import Const, Resolver, Scoped, Tree
from vigil.models import EventType

_EVT_TYPE_OPS = ("=", "==", "!=", "in")


def is_evt_type_test(field: FieldRef, op: str) -> bool:
    """A test of ``evt.type`` that is resolved at compile time."""
    return field.name == "evt.type" and field.arg is None and op in _EVT_TYPE_OPS


def matchable_types(  # noqa: PLR0911 - one return per node kind
    node: Tree, resolver: Resolver, missing_types: set[str], stack: tuple[str, ...] = ()
) -> tuple[frozenset[EventType], bool]:
    """Event types ``node`` can match (an over-approximation), and whether ``node`` is
    exactly a test of evt.type (then ``not`` may take the complement). Type names that select
    no vigil event go to ``missing_types``."""
    if isinstance(node, Const):
        return (ALL_TYPES if node.value else frozenset()), True
    if isinstance(node, Scoped):
        return matchable_types(node.node, resolver, missing_types, stack)
    if isinstance(node, Compare):
        if is_evt_type_test(node.field, node.op):
            names = resolver.list_values(node.values)
            missing_types.update(n for n in names if event_type_named(n) is None)
            named = frozenset(t for n in names if (t := event_type_named(n)) is not None)
            return (ALL_TYPES - named if node.op == "!=" else named), True
        return ALL_TYPES, False
    if isinstance(node, Exists):
        return ALL_TYPES, False
    if isinstance(node, MacroRef):
        if node.name in stack:
            return ALL_TYPES, False
        expanded = resolver.expand_quietly(node)
        if expanded is None:
            return ALL_TYPES, False
        return matchable_types(expanded.node, resolver, missing_types, (*stack, node.name))
    if isinstance(node, Not):
        inner, exact = matchable_types(node.term, resolver, missing_types, stack)
        return (ALL_TYPES - inner, True) if exact else (ALL_TYPES, False)
    parts = [matchable_types(t, resolver, missing_types, stack) for t in node.terms]
    exact = all(e for _, e in parts)
    if isinstance(node, And):
        result = ALL_TYPES
        for types, _ in parts:
            result &= types
        return result, exact
    union: frozenset[EventType] = frozenset()
    for types, _ in parts:
        union |= types
    return union, exact
