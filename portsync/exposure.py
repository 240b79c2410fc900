"""What "open to the world" means, and which Kubernetes ports must never be.

Shared by the apply-time guard (``allow_exposure``) and the audit: one definition of *world* and
one list of sensitive ports, so the two can never disagree.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from portsync.model import Endpoint, EndpointKind, PortRange, Protocol, TargetRule

__all__ = [
    "SENSITIVE_COMPONENTS",
    "WORLD_SERVICE_TAGS",
    "SensitivePort",
    "exposed_sensitive_ports",
    "is_world",
    "sensitive_ports",
]

#: Components whose ports must never be reachable from the internet.
SENSITIVE_COMPONENTS = ("etcd", "kubelet", "kube-scheduler", "kube-controller-manager")

#: Azure service tags that mean "anyone on the internet".
WORLD_SERVICE_TAGS = frozenset({"internet", "*", "any"})


@dataclass(frozen=True, slots=True)
class SensitivePort:
    """A port range that must not face the internet, and the name that allows it anyway."""

    name: str  # component name, or "retired"
    protocol: Protocol
    ports: PortRange
    why: str


def is_world(endpoint: Endpoint) -> bool:
    """Whether ``endpoint`` reaches (part of) the public internet."""
    if endpoint.kind is EndpointKind.SERVICE_TAG:
        return endpoint.value.lower() in WORLD_SERVICE_TAGS
    if endpoint.kind is not EndpointKind.CIDR:
        return False
    network = ipaddress.ip_network(endpoint.value)
    if network.prefixlen == 0:
        return True
    if network.is_global:
        return True
    # A private-looking prefix can still cover public space (e.g. 0.0.0.0/1).
    return not (network.is_private or network.is_loopback or network.is_link_local)


def _covers(rule: TargetRule, sensitive: SensitivePort) -> bool:
    if rule.protocol is not Protocol.ALL and rule.protocol is not sensitive.protocol:
        return False
    if rule.ports is None:
        return True
    return rule.ports.overlaps(sensitive.ports)


def sensitive_ports(
    component_ports: Iterable[tuple[str, Protocol, PortRange]],
    retired: Iterable[tuple[Protocol, PortRange, str]] = (),
) -> list[SensitivePort]:
    """Sensitive ports from catalog rows (component, protocol, ports) and retired ports."""
    out = []
    seen = set()
    for component, protocol, ports in component_ports:
        if component in SENSITIVE_COMPONENTS and (component, protocol, ports) not in seen:
            seen.add((component, protocol, ports))
            out.append(
                SensitivePort(component, protocol, ports, f"{component} must not face the internet")
            )
    for protocol, ports, why in retired:
        out.append(SensitivePort("retired", protocol, ports, why))
    return out


def exposed_sensitive_ports(
    rules: Sequence[TargetRule], sensitive: Sequence[SensitivePort]
) -> list[tuple[TargetRule, SensitivePort]]:
    """Pairs of (ingress rule open to the world, sensitive port it exposes)."""
    out = []
    for rule in rules:
        if rule.direction.value != "ingress" or not is_world(rule.peer):
            continue
        for item in sensitive:
            if _covers(rule, item):
                out.append((rule, item))
    return out
