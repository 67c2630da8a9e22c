"""`vigil audit …`: the hash-chained log of every response decision and action."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.common import err, fail, out
from vigil.config import DEFAULT_DATA_DIR
from vigil.errors import ConfigError
from vigil.respond.audit import AUDIT_FILE, verify

audit_app = typer.Typer(help="The response audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    data_dir: Annotated[
        Path, typer.Option(help="The agent's data dir, which holds audit.jsonl.")
    ] = DEFAULT_DATA_DIR,
    file: Annotated[
        Path | None,
        typer.Option(help="An audit log file to check instead.", show_default=False),
    ] = None,
) -> None:
    """Check the hash chain from the first entry; exit 1 naming the first broken entry.

    Reads the file directly, so it works whether or not the agent runs.
    """
    path = file or data_dir / AUDIT_FILE
    if not path.is_file():
        raise fail(ConfigError("no audit log here", path=str(path)))
    result = verify(path)
    if result.broken is not None:
        err().print(
            f"[bold red]vigil:[/] {path}:{result.broken.line}: audit log broken: "
            f"{result.broken.reason} ({result.entries} entries before it verify)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    out().print(f"{path}: {result.entries} entries, hash chain intact", highlight=False)
