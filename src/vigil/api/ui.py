"""Server-rendered pages (Jinja2 templates in ``templates/``), every value HTML-escaped.

Text from containers (command lines, paths, messages) goes through the ``shown`` filter first:
control characters such as ANSI escapes become visible ``\\x1b`` and long text is cut with a
note of how much was left out, before autoescaping turns markup into text.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.errors import truncate

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES = Path(__file__).parent / "templates"
#: how much of one value a page shows (the API keeps the whole value)
SHOWN_CHARS = 300


def _shown(value: object, limit: int = SHOWN_CHARS) -> str:
    return truncate("" if value is None else value, limit)


@functools.cache
def _environment() -> Environment:
    """Made at the first page shown: an agent whose UI nobody opens never loads Jinja2."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["shown"] = _shown
    return env


def render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)
