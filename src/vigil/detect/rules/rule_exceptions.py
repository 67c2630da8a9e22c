"""A rule's Falco ``exceptions`` → one condition tree that, when it holds, silences the rule.

Each exception lists ``fields`` and ``comps`` and rows of ``values``; a row holds when every
field compares true with its value, and any row of any exception silences the rule."""

from __future__ import annotations

from vigil.detect.rules.ast import LIST_OPERATORS, And, Compare, FieldRef, Node, Or, Value
from vigil.detect.rules.diagnostics import Diagnostics
from vigil.detect.rules.model import ExceptionDef, RuleDef
from vigil.detect.rules.resolve import Const, Scoped
from vigil.detect.rules.source import SourceText


def exception_tree(rule: RuleDef, exc: ExceptionDef, diagnostics: Diagnostics) -> Scoped | None:
    """The condition under which ``exc`` silences ``rule``; ``None`` (and an error) when the
    exception has no fields."""
    source = SourceText.at(exc.location)
    if not exc.fields:
        diagnostics.error(
            source,
            0,
            f"rule {rule.name!r}: exception {exc.name!r} adds values to no earlier exception",
        )
        return None
    refs = []
    for name in exc.fields:
        base, _, arg = name.partition("[")
        refs.append(FieldRef(base, arg.rstrip("]") or None, 0))
    rows = _single_field_rows(exc, refs[0]) if exc.single else _rows(exc, refs)
    if not rows:
        return Scoped(Const(False), source)
    return Scoped(Or(tuple(rows)), source)


def _single_field_rows(exc: ExceptionDef, ref: FieldRef) -> list[Node]:
    """A single field (not a list) takes a flat list of values: one test per value, or one
    list test for a list operator."""
    comp = exc.comps[0]
    texts: list[str] = []
    for cell in (cell for row in exc.values for cell in row):
        texts.extend(cell if isinstance(cell, tuple) else (cell,))
    values = tuple(Value(t, False, 0) for t in texts)
    if comp in LIST_OPERATORS:
        return [Compare(ref, comp, values)]
    return [Compare(ref, comp, (v,)) for v in values]


def _rows(exc: ExceptionDef, refs: list[FieldRef]) -> list[Node]:
    rows: list[Node] = []
    for row in exc.values:
        terms: list[Node] = []
        for ref, comp, cell in zip(refs, exc.comps, row, strict=True):
            if comp in LIST_OPERATORS:
                cells = cell if isinstance(cell, tuple) else (cell,)
                terms.append(Compare(ref, comp, tuple(Value(c, False, 0) for c in cells)))
            else:
                text = cell if isinstance(cell, str) else ",".join(cell)
                terms.append(Compare(ref, comp, (Value(text, True, 0),)))
        rows.append(And(tuple(terms)))
    return rows
