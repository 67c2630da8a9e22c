"""YAML text → nodes that know where they were written, and one way to report problems.

Every file vigil reads as YAML (agent config, rule files, profile imports, playbooks) is parsed
here, so that a syntax error, a bad explicit tag or a failed validation names its place the same
way: ``path:line:column: message``. Validation by typed (pydantic) models is mapped back to the
node each error concerns; unknown keys are found against the model's declared keys and come with
a "did you mean".
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml
from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from vigil.errors import ConfigError, truncate

#: the implicit tag of a bare ``=``, which no safe loader constructs (Falco's exception comps)
_UNCONSTRUCTED_TAGS = ("tag:yaml.org,2002:value",)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a file; ``line`` and ``column`` are 1-based, 0 when unknown."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.path
        if self.column:
            return f"{self.path}:{self.line}:{self.column}"
        return f"{self.path}:{self.line}"


class YamlSyntaxError(ConfigError):
    """The text is not YAML (or a tag cannot build its value); carries the place."""

    def __init__(self, location: Location, problem: str) -> None:
        self.location = location
        self.problem = f"not valid YAML: {truncate(problem, 120)}"
        super().__init__(
            self.problem,
            path=location.path,
            line=location.line or None,
            column=location.column or None,
        )


def locate(node: yaml.Node | None, path: str) -> Location:
    if node is None:
        return Location(path)
    return Location(path, node.start_mark.line + 1, node.start_mark.column + 1)


def compose(text: str, path: str) -> yaml.Node | None:
    """The node tree of ``text`` (``None`` when empty); raises :class:`YamlSyntaxError`."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        raise YamlSyntaxError(where, getattr(exc, "problem", None) or str(exc)) from None


_CONSTRUCTOR = yaml.SafeLoader("")


def scalar(node: yaml.Node, path: str = "<yaml>") -> Any:
    """A scalar node's value as YAML's safe loader types it.

    A value its implicit tag cannot build (a bare ``=``) stays the string written; an explicit
    tag that cannot build its value (``!!int ten``) raises :class:`YamlSyntaxError`.
    """
    try:
        return _CONSTRUCTOR.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        if node.tag in _UNCONSTRUCTED_TAGS:
            return str(node.value)
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        problem = f"{truncate(node.value, 40)!r} is not a valid {tag}"
        raise YamlSyntaxError(locate(node, path), problem) from exc
    finally:
        _CONSTRUCTOR.constructed_objects.clear()


def plain(node: yaml.Node, path: str = "<yaml>") -> Any:
    """The Python data of a node tree; mapping keys become strings (as config keys are)."""
    if isinstance(node, yaml.MappingNode):
        return {str(key.value): plain(value, path) for key, value in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [plain(item, path) for item in node.value]
    return scalar(node, path)


def child(node: yaml.Node, step: str | int) -> yaml.Node | None:
    """The value at key (mapping) or index (sequence) ``step``, if there is one."""
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if str(k.value) == str(step)), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        found: yaml.Node = node.value[step]
        return found
    return None


def node_at(root: yaml.Node, loc: Iterable[str | int]) -> yaml.Node:
    """The deepest node along ``loc`` (a missing key is reported at its mapping)."""
    node = root
    for step in loc:
        found = child(node, step)
        if found is None:
            continue  # a union tag or a missing key: stay where we are
        node = found
    return node


