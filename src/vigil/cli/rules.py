"""`vigil rules …`: check rule files, list the loaded pack, report Falco compatibility."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.common import err, out

rules_app = typer.Typer(
    help="Rules: check files, list the built-in pack, report Falco compatibility.",
    no_args_is_help=True,
)


@rules_app.command("check")
def rules_check(
    files: Annotated[
        list[Path], typer.Argument(help="Rule files (YAML), loaded in order.", show_default=False)
    ],
    with_builtin: Annotated[
        bool,
        typer.Option(help="Load the built-in pack first (for files using its macros and lists)."),
    ] = False,
) -> None:
    """Load and compile rule files; print every error with file:line:column (exit 2 if any)."""
    from vigil.detect.rules import builtin_rule_files, compile_files

    compiled = compile_files([*(builtin_rule_files() if with_builtin else []), *files])
    for error in compiled.errors:
        err().print(str(error), highlight=False, markup=False, soft_wrap=True)
    if compiled.errors:
        err().print(f"{len(compiled.errors)} error(s)", highlight=False)
        raise typer.Exit(2)
    disabled = f", {len(compiled.disabled)} disabled" if compiled.disabled else ""
    out().print(f"ok: {len(compiled.rules)} rules compiled{disabled}", highlight=False)


@rules_app.command("list")
def rules_list(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Extra rule files loaded after the pack.", show_default=False),
    ] = None,
    builtin: Annotated[bool, typer.Option(help="Include the built-in pack.")] = True,
) -> None:
    """List the loaded rules: name, severity, MITRE ATT&CK ids, event types."""
    from vigil.detect.rules import builtin_rule_files, compile_files

    compiled = compile_files([*(builtin_rule_files() if builtin else []), *(files or [])])
    for error in compiled.errors:
        err().print(str(error), highlight=False, markup=False, soft_wrap=True)
    if compiled.errors:
        raise typer.Exit(2)
    from rich.table import Table

    table = Table("RULE", "SEVERITY", "MITRE", "EVENTS", "PROFILE")
    for rule in compiled.rules:
        table.add_row(
            rule.name,
            str(rule.definition.priority),
            " ".join(rule.definition.mitre),
            " ".join(sorted(t.value for t in rule.event_types)),
            rule.definition.profile or "",
        )
    out().print(table)
    out().print(f"{len(compiled.rules)} rules", highlight=False)


@rules_app.command("report")
def rules_report(
    falco_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder holding Falco's rule files [default: shared/data/falco found above "
            "the checkout or the current directory, or $VIGIL_FALCO_RULES].",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(help="Write the report here instead of stdout.", show_default=False),
    ] = None,
) -> None:
    """Report how many rules of Falco's files compile and evaluate, and what is missing."""
    from vigil.detect.rules.compat import FALCO_FILES, falco_report, find_falco_dir

    falco_dir = falco_dir or find_falco_dir(Path(__file__).parent, Path.cwd())
    if falco_dir is None:
        err().print("vigil: Falco's rule files not found; pass --falco-dir", highlight=False)
        raise typer.Exit(2)
    absent = [name for name in FALCO_FILES if not (falco_dir / name).is_file()]
    if absent:
        err().print(f"vigil: {falco_dir}: missing {', '.join(absent)}", highlight=False)
        raise typer.Exit(2)
    text = falco_report(falco_dir)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        out().print(f"wrote {output}", highlight=False)
