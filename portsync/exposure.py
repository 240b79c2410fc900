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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from portsync.model import (
    Direction,
    Endpoint,
    EndpointKind,
    PortRange,
    Protocol,
    TargetRule,
    cidr_version,
)
from portsync.peers import native_kind, native_spec
from portsync.versions import project_url

if TYPE_CHECKING:
    from portsync.config import LoadedConfig

__all__ = [
    "ALLOW_NAMES",
    "CHECKS",
    "COMPONENT_CHECKS",
    "DOCS_URL",
    "EXPOSURE_FLOOR",
    "WIDE_PREFIX",
    "Check",
    "ComponentPort",
    "FloorPort",
    "Severity",
    "component_ports",
    "config_warnings",
    "guarded_ports",
    "is_wide",
    "is_world",
]


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
    whatever it covers (``fc00::/7``); ``10.0.0.0/8`` and documentation ranges are not. A native
    peer is the world when its provider says its value means anyone on the internet.
    """
    if endpoint.kind is not EndpointKind.CIDR:
        spec = native_spec(endpoint.kind)
        return spec is not None and endpoint.value.lower() in spec.world
    network = ipaddress.ip_network(endpoint.value)
    return is_wide(network) or _overlaps_public(network)


# --- which ports matter, how much, and what accepts them -----------------------------------------


#: Where the documentation lives (SARIF ``helpUri``, JSON ``help_uri``): the ``Documentation``
#: entry of pyproject's ``[project.urls]``, i.e. the docs/ folder of the repository.
DOCS_URL = project_url("Documentation", "https://github.com/portsync/portsync/blob/main/docs")


class Severity(str, Enum):
    """How bad a finding is; ``--fail-on`` compares against it."""

    HIGH = "high"
    WARNING = "warning"
    INFO = "info"

    def __str__(self) -> str:
        return self.value

    @property
    def rank(self) -> int:
        """3 for high, 2 for warning, 1 for info."""
        return {"high": 3, "warning": 2, "info": 1}[self.value]

    def at_least(self, other: Severity) -> bool:
        """Whether this severity is ``other`` or worse."""
        return self.rank >= other.rank


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One kind of finding: a stable id, its severity and what to tell the operator."""

    id: str
    sarif_id: str
    severity: Severity
    title: str
    why: str
    fix: str

    @property
    def help_uri(self) -> str:
        """The check's section in docs/audit.md."""
        return f"{DOCS_URL}/audit.md#{self.id.lower()}"


def _check(
    id: str, slug: str, severity: Severity, title: str, why: str, fix: str
) -> tuple[str, Check]:
    return id, Check(
        id=id,
        sarif_id=f"portsync/exposure/{slug}",
        severity=severity,
        title=title,
        why=why,
        fix=fix,
    )


