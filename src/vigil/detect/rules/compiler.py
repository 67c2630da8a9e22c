"""A :class:`~.loader.RuleSet` → compiled rules: macros and lists expanded, exceptions
appended, every rule turned into one Python predicate (nested closures) per event type.

``evt.type`` tests are resolved at compile time: the compiler first works out which event
types a rule can match (so the engine only offers it those), then compiles the condition once
per such type with ``evt.type`` folded to a constant, so the predicate never tests it again.
Constants fold through ``and``/``or``/``not``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from vigil.detect.rules import operators
from vigil.detect.rules.ast import (
    LIST_OPERATORS,
    And,
    Compare,
    Exists,
    FieldRef,
    MacroRef,
    Node,
    Not,
    Or,
    Value,
)
from vigil.detect.rules.evttypes import ALL_TYPES, event_type_named
from vigil.detect.rules.fields import Arg, FieldDef, FieldRegistry, Getter, Kind
from vigil.detect.rules.loader import RuleSet
from vigil.detect.rules.model import ExceptionDef, RuleDef, RuleError
from vigil.detect.rules.output import OutputFormat, compile_output
from vigil.detect.rules.parser import ParseError, parse_condition
from vigil.detect.rules.source import SourceText
from vigil.models import Event, EventType

Predicate = Callable[[Event], bool]


@dataclass(frozen=True, slots=True)
class _Code:
    """A Python expression over the event ``e``; names in it are the compiler's constants.
    A rule's whole condition becomes one generated function: no closure call per test."""

    text: str


Compiled = _Code | bool
_EVT_TYPE_OPS = ("=", "==", "!=", "in")


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


@dataclass(frozen=True, slots=True)
class _Scoped:
    """A subtree from another text (a macro, an exception): positions are relative to it."""

    node: Node | _Const
    source: SourceText


@dataclass(frozen=True, slots=True)
class _Const:
    value: bool


_Tree = Node | _Scoped | _Const


@dataclass
class _RuleState:
    failed: bool = False
    missing_fields: set[str] = field(default_factory=set)
    missing_types: set[str] = field(default_factory=set)


