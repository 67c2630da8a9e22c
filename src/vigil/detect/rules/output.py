"""A rule's ``output``: text with ``%field`` placeholders, compiled once into getters."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vigil.detect.rules.fields import FieldRegistry, Getter
from vigil.errors import truncate
from vigil.models import Event

_PLACEHOLDER = re.compile(r"%([A-Za-z_][A-Za-z0-9_.]*(?:\[[^\]\s]*\])?)")
#: Falco's shorthand placeholders, as vigil can fill them
_ALIASES = {"container.info": "container.id"}
ABSENT = "<NA>"
#: one field's text in a message is bounded (command lines can be long and hostile)
MAX_FIELD_CHARS = 200


def render(value: Any) -> str:
    if value is None:
        return ABSENT
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(render(v) for v in value)
    return truncate(value, MAX_FIELD_CHARS)


@dataclass(frozen=True, slots=True)
class OutputFormat:
    parts: tuple[str | Getter, ...]

    def format(self, event: Event) -> str:
        return "".join(p if isinstance(p, str) else render(p(event)) for p in self.parts)


def compile_output(
    text: str, registry: FieldRegistry, on_unknown: Callable[[str, int], None]
) -> tuple[OutputFormat, set[str]]:
    """Compile ``text``; unknown fields go to ``on_unknown(name, offset)``. Returns the format
    and the Falco fields it names that vigil cannot fill (they print as ``<NA>``)."""
    parts: list[str | Getter] = []
    unsupported: set[str] = set()
    last = 0
    for match in _PLACEHOLDER.finditer(text):
        parts.append(text[last : match.start()])
        last = match.end()
        name = _ALIASES.get(match.group(1), match.group(1))
        base, _, arg = name.partition("[")
        found = registry.lookup(base)
        if found is None:
            on_unknown(match.group(1), match.start())
            parts.append(match.group())
            continue
        field, carried = found
        if field.make is None:
            unsupported.add(base)
            parts.append(ABSENT)
            continue
        try:
            parts.append(field.make(arg.rstrip("]") if arg else carried))
        except ValueError:
            on_unknown(match.group(1), match.start())
            parts.append(match.group())
    parts.append(text[last:])
    return OutputFormat(tuple(p for p in parts if p != "")), unsupported
