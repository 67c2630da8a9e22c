"""The immutable tree a condition parses into (before macros and lists are expanded).

Positions are character offsets into the condition's :class:`~.source.SourceText`, so errors
found later (unknown field, bad number) still point at a file, line and column.
"""

from __future__ import annotations

from dataclasses import dataclass

#: binary operators taking one value
SCALAR_OPERATORS = frozenset(
    {
        "=",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "contains",
        "icontains",
        "bcontains",
        "startswith",
        "bstartswith",
        "endswith",
        "glob",
        "iglob",
    }
)
#: operators taking a parenthesised list of values (list names expand inside it)
LIST_OPERATORS = frozenset({"in", "intersects", "pmatch"})
UNARY_OPERATORS = frozenset({"exists"})
WORD_OPERATORS = frozenset(
    {op for op in SCALAR_OPERATORS | LIST_OPERATORS | UNARY_OPERATORS if op.isalpha()}
)


@dataclass(frozen=True, slots=True)
class Value:
    text: str
    quoted: bool
    pos: int


@dataclass(frozen=True, slots=True)
class FieldRef:
    name: str  # e.g. "proc.aname"
    arg: str | None  # e.g. "2" in proc.aname[2]
    pos: int

    def __str__(self) -> str:
        return self.name if self.arg is None else f"{self.name}[{self.arg}]"


@dataclass(frozen=True, slots=True)
class Compare:
    field: FieldRef
    op: str
    values: tuple[Value, ...]  # one for scalar operators, any number for list operators


@dataclass(frozen=True, slots=True)
class Exists:
    field: FieldRef


@dataclass(frozen=True, slots=True)
class MacroRef:
    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class Not:
    term: Node


@dataclass(frozen=True, slots=True)
class And:
    terms: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    terms: tuple[Node, ...]


Node = Compare | Exists | MacroRef | Not | And | Or