class Compiler:
    def __init__(self, ruleset: RuleSet, registry: FieldRegistry | None = None) -> None:
        self.ruleset = ruleset
        self.registry = registry or FieldRegistry()
        self._errors: dict[tuple[str, str], RuleError] = {}
        self._macros: dict[str, Node | None] = {}
        self._state = _RuleState()
        self._getters: dict[tuple[str, str | None], Getter] = {}
        self._namespace: dict[str, Any] = {}
        self._prefix = f"c{next(_COMPILERS)}_"
        self._vars = 0
        self._compiled_macros: dict[
            tuple[str, EventType | None], tuple[Compiled, frozenset[str]]
        ] = {}

    def _getter(self, definition: FieldDef, arg: str | None) -> Getter:
        """One getter per field and argument, shared by every rule and remembering its value
        for the last event, so a field many rules test is read once per event."""
        key = (definition.name, arg)
        found = self._getters.get(key)
        if found is None:
            assert definition.make is not None
            made = definition.make(arg)
            found = self._getters[key] = made if definition.name in _CHEAP else _memo(made)
        return found

    def _const(self, value: object) -> str:
        """A name in the generated code's namespace bound to ``value``."""
        name = f"{self._prefix}k{len(self._namespace)}"
        self._namespace[name] = value
        return name

    def _var(self) -> str:
        self._vars += 1
        return f"v{self._vars}"

    def _function(self, compiled: Compiled, label: str) -> Predicate:
        if isinstance(compiled, bool):
            return _TRUE if compiled else _FALSE
        source = f"def predicate(e):\n    return bool({compiled.text})\n"
        scope: dict[str, Any] = {}
        exec(compile(source, f"<rule {label[:60]}>", "exec"), self._namespace, scope)  # noqa: S102 - our own generated code
        function: Predicate = scope["predicate"]
        return function

    def _inline_test(
        self, op: str, kind: Kind, getter: Getter, texts: list[str], multi: bool
    ) -> _Code | None:
        """Code for the frequent comparisons; None for the rest (they call a closure)."""
        if multi or kind is Kind.NET or op not in _INLINE_OPS:
            return None
        values = operators.convert(kind, texts)
        g = self._const(getter)
        if op in ("=", "=="):
            return _Code(f"({g}(e) == {self._const(values[0])})")
        if op == "in":
            return _Code(f"({g}(e) in {self._const(frozenset(values))})")
        v = self._var()
        x = self._const(values[0])
        test = {
            "!=": f"{v} != {x}",
            "contains": f"{x} in {v}",
            "startswith": f"{v}.startswith({x})",
            "endswith": f"{v}.endswith({x})",
        }[op]
        return _Code(f"(({v} := {g}(e)) is not None and {test})")

    def _alternation(self, family: str, get: Getter, values: list[str]) -> _Code:
        g = self._const(get)
        if family == "equals":
            return _Code(f"({g}(e) in {self._const(frozenset(values))})")
        v = self._var()
        if family in ("startswith", "endswith"):
            return _Code(
                f"(({v} := {g}(e)) is not None and {v}.{family}({self._const(tuple(values))}))"
            )
        pattern = re.compile(
            "|".join(re.escape(x) for x in values), re.IGNORECASE if family == "icontains" else 0
        )
        return _Code(
            f"(({v} := {g}(e)) is not None and {self._const(pattern.search)}({v}) is not None)"
        )

    # -- errors -----------------------------------------------------------------------------
    def _error(self, source: SourceText, pos: int, message: str) -> None:
        self._state.failed = True
        error = RuleError(source.locate(pos), message)
        self._errors.setdefault((str(error.location), message), error)

    # -- entry points -----------------------------------------------------------------------
    def compile_all(self, *, include_disabled: bool = False) -> Compilation:
        """Compile every enabled rule (and the disabled ones too when asked, for reports)."""
        for name in self.ruleset.macros:
            self._macro(name)  # every macro's syntax is checked, used or not
        compiled, skipped, disabled = [], [], []
        for rule in self.ruleset.rules:
            if not rule.enabled:
                disabled.append(rule)
                if not include_disabled:
                    continue
            if rule.source != "syscall":
                skipped.append(rule)
                continue
            result = self.compile_rule(rule)
            if result is not None:
                compiled.append(result)
        order = {path: index for index, path in enumerate(self.ruleset.files)}
        errors = sorted(
            (*self.ruleset.errors, *self._errors.values()),
            key=lambda e: (order.get(e.location.path, -1), e.location.line, e.location.column),
        )
        return Compilation(tuple(compiled), tuple(errors), tuple(skipped), tuple(disabled))

    def compile_rule(self, rule: RuleDef) -> CompiledRule | None:
        self._state = state = _RuleState()
        tree: _Tree | None = self._parse(rule.condition)
        if tree is None:
            return None
        if rule.exceptions:
            silencers = [self._exception(rule, exc) for exc in rule.exceptions]
            # _Scoped subtrees ride inside the tree: the compiler walks both kinds alike.
            kept = tuple(cast(Node, s) for s in silencers if s is not None)
            tree = And((cast(Node, tree), Not(Or(kept))))
        source = rule.condition
        types, _exact = self._types(tree, source)
        predicates: dict[EventType, Predicate] = {}
        code: dict[EventType, str] = {}
        shared = self._compile(tree, source, None) if types == ALL_TYPES else None
        for etype in sorted(types):
            compiled = shared if shared is not None else self._compile(tree, source, etype)
            if compiled is not False:
                predicates[etype] = self._function(compiled, rule.name)
                code[etype] = compiled.text if isinstance(compiled, _Code) else "True"

        def unknown(name: str, offset: int) -> None:
            state.failed = True
            error = RuleError(
                rule.output_location, f"rule {rule.name!r}: output names unknown field {name!r}"
            )
            self._errors.setdefault((str(error.location), error.message), error)

        output, missing_output = compile_output(rule.output, self.registry, unknown)
        if state.failed:
            return None
        key = self._dispatch_key(tree, source)
        return CompiledRule(
            definition=rule,
            predicates=predicates,
            output=output,
            unsupported_fields=frozenset(state.missing_fields),
            unsupported_types=frozenset(state.missing_types),
            unsupported_output_fields=frozenset(missing_output - state.missing_fields),
            key=key,
            code=code,
            namespace=self._namespace,
        )

    def _dispatch_key(
        self, tree: _Tree, source: SourceText
    ) -> tuple[str, Getter, frozenset[str]] | None:
        found: dict[str, frozenset[str]] = {}
        for term in self._conjuncts(tree, ()):
            if not isinstance(term, Compare) or term.op not in ("=", "==", "in"):
                continue
            if term.field.name not in _KEY_FIELDS or term.field.arg is not None:
                continue
            values = frozenset(
                self._list_values(term.values) if term.op == "in" else [term.values[0].text]
            )
            found.setdefault(term.field.name, values)
        for name in _KEY_FIELDS:
            if name in found:
                looked_up = self.registry.lookup(name)
                assert looked_up is not None
                return name, self._getter(looked_up[0], None), found[name]
        return None

    def _conjuncts(self, node: _Tree, stack: tuple[str, ...]) -> list[Node]:
        """Terms that must all hold for ``node`` to hold (through macros and parentheses)."""
        if isinstance(node, _Scoped):
            return self._conjuncts(node.node, stack)
        if isinstance(node, MacroRef) and node.name not in stack:
            expanded = self._expand_quietly(node)
            return [] if expanded is None else self._conjuncts(expanded.node, (*stack, node.name))
        if isinstance(node, And):
            return [t for term in node.terms for t in self._conjuncts(term, stack)]
        return [node] if isinstance(node, Compare) else []

    # -- parsing and expansion --------------------------------------------------------------
    def _parse(self, source: SourceText) -> Node | None:
        try:
            return parse_condition(source.text)
        except ParseError as exc:
            self._error(source, exc.pos, str(exc))
            return None

    def _macro(self, name: str) -> Node | None:
        if name not in self._macros:
            macro = self.ruleset.macros[name]
            failed = self._state.failed
            self._macros[name] = self._parse(macro.condition)
            self._state.failed = failed  # a broken macro fails the rules that use it, below
        return self._macros[name]

    def _expand(self, ref: MacroRef, source: SourceText, stack: tuple[str, ...]) -> _Scoped | None:
        if ref.name in stack:
            self._error(
                source,
                ref.pos,
                f"macro {ref.name!r} refers to itself ({' → '.join((*stack, ref.name))})",
            )
            return None
        if ref.name not in self.ruleset.macros:
            what = "a list, not a macro" if ref.name in self.ruleset.lists else "undefined"
            self._error(source, ref.pos, f"macro {ref.name!r} is {what}")
            return None
        node = self._macro(ref.name)
        if node is None:
            self._state.failed = True
            return None
        return _Scoped(node, self.ruleset.macros[ref.name].condition)

    def _list_values(self, values: tuple[Value, ...], seen: tuple[str, ...] = ()) -> list[str]:
        expanded: list[str] = []
        for value in values:
            found = None if value.quoted else self.ruleset.lists.get(value.text)
            if found is None or value.text in seen:
                expanded.append(value.text)
                continue
            items = tuple(Value(*_unquote(item), pos=value.pos) for item in found.items)
            expanded.extend(self._list_values(items, (*seen, value.text)))
        return expanded

    def _exception(self, rule: RuleDef, exc: ExceptionDef) -> _Scoped | None:
        source = SourceText.at(exc.location)
        if not exc.fields:
            self._error(
                source,
                0,
                f"rule {rule.name!r}: exception {exc.name!r} adds values to no earlier exception",
            )
            return None
        refs = []
        for name in exc.fields:
            base, _, arg = name.partition("[")
            refs.append(FieldRef(base, arg.rstrip("]") or None, 0))
        rows: list[Node] = []
        if exc.single:
            comp = exc.comps[0]
            flat = [cell for row in exc.values for cell in row]
            texts: list[str] = []
            for cell in flat:
                texts.extend(cell if isinstance(cell, tuple) else (cell,))
            values = tuple(Value(t, False, 0) for t in texts)
            if comp in LIST_OPERATORS:
                rows.append(Compare(refs[0], comp, values))
            else:
                rows.extend(Compare(refs[0], comp, (v,)) for v in values)
        else:
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
        if not rows:
            return _Scoped(_Const(False), source)
        return _Scoped(Or(tuple(rows)), source)

    # -- event types ------------------------------------------------------------------------
    def _types(  # noqa: PLR0911 - one return per node kind
        self, node: _Tree, source: SourceText, stack: tuple[str, ...] = ()
    ) -> tuple[frozenset[EventType], bool]:
        """Event types ``node`` can match (an over-approximation), and whether ``node`` is
        exactly a test of evt.type (then ``not`` may take the complement)."""
        if isinstance(node, _Const):
            return (ALL_TYPES if node.value else frozenset()), True
        if isinstance(node, _Scoped):
            return self._types(node.node, node.source, stack)
        if isinstance(node, Compare):
            if (
                node.field.name == "evt.type"
                and node.field.arg is None
                and node.op in _EVT_TYPE_OPS
            ):
                names = self._list_values(node.values)
                self._state.missing_types.update(n for n in names if event_type_named(n) is None)
                named = frozenset(t for n in names if (t := event_type_named(n)) is not None)
                return (ALL_TYPES - named if node.op == "!=" else named), True
            return ALL_TYPES, False
        if isinstance(node, Exists):
            return ALL_TYPES, False
        if isinstance(node, MacroRef):
            if node.name in stack:
                return ALL_TYPES, False
            expanded = self._expand_quietly(node)
            if expanded is None:
                return ALL_TYPES, False
            return self._types(expanded.node, expanded.source, (*stack, node.name))
        if isinstance(node, Not):
            inner, exact = self._types(node.term, source, stack)
            return (ALL_TYPES - inner, True) if exact else (ALL_TYPES, False)
        parts = [self._types(t, source, stack) for t in node.terms]
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

    def _expand_quietly(self, ref: MacroRef) -> _Scoped | None:
        if ref.name not in self.ruleset.macros:
            return None
        failed = self._state.failed
        node = self._macro(ref.name)
        self._state.failed = failed
        return None if node is None else _Scoped(node, self.ruleset.macros[ref.name].condition)

    # -- compilation ------------------------------------------------------------------------
    def _compile(  # noqa: PLR0911 - one return per node kind
        self, node: _Tree, source: SourceText, etype: EventType | None, stack: tuple[str, ...] = ()
    ) -> Compiled:
        if isinstance(node, _Const):
            return node.value
        if isinstance(node, _Scoped):
            return self._compile(node.node, node.source, etype, stack)
        if isinstance(node, MacroRef):
            cached = self._compiled_macros.get((node.name, etype))
            if cached is not None:
                self._state.missing_fields.update(cached[1])
                return cached[0]
            expanded = self._expand(node, source, stack)
            if expanded is None:
                return False
            failed, missing = self._state.failed, set(self._state.missing_fields)
            self._state.failed = False
            result = self._compile(expanded.node, expanded.source, etype, (*stack, node.name))
            if not self._state.failed:
                # A macro used by many rules (vigil_in_container) is evaluated once per event.
                if not isinstance(result, bool):
                    memo = _memo_predicate(self._function(result, node.name))
                    result = _Code(f"{self._const(memo)}(e)")
                used = frozenset(self._state.missing_fields - missing)
                self._compiled_macros[(node.name, etype)] = (result, used)
            self._state.failed = self._state.failed or failed
            return result
        if isinstance(node, Not):
            inner = self._compile(node.term, source, etype, stack)
            if isinstance(inner, bool):
                return not inner
            return _Code(f"(not {inner.text})")
        if isinstance(node, And | Or):
            is_and = isinstance(node, And)
            terms: list[_Code] = []
            decided = False
            rest: tuple[_Tree, ...] = _flatten(node)
            if is_and:
                # A rule's own tests first, shared macros (memoised, nearly always true, such
                # as vigil_in_container) last: most events fail on the rule's own test and
                # never pay for the shared ones. Predicates are pure, so order is free.
                rest = tuple(sorted(rest, key=lambda t: isinstance(t, MacroRef)))
            else:
                terms, rest = self._merge_alternatives(rest, source)
            for term in rest:
                # Every term is compiled, even after the result is decided, so that all of
                # a rule's errors are found in one pass.
                compiled = self._compile(term, source, etype, stack)
                if compiled is (not is_and):  # False in an and, True in an or: decided
                    decided = True
                elif not isinstance(compiled, bool):
                    terms.append(compiled)
            if decided:
                return not is_and
            if not terms:
                return is_and
            if len(terms) == 1:
                return terms[0]
            joiner = " and " if is_and else " or "
            return _Code("(" + joiner.join(t.text for t in terms) + ")")
        if isinstance(node, Exists):
            return self._field_test(node.field, "exists", (), source, etype)
        return self._field_test(node.field, node.op, node.values, source, etype)

    def _merge_alternatives(
        self, alternatives: tuple[_Tree, ...], source: SourceText
    ) -> tuple[list[_Code], tuple[_Tree, ...]]:
        """``f contains a or f contains b or …`` → one test of ``f`` (a regex alternation,
        a startswith tuple, a set): one field read and one C-level search instead of many."""
        groups: dict[tuple[str, str], list[str]] = {}
        getters: dict[tuple[str, str], Getter] = {}
        rest: list[_Tree] = []
        for term in alternatives:
            inner = term.node if isinstance(term, _Scoped) else term
            family = _MERGEABLE.get(inner.op) if isinstance(inner, Compare) else None
            found = self.registry.lookup(inner.field.name) if isinstance(inner, Compare) else None
            if (
                not isinstance(inner, Compare)
                or family is None
                or found is None
                or found[0].kind is not Kind.STR
                or found[0].make is None
                or found[0].multi
                or inner.field.arg is not None
                or found[1] is not None
                or inner.field.name in ("evt.type", "syscall.type")
            ):
                rest.append(term)
                continue
            key = (inner.field.name, family)
            getters[key] = self._getter(found[0], None)
            values = (
                self._list_values(inner.values)
                if inner.op in LIST_OPERATORS
                else [v.text for v in inner.values]
            )
            groups.setdefault(key, []).extend(values)
        merged = [self._alternation(key[1], getters[key], values) for key, values in groups.items()]
        return merged, tuple(rest)

    def _field_test(  # noqa: PLR0911 - every check ends the test
        self,
        ref: FieldRef,
        op: str,
        values: tuple[Value, ...],
        source: SourceText,
        etype: EventType | None,
    ) -> Compiled:
        texts = self._list_values(values) if op in LIST_OPERATORS else [v.text for v in values]
        if ref.name == "evt.type" and ref.arg is None and op in _EVT_TYPE_OPS:
            return self._evt_type_test(op, texts, etype)
        found = self.registry.lookup(ref.name)
        if found is None:
            self._error(source, ref.pos, f"unknown field {str(ref)!r}")
            return False
        definition, carried = found
        arg = ref.arg if ref.arg is not None else carried
        if definition.make is None:
            self._state.missing_fields.add(definition.name)
            return False
        if arg is None and definition.arg is Arg.REQUIRED:
            self._error(
                source,
                ref.pos,
                f"field {definition.name!r} needs an argument, e.g. {definition.name}[NAME]",
            )
            return False
        if arg is not None and definition.arg is Arg.NONE:
            self._error(source, ref.pos, f"field {definition.name!r} takes no argument")
            return False
        try:
            getter = self._getter(definition, arg)
        except ValueError:
            self._error(source, ref.pos, f"field {str(ref)!r}: bad argument {arg!r}")
            return False
        multi = definition.multi and arg is None
        if op == "exists":
            return _Code(f"({self._const(getter)}(e) is not None)")
        try:
            inline = self._inline_test(op, definition.kind, getter, texts, multi)
            if inline is not None:
                return inline
            return _Code(
                f"{self._const(operators.build(op, definition.kind, getter, texts, multi=multi))}"
                "(e)"
            )
        except operators.ValueError_ as exc:
            pos = values[min(exc.index, len(values) - 1)].pos if values else ref.pos
            if op in LIST_OPERATORS and definition.kind is not Kind.STR:
                pos = values[0].pos if values else ref.pos
            self._error(source, pos, f"{ref}: {exc}")
            return False

    def _evt_type_test(self, op: str, names: list[str], etype: EventType | None) -> Compiled:
        selected: set[EventType] = set()
        for name in names:
            found = event_type_named(name)
            if found is None:
                self._state.missing_types.add(name)
            else:
                selected.add(found)
        if etype is not None:
            inside = etype in selected
            return not inside if op == "!=" else inside
        members = frozenset(selected)
        negation = "not " if op == "!=" else ""
        return _Code(f"(e.type {negation}in {self._const(members)})")


