"""Names a condition refers to: macros (parsed once, expanded where used) and lists (their
items spliced into ``in (…)``), with the cycle and undefined-name errors."""

from __future__ import annotations

from dataclasses import dataclass

from vigil.detect.rules.ast import MacroRef, Node, Value
from vigil.detect.rules.diagnostics import Diagnostics
from vigil.detect.rules.loader import RuleSet
from vigil.detect.rules.parser import ParseError, parse_condition
from vigil.detect.rules.source import SourceText


@dataclass(frozen=True, slots=True)
class Const:
    value: bool


@dataclass(frozen=True, slots=True)
class Scoped:
    """A subtree from another text (a macro, an exception): positions are relative to it."""

    node: Node | Const
    source: SourceText


Tree = Node | Scoped | Const


class Resolver:
    def __init__(self, ruleset: RuleSet, diagnostics: Diagnostics) -> None:
        self.ruleset = ruleset
        self.diagnostics = diagnostics
        self._macros: dict[str, Node | None] = {}

    def parse(self, source: SourceText) -> Node | None:
        try:
            return parse_condition(source.text)
        except ParseError as exc:
            self.diagnostics.error(source, exc.pos, str(exc))
            return None

    def macro(self, name: str) -> Node | None:
        """Macro ``name``'s tree, parsed once (``None`` when it does not parse)."""
        if name not in self._macros:
            with self.diagnostics.not_failing_rule():
                self._macros[name] = self.parse(self.ruleset.macros[name].condition)
        return self._macros[name]

    def expand(self, ref: MacroRef, source: SourceText, stack: tuple[str, ...]) -> Scoped | None:
        """``ref``'s macro, or ``None`` with an error (a cycle, an undefined name, a broken
        macro); ``stack`` is the macros being expanded around it."""
        if ref.name in stack:
            self.diagnostics.error(
                source,
                ref.pos,
                f"macro {ref.name!r} refers to itself ({' → '.join((*stack, ref.name))})",
            )
            return None
        if ref.name not in self.ruleset.macros:
            what = "a list, not a macro" if ref.name in self.ruleset.lists else "undefined"
            self.diagnostics.error(source, ref.pos, f"macro {ref.name!r} is {what}")
            return None
        node = self.macro(ref.name)
        if node is None:
            self.diagnostics.rule.failed = True
            return None
        return Scoped(node, self.ruleset.macros[ref.name].condition)

    def expand_quietly(self, ref: MacroRef) -> Scoped | None:
        """``ref``'s macro for analysis; errors are left to :meth:`expand`."""
        if ref.name not in self.ruleset.macros:
            return None
        with self.diagnostics.not_failing_rule():
            node = self.macro(ref.name)
        return None if node is None else Scoped(node, self.ruleset.macros[ref.name].condition)

    def list_values(self, values: tuple[Value, ...], seen: tuple[str, ...] = ()) -> list[str]:
        """``values`` with every unquoted list name replaced by the list's items (nested)."""
        expanded: list[str] = []
        for value in values:
            found = None if value.quoted else self.ruleset.lists.get(value.text)
            if found is None or value.text in seen:
                expanded.append(value.text)
                continue
            items = tuple(Value(*_unquote(item), pos=value.pos) for item in found.items)
            expanded.extend(self.list_values(items, (*seen, value.text)))
        return expanded


def _unquote(item: str) -> tuple[str, bool]:
    """List items are condition text: ``'"(systemd)"'`` in YAML is the string ``(systemd)``."""
    if len(item) >= 2 and item[0] == item[-1] and item[0] in "\"'":
        return item[1:-1], True
    return item, False
