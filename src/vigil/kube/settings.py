"""The Kubernetes settings: where the API is and whether to use it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic.dataclasses import dataclass as settings_dataclass

from vigil.errors import truncate
from vigil.setting_types import DATACLASS_SETTINGS

KUBERNETES_MODES = ("auto", "on", "off")


def _mode(value: Any) -> str:
    mode = ("on" if value else "off") if isinstance(value, bool) else str(value)
    if mode not in KUBERNETES_MODES:
        raise ValueError(f"must be auto, true or false, not {truncate(value, 40)!r}")
    return mode


def _kubeconfig(value: Any) -> Any:
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value:
        raise ValueError("must be a file path")
    return Path(value).expanduser()


def _node_name(value: Any) -> Any:
    if not isinstance(value, str) or not value or len(value) > 253:
        raise ValueError("must be a node's name")
    return value


@settings_dataclass(frozen=True, config=DATACLASS_SETTINGS)
class KubernetesConfig:
    """Where the Kubernetes API is and whether to use it.

    ``enabled``: ``auto`` uses the API when a configuration is found (in-cluster service
    account, ``kubeconfig``, ``$KUBECONFIG`` or ``~/.kube/config``) and infers workloads from
    pod names otherwise; ``on`` makes a missing configuration an error; ``off`` never asks.
    ``node_name`` defaults to ``$NODE_NAME``, then the host name.
    """

    enabled: Annotated[str, BeforeValidator(_mode)] = "auto"
    kubeconfig: Annotated[Path, BeforeValidator(_kubeconfig)] | None = None
    node_name: Annotated[str, BeforeValidator(_node_name)] | None = None