#: fields worth dispatching on, best first
_KEY_FIELDS = ("proc.name", "fd.filename", "fd.name", "fd.sip", "dns.name", "proc.pname")

_MERGEABLE = {
    "contains": "contains",
    "icontains": "icontains",
    "startswith": "startswith",
    "endswith": "endswith",
    "=": "equals",
    "==": "equals",
    "in": "equals",
}


def _flatten(node: And | Or) -> tuple[_Tree, ...]:
    """``a and (b and c)`` → ``(a, b, c)``: one closure instead of nested ones."""
    kind = type(node)
    flat: list[_Tree] = []
    for term in node.terms:
        if isinstance(term, kind):
            flat.extend(_flatten(term))
        else:
            flat.append(term)
    return tuple(flat)


def _memo_predicate(predicate: Predicate) -> Predicate:
    last: Event | None = None
    value = False

    def remembered(event: Event) -> bool:
        nonlocal last, value
        if event is last:
            return value
        value = predicate(event)
        last = event
        return value

    return remembered


def _memo(getter: Getter) -> Getter:
    last: Event | None = None
    value: Any = None

    def remembered(event: Event) -> Any:
        nonlocal last, value
        if event is last:
            return value
        value = getter(event)
        last = event
        return value

    return remembered


def _unquote(item: str) -> tuple[str, bool]:
    """List items are condition text: ``'"(systemd)"'`` in YAML is the string ``(systemd)``."""
    if len(item) >= 2 and item[0] == item[-1] and item[0] in "\"'":
        return item[1:-1], True
    return item, False


def _TRUE(_event: Event) -> bool:
    return True


def _FALSE(_event: Event) -> bool:
    return False


#: fields read straight from one attribute: remembering them would cost more than reading
_CHEAP = frozenset(
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
_COMPILERS = itertools.count()
_INLINE_OPS = frozenset({"=", "==", "!=", "in", "contains", "startswith", "endswith"})


def compile_ruleset(
    ruleset: RuleSet, registry: FieldRegistry | None = None, *, include_disabled: bool = False
) -> Compilation:
    return Compiler(ruleset, registry).compile_all(include_disabled=include_disabled)


__all__ = ["Compilation", "CompiledRule", "Compiler", "compile_ruleset"]
