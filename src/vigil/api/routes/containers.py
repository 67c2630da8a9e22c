"""``GET /containers``: the containers the agent knows, and how each identity was found."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from fastapi import APIRouter

from vigil.api.deps import AgentDep
from vigil.identity.records import ContainerRecord

router = APIRouter(tags=["containers"])


@runtime_checkable
class ContainerInventory(Protocol):
    """An identity stage that can list its containers (IdentityResolver)."""

    def containers(self) -> list[ContainerRecord]: ...


@runtime_checkable
class KubeStatus(Protocol):
    """The pod directory fed by the Kubernetes watch (vigil.kube.pods.PodDirectory)."""

    connected: bool
    last_error: str

    def __len__(self) -> int: ...


@router.get("/containers")
async def list_containers(agent: AgentDep) -> dict[str, Any]:
    identity = agent.identity
    records = identity.containers() if isinstance(identity, ContainerInventory) else []
    owners = getattr(identity, "pod_owners", None)
    kubernetes: dict[str, Any] = {"enabled": False}
    if isinstance(owners, KubeStatus):
        kubernetes = {
            "enabled": True,
            "connected": owners.connected,
            "pods": len(owners),
            "last_error": owners.last_error,
        }
    ordered = sorted(records, key=lambda r: (r.workload.key, r.id))
    return {"containers": [r.to_json() for r in ordered], "kubernetes": kubernetes}
