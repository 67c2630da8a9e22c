"""`vigil profiles …`: the running agent's learned profiles."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from vigil.cli.common import DEFAULT_API, ApiOption, TokenOption, client, fail, out
from vigil.errors import ConfigError, VigilError

profiles_app = typer.Typer(
    help="Learned behaviour profiles of the running agent.", no_args_is_help=True
)


@profiles_app.command("list")
def profiles_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    api: ApiOption = DEFAULT_API,
    token: TokenOption = None,
) -> None:
    """List every workload profile with its state and size."""
    try:
        profiles = client(api, token).profiles()
    except VigilError as exc:
        raise fail(exc) from None
    if as_json:
        typer.echo(json.dumps(profiles, indent=2))
        return
    table = Table("WORKLOAD", "STATE", "EXECUTABLES", "DESTINATIONS", "LOCKED AT")
    for p in profiles:
        table.add_row(
            p["key"],
            p["state"],
            str(len(p["executables"])),
            str(len(p["destinations"])),
            p["locked_at"] or "-",
        )
    out.print(table if profiles else "No profiles yet: the agent has seen no container.")


@profiles_app.command("lock")
def profiles_lock(
    workload: Annotated[
        str | None,
        typer.Argument(
            help="Workload key (ns/Kind/name/container), or ns/name, or name.", show_default=False
        ),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Lock every profile.")] = False,
    api: ApiOption = DEFAULT_API,
    token: TokenOption = None,
) -> None:
    """Stop learning: lock one workload's profile, or all of them."""
    try:
        if all_ == (workload is not None):
            raise ConfigError("give either a WORKLOAD or --all")
        locked = client(api, token).lock(None if all_ else workload)
    except VigilError as exc:
        raise fail(exc) from None
    if locked:
        for key in locked:
            out.print(f"locked {key}", highlight=False)
    else:
        out.print("nothing to lock: already locked")
