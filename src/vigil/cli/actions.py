"""`vigil actions …`: actions that playbooks in ``approve`` mode hold for a person."""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer

from vigil.cli.common import (
    DEFAULT_API,
    ApiOption,
    JsonOption,
    TokenOption,
    ask,
    out,
    show,
)

actions_app = typer.Typer(
    help="Actions waiting for approval: list, approve, deny.", no_args_is_help=True
)

ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]
ActorOption = Annotated[
    str | None,
    typer.Option("--actor", help="Who decides [default: your user name]", show_default=False),
]


def _actor(actor: str | None) -> str:
    return actor or f"{getpass.getuser()}@cli"


def _print_actions(actions: list[dict[str, Any]], state: str | None) -> None:
    from rich.table import Table

    table = Table("ID", "STATE", "PLAYBOOK", "ACTIONS", "WORKLOAD", "RULE", "EXPIRES")
    for a in actions:
        table.add_row(
            a["id"],
            a["state"],
            a["playbook"],
            ", ".join(step["action"] for step in a["steps"]),
            a["alert"].get("workload", {}).get("name", "?"),
            a["alert"].get("rule", "?"),
            a["expires"],
        )
    out().print(table if actions else "No actions" + (f" in state {state}." if state else "."))


@actions_app.command("list")
def actions_list(
    state: Annotated[
        str | None,
        typer.Option(help="pending, approved, done, failed, denied or expired [default: all]"),
    ] = None,
    as_json: JsonOption = False,
    api: ApiOption = DEFAULT_API,
    token: TokenOption = None,
) -> None:
    """List held actions, newest first."""
    show(
        api,
        token,
        lambda c: c.actions(state),
        as_json,
        lambda actions: _print_actions(actions, state),
    )


def _decide(
    verdict: str, action_id: str, actor: str | None, reason: str, api: str, token: str | None
) -> None:
    action = ask(
        api, token, lambda c: c.decide(action_id, verdict, actor=_actor(actor), reason=reason)
    )
    out().print(f"action {action['id']}: {action['state']}", highlight=False)
    for result in action.get("results", []):
        latency = result.get("latency_ms")
        out().print(
            f"  {result['action']}: {result['outcome']} {result.get('detail', '')}"
            + (f" ({latency} ms after the event)" if latency is not None else ""),
            highlight=False,
        )


def _add_decision_command(verdict: str, help_text: str) -> None:
    """``vigil actions approve|deny ID``: one shape, two verdicts."""

    def command(
        action_id: Annotated[
            str, typer.Argument(help="The action's id (see `vigil actions list`).")
        ],
        reason: ReasonOption = "",
        actor: ActorOption = None,
        api: ApiOption = DEFAULT_API,
        token: TokenOption = None,
    ) -> None:
        _decide(verdict, action_id, actor, reason, api, token)

    command.__doc__ = help_text
    actions_app.command(verdict)(command)


_add_decision_command("approve", "Approve a held action: its ladder runs now; prints each result.")
_add_decision_command("deny", "Deny a held action: nothing runs; the decision is recorded.")
