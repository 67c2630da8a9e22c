"""What every `vigil` subcommand shares: consoles, API options, one-line failures."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from vigil.api.paths import DEFAULT_API
from vigil.errors import VigilError

if TYPE_CHECKING:
    from rich.console import Console

    from vigil.api.client import AgentClient


# The consoles (rich) and the API client (httpx) load on first use: `vigil run`, the agent,
# needs neither, and they are a good part of a long-running process's memory.
@functools.cache
def err() -> Console:
    from rich.console import Console

    return Console(stderr=True)


@functools.cache
def out() -> Console:
    from rich.console import Console

    # Piped output is read by scripts and greps: wide enough never to cut a workload key.
    return Console(width=None if sys.stdout.isatty() else 240)


ApiOption = Annotated[
    str, typer.Option("--api", envvar="VIGIL_API", help="URL of the running agent's API.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="VIGIL_API_TOKEN",
        help="Bearer token, needed when the agent listens beyond loopback.",
    ),
]


def fail(exc: VigilError) -> typer.Exit:
    err().print(f"[bold red]vigil:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(exc.exit_code)


def client(api: str, token: str | None) -> AgentClient:
    from vigil.api.client import AgentClient

    return AgentClient(api, token=token)


T = TypeVar("T")


def ask(api: str, token: str | None, question: Callable[[AgentClient], T]) -> T:
    """One call to the agent's API; a failure ends the command with its one-line reason."""
    try:
        return question(client(api, token))
    except VigilError as exc:
        raise fail(exc) from None


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))


def show(
    api: str,
    token: str | None,
    question: Callable[[AgentClient], T],
    as_json: bool,
    render: Callable[[T], None],
) -> None:
    """One call to the agent's API; its answer as JSON (``--json``), or as ``render`` puts it."""
    answer = ask(api, token, question)
    if as_json:
        print_json(answer)
    else:
        render(answer)


__all__ = [
    "DEFAULT_API",
    "ApiOption",
    "JsonOption",
    "TokenOption",
    "ask",
    "client",
    "err",
    "fail",
    "out",
    "print_json",
    "show",
]
