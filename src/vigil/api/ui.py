"""Server-rendered pages (Jinja2 templates in ``templates/``), every value HTML-escaped.

Text from containers (command lines, paths, messages) goes through the ``shown`` filter first:
control characters such as ANSI escapes become visible ``\\x1b`` and long text is cut with a
note of how much was left out, before autoescaping turns markup into text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from vigil.errors import truncate

TEMPLATES = Path(__file__).parent / "templates"
#: how much of one value a page shows (the API keeps the whole value)
SHOWN_CHARS = 300


def _shown(value: object, limit: int = SHOWN_CHARS) -> str:
    return truncate("" if value is None else value, limit)


_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["shown"] = _shown


def render(template: str, **context: Any) -> str:
    return _env.get_template(template).render(**context)
