"""identity stage: attributes each event to a container and a workload.

cgroup id → cgroup2 path (:mod:`~vigil.identity.cgroups`) → container id from the path's layout
→ OCI runtime state and bundle annotations (:mod:`~vigil.identity.runtime`) → workload
(:mod:`~vigil.identity.workload`), tied together with bounded caches by
:class:`~vigil.identity.resolver.IdentityResolver`.
"""

from vigil.identity.records import ContainerRecord, Identity, Provenance, host_identity
from vigil.identity.resolver import IdentityResolver, ScanResult
from vigil.identity.runtime import DEFAULT_STATE_ROOTS, StateRoot

__all__ = [
    "DEFAULT_STATE_ROOTS",
    "ContainerRecord",
    "Identity",
    "IdentityResolver",
    "Provenance",
    "ScanResult",
    "StateRoot",
    "host_identity",
]
