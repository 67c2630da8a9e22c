"""Where the Kubernetes configuration comes from, decided without reading it (no lightkube).

The agent asks this first so that a host without Kubernetes never imports the client stack.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_KUBECONFIG = "~/.kube/config"


@dataclass(frozen=True, slots=True)
class ConfigSource:
    """A kubeconfig file (``in_cluster`` False) or the in-cluster service account directory."""

    path: Path
    in_cluster: bool = False

    def exists(self) -> bool:
        return self.path.exists()


def config_source(
    kubeconfig: str | Path | None = None, *, service_account_dir: str = SERVICE_ACCOUNT_DIR
) -> ConfigSource:
    """``kubeconfig`` when given, else in-cluster (the service account directory and
    ``KUBERNETES_SERVICE_HOST``), else ``$KUBECONFIG``, else ``~/.kube/config``."""
    if kubeconfig is not None:
        return ConfigSource(Path(kubeconfig).expanduser())
    if os.environ.get("KUBERNETES_SERVICE_HOST") and os.path.isdir(service_account_dir):
        return ConfigSource(Path(service_account_dir), in_cluster=True)
    return ConfigSource(Path(os.environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG).expanduser())
