"""What "open to the world" means, and which Kubernetes components must never be.

Shared by the apply-time guard (``allow_exposure``) and the audit (which also owns the mapping
from catalog rows to component ports), so the two can never disagree.
"""

from __future__ import annotations

import ipaddress

from portsync.model import Endpoint, EndpointKind

__all__ = ["SENSITIVE_COMPONENTS", "WORLD_SERVICE_TAGS", "is_world"]

#: Components whose ports must never be reachable from the internet.
SENSITIVE_COMPONENTS = ("etcd", "kubelet", "kube-scheduler", "kube-controller-manager")

#: Azure service tags that mean "anyone on the internet".
WORLD_SERVICE_TAGS = frozenset({"internet", "*", "any"})


# Address blocks that are not reachable from the public internet (IANA special-purpose registry).
_NOT_GLOBAL = tuple(
    ipaddress.ip_network(block)
    for block in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/127", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
        "fc00::/7", "fe80::/10", "ff00::/8",
    )
)  # fmt: skip


def _overlaps_public(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    blocks = [b for b in _NOT_GLOBAL if b.version == network.version and b.overlaps(network)]
    if not blocks:
        return True
    if any(network.subnet_of(b) for b in blocks):  # type: ignore[arg-type]
        return False
    # Partly special: public if either half reaches public space.
    return any(_overlaps_public(half) for half in network.subnets(prefixlen_diff=1))


def is_world(endpoint: Endpoint) -> bool:
    """Whether ``endpoint`` reaches (part of) the public internet.

    A CIDR is the world when any part of it is globally routable: ``0.0.0.0/0``, ``::/0`` and
    ``0.0.0.0/1`` are; ``10.0.0.0/8`` and documentation ranges are not.
    """
    if endpoint.kind is EndpointKind.SERVICE_TAG:
        return endpoint.value.lower() in WORLD_SERVICE_TAGS
    if endpoint.kind is not EndpointKind.CIDR:
        return False
    return _overlaps_public(ipaddress.ip_network(endpoint.value))
