"""What "open to the world" means, and which Kubernetes ports must never be.

Shared by the apply-time guard (``allow_exposure``) and the audit (which also owns the mapping
from catalog rows to component ports), so the two can never disagree.

The *exposure floor* is the list of ports no configuration can make safe to open to the world:
etcd (2379-2380), the kubelet API (10250), the retired read-only kubelet (10255), the controller
manager (10257) and the scheduler (10259). It holds on every role, whatever the catalogs list
(a custom catalog, or none), whatever ``overrides`` move and whatever the ``etcd`` topology;
only ``allow_exposure`` naming the component lets such a rule through.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from portsync.model import Endpoint, EndpointKind, PortRange, Protocol

__all__ = [
    "EXPOSURE_FLOOR",
    "SENSITIVE_COMPONENTS",
    "WIDE_PREFIX",
    "WORLD_SERVICE_TAGS",
    "FloorPort",
    "is_wide",
    "is_world",
]

#: Components whose ports must never be reachable from the internet.
SENSITIVE_COMPONENTS = ("etcd", "kubelet", "kube-scheduler", "kube-controller-manager")


@dataclass(frozen=True, slots=True)
class FloorPort:
    """A port of a Kubernetes component that must never face the internet, on any role."""

    component: str
    protocol: Protocol
    ports: PortRange
    why: str


#: The exposure floor (see the module documentation). Component names are the audit's.
EXPOSURE_FLOOR = (
    FloorPort("etcd", Protocol.TCP, PortRange(2379, 2380), "etcd client and peer API"),
    FloorPort("kubelet", Protocol.TCP, PortRange(10250, 10250), "kubelet API"),
    FloorPort(
        "kubelet-read-only",
        Protocol.TCP,
        PortRange(10255, 10255),
        "read-only kubelet API (retired, unauthenticated)",
    ),
    FloorPort(
        "kube-controller-manager", Protocol.TCP, PortRange(10257, 10257), "kube-controller-manager"
    ),
    FloorPort("kube-scheduler", Protocol.TCP, PortRange(10259, 10259), "kube-scheduler"),
)

#: Prefixes shorter than these span a large share of their address family, so they count as
#: the world whichever part of it they cover (``224.0.0.0/3``, ``fc00::/7``): nobody means to
#: let that many hosts in.
WIDE_PREFIX = {4: 8, 6: 16}

#: Azure service tags that mean "anyone on the internet".
WORLD_SERVICE_TAGS = frozenset({"internet", "*", "any"})


# Address blocks that are not reachable from the public internet: the IANA IPv4 and IPv6
# special-purpose registries' entries whose "globally reachable" is false, plus multicast.
_SPECIAL = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/127", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "100:0:0:1::/64", "2001::/23",
    "2001:db8::/32", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "ff00::/8",
)  # fmt: skip

# Inside those blocks, the parts the registries mark globally reachable (anycast services,
# AS112, AMT, ORCHIDv2, DRIP). Teredo (2001::/32) is listed as "not applicable": its addresses
# stand for public IPv4 hosts, so it counts as reachable too.
_REACHABLE_INSIDE = (
    "192.0.0.9/32", "192.0.0.10/32",
    "2001::/32", "2001:1::1/128", "2001:1::2/128", "2001:1::3/128", "2001:3::/32",
    "2001:4:112::/48", "2001:20::/28", "2001:30::/28",
)  # fmt: skip


def _not_global() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The special blocks with their reachable parts cut out."""
    blocks = [ipaddress.ip_network(b) for b in _SPECIAL]
    for text in _REACHABLE_INSIDE:
        hole = ipaddress.ip_network(text)
        blocks = [
            part
            for block in blocks
            for part in (
                block.address_exclude(hole)  # type: ignore[arg-type]
                if block.version == hole.version and hole.subnet_of(block)  # type: ignore[arg-type]
                else (block,)
            )
        ]
    return tuple(blocks)


_NOT_GLOBAL = _not_global()


def _overlaps_public(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    blocks = [b for b in _NOT_GLOBAL if b.version == network.version and b.overlaps(network)]
    if not blocks:
        return True
    if any(network.subnet_of(b) for b in blocks):  # type: ignore[arg-type]
        return False
    # Partly special: public if either half reaches public space.
    return any(_overlaps_public(half) for half in network.subnets(prefixlen_diff=1))


def is_wide(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """Whether ``network``'s prefix is shorter than /8 (IPv4) or /16 (IPv6)."""
    return network.prefixlen < WIDE_PREFIX[network.version]


def is_world(endpoint: Endpoint) -> bool:
    """Whether ``endpoint`` reaches the world.

    A CIDR is the world when any part of it is globally routable (``0.0.0.0/0``, ``::/0``,
    ``0.0.0.0/1``, any public range) or when its prefix is shorter than /8 (IPv4) or /16 (IPv6)
    whatever it covers (``fc00::/7``); ``10.0.0.0/8`` and documentation ranges are not. An Azure
    service tag is the world when it means everyone (``Internet``, ``*``, ``Any``).
    """
    if endpoint.kind is EndpointKind.SERVICE_TAG:
        return endpoint.value.lower() in WORLD_SERVICE_TAGS
    if endpoint.kind is not EndpointKind.CIDR:
        return False
    network = ipaddress.ip_network(endpoint.value)
    return is_wide(network) or _overlaps_public(network)
