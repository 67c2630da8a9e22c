"""`vigil profiles …`: the running agent's learned profiles, reviewable like code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vigil.cli.common import (
    DEFAULT_API,
    ApiOption,
    JsonOption,
    TokenOption,
    ask,
    client,
    fail,
    out,
    show,
)
from vigil.detect.profile_yaml import MAX_DOCUMENT_BYTES, dump_profile, load_profile
from vigil.errors import ConfigError, VigilError, truncate

profiles_app = typer.Typer(
    help="Learned behaviour profiles of the running agent: list, lock, unlock, relearn, "
    "export, import, diff.",
    no_args_is_help=True,
)

WorkloadArgument = Annotated[
    str | None,
    typer.Argument(
        help="Workload key (ns/Kind/name/container), or ns/name, or name.", show_default=False
    ),
]
AllOption = Annotated[bool, typer.Option("--all", help="Every profile.")]


def _progress(profile: dict[str, Any]) -> str:
    learning = profile.get("learning", {})
    if profile["state"] == "locked":
        return f"locked ({profile.get('lock_reason') or 'manual'})"
    if not learning.get("auto_lock", True):
        return "learning (locks by hand)"
    return (
        f"{learning['progress']:.0%} ({learning['events_since_new']}/"
        f"{learning['stability_events']} events, {learning['seconds_since_new']:.0f}/"
        f"{learning['stability_seconds']:.0f}s quiet)"
    )


def _size(profile: dict[str, Any]) -> str:
    size = f"{profile['size']}/{profile['max_items']}"
    return size + (" AT CAP" if profile.get("at_cap") else "")


def _print_profiles(profiles: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table("WORKLOAD", "VER", "STATE", "SIZE", "PROGRESS", "IMAGE")
    for p in profiles:
        state = p["state"] + (" (partial)" if p.get("partial") else "")
        table.add_row(p["key"], str(p["version"]), state, _size(p), _progress(p), p["image"] or "-")
    out().print(table if profiles else "No profiles yet: the agent has seen no container.")


@profiles_app.command("list")
def profiles_list(
    as_json: JsonOption = False,
    api: ApiOption = DEFAULT_API,
    token: TokenOption = None,
) -> None:
    """List every workload profile: version, state, size against its cap, learning progress."""
    show(api, token, lambda c: c.profiles(), as_json, _print_profiles)


def _select(
    action: str, workload: str | None, all_: bool, api: str, token: str | None
) -> list[str]:
    if all_ == (workload is not None):
        raise fail(ConfigError("give either a WORKLOAD or --all"))
    selector = None if all_ else workload
    return ask(api, token, lambda agent: getattr(agent, action)(selector))


def _add_state_command(action: str, help_text: str, done: str, nothing: str) -> None:
    """``vigil profiles lock|unlock|relearn (WORKLOAD | --all)``: one shape, three verbs."""

    def command(
        workload: WorkloadArgument = None,
        all_: AllOption = False,
        api: ApiOption = DEFAULT_API,
        token: TokenOption = None,
    ) -> None:
        changed = _select(action, workload, all_, api, token)
        for key in changed:
            out().print(done.format(key=key), highlight=False)
        if not changed and nothing:
            out().print(nothing)

    command.__doc__ = help_text
    profiles_app.command(action)(command)


_add_state_command(
    "lock",
    "Stop learning now: lock one workload's profile, or all of them.",
    "locked {key}",
    "nothing to lock: already locked",
)
_add_state_command(
    "unlock",
    "Resume learning, keeping what was learnt; the profile locks again once it converges.",
    "unlocked {key}: learning",
    "nothing to unlock: already learning",
)
_add_state_command(
    "relearn",
    "Start a new, empty version and learn from scratch (the old version is kept).",
    "relearning {key}",
    "",
)


@profiles_app.command("export")
def profiles_export(
    workload: Annotated[
        str,
        typer.Argument(
            help="Workload selector, optionally with @VERSION (e.g. shop/web@2).",
            show_default=False,
        ),
    ],
    api: ApiOption = DEFAULT_API,
    token: TokenOption = None,
) -> None:
    """Print one profile as YAML, to review, keep in git, edit and import."""
    profile = ask(api, token, lambda c: c.export_profile(workload))
    typer.echo(dump_profile(profile), nl=False)


@profiles_app.command("import")
def profiles_import(
    file: Annotated[
        Path, typer.Argument(help="A profile in YAML, as `export` writes it.", show_default=False)
    ],
    api: ApiOption = DEFAULT_API,
    token: TokenOption = None,
) -> None:
    """Install a profile from YAML as its workload's new version (checked: file:line:column)."""
    try:
        try:
            if file.stat().st_size > MAX_DOCUMENT_BYTES:
                raise ConfigError(f"larger than {MAX_DOCUMENT_BYTES} bytes", path=str(file))
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError("file not found", path=str(file)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read: {truncate(exc, 120)}", path=str(file)) from None
        load_profile(text, str(file))  # every problem with its line, before the agent sees it
        installed = client(api, token).import_profile(text, str(file))
    except VigilError as exc:
        raise fail(exc) from None
    out().print(
        f"imported {installed['key']} as version {installed['version']} ({installed['state']})",
        highlight=False,
    )


def _print_diff(result: dict[str, Any]) -> None:
    lines = [f"--- {result['old']}", f"+++ {result['new']}"]
    for key, change in result["attributes"].items():
        lines.append(f"{key}: {change['old']} → {change['new']}")
    for name, change in result["changes"].items():
        lines.append(f"{name}:")
        lines.extend(f"+ {item}" for item in change["added"])
        lines.extend(f"- {item}" for item in change["removed"])
    if not result["attributes"] and not result["changes"]:
        lines.append("(no differences)")
    typer.echo("\n".join(lines))


@profiles_app.command("diff")
def profiles_diff(
    old: Annotated[
        str,
        typer.Argument(
            help="Workload selector, optionally @VERSION. Alone: its previous version "
            "against its current one.",
            show_default=False,
        ),
    ],
    new: Annotated[
        str | None,
        typer.Argument(
            help="Another workload, or the same one @VERSION, to compare with.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    api: ApiOption = DEFAULT_API,
    token: TokenOption = None,
) -> None:
    """What one profile has that another lacks: two versions, or two workloads."""
    show(api, token, lambda c: c.diff_profiles(old, new), as_json, _print_diff)


@profiles_app.command("versions")
def profiles_versions(
    workload: Annotated[str, typer.Argument(help="Workload selector.", show_default=False)],
    api: ApiOption = DEFAULT_API,
    token: TokenOption = None,
) -> None:
    """The versions kept for one workload (a new image, a relearn or an import adds one)."""
    result = ask(api, token, lambda c: c.profile_versions(workload))
    from rich.table import Table

    table = Table("VER", "STATE", "IMAGE", "UPDATED", title=result["key"])
    for row in result["versions"]:
        mark = " (current)" if row["version"] == result["current"] else ""
        table.add_row(f"{row['version']}{mark}", row["state"], row["image"] or "-", row["updated"])
    out().print(table)
