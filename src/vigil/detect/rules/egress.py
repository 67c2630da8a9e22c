"""Egress policy: "this workload may not reach the internet", except the destinations allowed
for it by workload key, ``namespace/name``, workload name or namespace."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from vigil.models import Event, EventType, Severity
from vigil.selectors import workload_names

RULE_NAME = "Egress to the internet denied by policy"
MITRE = ["T1041", "TA0010", "TA0011"]


@dataclass(frozen=True, slots=True)
class Destination:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    port: int | None = None

    @staticmethod
    def parse(text: str) -> Destination:
        """``CIDR``, ``IP``, ``IP:PORT``, ``CIDR:PORT`` or ``[IPv6]:PORT``; ValueError if not."""
        host, port = text.strip(), None
        if host.startswith("["):
            inner, _, rest = host[1:].partition("]")
            host, port = inner, int(rest.removeprefix(":")) if rest else None
        elif host.count(":") == 1:
            host, _, port_text = host.partition(":")
            port = int(port_text)
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port {port} out of range")
        return Destination(ipaddress.ip_network(host, strict=False), port)

    def allows(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> bool:
        return ip in self.network and (self.port is None or self.port == port)


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """Applies to workloads whose key, ``ns/name``, name or namespace equals ``selector``."""

    selector: str
    allow: tuple[Destination, ...] = ()

    def applies_to(self, event: Event) -> bool:
        w = event.workload
        if w is None or event.container is None or event.container.is_host:
            return False
        return self.selector in (*workload_names(w, containers=False), w.namespace)


@dataclass(frozen=True, slots=True)
class EgressViolation:
    policy: EgressPolicy
    event: Event

    kind = "rule"
    rule = RULE_NAME
    severity = Severity.HIGH

    @property
    def mitre(self) -> list[str]:
        return list(MITRE)

    @property
    def message(self) -> str:
        n = self.event.network
        where = n.destination if n else "?"
        return (
            f"{RULE_NAME}: {self.event.process.exe} connected to {where} although workload "
            f"{self.event.workload.key if self.event.workload else '?'} may not reach the "
            f"internet (policy {self.policy.selector!r})"
        )


class EgressGuard:
    """Checks outbound connections against the policies; the first policy that applies
    decides."""

    def __init__(self, policies: Sequence[EgressPolicy]) -> None:
        self.policies = tuple(policies)

    def check(self, event: Event) -> EgressViolation | None:
        if event.type is not EventType.CONNECT or event.network is None or not self.policies:
            return None
        try:
            ip = ipaddress.ip_address(event.network.dest_ip)
        except ValueError:
            return None
        if not ip.is_global:
            return None  # the policy governs the internet, not the cluster or the node
        for policy in self.policies:
            if policy.applies_to(event):
                if any(d.allows(ip, event.network.dest_port) for d in policy.allow):
                    return None
                return EgressViolation(policy, event)
        return None
