"""The Kubernetes adapter's exceptions, importable without lightkube."""

from __future__ import annotations

from vigil.errors import EXIT_BAD_USAGE, VigilError


class KubeError(VigilError):
    """The Kubernetes API could not be used; the message says which call and why."""


class KubeConfigError(KubeError):
    """No usable configuration (kubeconfig or in-cluster service account)."""

    exit_code = EXIT_BAD_USAGE


class KubeUnavailable(KubeError):
    """The API server could not be reached (connection refused, timeout, TLS, …)."""


class KubeApiError(KubeError):
    """The API server answered with an error status, or with something that is not an object."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
