"""Generated Python for predicates: a rule's whole condition becomes one function over the
event ``e``, with no closure call per test. Values and getters the code uses are constants in
one namespace (shared by every rule of a compilation, so the engine can fuse rules)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from vigil.detect.rules import operators
from vigil.detect.rules.compiled import Predicate
from vigil.detect.rules.fields import FieldDef, Getter, Kind
from vigil.models import Event

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Code:
    """A Python expression over the event ``e``; names in it are the namespace's constants."""

    text: str


#: a condition compiled: code, or a constant when it folds
Compiled = Code | bool

#: fields read straight from one attribute: remembering them would cost more than reading
CHEAP_FIELDS = frozenset(
    {
        "proc.exepath",
        "proc.pid",
        "proc.ppid",
        "user.uid",
        "user.euid",
        "group.gid",
        "proc.is_exe_upper_layer",
        "proc.is_exe_from_memfd",
        "proc.is_exe_from_dev_shm",
        "proc.is_exe_new",
        "evt.dir",
    }
)
_INLINE_OPS = frozenset({"=", "==", "!=", "in", "contains", "startswith", "endswith"})
_GENERATORS = itertools.count()


class CodeGen:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {}
        self._prefix = f"c{next(_GENERATORS)}_"
        self._vars = 0
        self._getters: dict[tuple[str, str | None], Getter] = {}

    def getter(self, definition: FieldDef, arg: str | None) -> Getter:
        """One getter per field and argument, shared by every rule and remembering its value
        for the last event, so a field many rules test is read once per event."""
        key = (definition.name, arg)
        found = self._getters.get(key)
        if found is None:
            assert definition.make is not None
            made = definition.make(arg)
            cheap = definition.name in CHEAP_FIELDS
            found = self._getters[key] = made if cheap else remember_last(made)
        return found

    def const(self, value: object) -> str:
        """A name in the generated code's namespace bound to ``value``."""
        name = f"{self._prefix}k{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def var(self) -> str:
        self._vars += 1
        return f"v{self._vars}"

    def function(self, compiled: Compiled, label: str) -> Predicate:
        if isinstance(compiled, bool):
            return _true if compiled else _false
        source = f"def predicate(e):\n    return bool({compiled.text})\n"
        scope: dict[str, Any] = {}
        exec(compile(source, f"<rule {label[:60]}>", "exec"), self.namespace, scope)  # noqa: S102 - our own generated code
        function: Predicate = scope["predicate"]
        return function

    def remembered(self, compiled: Code, label: str) -> Code:
        """A call of ``compiled`` as its own function that answers once per event (a macro
        used by many rules, such as vigil_in_container, is evaluated once per event)."""
        return Code(f"{self.const(remember_last(self.function(compiled, label)))}(e)")

    def inline_test(
        self, op: str, kind: Kind, getter: Getter, texts: list[str], multi: bool
    ) -> Code | None:
        """Code for the frequent comparisons; None for the rest (they call a closure)."""
        if multi or kind is Kind.NET or op not in _INLINE_OPS:
            return None
        values = operators.convert(kind, texts)
        g = self.const(getter)
        if op in ("=", "=="):
            return Code(f"({g}(e) == {self.const(values[0])})")
        if op == "in":
            return Code(f"({g}(e) in {self.const(frozenset(values))})")
        v = self.var()
        x = self.const(values[0])
        test = {
            "!=": f"{v} != {x}",
            "contains": f"{x} in {v}",
            "startswith": f"{v}.startswith({x})",
            "endswith": f"{v}.endswith({x})",
        }[op]
        return Code(f"(({v} := {g}(e)) is not None and {test})")

    def alternation(self, family: str, get: Getter, values: list[str]) -> Code:
        """One test of a field against many values of one family of operators (a set, a
        startswith tuple, a regex alternation): one read and one C-level search."""
        g = self.const(get)
        if family == "equals":
            return Code(f"({g}(e) in {self.const(frozenset(values))})")
        v = self.var()
        if family in ("startswith", "endswith"):
            return Code(
                f"(({v} := {g}(e)) is not None and {v}.{family}({self.const(tuple(values))}))"
            )
        pattern = re.compile(
            "|".join(re.escape(x) for x in values), re.IGNORECASE if family == "icontains" else 0
        )
        return Code(
            f"(({v} := {g}(e)) is not None and {self.const(pattern.search)}({v}) is not None)"
        )


def remember_last(compute: Callable[[Event], T]) -> Callable[[Event], T]:
    """``compute`` answering again for the same event without computing (predicates and
    getters are pure, and an event passes every rule before the next one comes)."""
    last: Event | None = None
    value: Any = None

    def remembered(event: Event) -> T:
        nonlocal last, value
        if event is last:
            return value  # type: ignore[no-any-return]
        value = compute(event)
        last = event
        return value  # type: ignore[no-any-return]

    return remembered


def _true(_event: Event) -> bool:
    return True


def _false(_event: Event) -> bool:
    return False
