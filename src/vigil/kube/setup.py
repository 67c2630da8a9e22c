"""From the ``kubernetes:`` configuration to a running pod watcher (or to none, and why)."""

from __future__ import annotations

import logging
import os
import socket

from vigil.kube.locate import config_source
from vigil.kube.pods import PodDirectory, PodWatcher
from vigil.kube.settings import KubernetesConfig

log = logging.getLogger(__name__)


def node_name(config: KubernetesConfig) -> str:
    """This node's name as the API knows it: configured, ``$NODE_NAME`` (downward API), host."""
    return config.node_name or os.environ.get("NODE_NAME") or socket.gethostname()


def pod_watcher(config: KubernetesConfig, directory: PodDirectory) -> PodWatcher | None:
    """A watcher for this node's pods, or None when Kubernetes is off or (``auto``) absent.

    Raises :class:`KubeConfigError` when ``enabled: on`` and no configuration is usable.
    """
    if config.enabled == "off":
        return None
    source = config_source(config.kubeconfig)
    if config.enabled == "auto" and not source.exists():
        # Decided before importing the client: a host without Kubernetes never loads lightkube.
        log.info("no Kubernetes API configured (no %s): workloads come from pod names", source.path)
        return None
    from vigil.kube.client import KubeApi, KubeConfigError, load_config

    try:
        api = KubeApi.from_config(load_config(config.kubeconfig))
    except KubeConfigError as exc:
        if config.enabled == "on":
            raise
        log.info("no Kubernetes API configured (%s): workloads come from pod names", exc)
        return None
    return PodWatcher(api, node_name(config), directory)
