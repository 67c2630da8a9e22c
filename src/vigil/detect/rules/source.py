"""Where rule text came from: file, line and column, also inside multi-line YAML scalars.

A condition can be the concatenation of several YAML scalars (a macro and its appends), and a
plain or folded YAML scalar does not keep its line breaks. :class:`SourceText` keeps, for each
fragment, the raw text of the file it came from, and maps an offset in the combined text back
to a file position by aligning the scalar's value with its raw text.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.yamlnodes import Location


@dataclass(frozen=True, slots=True)
class Fragment:
    """One YAML scalar's value and where its raw text sits in its file."""

    text: str
    path: str
    raw: str  # the whole file
    start: int  # index of the scalar's first raw character in ``raw``
    end: int
    #: text made up by vigil (an exception turned into a condition) points here as a whole
    anchor: Location | None = None

    def locate(self, offset: int) -> Location:
        """File position of character ``offset`` of :attr:`text`."""
        if self.anchor is not None:
            return self.anchor
        raw_index = _align(self.text, self.raw, self.start, self.end, offset)
        line = self.raw.count("\n", 0, raw_index) + 1
        column = raw_index - (self.raw.rfind("\n", 0, raw_index) + 1) + 1
        return Location(self.path, line, column)


def _align(value: str, raw: str, start: int, end: int, offset: int) -> int:
    """Index in ``raw`` of ``value[offset]``: walk both, letting whitespace in one match any
    run of whitespace (folded line breaks, indentation) in the other; skip quotes/indicators."""
    r = start
    # Skip a block scalar header or an opening quote.
    if r < end and raw[r] in "|>":
        r = raw.find("\n", r, end) + 1 or end
    elif r < end and raw[r] in "'\"":
        r += 1
    for i, char in enumerate(value[: offset + 1]):
        if char.isspace():
            if i == offset:
                break
            while r < end and raw[r].isspace():
                r += 1
            continue
        while r < end and raw[r] != char:
            r += 1
        if i == offset:
            break
        r += 1
    return min(r, max(start, end - 1)) if end > start else start


@dataclass(frozen=True, slots=True)
class SourceText:
    """Text made of fragments joined by a space, as Falco joins appended conditions."""

    fragments: tuple[Fragment, ...]

    @staticmethod
    def of(fragment: Fragment) -> SourceText:
        return SourceText((fragment,))

    @staticmethod
    def plain(text: str, path: str = "<string>") -> SourceText:
        return SourceText((Fragment(text, path, text, 0, len(text)),))

    @staticmethod
    def at(location: Location) -> SourceText:
        return SourceText((Fragment("", location.path, "", 0, 0, anchor=location),))

    def plus(self, fragment: Fragment) -> SourceText:
        return SourceText((*self.fragments, fragment))

    @property
    def text(self) -> str:
        return " ".join(f.text for f in self.fragments)

    def locate(self, offset: int) -> Location:
        for fragment in self.fragments:
            if offset <= len(fragment.text):
                return fragment.locate(min(offset, max(len(fragment.text) - 1, 0)))
            offset -= len(fragment.text) + 1
        last = self.fragments[-1]
        return last.locate(max(len(last.text) - 1, 0))
