"""`vigil incidents …`: alerts grouped per workload, and the decisions a person makes on them."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated, Any

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
from vigil.errors import ConfigError, VigilError, truncate

if TYPE_CHECKING:
    from rich.tree import Tree

incidents_app = typer.Typer(
    help="Incidents: the running agent's alerts grouped per workload in time.",
    no_args_is_help=True,
)

NoteOption = Annotated[str, typer.Option("--note", help="Why (kept in the timeline).")]


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _shown(value: object, limit: int = 120) -> str:
    """Text from containers, made safe for a terminal (no escapes, no markup) and bounded."""
    from rich.markup import escape

    return escape(truncate(value, limit))


def _print_incidents(found: list[dict[str, Any]], closed_too: bool) -> None:
    if not found:
        out().print("No incidents." if closed_too else "No open incidents.")
        return
    from rich.table import Table

    table = Table("ID", "SEVERITY", "STATE", "WORKLOAD", "ALERTS", "LAST ALERT", "TITLE")
    for i in found:
        table.add_row(
            i["id"],
            i["severity"],
            i["state"],
            _shown(i["workload_key"]),
            str(i["alert_count"]),
            i["last_alert"],
            _shown(i["title"], 80),
        )
    out().print(table)


@incidents_app.command("list")
def incidents_list(
    state: Annotated[
        list[str] | None,
        typer.Option(help="open, acknowledged, resolved or false_positive. Repeatable."),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Closed incidents too.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    as_json: JsonOption = False,
    api: ApiOption = DEFAULT_API,
    token: TokenOption = None,
) -> None:
    """List incidents, most recent activity first (open and acknowledged unless --all/--state)."""
    states = state or ([] if all_ else ["open", "acknowledged"])
    show(
        api,
        token,
        lambda c: c.incidents(states=states, limit=limit),
        as_json,
        lambda found: _print_incidents(found, bool(all_ or state)),
    )


def _tree(parent: Tree, nodes: list[dict[str, Any]]) -> None:
    for node in nodes:
        pid = f" [dim]pid {node['pid']}[/]" if node.get("pid") else ""
        flag = " [red]⚑[/]" if node.get("alert_ids") else ""
        _tree(parent.add(f"{_shown(node['exe'])}{pid}{flag}"), node.get("children", []))


def _print_incident(i: dict[str, Any]) -> None:
    out().print(f"[bold]incident {i['id']}[/]  {i['severity']}  {i['state']}")
    out().print(_shown(i["title"], 200))
    out().print(f"workload   {_shown(i['workload_key'])}")
    out().print(f"containers {_shown(', '.join(i['containers']))}")
    out().print(
        f"opened     {i['opened']}   last alert {i['last_alert']}   alerts {i['alert_count']}"
    )
    from rich.tree import Tree

    tree = Tree("process tree")
    _tree(tree, i.get("process_tree", []))
    out().print(tree)
    out().print("[bold]timeline[/]")
    for e in i["timeline"]:
        if e["kind"] == "alert":
            what = f"{e['severity']} {_shown(e['rule'], 60)}: {_shown(e['cmdline'])}"
        elif e["kind"] == "response":
            what = f"{_shown(e['action'], 40)} → {_shown(e['outcome'], 20)}"
        elif e["kind"] == "state":
            what = f"{e['from']} → {e['to']} by {_shown(e['actor'], 60)} {_shown(e['note'])}"
        else:
            what = _shown(e["kind"], 40)
        out().print(f"  {e['time']}  {what}", highlight=False)
    if i["state"] in ("open", "acknowledged") and i["false_positive_offer"]:
        out().print(
            "false positive? `vigil incidents resolve "
            f"{i['id']} --false-positive --add-to-profile` (or --exception) stops these:"
        )
        for b in i["false_positive_offer"]:
            out().print(f"  {_shown(b['item'])} ({_shown(b['rule'], 60)})", highlight=False)


@incidents_app.command("show")
def incidents_show(
    incident_id: Annotated[str, typer.Argument(help="Incident id (from `vigil incidents list`).")],
    as_json: JsonOption = False,
    api: ApiOption = DEFAULT_API,
    token: TokenOption = None,
) -> None:
    """Show one incident: workload, containers, process tree, timeline."""
    show(api, token, lambda c: c.incident(incident_id), as_json, _print_incident)


@incidents_app.command("ack")
def incidents_ack(
    incident_id: Annotated[str, typer.Argument(help="Incident id.")],
    note: NoteOption = "",
    api: ApiOption = DEFAULT_API,
    token: TokenOption = None,
) -> None:
    """Acknowledge an open incident: someone is on it."""
    i = ask(api, token, lambda c: c.acknowledge(incident_id, actor=_actor(), note=note))
    out().print(f"incident {i['id']} is {i['state']}", highlight=False)


@incidents_app.command("resolve")
def incidents_resolve(
    incident_id: Annotated[str, typer.Argument(help="Incident id.")],
    false_positive: Annotated[
        bool, typer.Option("--false-positive", help="Close it as a false positive.")
    ] = False,
    add_to_profile: Annotated[
        bool,
        typer.Option(
            "--add-to-profile",
            help="With --false-positive: add the behaviour to the workload's profile.",
        ),
    ] = False,
    exception: Annotated[
        bool,
        typer.Option(
            "--exception", help="With --false-positive: keep an exception for the behaviour."
        ),
    ] = False,
    note: NoteOption = "",
    api: ApiOption = DEFAULT_API,
    token: TokenOption = None,
) -> None:
    """Resolve an incident, or close it as a false positive (optionally never to flag it again)."""
    try:
        if add_to_profile and exception:
            raise ConfigError("give --add-to-profile or --exception, not both")
        remedy = "profile" if add_to_profile else "exception" if exception else "none"
        if remedy != "none" and not false_positive:
            raise ConfigError(
                f"--{'add-to-profile' if add_to_profile else 'exception'} "
                "goes with --false-positive"
            )
        i = client(api, token).resolve(
            incident_id, actor=_actor(), note=note, false_positive=false_positive, remedy=remedy
        )
    except VigilError as exc:
        raise fail(exc) from None
    out().print(f"incident {i['id']} is {i['state']}", highlight=False)
    for applied in (i.get("resolution") or {}).get("applied", []):
        out().print(f"  {_shown(applied['item'])}: {applied['outcome']}", highlight=False)
