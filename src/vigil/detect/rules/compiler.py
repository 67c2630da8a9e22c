"""A :class:`~.loader.RuleSet` → compiled rules: macros and lists expanded, exceptions
appended, every rule turned into one Python predicate per event type.

``evt.type`` tests are resolved at compile time: the compiler first works out which event
types a rule can match (:mod:`.type_analysis`, so the engine only offers it those), then
compiles the condition once per such type with ``evt.type`` folded to a constant, so the
predicate never tests it again. Constants fold through ``and``/``or``/``not``.

The parts: :mod:`.resolve` (macros and lists), :mod:`.rule_exceptions` (Falco exceptions →
a silencing condition), :mod:`.codegen` (the generated code), :mod:`.dispatch` (the value
index key), :mod:`.output` (the output format), :mod:`.diagnostics` (errors and what vigil
cannot fill). This module walks the condition tree.
"""

from __future__ import annotations

from typing import cast

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
from vigil.detect.rules.codegen import Code, CodeGen, Compiled
from vigil.detect.rules.compiled import Compilation, CompiledRule, Predicate
from vigil.detect.rules.diagnostics import Diagnostics
from vigil.detect.rules.dispatch import dispatch_values
from vigil.detect.rules.evttypes import ALL_TYPES, event_type_named
from vigil.detect.rules.fields import Arg, FieldRegistry, Getter, Kind
from vigil.detect.rules.loader import RuleSet
from vigil.detect.rules.model import RuleDef, RuleError
from vigil.detect.rules.output import compile_output
from vigil.detect.rules.resolve import Const, Resolver, Scoped, Tree
from vigil.detect.rules.rule_exceptions import exception_tree
from vigil.detect.rules.source import SourceText
from vigil.detect.rules.type_analysis import is_evt_type_test, matchable_types
from vigil.models import EventType

#: operator → the family of alternatives ``a or b or …`` can merge into
_MERGEABLE = {
    "contains": "contains",
    "icontains": "icontains",
    "startswith": "startswith",
    "endswith": "endswith",
    "=": "equals",
    "==": "equals",
    "in": "equals",
}


