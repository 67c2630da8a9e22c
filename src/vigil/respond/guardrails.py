"""Guardrails: what the responder checks before any action touches anything.

Each check answers ``None`` (go ahead) or the reason to skip, so the reason ends up in the alert's
``response`` and in the audit log. Kubernetes-specific guardrails (minimum healthy replicas) live
with the Kubernetes actions, which have the API at hand.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path

from vigil.models import Alert
from vigil.respond.process import relative_cgroup_paths
from vigil.respond.settings import ResponseConfig


def own_cgroups(proc_root: str = "/proc", pid: int | None = None) -> frozenset[str]:
    """The agent's own cgroup paths (``hierarchy:path`` lines' paths), to never act on itself."""
    path = Path(proc_root) / str(pid or os.getpid()) / "cgroup"
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return frozenset()
    paths = {line.split(":", 2)[2] for line in lines if line.count(":") >= 2}
    return frozenset(paths - {"/", ""})  # the root cgroup is everyone's, not the agent's own


class SlidingWindow:
    """At most ``limit`` hits per ``window`` seconds."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: deque[float] = deque()

    def allow(self) -> bool:
        now = self._clock()
        while self._hits and now - self._hits[0] >= self.window:
            self._hits.popleft()
        return len(self._hits) < self.limit

    def hit(self) -> None:
        self._hits.append(self._clock())


class Guardrails:
    def __init__(
        self,
        config: ResponseConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        agent_pid: int | None = None,
        agent_cgroups: frozenset[str] | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.config = config
        self._clock = clock
        self.agent_pid = agent_pid if agent_pid is not None else os.getpid()
        self.agent_cgroups = agent_cgroups if agent_cgroups is not None else own_cgroups()
        agent_namespace = config.agent_namespace or environ.get("POD_NAMESPACE")
        extra = {agent_namespace} if agent_namespace else set()
        self.protected = frozenset({"kube-system", *config.protected_namespaces, *extra})
        self._overall = SlidingWindow(config.rate_overall, config.rate_window, clock)
        self._per_workload: dict[str, SlidingWindow] = {}
        self._last_done: dict[tuple[str, str], float] = {}

    def dry_run(self, playbook_dry_run: bool | None) -> bool:
        return self.config.dry_run if playbook_dry_run is None else playbook_dry_run

    def target_refusal(self, alert: Alert, cgroup_paths: Mapping[str, str] | None) -> str | None:
        """Why no action may touch this alert's target at all, or ``None``."""
        container = alert.event.container
        if container is None or container.is_host:
            return "vigil never acts on the host"
        if alert.event.process.pid == self.agent_pid:
            return "vigil never acts on itself"
        if cgroup_paths and self.agent_cgroups & relative_cgroup_paths(cgroup_paths):
            return "vigil never acts on its own container"
        workload = alert.event.workload
        if workload is not None and workload.namespace in self.protected:
            return f"namespace {workload.namespace} is protected"
        return None

    def budget_refusal(self, workload_key: str, action: str) -> str | None:
        """Rate limits and cooldown; ``None`` means the action may run now."""
        now = self._clock()
        last = self._last_done.get((workload_key, action))
        if last is not None and now - last < self.config.cooldown:
            return f"cooldown: {action} ran on {workload_key} {now - last:.1f}s ago"
        if not self._overall.allow():
            return (
                f"rate limit: {self.config.rate_overall} actions per "
                f"{self.config.rate_window:g}s overall"
            )
        window = self._per_workload.setdefault(
            workload_key,
            SlidingWindow(self.config.rate_per_workload, self.config.rate_window, self._clock),
        )
        if not window.allow():
            return (
                f"rate limit: {self.config.rate_per_workload} actions per "
                f"{self.config.rate_window:g}s on {workload_key}"
            )
        return None

    def spend(self, workload_key: str, action: str) -> None:
        """Count one action that ran (or was attempted) against the limits."""
        self._overall.hit()
        self._per_workload.setdefault(
            workload_key,
            SlidingWindow(self.config.rate_per_workload, self.config.rate_window, self._clock),
        ).hit()
        self._last_done[(workload_key, action)] = self._clock()
