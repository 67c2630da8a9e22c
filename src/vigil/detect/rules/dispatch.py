"""The value a rule requires of a string field (``proc.name in (…)`` as a top-level
conjunct), so the engine offers the rule only events with such a value."""

from __future__ import annotations

from vigil.detect.rules.ast import And, Compare, MacroRef, Node
from vigil.detect.rules.resolve import Resolver, Scoped, Tree

#: fields worth dispatching on, best first
KEY_FIELDS = ("proc.name", "fd.filename", "fd.name", "fd.sip", "dns.name", "proc.pname")


def dispatch_values(tree: Tree, resolver: Resolver) -> tuple[str, frozenset[str]] | None:
    """The best key field ``tree`` requires to be one of some values, and those values."""
    found: dict[str, frozenset[str]] = {}
    for term in conjuncts(tree, resolver):
        if not isinstance(term, Compare) or term.op not in ("=", "==", "in"):
            continue
        if term.field.name not in KEY_FIELDS or term.field.arg is not None:
            continue
        values = frozenset(
            resolver.list_values(term.values) if term.op == "in" else [term.values[0].text]
        )
        found.setdefault(term.field.name, values)
    return next(((name, found[name]) for name in KEY_FIELDS if name in found), None)


def conjuncts(node: Tree, resolver: Resolver, stack: tuple[str, ...] = ()) -> list[Node]:
    """Terms that must all hold for ``node`` to hold (through macros and parentheses)."""
    if isinstance(node, Scoped):
        return conjuncts(node.node, resolver, stack)
    if isinstance(node, MacroRef) and node.name not in stack:
        expanded = resolver.expand_quietly(node)
        if expanded is None:
            return []
        return conjuncts(expanded.node, resolver, (*stack, node.name))
    if isinstance(node, And):
        return [t for term in node.terms for t in conjuncts(term, resolver, stack)]
    return [node] if isinstance(node, Compare) else []
