"""Workload selectors: how people name a workload, in one place.

A workload ``shop/Deployment/web/app`` may be named by its full key, ``shop/web``, ``web``,
``web/app`` or ``shop/web/app``. ``vigil profiles`` and profile policy overrides take any of these,
exactly; playbooks take glob patterns (``shop/*``) over the workload forms only, without the
container forms, so that ``shop/*`` cannot also match a workload *named* ``shop``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from vigil.models import Workload


def workload_names(workload: Workload, *, containers: bool = True) -> tuple[str, ...]:
    """Every name ``workload`` answers to: key, ``ns/name``, ``name``, and (``containers``)
    ``name/container`` and ``ns/name/container``."""
    w = workload
    names = (w.key, f"{w.namespace}/{w.name}", w.name)
    if not containers:
        return names
    return (*names, f"{w.name}/{w.container}", f"{w.namespace}/{w.name}/{w.container}")


@dataclass(frozen=True, slots=True)
class WorkloadSelector:
    """One selector as written: exact with container forms (profiles, policies), or a glob over
    the workload forms (playbooks)."""

    text: str
    glob: bool = False

    def matches(self, workload: Workload) -> bool:
        if self.glob:
            names = workload_names(workload, containers=False)
            return any(fnmatch.fnmatchcase(name, self.text) for name in names)
        return self.text in workload_names(workload)