CHECKS: Mapping[str, Check] = dict(
    [
        _check(
            "PS-EXPOSED-ETCD",
            "etcd",
            Severity.HIGH,
            "etcd reachable from the internet",
            "etcd stores every Secret and the whole cluster state; whoever gets a request through "
            "to its client or peer port can read or rewrite the cluster.",
            "Allow 2379-2380 only from the control plane (and the etcd members): remove this rule "
            "or narrow its source to those machines.",
        ),
        _check(
            "PS-EXPOSED-KUBELET",
            "kubelet",
            Severity.HIGH,
            "kubelet API reachable from the internet",
            "The kubelet API runs commands in containers, streams logs and lists pods; a kubelet "
            "with anonymous auth left on is remote code execution on the node.",
            "Allow 10250 only from the control plane and the nodes themselves.",
        ),
        _check(
            "PS-EXPOSED-SCHEDULER",
            "scheduler",
            Severity.HIGH,
            "kube-scheduler reachable from the internet",
            "The scheduler's secure port serves health, metrics and profiling endpoints that only "
            "the control plane itself needs; open to the world it leaks internals and invites "
            "attacks on a component that is never meant to be public.",
            "Allow 10259 only from the control plane (self).",
        ),
        _check(
            "PS-EXPOSED-CONTROLLER-MANAGER",
            "controller-manager",
            Severity.HIGH,
            "kube-controller-manager reachable from the internet",
            "The controller manager holds the cluster's most powerful service-account credentials; "
            "its port serves health, metrics and profiling endpoints meant for the control plane "
            "only.",
            "Allow 10257 only from the control plane (self).",
        ),
        _check(
            "PS-EXPOSED-RETIRED-PORT",
            "retired-port",
            Severity.HIGH,
            "retired Kubernetes port reachable from the internet",
            "Older Kubernetes versions served these ports in plain HTTP without authentication "
            "(insecure scheduler and controller-manager ports, the read-only kubelet); a "
            "component still listening there answers anyone.",
            "Remove the rule (nothing current needs the port), and turn the old endpoint off on "
            "the nodes.",
        ),
        _check(
            "PS-EXPOSED-SENSITIVE-PORT",
            "sensitive-port",
            Severity.HIGH,
            "sensitive port of a node component reachable from the internet",
            "A catalog marks this port as one that must never face the internet: a network "
            "plugin's tunnel or routing port (VXLAN, BGP), an agent's health or metrics endpoint, "
            "a distribution's supervisor or embedded datastore. The finding says why.",
            "Allow the port only from the cluster's own machines (the catalog's rules), or remove "
            "the rule.",
        ),
        _check(
            "PS-EXPOSED-APISERVER",
            "apiserver",
            Severity.WARNING,
            "Kubernetes API server open to the world",
            "The API server authenticates every request, but a world-reachable endpoint is "
            "scanned, brute-forced and the first target of every API server vulnerability.",
            "Narrow the source to the networks that need the API (sources.all), or reach it "
            "through a VPN or bastion; if it is public by design, accept it with allow_exposure.",
        ),
        _check(
            "PS-EXPOSED-NODEPORT",
            "nodeport",
            Severity.WARNING,
            "NodePort range open to the world",
            "Every NodePort Service listens on every node; opening the range to the world "
            "publishes each of them directly, bypassing the load balancer and its controls.",
            "Allow the NodePort range only from the load balancers or known sources; use "
            "LoadBalancer or Ingress for public services.",
        ),
        _check(
            "PS-EXPOSED-KUBE-PROXY",
            "kube-proxy",
            Severity.INFO,
            "kube-proxy health port open to the world",
            "Only load-balancer health checks need kube-proxy's health endpoint; from the world "
            "it tells scanners which nodes run which services.",
            "Allow 10256 only from the nodes and the load balancers.",
        ),
        _check(
            "PS-EXPOSED-TABLE-PORT",
            "table-port",
            Severity.INFO,
            "port-table port open to the world",
            "The port table lists this port for the role, but not for the whole internet.",
            "Narrow the source to the peers the port table names.",
        ),
        _check(
            "PS-UNKNOWN-REACH",
            "unknown-reach",
            Severity.INFO,
            "Kubernetes port reachable from a peer of unknown extent",
            "The peer is a managed prefix list or a service tag whose members portsync cannot "
            "see; if it holds public ranges, a sensitive port is exposed.",
            "Check the prefix list or service tag holds only the networks you mean, or replace it "
            "with the explicit sources.",
        ),
        _check(
            "PS-UNDECLARED-PEER",
            "undeclared-peer",
            Severity.INFO,
            "live peer not named by the port tables",
            "A live rule lets in a peer that the desired rule set does not name for this target: "
            "it was added by hand or by another tool, and nobody reviews it with the port table.",
            "Add the peer to the port table (extra_rules) if it is needed, otherwise remove the "
            "rule.",
        ),
        (
            "PS-LIFELINE-CLOSED",
            Check(
                id="PS-LIFELINE-CLOSED",
                sarif_id="portsync/lifeline/closed",
                severity=Severity.WARNING,
                title="lifeline not open",
                why="The config names this flow under lifelines: as one that must never break, "
                "but the live rules of the target do not admit it today (no rule covers it, or a "
                "deny rule may block it).",
                fix="Add a rule that admits the flow (a port table row or extra_rules entry), "
                "remove the deny rule that blocks it, or change the lifeline if the flow is no "
                "longer needed.",
            ),
        ),
    ]
)


