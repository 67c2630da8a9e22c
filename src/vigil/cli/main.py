"""The ``vigil`` command."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from vigil import __version__
from vigil.api.client import DEFAULT_API, AgentClient
from vigil.config import DEFAULT_DATA_DIR, DEFAULT_LISTEN, AgentConfig, load_config
from vigil.errors import ConfigError, VigilError

app = typer.Typer(
    name="vigil",
    help="Runtime detection and response for containers: watch, learn, alert, respond.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
profiles_app = typer.Typer(
    help="Learned behaviour profiles of the running agent.", no_args_is_help=True
)
app.add_typer(profiles_app, name="profiles")

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


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def run(
    data_dir: Annotated[
        Path, typer.Option(help="Where vigil keeps profiles, alerts and its compiled BPF.")
    ] = DEFAULT_DATA_DIR,
    config: Annotated[
        Path | None, typer.Option(help="YAML configuration file.", show_default=False)
    ] = None,
    output: Annotated[
        list[str] | None,
        typer.Option(
            help="Where alerts go: 'stdout' or 'jsonl:PATH'. Repeatable.", show_default=False
        ),
    ] = None,
    listen: Annotated[
        str | None,
        typer.Option(help=f"API/UI address [default: config's api.listen or {DEFAULT_LISTEN}]."),
    ] = None,
    learning_period: Annotated[
        float | None,
        typer.Option(help="Seconds a new profile learns before it locks (overrides the config)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Run the agent on this host in the foreground (Ctrl-C stops it and detaches everything)."""
    from dataclasses import replace

    from vigil.bootstrap import RunOptions, require_root, run_agent

    setup_logging(verbose)
    try:
        cfg = load_config(config) if config else AgentConfig()
        if learning_period is not None:
            cfg = replace(cfg, learning_period=learning_period)
        outputs = output if output is not None else ([] if cfg.outputs else ["stdout"])
        require_root()
        options = RunOptions(
            data_dir=data_dir, config=cfg, outputs=outputs, listen=listen or cfg.listen
        )
        asyncio.run(run_agent(options))
    except VigilError as exc:
        raise fail(exc) from None


@profiles_app.command("list")
def profiles_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    api: ApiOption = DEFAULT_API,
    token: TokenOption = None,
) -> None:
    """List every workload profile with its state and size."""
    try:
        profiles = AgentClient(api, token=token).profiles()
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
        locked = AgentClient(api, token=token).lock(None if all_ else workload)
    except VigilError as exc:
        raise fail(exc) from None
    if locked:
        for key in locked:
            out.print(f"locked {key}", highlight=False)
    else:
        out.print("nothing to lock: already locked")


@app.command()
def demo(
    keep_going: Annotated[
        bool, typer.Option(help="Leave the frozen replica for inspection until Enter is pressed.")
    ] = False,
) -> None:
    """Show the core loop on two real runc containers: learn, deviate, alert, freeze."""
    from vigil.cli.demo import run_demo

    try:
        code = run_demo(out, pause=keep_going)
    except VigilError as exc:
        raise fail(exc) from None
    raise typer.Exit(code)


@app.command()
def version() -> None:
    """Print vigil's version."""
    typer.echo(__version__)


def main() -> None:
    app()
