"""`vigil containers`: what the running agent sees, and how it found out."""

from __future__ import annotations

from typing import Any

import typer

from vigil.cli.common import (
    DEFAULT_API,
    ApiOption,
    JsonOption,
    TokenOption,
    out,
    show,
)

containers_app = typer.Typer(
    help="Containers the running agent knows, with their workload and how each was identified.",
    invoke_without_command=True,
)


def _workload(data: dict[str, Any]) -> str:
    key = "/".join(data.get(k, "") for k in ("namespace", "kind", "name", "container"))
    return key + (" (inferred)" if data.get("inferred") else "")


def _kube_line(kube: dict[str, Any]) -> str:
    if not kube.get("enabled"):
        return "Kubernetes API: not used (workloads of pods are inferred from pod names)"
    if kube.get("connected"):
        return f"Kubernetes API: connected, {kube.get('pods', 0)} pods on this node"
    return f"Kubernetes API: not connected ({kube.get('last_error') or 'starting'})"


def _print_containers(answer: dict[str, Any]) -> None:
    records = answer.get("containers", [])
    from rich.table import Table

    table = Table("CONTAINER", "RUNTIME", "IMAGE", "WORKLOAD", "FOUND BY")
    for record in records:
        container = record["container"]
        table.add_row(
            container["id"][:16]
            + (f" ({container['name']})" if container["name"] != container["id"] else ""),
            container["runtime"],
            container["image"] or "-",
            _workload(record["workload"]),
            record["found_by"],
        )
    out().print(table if records else "No containers seen yet.")
    out().print(_kube_line(answer.get("kubernetes", {})), highlight=False)


@containers_app.callback()
def containers_list(
    as_json: JsonOption = False,
    api: ApiOption = DEFAULT_API,
    token: TokenOption = None,
) -> None:
    """List the containers the agent sees: id, runtime, image, workload, and how each identity
    was found (cgroup path layout, runtime state root, engine metadata, workload source)."""
    show(api, token, lambda c: c.containers(), as_json, _print_containers)