COMPONENT_CHECKS: Mapping[str | None, str] = {
    "etcd": "PS-EXPOSED-ETCD",
    "kubelet": "PS-EXPOSED-KUBELET",
    "kube-scheduler": "PS-EXPOSED-SCHEDULER",
    "kube-controller-manager": "PS-EXPOSED-CONTROLLER-MANAGER",
    "kubelet-read-only": "PS-EXPOSED-RETIRED-PORT",
    "kube-apiserver": "PS-EXPOSED-APISERVER",
    "nodeport": "PS-EXPOSED-NODEPORT",
    "kube-proxy": "PS-EXPOSED-KUBE-PROXY",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentPort:
    """A port a Kubernetes component listens on, for some roles (None: every role)."""

    check: str
    component: str | None
    protocol: Protocol
    ports: PortRange
    roles: frozenset[str] | None
    purpose: str = ""

    def applies_to(self, role: str | None, known_roles: frozenset[str]) -> bool:
        """Whether the port matters on a target of ``role``.

        A role the port tables do not know gets every component port: portsync cannot tell
        what runs there.
        """
        if self.roles is None or role is None or role not in known_roles:
            return True
        return role in self.roles

    def reached_by(self, rule: TargetRule) -> bool:
        """Whether ``rule`` lets traffic to this port in (protocol and range aware)."""
        if rule.protocol is Protocol.ALL:
            return True
        if rule.protocol is not self.protocol or rule.ports is None:
            return False
        return rule.ports.overlaps(self.ports)

    def label(self) -> str:
        """``etcd tcp/2379-2380``, ``retired kube-scheduler port tcp/10251``."""
        where = f"{self.protocol.value}/{self.ports}"
        if self.check == "PS-EXPOSED-RETIRED-PORT":
            return f"retired {self.component or 'Kubernetes'} port {where}"
        return f"{self.component or self.purpose or 'port'} {where}"


def component_ports(loaded: LoadedConfig) -> list[ComponentPort]:
    """Component ports of the config's catalogs (overrides applied), the ports the catalogs mark
    sensitive, and their retired ports.

    Args:
        loaded: the loaded config.

    Returns:
        One entry per check, component, protocol and port range, roles merged.

    Raises:
        ConfigError: a catalog is unknown.
        PortTableError: a catalog cannot be read.
    """
    from portsync.synthesis import apply_overrides, load_catalogs

    config = loaded.config
    merged: dict[tuple[str, str | None, Protocol, PortRange], tuple[set[str] | None, str]] = {}

    def add(
        check: str,
        component: str | None,
        protocol: Protocol,
        ports: PortRange,
        roles: Iterable[str] | None,
        purpose: str,
    ) -> None:
        key = (check, component, protocol, ports)
        seen_roles, seen_purpose = merged.get(key, (set(), purpose))
        if roles is None or seen_roles is None:
            merged[key] = (None, seen_purpose)
        else:
            merged[key] = (seen_roles | set(roles), seen_purpose)

    catalogs = load_catalogs(loaded)
    for row in apply_overrides([r for c in catalogs for r in c.rows], config):
        if row.direction is not Direction.INGRESS or row.ports is None:
            continue  # portless rows (ICMP, IP-in-IP) name no component port
        role = "etcd" if config.etcd == "external" and row.component == "etcd" else row.role
        check = COMPONENT_CHECKS.get(row.component, "PS-EXPOSED-TABLE-PORT")
        add(check, row.component, row.protocol, row.ports, [role], row.purpose)
    for catalog in catalogs:
        for sensitive in catalog.sensitive:
            add(
                COMPONENT_CHECKS.get(sensitive.component, "PS-EXPOSED-SENSITIVE-PORT"),
                sensitive.component,
                sensitive.protocol,
                sensitive.ports,
                sensitive.roles or None,
                f"{catalog.name}: {sensitive.why}",
            )
        for retired in catalog.retired:
            add(
                "PS-EXPOSED-RETIRED-PORT",
                retired.component,
                retired.protocol,
                retired.ports,
                retired.roles or None,
                retired.why,
            )
    # The floor last, so a catalog's own wording of a port wins; on every role, whatever the
    # catalogs, overrides and etcd topology say.
    for floor in EXPOSURE_FLOOR:
        add(
            COMPONENT_CHECKS[floor.component],
            floor.component,
            floor.protocol,
            floor.ports,
            None,
            floor.why,
        )
    return [
        ComponentPort(
            check=check,
            component=component,
            protocol=protocol,
            ports=ports,
            roles=frozenset(roles) if roles is not None else None,
            purpose=purpose,
        )
        for (check, component, protocol, ports), (roles, purpose) in merged.items()
    ]


#: The ``allow_exposure`` name (shared with the apply-time guard) that accepts each check.
ALLOW_NAMES: Mapping[str, str] = {
    "PS-EXPOSED-ETCD": "etcd",
    "PS-EXPOSED-KUBELET": "kubelet",
    "PS-EXPOSED-SCHEDULER": "kube-scheduler",
    "PS-EXPOSED-CONTROLLER-MANAGER": "kube-controller-manager",
    "PS-EXPOSED-RETIRED-PORT": "retired",
    "PS-EXPOSED-SENSITIVE-PORT": "catalog-sensitive",
    # Warnings, not refused by apply: accepting them only marks the findings suppressed (a
    # public-by-design API server, NodePorts behind a public load balancer).
    "PS-EXPOSED-APISERVER": "kube-apiserver",
    "PS-EXPOSED-NODEPORT": "nodeport",
}


def guarded_ports(loaded: LoadedConfig) -> list[tuple[ComponentPort, str]]:
    """The ports ``apply`` refuses to open to the world, each with the ``allow_exposure`` name
    that lets it through: the high checks' ports (the floor, the catalogs' sensitive and retired
    ports, and the ports the catalogs name for those components).

    Raises:
        ConfigError: a catalog is unknown.
        PortTableError: a catalog cannot be read.
    """
    return [
        (port, ALLOW_NAMES[port.check])
        for port in component_ports(loaded)
        if CHECKS[port.check].severity is Severity.HIGH and port.check in ALLOW_NAMES
    ]


def config_warnings(loaded: LoadedConfig) -> list[str]:
    """Lines to print as warnings before every plan: ``sources.all`` entries that are the world
    (a prefix shorter than /8 or /16, such as ``0.0.0.0/0`` or ``::/0``)."""
    lines = []
    for index, cidr in enumerate(loaded.config.sources.all):
        spec = native_kind(cidr) if cidr_version(cidr) is None else None
        if spec is not None:
            # A native peer: the world only when its provider says so; the rest are judged per
            # cloud by the audit.
            world = spec.value_of(cidr).lower() in spec.world
        else:
            world = is_wide(ipaddress.ip_network(cidr))
        if world:
            lines.append(
                f"sources.all holds {cidr} ({loaded.where('sources', 'all', index)}): every rule "
                "whose peer is any (the API server, NodePorts, …) is open to the whole internet"
            )
    return lines