def did_you_mean(word: str, known: Collection[str]) -> str:
    """``"; did you mean 'x'?"`` for the known name closest to ``word``, or ``""``."""
    close = difflib.get_close_matches(word, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown_key_message(key: str, known: Collection[str], where: str) -> str:
    message = f"unknown key {where}{truncate(key, 40)!r} (known: {', '.join(known)})"
    return message + did_you_mean(key, known)


@dataclass
class Problems:
    """Every problem found in one file, reported together in the order of their lines, each
    named ``path:line:column`` (``path:line`` or ``path`` where less is known)."""

    path: str
    found: list[tuple[Location, str]] = field(default_factory=list)

    def add(self, where: yaml.Node | Location | None, message: str) -> None:
        location = where if isinstance(where, Location) else locate(where, self.path)
        self.found.append((location, message))

    @property
    def messages(self) -> list[str]:
        ordered = sorted(self.found, key=lambda item: item[0].line)
        return [f"{loc}: {message}" for loc, message in ordered]

    def raise_any(self) -> None:
        if self.found:
            raise ConfigError("\n".join(self.messages))


# -- typed models --------------------------------------------------------------------------------
def _keys_of(model: type) -> dict[str, Any]:
    """The keys a model (pydantic model or dataclass) reads and the type each one holds."""
    infos: dict[str, FieldInfo] = getattr(model, "__pydantic_fields__", {})
    return {
        (info.validation_alias if isinstance(info.validation_alias, str) else name): info.annotation
        for name, info in infos.items()
    }


def _models_in(annotation: Any) -> list[type]:
    """The model classes a field's type may hold (through Optional, unions, tuples, Annotated)."""
    if isinstance(annotation, type) and _keys_of(annotation):
        return [annotation]
    found: list[type] = []
    for arg in typing.get_args(annotation):
        found.extend(_models_in(arg))
    return found


def check_keys(model: type, node: yaml.Node, where: str, problems: Problems) -> None:
    """Report every key ``node`` has that ``model`` (and the models in it) does not read."""
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            check_keys(model, item, f"{where.rstrip('.')}[{index}].", problems)
        return
    if not isinstance(node, yaml.MappingNode):
        return
    keys = _keys_of(model)
    for key_node, value_node in node.value:
        key = str(key_node.value)
        if key not in keys:
            problems.add(key_node, unknown_key_message(key, tuple(keys), where))
            continue
        for inner in _models_in(keys[key]):
            check_keys(inner, value_node, f"{where}{key}.", problems)


def describe(loc: Iterable[str | int], hidden: Collection[str] = (), *, item: bool = False) -> str:
    """``('playbooks', 0, 'match')`` → ``playbooks[0].match``; a ``hidden`` key (and the index
    after it) is left out, and so is a trailing index (an item reports as its list) unless
    ``item`` says the error is about that item."""
    steps = list(loc)
    while not item and steps and isinstance(steps[-1], int):
        steps.pop()
    parts: list[str] = []
    skip_index = False
    for step in steps:
        if isinstance(step, int):
            if not skip_index:
                parts.append(f"[{step}]")
            skip_index = False
            continue
        skip_index = step in hidden
        if not skip_index:
            parts.append(f".{step}" if parts else step)
    return "".join(parts)


def validate(
    kind: type[_T],
    root: yaml.Node,
    problems: Problems,
    *,
    hidden: Collection[str] = (),
) -> _T | None:
    """``root`` validated as ``kind``; each error becomes a located problem, ``None`` if any.

    A validator's message reads after the field's dotted name (``must be …``), or after a colon
    when it starts with ``:``; an error about a mapping (``needs …``) is raised with the
    ``of_mapping`` type and names the mapping (the list item) rather than the field.
    """
    try:
        return TypeAdapter(kind).validate_python(plain(root, problems.path))
    except YamlSyntaxError as exc:
        problems.add(exc.location, exc.problem.removeprefix("not valid YAML: "))
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            node = node_at(root, loc)
            of_mapping = error["type"] in ("of_mapping", "missing")
            if of_mapping and loc and isinstance(loc[-1], str):
                loc = loc[:-1]  # raised by a field's validator about its whole mapping
            where = describe(loc, hidden, item=of_mapping)
            problems.add(node, _joined(where, _message(error)))
    return None


def _message(error: Any) -> str:
    context = error.get("ctx") or {}
    if error["type"] == "value_error" and "error" in context:
        return str(context["error"])
    if error["type"] == "missing":
        name = str(error["loc"][-1])
        return f"needs {'an' if name[:1] in 'aeiou' else 'a'} {name!r}"
    if error["type"] in ("dict_type", "model_type", "dataclass_type"):
        return "must be a mapping"
    return str(error["msg"]).removeprefix("Value error, ")


def _joined(where: str, message: str) -> str:
    if not where:
        return message.removeprefix(": ")
    return f"{where}{message}" if message.startswith((":", ".")) else f"{where} {message}"


def is_mapping(node: yaml.Node) -> bool:
    return isinstance(node, yaml.MappingNode)


def fields_of(node: yaml.Node, where: str, problems: Problems) -> dict[str, yaml.Node] | None:
    """A mapping node's values by key, or ``None`` (reported) when it is not a mapping."""
    if not isinstance(node, yaml.MappingNode):
        problems.add(node, f"{where} must be a mapping")
        return None
    return {str(key.value): value for key, value in node.value}


def report_unknown_keys(
    node: yaml.Node, known: Collection[str], where: str, problems: Problems
) -> None:
    """Each key of a mapping node that is not ``known``, with a suggestion when one is close."""
    if isinstance(node, yaml.MappingNode):
        for key, _ in node.value:
            if str(key.value) not in known:
                problems.add(key, unknown_key_message(str(key.value), known, where))
