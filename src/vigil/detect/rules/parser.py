"""Condition text → :mod:`.ast` tree: a small recursive-descent parser over Falco's grammar.

Grammar (Falco's): ``expr := and ('or' and)*``, ``and := unary ('and' unary)*``,
``unary := 'not' unary | '(' expr ')' | FIELD OP VALUE | FIELD LISTOP '(' VALUES ')' |
FIELD 'exists' | MACRO``. Bare values run until whitespace, a parenthesis, a comma, ``=`` or a
quote, as in libsinsp.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vigil.detect.rules.ast import (
    LIST_OPERATORS,
    SCALAR_OPERATORS,
    UNARY_OPERATORS,
    WORD_OPERATORS,
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

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*(?:\[[^\]\s]*\])?")
_SYMBOL_OP = re.compile(r"==|=|!=|<=|>=|<|>")
_WORD = re.compile(r"[A-Za-z_]+")
_BARE = re.compile(r"[^()\"'\s=,]+")
_KEYWORDS = frozenset({"and", "or", "not"})


@dataclass(frozen=True, slots=True)
class ParseError(Exception):
    message: str
    pos: int

    def __str__(self) -> str:
        return self.message


def parse_condition(text: str) -> Node:
    """Parse a whole condition; raises :class:`ParseError` with the offset of the problem."""
    parser = _Parser(text)
    node = parser.expression()
    parser.skip_space()
    if parser.pos < len(text):
        raise ParseError(f"unexpected {parser.peek_text()!r}", parser.pos)
    return node


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    # -- scanning ---------------------------------------------------------------------------
    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek_text(self) -> str:
        match = _BARE.match(self.text, self.pos)
        return match.group() if match else self.text[self.pos : self.pos + 1]

    def keyword(self, word: str) -> bool:
        """Consume ``word`` if it is next as a whole word."""
        self.skip_space()
        end = self.pos + len(word)
        if self.text[self.pos : end] != word:
            return False
        if end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "_."):
            return False
        self.pos = end
        return True

    def expect(self, char: str) -> None:
        self.skip_space()
        if self.pos >= len(self.text) or self.text[self.pos] != char:
            found = "end of condition" if self.pos >= len(self.text) else repr(self.peek_text())
            raise ParseError(f"expected {char!r}, found {found}", self.pos)
        self.pos += 1

    # -- grammar ----------------------------------------------------------------------------
    def expression(self) -> Node:
        terms = [self.conjunction()]
        while self.keyword("or"):
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else Or(tuple(terms))

    def conjunction(self) -> Node:
        terms = [self.unary()]
        while self.keyword("and"):
            terms.append(self.unary())
        return terms[0] if len(terms) == 1 else And(tuple(terms))

    def unary(self) -> Node:
        if self.keyword("not"):
            return Not(self.unary())
        self.skip_space()
        if self.pos >= len(self.text):
            raise ParseError("condition ends where a term was expected", self.pos)
        if self.text[self.pos] == "(":
            self.pos += 1
            node = self.expression()
            self.expect(")")
            return node
        start = self.pos
        ident = _IDENT.match(self.text, self.pos)
        if ident is None or ident.group() in _KEYWORDS:
            raise ParseError(f"expected a field or macro, found {self.peek_text()!r}", start)
        self.pos = ident.end()
        name = ident.group()
        op = self.operator()
        if op is None:
            if "." in name or "[" in name:
                raise ParseError(f"field {name!r} needs an operator", self.pos)
            return MacroRef(name, start)
        field = _field_ref(name, start)
        if op in UNARY_OPERATORS:
            return Exists(field)
        if op in LIST_OPERATORS:
            return Compare(field, op, self.value_list())
        return Compare(field, op, (self.value(),))

    def operator(self) -> str | None:
        self.skip_space()
        symbol = _SYMBOL_OP.match(self.text, self.pos)
        if symbol:
            self.pos = symbol.end()
            return symbol.group()
        word = _WORD.match(self.text, self.pos)
        if word and word.group() in WORD_OPERATORS:
            self.pos = word.end()
            return word.group()
        if word and word.group() not in _KEYWORDS and self._looks_like_operator(word.group()):
            raise ParseError(f"unknown operator {word.group()!r}", self.pos)
        return None

    def _looks_like_operator(self, word: str) -> bool:
        # "proc.name regex x": an unknown word followed by a value, not "and"/"or"/")".
        rest = self.text[self.pos + len(word) :].lstrip()
        return bool(rest) and rest[0] not in ")" and not rest.startswith(("and", "or"))

    def value(self) -> Value:
        self.skip_space()
        start = self.pos
        if self.pos < len(self.text) and self.text[self.pos] in "\"'":
            return Value(self.quoted(), True, start)
        bare = _BARE.match(self.text, self.pos)
        if bare is None:
            found = "end of condition" if self.pos >= len(self.text) else repr(self.peek_text())
            raise ParseError(f"expected a value, found {found}", start)
        self.pos = bare.end()
        return Value(bare.group(), False, start)

    def quoted(self) -> str:
        quote = self.text[self.pos]
        start = self.pos
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                chars.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            self.pos += 1
            if char == quote:
                return "".join(chars)
            chars.append(char)
        raise ParseError("unterminated string", start)

    def value_list(self) -> tuple[Value, ...]:
        self.expect("(")
        values: list[Value] = []
        self.skip_space()
        if self.pos < len(self.text) and self.text[self.pos] == ")":
            self.pos += 1
            return ()
        while True:
            values.append(self.value())
            self.skip_space()
            if self.pos < len(self.text) and self.text[self.pos] == ",":
                self.pos += 1
                continue
            self.expect(")")
            return tuple(values)


def _field_ref(name: str, pos: int) -> FieldRef:
    if name.endswith("]"):
        base, _, arg = name[:-1].partition("[")
        return FieldRef(base, arg, pos)
    return FieldRef(name, None, pos)


__all__ = ["SCALAR_OPERATORS", "ParseError", "parse_condition"]