class Compiler:
    def __init__(self, ruleset: RuleSet, registry: FieldRegistry | None = None) -> None:
        self.ruleset = ruleset
        self.registry = registry or FieldRegistry()
        self.diagnostics = Diagnostics()
        self.resolver = Resolver(ruleset, self.diagnostics)
        self.code = CodeGen()
        self._compiled_macros: dict[
            tuple[str, EventType | None], tuple[Compiled, frozenset[str]]
        ] = {}

    # -- entry points -----------------------------------------------------------------------
    def compile_all(self, *, include_disabled: bool = False) -> Compilation:
        """Compile every enabled rule (and the disabled ones too when asked, for reports)."""
        for name in self.ruleset.macros:
            self.resolver.macro(name)  # every macro's syntax is checked, used or not
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
            (*self.ruleset.errors, *self.diagnostics.errors.values()),
            key=lambda e: (order.get(e.location.path, -1), e.location.line, e.location.column),
        )
        return Compilation(tuple(compiled), tuple(errors), tuple(skipped), tuple(disabled))

    def compile_rule(self, rule: RuleDef) -> CompiledRule | None:
        state = self.diagnostics.start_rule()
        tree: Tree | None = self.resolver.parse(rule.condition)
        if tree is None:
            return None
        if rule.exceptions:
            silencers = [exception_tree(rule, exc, self.diagnostics) for exc in rule.exceptions]
            # Scoped subtrees ride inside the tree: the compiler walks both kinds alike.
            kept = tuple(cast(Node, s) for s in silencers if s is not None)
            tree = And((cast(Node, tree), Not(Or(kept))))
        source = rule.condition
        types, _exact = matchable_types(tree, self.resolver, state.missing_types)
        predicates: dict[EventType, Predicate] = {}
        code: dict[EventType, str] = {}
        shared = self._compile(tree, source, None) if types == ALL_TYPES else None
        for etype in sorted(types):
            compiled = shared if shared is not None else self._compile(tree, source, etype)
            if compiled is not False:
                predicates[etype] = self.code.function(compiled, rule.name)
                code[etype] = compiled.text if isinstance(compiled, Code) else "True"

        def unknown(name: str, _offset: int) -> None:
            self.diagnostics.report(
                RuleError(
                    rule.output_location, f"rule {rule.name!r}: output names unknown field {name!r}"
                )
            )

        output, missing_output = compile_output(rule.output, self.registry, unknown)
        if state.failed:
            return None
        return CompiledRule(
            definition=rule,
            predicates=predicates,
            output=output,
            unsupported_fields=frozenset(state.missing_fields),
            unsupported_types=frozenset(state.missing_types),
            unsupported_output_fields=frozenset(missing_output - state.missing_fields),
            key=self._dispatch_key(tree),
            code=code,
            namespace=self.code.namespace,
        )

    def _dispatch_key(self, tree: Tree) -> tuple[str, Getter, frozenset[str]] | None:
        found = dispatch_values(tree, self.resolver)
        if found is None:
            return None
        name, values = found
        looked_up = self.registry.lookup(name)
        assert looked_up is not None
        return name, self.code.getter(looked_up[0], None), values

    # -- compilation ------------------------------------------------------------------------
    def _compile(  # noqa: PLR0911 - one return per node kind
        self, node: Tree, source: SourceText, etype: EventType | None, stack: tuple[str, ...] = ()
    ) -> Compiled:
        if isinstance(node, Const):
            return node.value
        if isinstance(node, Scoped):
            return self._compile(node.node, node.source, etype, stack)
        if isinstance(node, MacroRef):
            return self._compile_macro(node, source, etype, stack)
        if isinstance(node, Not):
            inner = self._compile(node.term, source, etype, stack)
            if isinstance(inner, bool):
                return not inner
            return Code(f"(not {inner.text})")
        if isinstance(node, And | Or):
            return self._compile_junction(node, source, etype, stack)
        if isinstance(node, Exists):
            return self._field_test(node.field, "exists", (), source, etype)
        return self._field_test(node.field, node.op, node.values, source, etype)

    def _compile_macro(
        self, node: MacroRef, source: SourceText, etype: EventType | None, stack: tuple[str, ...]
    ) -> Compiled:
        state = self.diagnostics.rule
        cached = self._compiled_macros.get((node.name, etype))
        if cached is not None:
            state.missing_fields.update(cached[1])
            return cached[0]
        expanded = self.resolver.expand(node, source, stack)
        if expanded is None:
            return False
        failed, missing = state.failed, set(state.missing_fields)
        state.failed = False
        result = self._compile(expanded.node, expanded.source, etype, (*stack, node.name))
        if not state.failed:
            if not isinstance(result, bool):
                result = self.code.remembered(result, node.name)
            used = frozenset(state.missing_fields - missing)
            self._compiled_macros[(node.name, etype)] = (result, used)
        state.failed = state.failed or failed
        return result

    def _compile_junction(
        self, node: And | Or, source: SourceText, etype: EventType | None, stack: tuple[str, ...]
    ) -> Compiled:
        is_and = isinstance(node, And)
        terms: list[Code] = []
        decided = False
        rest: tuple[Tree, ...] = _flatten(node)
        if is_and:
            # A rule's own tests first, shared macros (memoised, nearly always true, such
            # as vigil_in_container) last: most events fail on the rule's own test and
            # never pay for the shared ones. Predicates are pure, so order is free.
            rest = tuple(sorted(rest, key=lambda t: isinstance(t, MacroRef)))
        else:
            terms, rest = self._merge_alternatives(rest)
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
        return Code("(" + joiner.join(t.text for t in terms) + ")")

    def _merge_alternatives(
        self, alternatives: tuple[Tree, ...]
    ) -> tuple[list[Code], tuple[Tree, ...]]:
        """``f contains a or f contains b or …`` → one test of ``f`` (a regex alternation,
        a startswith tuple, a set): one field read and one C-level search instead of many."""
        groups: dict[tuple[str, str], list[str]] = {}
        getters: dict[tuple[str, str], Getter] = {}
        rest: list[Tree] = []
        for term in alternatives:
            inner = term.node if isinstance(term, Scoped) else term
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
            getters[key] = self.code.getter(found[0], None)
            values = (
                self.resolver.list_values(inner.values)
                if inner.op in LIST_OPERATORS
                else [v.text for v in inner.values]
            )
            groups.setdefault(key, []).extend(values)
        merged = [
            self.code.alternation(key[1], getters[key], values) for key, values in groups.items()
        ]
        return merged, tuple(rest)

    def _field_test(  # noqa: PLR0911 - every check ends the test
        self,
        ref: FieldRef,
        op: str,
        values: tuple[Value, ...],
        source: SourceText,
        etype: EventType | None,
    ) -> Compiled:
        texts = (
            self.resolver.list_values(values) if op in LIST_OPERATORS else [v.text for v in values]
        )
        if is_evt_type_test(ref, op):
            return self._evt_type_test(op, texts, etype)
        found = self.registry.lookup(ref.name)
        error = self.diagnostics.error
        if found is None:
            error(source, ref.pos, f"unknown field {str(ref)!r}")
            return False
        definition, carried = found
        arg = ref.arg if ref.arg is not None else carried
        if definition.make is None:
            self.diagnostics.rule.missing_fields.add(definition.name)
            return False
        if arg is None and definition.arg is Arg.REQUIRED:
            name = definition.name
            error(source, ref.pos, f"field {name!r} needs an argument, e.g. {name}[NAME]")
            return False
        if arg is not None and definition.arg is Arg.NONE:
            error(source, ref.pos, f"field {definition.name!r} takes no argument")
            return False
        try:
            getter = self.code.getter(definition, arg)
        except ValueError:
            error(source, ref.pos, f"field {str(ref)!r}: bad argument {arg!r}")
            return False
        multi = definition.multi and arg is None
        if op == "exists":
            return Code(f"({self.code.const(getter)}(e) is not None)")
        try:
            inline = self.code.inline_test(op, definition.kind, getter, texts, multi)
            if inline is not None:
                return inline
            test = operators.build(op, definition.kind, getter, texts, multi=multi)
            return Code(f"{self.code.const(test)}(e)")
        except operators.ValueError_ as exc:
            pos = values[min(exc.index, len(values) - 1)].pos if values else ref.pos
            if op in LIST_OPERATORS and definition.kind is not Kind.STR:
                pos = values[0].pos if values else ref.pos
            error(source, pos, f"{ref}: {exc}")
            return False

    def _evt_type_test(self, op: str, names: list[str], etype: EventType | None) -> Compiled:
        selected: set[EventType] = set()
        for name in names:
            found = event_type_named(name)
            if found is None:
                self.diagnostics.rule.missing_types.add(name)
            else:
                selected.add(found)
        if etype is not None:
            inside = etype in selected
            return not inside if op == "!=" else inside
        members = frozenset(selected)
        negation = "not " if op == "!=" else ""
        return Code(f"(e.type {negation}in {self.code.const(members)})")


def _flatten(node: And | Or) -> tuple[Tree, ...]:
    """``a and (b and c)`` → ``(a, b, c)``: one test instead of nested ones."""
    kind = type(node)
    flat: list[Tree] = []
    for term in node.terms:
        if isinstance(term, kind):
            flat.extend(_flatten(term))
        else:
            flat.append(term)
    return tuple(flat)


def compile_ruleset(
    ruleset: RuleSet, registry: FieldRegistry | None = None, *, include_disabled: bool = False
) -> Compilation:
    return Compiler(ruleset, registry).compile_all(include_disabled=include_disabled)


__all__ = ["Compilation", "CompiledRule", "Compiler", "Predicate", "compile_ruleset"]
