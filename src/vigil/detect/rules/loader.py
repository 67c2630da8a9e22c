"""Rule files (YAML) → a :class:`RuleSet` of lists, macros and rules, with every error.

Follows Falco's file format: a YAML list of ``rule``, ``macro`` and ``list`` items (plus
``required_engine_version``/``required_plugin_versions``, accepted and ignored), later items
and files amending earlier ones with ``append: true`` or ``override: {key: append|replace}``,
a rule item with only ``enabled`` toggling an existing rule. Errors are collected, never
raised one by one, each with file:line:column (as pySigma does), so one run shows them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from vigil.detect.rules.model import (
    PRIORITIES,
    PROFILE_KINDS,
    ExceptionDef,
    ListDef,
    MacroDef,
    RuleDef,
    RuleError,
)
from vigil.detect.rules.source import Fragment, SourceText
from vigil.errors import truncate
from vigil.yamlnodes import Location, YamlSyntaxError, compose, locate, scalar

_RULE_KEYS = (
    "rule",
    "desc",
    "condition",
    "output",
    "priority",
    "tags",
    "enabled",
    "exceptions",
    "source",
    "append",
    "override",
    "warn_evttypes",
    "skip-if-unknown-filter",
    "capture",
    "capture_duration",
    "profile",
)
_MACRO_KEYS = ("macro", "condition", "append", "override")
_LIST_KEYS = ("list", "items", "append", "override")
_IGNORED_ITEMS = ("required_engine_version", "required_plugin_versions")
#: keys an override may name, and how
_OVERRIDABLE: dict[str, dict[str, tuple[str, ...]]] = {
    "rule": {
        "condition": ("append", "replace"),
        "exceptions": ("append", "replace"),
        "output": ("append", "replace"),
        "desc": ("append", "replace"),
        "priority": ("replace",),
        "tags": ("append", "replace"),
        "enabled": ("replace",),
        "profile": ("replace",),
    },
    "macro": {"condition": ("append", "replace")},
    "list": {"items": ("append", "replace")},
}


@dataclass(frozen=True, slots=True)
class RuleSet:
    lists: Mapping[str, ListDef]
    macros: Mapping[str, MacroDef]
    rules: tuple[RuleDef, ...]
    errors: tuple[RuleError, ...]
    files: tuple[str, ...] = ()


@dataclass
class RuleSetBuilder:
    """Loads files in order into one rule set; later files amend earlier ones."""

    lists: dict[str, ListDef] = field(default_factory=dict)
    macros: dict[str, MacroDef] = field(default_factory=dict)
    rules: dict[str, RuleDef] = field(default_factory=dict)
    errors: list[RuleError] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def load_file(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.errors.append(RuleError(Location(str(path)), f"cannot read: {truncate(exc, 120)}"))
            return
        self.load_text(text, str(path))

    def load_text(self, text: str, path: str) -> None:
        self.files.append(path)
        _FileLoader(self, text, path).load()

    def build(self) -> RuleSet:
        return RuleSet(
            lists=dict(self.lists),
            macros=dict(self.macros),
            rules=tuple(self.rules.values()),
            errors=tuple(self.errors),
            files=tuple(self.files),
        )


def load_rule_files(paths: Iterable[Path]) -> RuleSet:
    builder = RuleSetBuilder()
    for path in paths:
        builder.load_file(path)
    return builder.build()


def load_rule_text(text: str, path: str = "<rules>") -> RuleSet:
    builder = RuleSetBuilder()
    builder.load_text(text, path)
    return builder.build()


class _FileLoader:
    def __init__(self, into: RuleSetBuilder, text: str, path: str) -> None:
        self.into = into
        self.text = text
        self.path = path

    # -- helpers ----------------------------------------------------------------------------
    def loc(self, node: yaml.Node) -> Location:
        return locate(node, self.path)

    def error(self, node: yaml.Node | Location, message: str) -> None:
        where = node if isinstance(node, Location) else self.loc(node)
        self.into.errors.append(RuleError(where, message))

    def fragment(self, node: yaml.ScalarNode) -> Fragment:
        return Fragment(
            str(node.value), self.path, self.text, node.start_mark.index, node.end_mark.index
        )

    def scalar(self, node: yaml.Node, what: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, f"{what} must be a single value")
            return None
        try:
            return scalar(node, self.path)  # a bare `=` (exception comps) stays the string
        except YamlSyntaxError as exc:  # an explicit tag that cannot build its value
            self.error(exc.location, exc.problem)
            return None

    def string(self, node: yaml.Node, what: str) -> str | None:
        value = self.scalar(node, what)
        if value is None:
            return None
        return str(value)

    def strings(self, node: yaml.Node, what: str) -> tuple[str, ...] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{what} must be a list")
            return None
        values = []
        for item in node.value:
            value = self.scalar(item, f"an item of {what}")
            if value is not None:
                values.append(str(value).lower() if isinstance(value, bool) else str(value))
        return tuple(values)

    def boolean(self, node: yaml.Node, what: str) -> bool | None:
        value = self.scalar(node, what)
        if not isinstance(value, bool):
            self.error(node, f"{what} must be true or false")
            return None
        return value

    # -- items ------------------------------------------------------------------------------
    def load(self) -> None:
        try:
            root = compose(self.text, self.path)
        except YamlSyntaxError as exc:
            self.error(exc.location, exc.problem)
            return
        if root is None:
            return
        if not isinstance(root, yaml.SequenceNode):
            self.error(root, "a rules file must be a YAML list of rule, macro and list items")
            return
        for item in root.value:
            if not isinstance(item, yaml.MappingNode):
                self.error(item, "each item must be a mapping with a rule, macro or list key")
                continue
            keys = {str(k.value): v for k, v in item.value}
            if "rule" in keys:
                self.rule(item, keys)
            elif "macro" in keys:
                self.macro(item, keys)
            elif "list" in keys:
                self.list_(item, keys)
            elif not any(k in keys for k in _IGNORED_ITEMS):
                self.error(
                    item,
                    f"unknown item (keys: {', '.join(sorted(keys))}); expected rule, macro or list",
                )

    def unknown_keys(self, item: yaml.MappingNode, allowed: tuple[str, ...], kind: str) -> None:
        for key_node, _ in item.value:
            if str(key_node.value) not in allowed:
                self.error(key_node, f"unknown key {truncate(key_node.value, 40)!r} in a {kind}")

    def amendment(self, kind: str, keys: dict[str, yaml.Node], name: str) -> dict[str, str] | None:
        """How an item amends an earlier one: key → "append"/"replace", or None for a new
        definition. ``append: true`` means append for every amendable key given."""
        if "override" in keys and "append" in keys:
            self.error(keys["append"], f"{kind} {name!r}: use either append or override, not both")
            return None
        if "append" in keys:
            if not self.boolean(keys["append"], "append"):
                return None
            return {k: "append" for k in _OVERRIDABLE[kind] if k in keys}
        if "override" not in keys:
            return None
        node = keys["override"]
        if not isinstance(node, yaml.MappingNode):
            self.error(node, "override must map keys to append or replace")
            return {}
        modes: dict[str, str] = {}
        for key_node, mode_node in node.value:
            key, mode = str(key_node.value), str(mode_node.value)
            allowed = _OVERRIDABLE[kind].get(key)
            if allowed is None:
                self.error(key_node, f"{kind} {name!r}: {key!r} cannot be overridden")
            elif mode not in allowed:
                self.error(
                    mode_node, f"{kind} {name!r}: {key} can be {' or '.join(allowed)}, not {mode!r}"
                )
            elif key not in keys:
                self.error(key_node, f"{kind} {name!r}: override names {key!r} but gives no {key}")
            else:
                modes[key] = mode
        for key, given in keys.items():
            if key in _OVERRIDABLE[kind] and key not in modes and key != kind:
                self.error(given, f"{kind} {name!r}: {key!r} given without an override for it")
        return modes

    def list_(self, item: yaml.MappingNode, keys: dict[str, yaml.Node]) -> None:
        self.unknown_keys(item, _LIST_KEYS, "list")
        name = self.string(keys["list"], "list name")
        if not name:
            return
        items = self.strings(keys["items"], f"list {name!r} items") if "items" in keys else None
        if items is None:
            if "items" not in keys:
                self.error(item, f"list {name!r} has no items")
            return
        modes = self.amendment("list", keys, name)
        existing = self.into.lists.get(name)
        if modes:
            if existing is None:
                self.error(item, f"list {name!r} has no earlier definition to append to")
                return
            if modes.get("items") == "append":
                items = existing.items + items
        self.into.lists[name] = ListDef(name, items, self.loc(item))

    def macro(self, item: yaml.MappingNode, keys: dict[str, yaml.Node]) -> None:
        self.unknown_keys(item, _MACRO_KEYS, "macro")
        name = self.string(keys["macro"], "macro name")
        if not name:
            return
        node = keys.get("condition")
        if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
            self.error(node or item, f"macro {name!r} needs a condition")
            return
        condition = SourceText.of(self.fragment(node))
        modes = self.amendment("macro", keys, name)
        existing = self.into.macros.get(name)
        if modes:
            if existing is None:
                self.error(item, f"macro {name!r} has no earlier definition to append to")
                return
            if modes.get("condition") == "append":
                condition = existing.condition.plus(self.fragment(node))
        self.into.macros[name] = MacroDef(name, condition, self.loc(item))

    def rule(self, item: yaml.MappingNode, keys: dict[str, yaml.Node]) -> None:
        self.unknown_keys(item, _RULE_KEYS, "rule")
        name = self.string(keys["rule"], "rule name")
        if not name:
            return
        existing = self.into.rules.get(name)
        modes = self.amendment("rule", keys, name)
        given = {k for k in keys if k in _OVERRIDABLE["rule"]}
        if modes is None and given == {"enabled"} and existing is not None:
            modes = {"enabled": "replace"}  # Falco: an item with only `enabled` toggles a rule
        if modes is not None:
            if existing is None:
                self.error(item, f"rule {name!r} has no earlier definition to amend")
                return
            self.into.rules[name] = self.amend_rule(existing, keys, modes)
            return
        missing = [k for k in ("condition", "output", "priority") if k not in keys]
        if missing:
            self.error(item, f"rule {name!r} needs {', '.join(missing)}")
            return
        condition_node = keys["condition"]
        if not isinstance(condition_node, yaml.ScalarNode) or not str(condition_node.value).strip():
            self.error(condition_node, f"rule {name!r}: condition must be a non-empty string")
            return
        output = self.string(keys["output"], "output") or ""
        priority = self.priority(keys["priority"])
        source = self.string(keys["source"], "source") if "source" in keys else "syscall"
        rule = RuleDef(
            name=name,
            desc=(self.string(keys["desc"], "desc") or "") if "desc" in keys else "",
            condition=SourceText.of(self.fragment(condition_node)),
            output=output.strip(),
            output_location=self.loc(keys["output"]),
            priority=priority or PRIORITIES["debug"],
            tags=(self.strings(keys["tags"], "tags") or ()) if "tags" in keys else (),
            enabled=True,
            exceptions=self.exceptions(keys["exceptions"]) if "exceptions" in keys else (),
            source=source or "syscall",
            location=self.loc(item),
            profile=self.profile(keys["profile"]) if "profile" in keys else None,
        )
        if "enabled" in keys:
            rule = replace(rule, enabled=bool(self.boolean(keys["enabled"], "enabled")))
        self.into.rules[name] = rule

    def priority(self, node: yaml.Node) -> Any:
        text = self.string(node, "priority")
        found = PRIORITIES.get((text or "").lower())
        if found is None:
            self.error(
                node,
                f"unknown priority {truncate(text, 30)!r} "
                "(e.g. CRITICAL, ERROR, WARNING, NOTICE, INFO)",
            )
        return found

    def profile(self, node: yaml.Node) -> str | None:
        text = self.string(node, "profile")
        if text not in PROFILE_KINDS:
            self.error(
                node,
                f"profile must be one of {', '.join(PROFILE_KINDS)}, not {truncate(text, 30)!r}",
            )
            return None
        return text

    def amend_rule(
        self, rule: RuleDef, keys: dict[str, yaml.Node], modes: dict[str, str]
    ) -> RuleDef:
        changes: dict[str, Any] = {}
        for key, mode in modes.items():
            node = keys[key]
            append = mode == "append"
            if key == "condition" and isinstance(node, yaml.ScalarNode):
                fragment = self.fragment(node)
                changes["condition"] = (
                    rule.condition.plus(fragment) if append else SourceText.of(fragment)
                )
            elif key == "output":
                text = (self.string(node, "output") or "").strip()
                changes["output"] = f"{rule.output} {text}" if append else text
                changes["output_location"] = self.loc(node)
            elif key == "desc":
                text = self.string(node, "desc") or ""
                changes["desc"] = f"{rule.desc} {text}" if append else text
            elif key == "priority":
                priority = self.priority(node)
                if priority is not None:
                    changes["priority"] = priority
            elif key == "tags":
                tags = self.strings(node, "tags") or ()
                changes["tags"] = rule.tags + tags if append else tags
            elif key == "enabled":
                enabled = self.boolean(node, "enabled")
                if enabled is not None:
                    changes["enabled"] = enabled
            elif key == "profile":
                changes["profile"] = self.profile(node)
            elif key == "exceptions":
                new = self.exceptions(node, allow_values_only=append)
                changes["exceptions"] = _merge_exceptions(rule.exceptions, new) if append else new
        return replace(rule, **changes)

    # -- exceptions -------------------------------------------------------------------------
    def exceptions(
        self, node: yaml.Node, *, allow_values_only: bool = False
    ) -> tuple[ExceptionDef, ...]:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, "exceptions must be a list")
            return ()
        found = []
        for item in node.value:
            parsed = self.exception(item, allow_values_only)
            if parsed is not None:
                found.append(parsed)
        return tuple(found)

    def exception(self, node: yaml.Node, allow_values_only: bool) -> ExceptionDef | None:
        if not isinstance(node, yaml.MappingNode):
            self.error(node, "an exception must be a mapping with name, fields, comps, values")
            return None
        keys = {str(k.value): v for k, v in node.value}
        self.unknown_keys(node, ("name", "fields", "comps", "values"), "exception")
        name = self.string(keys["name"], "exception name") if "name" in keys else None
        if not name:
            self.error(node, "an exception needs a name")
            return None
        if "fields" not in keys:
            if allow_values_only:  # appending values to an exception defined earlier
                values = self.exception_values(keys.get("values"), None, name)
                return ExceptionDef(name, (), (), values, False, self.loc(node))
            self.error(node, f"exception {name!r} needs fields")
            return None
        single = isinstance(keys["fields"], yaml.ScalarNode)
        fields = (
            (self.string(keys["fields"], "fields") or "",)
            if single
            else self.strings(keys["fields"], "fields") or ()
        )
        if "comps" in keys:
            comps_node = keys["comps"]
            comps = (
                (self.string(comps_node, "comps") or "=",)
                if isinstance(comps_node, yaml.ScalarNode)
                else self.strings(comps_node, "comps") or ()
            )
        else:
            comps = ("in",) if single else tuple("=" for _ in fields)
        if len(comps) != len(fields):
            self.error(
                keys.get("comps", node),
                f"exception {name!r}: {len(fields)} fields but {len(comps)} comps",
            )
            return None
        values = self.exception_values(
            keys.get("values"), len(fields) if not single else None, name
        )
        return ExceptionDef(name, fields, comps, values, single, self.loc(node))

    def exception_values(
        self, node: yaml.Node | None, width: int | None, name: str
    ) -> tuple[tuple[str | tuple[str, ...], ...], ...]:
        if node is None:
            return ()
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"exception {name!r}: values must be a list")
            return ()
        rows: list[tuple[str | tuple[str, ...], ...]] = []
        for row in node.value:
            if isinstance(row, yaml.ScalarNode):
                rows.append((str(row.value),))
                continue
            if not isinstance(row, yaml.SequenceNode):
                self.error(row, f"exception {name!r}: each value must be a list of {width} values")
                continue
            cells: list[str | tuple[str, ...]] = []
            for cell in row.value:
                if isinstance(cell, yaml.SequenceNode):
                    cells.append(tuple(str(c.value) for c in cell.value))
                else:
                    cells.append(str(cell.value))
            if width is not None and len(cells) != width:
                self.error(row, f"exception {name!r}: {len(cells)} values for {width} fields")
                continue
            rows.append(tuple(cells))
        return tuple(rows)


def _merge_exceptions(
    old: tuple[ExceptionDef, ...], new: tuple[ExceptionDef, ...]
) -> tuple[ExceptionDef, ...]:
    merged = {e.name: e for e in old}
    for exc in new:
        earlier = merged.get(exc.name)
        if earlier is not None and not exc.fields:
            merged[exc.name] = replace(earlier, values=earlier.values + exc.values)
        else:
            merged[exc.name] = exc
    return tuple(merged.values())
