"""Comparison operators → predicates over one field's getter, specialised for speed.

Values are converted once, at compile time, to the field's kind (number, bool, network);
a value that does not convert is a compile error. An absent field (getter returns ``None``)
makes every comparison false, ``!=`` included, as in Falco.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Callable, Sequence
from typing import Any

from vigil.detect.rules.ast import LIST_OPERATORS, SCALAR_OPERATORS
from vigil.detect.rules.fields import Getter, Kind
from vigil.models import Event

Predicate = Callable[[Event], bool]
Check = Callable[[Any], bool]

_ORDERINGS = frozenset({"<", "<=", ">", ">="})
_ALLOWED: dict[Kind, frozenset[str]] = {
    # strings take every operator but the orderings
    Kind.STR: (SCALAR_OPERATORS - _ORDERINGS) | LIST_OPERATORS,
    Kind.INT: frozenset({"=", "==", "!=", "<", "<=", ">", ">=", "in", "intersects"}),
    Kind.BOOL: frozenset({"=", "==", "!="}),
    Kind.NET: frozenset({"=", "==", "!=", "in", "intersects"}),
}


class ValueError_(Exception):
    """A value that does not suit the field; ``index`` says which one."""

    def __init__(self, message: str, index: int = 0) -> None:
        super().__init__(message)
        self.index = index


def convert(kind: Kind, texts: Sequence[str]) -> list[Any]:
    converted: list[Any] = []
    for index, text in enumerate(texts):
        try:
            if kind is Kind.INT:
                converted.append(int(text, 0))
            elif kind is Kind.BOOL:
                if text.lower() not in ("true", "false"):
                    raise ValueError(text)
                converted.append(text.lower() == "true")
            elif kind is Kind.NET:
                converted.append(ipaddress.ip_network(text, strict=False))
            else:
                converted.append(text)
        except ValueError:
            raise ValueError_(f"{text!r} is not a {kind.value}", index) from None
    return converted


def _pmatch_check(prefixes: Sequence[str]) -> Check:
    exact = frozenset(p.rstrip("/") or "/" for p in prefixes)
    dirs = tuple((p.rstrip("/") + "/") for p in prefixes)
    return lambda v: v in exact or v.startswith(dirs)


def _check(op: str, kind: Kind, values: list[Any]) -> Check:  # noqa: PLR0911
    """A predicate over one (present) value of the field."""
    x = values[0] if values else None
    if kind is Kind.NET:
        nets = tuple(values)
        inside: Check = lambda v: any(v in net for net in nets)  # noqa: E731
        return (lambda v: not inside(v)) if op == "!=" else inside
    if op in ("=", "=="):
        return lambda v: v == x
    if op == "!=":
        return lambda v: v != x
    if op == "in":
        members = frozenset(values)
        return lambda v: v in members
    if op == "<":
        return lambda v: v < x
    if op == "<=":
        return lambda v: v <= x
    if op == ">":
        return lambda v: v > x
    if op == ">=":
        return lambda v: v >= x
    if op == "contains":
        return lambda v: x in v
    if op == "icontains":
        lowered = str(x).lower()
        return lambda v: lowered in v.lower()
    if op == "startswith":
        return lambda v: v.startswith(x)
    if op == "endswith":
        return lambda v: v.endswith(x)
    if op in ("glob", "iglob"):
        pattern = re.compile(fnmatch.translate(str(x)), re.IGNORECASE if op == "iglob" else 0)
        return lambda v: pattern.match(v) is not None
    if op in ("bcontains", "bstartswith"):
        try:
            needle = bytes.fromhex(str(x))
        except ValueError:
            raise ValueError_(f"{x!r} is not hex bytes") from None
        if op == "bcontains":
            return lambda v: needle in v.encode("utf-8", "surrogateescape")
        return lambda v: v.encode("utf-8", "surrogateescape").startswith(needle)
    if op == "pmatch":
        return _pmatch_check(values)
    raise ValueError_(f"operator {op} is not supported")  # pragma: no cover - parser limits ops


def build(op: str, kind: Kind, getter: Getter, texts: Sequence[str], *, multi: bool) -> Predicate:
    """The predicate ``field op values``; raises :class:`ValueError_` for unsuitable values."""
    if op not in _ALLOWED[kind]:
        raise ValueError_(f"operator {op} does not apply to a {kind.value} field")
    values = convert(kind, texts)
    if op == "intersects":
        members = frozenset(values)

        def intersects(event: Event) -> bool:
            v = getter(event)
            if v is None:
                return False
            return not members.isdisjoint(v if isinstance(v, tuple) else (v,))

        return intersects
    if multi:
        check = _check(op, kind, values)

        def any_value(event: Event) -> bool:
            vs = getter(event)
            return vs is not None and any(check(v) for v in vs)

        return any_value
    return _single(op, kind, getter, values)


def _single(op: str, kind: Kind, g: Getter, values: list[Any]) -> Predicate:
    # The frequent shapes get a closure of their own: one call per evaluation, not two.
    if kind is not Kind.NET:
        x = values[0] if values else None
        if op in ("=", "=="):
            return lambda e: g(e) == x
        if op == "in":
            members = frozenset(values)
            return lambda e: g(e) in members
        if op == "startswith":

            def startswith(e: Event) -> bool:
                v = g(e)
                return v is not None and v.startswith(x)

            return startswith
        if op == "endswith":

            def endswith(e: Event) -> bool:
                v = g(e)
                return v is not None and v.endswith(x)

            return endswith
        if op == "contains":

            def contains(e: Event) -> bool:
                v = g(e)
                return v is not None and x in v

            return contains
    check = _check(op, kind, values)

    def generic(e: Event) -> bool:
        v = g(e)
        return v is not None and check(v)

    return generic
