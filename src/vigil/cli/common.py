"""What every `vigil` subcommand shares: consoles, API options, one-line failures."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from vigil.api.client import DEFAULT_API, AgentClient
from vigil.errors import VigilError

err = Console(stderr=True)
# Piped output is read by scripts and greps: wide enough never to cut a workload key.
out = Console(width=None if sys.stdout.isatty() else 240)

ApiOption = Annotated[
    str, typer.Option("--api", envvar="VIGIL_API", help="URL of the running agent's API.")
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="VIGIL_API_TOKEN",
        help="Bearer token, needed when the agent listens beyond loopback.",
    ),
]


def fail(exc: VigilError) -> typer.Exit:
    err.print(f"[bold red]vigil:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(exc.exit_code)


def client(api: str, token: str | None) -> AgentClient:
    return AgentClient(api, token=token)


__all__ = ["DEFAULT_API", "ApiOption", "TokenOption", "client", "err", "fail", "out"]
