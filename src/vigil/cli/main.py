"""The ``vigil`` command."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from vigil import __version__
from vigil.cli.actions import actions_app
from vigil.cli.audit import audit_app
from vigil.cli.common import fail, out
from vigil.cli.containers import containers_app
from vigil.cli.incidents import incidents_app
from vigil.cli.profiles import profiles_app
from vigil.cli.record import record, replay
from vigil.cli.rules import rules_app
from vigil.config import (
    DEFAULT_DATA_DIR,
    DEFAULT_LISTEN,
    AgentConfig,
    load_config,
    with_learning_period,
)
from vigil.errors import VigilError

app = typer.Typer(
    name="vigil",
    help="Runtime detection and response for containers: watch, learn, alert, respond.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# One sub-app per topic, each in its own module.
app.add_typer(profiles_app, name="profiles")
app.add_typer(containers_app, name="containers")
app.add_typer(actions_app, name="actions")
app.add_typer(audit_app, name="audit")
app.add_typer(rules_app, name="rules")
app.add_typer(incidents_app, name="incidents")
app.command()(record)
app.command()(replay)


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
        typer.Option(
            help="Most seconds a new profile learns before it locks, even if it has not "
            "converged (overrides the config's profiles.max_learning)."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Run the agent on this host in the foreground (Ctrl-C stops it and detaches everything)."""
    from vigil.bootstrap import RunOptions, require_root, run_agent

    setup_logging(verbose)
    try:
        cfg = load_config(config) if config else AgentConfig()
        if learning_period is not None:
            cfg = with_learning_period(cfg, learning_period)
        outputs = output if output is not None else ([] if cfg.outputs else ["stdout"])
        require_root()
        options = RunOptions(
            data_dir=data_dir, config=cfg, outputs=outputs, listen=listen or cfg.listen
        )
        asyncio.run(run_agent(options))
    except VigilError as exc:
        raise fail(exc) from None


@app.command()
def demo(
    keep_going: Annotated[
        bool, typer.Option(help="Leave the frozen replica for inspection until Enter is pressed.")
    ] = False,
) -> None:
    """Show the core loop on two real runc containers: learn, deviate, alert, freeze."""
    from vigil.cli.demo import run_demo

    try:
        code = run_demo(out(), pause=keep_going)
    except VigilError as exc:
        raise fail(exc) from None
    raise typer.Exit(code)


@app.command()
def version() -> None:
    """Print vigil's version."""
    typer.echo(__version__)


def main() -> None:
    app()
