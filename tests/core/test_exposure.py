"""What counts as "the world": both sides of every special-purpose block boundary, IPv4 and IPv6.

The apply guard and the audit both ask :func:`is_world`; a block drawn one bit too wide here
would let etcd or the kubelet be opened to real public addresses without a word.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from portsync import exposure
from portsync.config import LoadedConfig
from portsync.exposure import ComponentPort, component_ports, guarded_ports, is_world
from portsync.model import Endpoint, PortRange, Protocol
from portsync.peers import native_kind
from portsync.providers.aws.peers import GROUP
from portsync.providers.azure.peers import ASG, SERVICE_TAG, WORLD_TAGS
from portsync.providers.gcp.peers import TAG
from portsync.synthesis import load_catalogs

from .worlds import prod_config

WORLD, PRIVATE = True, False

# (CIDR, reaches the internet?) — the first and last address inside each block, and the nearest
# addresses outside it, from the IANA special-purpose registries.
TABLE_V4 = [
    ("0.0.0.0/0", WORLD),
    ("0.0.0.0/1", WORLD),
    ("128.0.0.0/1", WORLD),
    # 0.0.0.0/8 "this network"
    ("0.0.0.0/8", PRIVATE),
    ("0.255.255.255/32", PRIVATE),
    ("1.0.0.0/32", WORLD),
    ("1.0.0.0/8", WORLD),
    ("0.0.0.0/7", WORLD),
    # 10.0.0.0/8 private
    ("9.255.255.255/32", WORLD),
    ("10.0.0.0/8", PRIVATE),
    ("10.255.255.255/32", PRIVATE),
    ("11.0.0.0/32", WORLD),
    # 100.64.0.0/10 shared address space (CGNAT)
    ("100.63.255.255/32", WORLD),
    ("100.64.0.0/32", PRIVATE),
    ("100.64.0.0/10", PRIVATE),
    ("100.127.255.255/32", PRIVATE),
    ("100.128.0.0/32", WORLD),
    ("100.0.0.0/8", WORLD),
    # 127.0.0.0/8 loopback
    ("126.255.255.255/32", WORLD),
    ("127.0.0.1/32", PRIVATE),
    ("127.255.255.255/32", PRIVATE),
    ("128.0.0.0/32", WORLD),
    # 169.254.0.0/16 link local
    ("169.253.255.255/32", WORLD),
    ("169.254.0.0/16", PRIVATE),
    ("169.254.255.255/32", PRIVATE),
    ("169.255.0.0/32", WORLD),
    # 172.16.0.0/12 private
    ("172.15.255.255/32", WORLD),
    ("172.16.0.0/12", PRIVATE),
    ("172.31.255.255/32", PRIVATE),
    ("172.32.0.0/32", WORLD),
    ("172.0.0.0/8", WORLD),
    # 192.0.0.0/24 IETF protocol assignments, with two globally reachable anycast addresses
    ("191.255.255.255/32", WORLD),
    ("192.0.0.0/32", PRIVATE),
    ("192.0.0.8/32", PRIVATE),
    ("192.0.0.9/32", WORLD),
    ("192.0.0.10/32", WORLD),
    ("192.0.0.11/32", PRIVATE),
    ("192.0.0.8/31", WORLD),  # half private, half anycast: split one bit at a time
    ("192.0.0.10/31", WORLD),
    ("192.0.0.255/32", PRIVATE),
    ("192.0.0.0/24", WORLD),
    ("192.0.0.0/29", PRIVATE),
    # 192.0.2.0/24 TEST-NET-1
    ("192.0.1.255/32", WORLD),
    ("192.0.2.0/24", PRIVATE),
    ("192.0.3.0/32", WORLD),
    # 192.168.0.0/16 private
    ("192.167.255.255/32", WORLD),
    ("192.168.0.0/16", PRIVATE),
    ("192.169.0.0/32", WORLD),
    # 198.18.0.0/15 benchmarking
    ("198.17.255.255/32", WORLD),
    ("198.18.0.0/15", PRIVATE),
    ("198.19.255.255/32", PRIVATE),
    ("198.20.0.0/32", WORLD),
    # 198.51.100.0/24 TEST-NET-2, 203.0.113.0/24 TEST-NET-3
    ("198.51.99.255/32", WORLD),
    ("198.51.100.0/24", PRIVATE),
    ("198.51.101.0/32", WORLD),
    ("203.0.112.255/32", WORLD),
    ("203.0.113.0/24", PRIVATE),
    ("203.0.114.0/32", WORLD),
    # 224.0.0.0/4 multicast and 240.0.0.0/4 reserved, up to the broadcast address
    ("223.255.255.255/32", WORLD),
    ("224.0.0.0/3", WORLD),  # multicast and reserved, but shorter than /8: the world by width
    ("224.0.0.0/8", PRIVATE),
    ("255.255.255.255/32", PRIVATE),
]

TABLE_V6 = [
    ("::/0", WORLD),
    ("::/1", WORLD),
    ("8000::/1", WORLD),
    # ::/128 unspecified and ::1/128 loopback
    ("::/127", PRIVATE),
    ("::1/128", PRIVATE),
    ("::2/128", WORLD),
    ("::/126", WORLD),
    # ::ffff:0:0/96 IPv4-mapped
    ("::fffe:ffff:ffff/128", WORLD),
    ("::ffff:0:0/96", PRIVATE),
    ("::1:0:0:0/128", WORLD),
    # 64:ff9b::/96 is globally reachable; 64:ff9b:1::/48 (local-use translation) is not
    ("64:ff9b::/96", WORLD),
    ("64:ff9b:0:ffff:ffff:ffff:ffff:ffff/128", WORLD),
    ("64:ff9b:1::/48", PRIVATE),
    ("64:ff9b:2::/128", WORLD),
    # 100::/64 discard-only and 100:0:0:1::/64 dummy prefix
    ("ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", WORLD),
    ("100::/64", PRIVATE),
    ("100:0:0:1::/64", PRIVATE),
    ("100::/63", PRIVATE),
    ("100:0:0:2::/128", WORLD),
    # 2001::/23 IETF protocol assignments: mostly not reachable, with reachable parts inside
    ("2000::/3", WORLD),
    ("2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", WORLD),
    ("2001::/23", WORLD),  # holds reachable anycast and AS112 space
    ("2001::/32", WORLD),  # Teredo: public IPv4 hosts behind it
    ("2001:1::1/128", WORLD),
    ("2001:1::2/128", WORLD),
    ("2001:1::3/128", WORLD),
    ("2001:1::4/128", PRIVATE),
    ("2001:2::/48", PRIVATE),  # benchmarking
    ("2001:3::/32", WORLD),  # AMT
    ("2001:4:112::/48", WORLD),  # AS112-v6
    ("2001:10::/28", PRIVATE),  # deprecated ORCHID
    ("2001:20::/28", WORLD),  # ORCHIDv2
    ("2001:30::/28", WORLD),  # DRIP
    ("2001:1ff:ffff:ffff::/64", PRIVATE),
    ("2001:200::/128", WORLD),
    ("2001:200::/23", WORLD),
    # 2001:db8::/32 documentation
    ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff/128", WORLD),
    ("2001:db8::/32", PRIVATE),
    ("2001:db9::/128", WORLD),
    # global unicast elsewhere
    ("2002::/16", WORLD),  # 6to4
    ("2600::/12", WORLD),
    ("2620:4f:8000::/48", WORLD),  # AS112 direct delegation
    ("2a00::/12", WORLD),
    # 3fff::/20 documentation
    ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", WORLD),
    ("3fff::/20", PRIVATE),
    ("3fff:1000::/128", WORLD),
    # 5f00::/16 segment routing SIDs
    ("5eff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", WORLD),
    ("5f00::/16", PRIVATE),
    ("5f01::/128", WORLD),
    # fc00::/7 unique local, fe80::/10 link local, ff00::/8 multicast
    ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", WORLD),
    ("fc00::/7", WORLD),  # wholly unique-local, but shorter than /16: the world by width
    ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", PRIVATE),
    ("fe00::/128", WORLD),
    ("fe80::/10", WORLD),  # shorter than /16
    ("fe80::/16", PRIVATE),
    ("fec0::/128", WORLD),
    ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", WORLD),
    ("ff00::/8", WORLD),  # shorter than /16
    ("ff00::/16", PRIVATE),
]


@pytest.mark.parametrize(("cidr", "world"), TABLE_V4 + TABLE_V6, ids=lambda v: str(v))
def test_the_world_on_both_sides_of_every_special_block(cidr: str, world: bool) -> None:
    assert is_world(Endpoint.cidr(cidr)) is world


@pytest.mark.parametrize("tag", ["Internet", "INTERNET", "internet", "Any", "ANY", "any", "*"])
def test_world_service_tags_compare_case_insensitively(tag: str) -> None:
    assert is_world(Endpoint(SERVICE_TAG, tag))


def test_world_service_tags_are_exactly_internet_any_and_star() -> None:
    assert frozenset({"internet", "any", "*"}) == WORLD_TAGS


@pytest.mark.parametrize(
    "endpoint",
    [
        Endpoint(SERVICE_TAG, "VirtualNetwork"),
        Endpoint(SERVICE_TAG, "AzureLoadBalancer"),
        Endpoint(SERVICE_TAG, "Internet2"),
        Endpoint(GROUP, "sg-0123"),
        Endpoint(TAG, "internet"),  # a GCP network tag, whatever its name
        Endpoint(ASG, "any"),
    ],
    ids=str,
)
def test_groups_tags_and_other_service_tags_are_not_the_world(endpoint: Endpoint) -> None:
    assert not is_world(endpoint)


def test_special_blocks_minus_their_reachable_parts_are_exactly_what_is_not_global() -> None:
    """The table above reads the blocks through :func:`is_world`; this checks how they are cut.
    Every reachable part is out, and the rest of every special block is still in, address for
    address (the blocks do not overlap, so sizes add up)."""
    blocks = exposure._not_global()
    holes = [ipaddress.ip_network(h) for h in exposure._REACHABLE_INSIDE]
    special = [ipaddress.ip_network(b) for b in exposure._SPECIAL]
    for hole in holes:
        assert not [b for b in blocks if b.version == hole.version and b.overlaps(hole)], hole
    for block in blocks:
        assert any(block.version == s.version and block.subnet_of(s) for s in special), block
    size = sum(b.num_addresses for b in blocks)
    assert size == sum(b.num_addresses for b in special) - sum(h.num_addresses for h in holes)
    assert len(blocks) > len(special)  # the holes were cut out of the blocks, not dropped
    assert blocks == exposure._NOT_GLOBAL


# --- the component ports the audit reports and apply guards ---------------------------------------


_loaded = prod_config


def _at(ports: list[ComponentPort], low: int, high: int | None = None) -> list[ComponentPort]:
    """The entries of ``ports`` on exactly ``low``-``high``."""
    return [p for p in ports if p.ports == PortRange(low, low if high is None else high)]


def _row(loaded: LoadedConfig, purpose_start: str) -> Any:
    return next(
        r for c in load_catalogs(loaded) for r in c.rows if r.purpose.startswith(purpose_start)
    )


def test_without_a_catalog_the_component_ports_are_exactly_the_floor() -> None:
    assert component_ports(_loaded(catalog=[], extra_rules=[])) == [
        ComponentPort(
            check=exposure.COMPONENT_CHECKS[floor.component],
            component=floor.component,
            protocol=floor.protocol,
            ports=floor.ports,
            roles=None,
            purpose=floor.why,
        )
        for floor in exposure.EXPOSURE_FLOOR
    ]


def test_a_catalog_row_names_its_component_check_roles_and_purpose() -> None:
    loaded = _loaded(catalog=["kubernetes"])
    ports = component_ports(loaded)
    assert _at(ports, 6443) == [
        ComponentPort(
            check="PS-EXPOSED-APISERVER",
            component="kube-apiserver",
            protocol=Protocol.TCP,
            ports=PortRange(6443, 6443),
            roles=frozenset({"control-plane"}),
            purpose=_row(loaded, "Kubernetes API server").purpose,
        )
    ]
    # The floor comes last: on a floor port the catalog's wording stays, the roles become all.
    (etcd,) = _at(ports, 2379, 2380)
    assert etcd.check == "PS-EXPOSED-ETCD" and etcd.roles is None
    catalog_purpose = _row(loaded, "etcd server").purpose
    assert etcd.purpose == catalog_purpose != exposure.EXPOSURE_FLOOR[0].why


def test_a_port_of_several_roles_is_one_entry_for_all_of_them_and_portless_rows_none() -> None:
    """Cilium lists its ports on both roles, an ICMP row between them, and egress rows too."""
    loaded = _loaded(catalog=["kubernetes", "cilium"])
    ports = component_ports(loaded)
    assert all(p.ports is not None for p in ports)
    assert [p for p in _at(ports, 8472) if p.component is None] == [
        ComponentPort(
            check="PS-EXPOSED-TABLE-PORT",
            component=None,
            protocol=Protocol.UDP,
            ports=PortRange(8472, 8472),
            roles=frozenset({"control-plane", "worker"}),
            purpose=_row(loaded, "Cilium VXLAN").purpose,
        )
    ]
    (health,) = [p for p in _at(ports, 4240) if p.component is None]
    assert health.roles == frozenset({"control-plane", "worker"})


@pytest.mark.parametrize(
    ("etcd", "role"),
    [("stacked", "control-plane"), ("external", "etcd")],
    ids=["stacked", "external"],
)
def test_etcd_ports_belong_to_the_etcd_role_only_when_etcd_is_external(
    etcd: str, role: str
) -> None:
    # Moved off the floor's range, so the row's own roles show.
    loaded = _loaded(catalog=["kubernetes"], etcd=etcd, overrides={"etcd": "12379-12380"})
    ports = component_ports(loaded)
    (moved,) = _at(ports, 12379, 12380)
    assert (moved.check, moved.component, moved.roles) == (
        "PS-EXPOSED-ETCD",
        "etcd",
        frozenset({role}),
    )
    (api,) = _at(ports, 6443)
    assert api.roles == frozenset({"control-plane"})


def test_sensitive_and_retired_ports_of_a_catalog() -> None:
    loaded = _loaded(catalog=["kubernetes", "kops", "calico"])
    ports = component_ports(loaded)
    catalogs = {c.name: c for c in load_catalogs(loaded)}
    manager = next(s for s in catalogs["kops"].sensitive if s.component == "etcd-manager")
    assert [p for p in _at(ports, 3994, 3997) if p.check == "PS-EXPOSED-SENSITIVE-PORT"] == [
        ComponentPort(
            check="PS-EXPOSED-SENSITIVE-PORT",
            component="etcd-manager",
            protocol=Protocol.TCP,
            ports=PortRange(3994, 3997),
            roles=frozenset({"control-plane"}),
            purpose=f"kops: {manager.why}",
        )
    ]
    # A sensitive port of a component with a check of its own is reported under that check.
    assert [p.check for p in _at(ports, 4001, 4002)] == ["PS-EXPOSED-ETCD"]
    # No roles listed: every role.
    bgp = next(s for s in catalogs["calico"].sensitive if s.component == "calico-bgp")
    assert [p for p in _at(ports, 179) if p.component == "calico-bgp"] == [
        ComponentPort(
            check="PS-EXPOSED-SENSITIVE-PORT",
            component="calico-bgp",
            protocol=Protocol.TCP,
            ports=PortRange(179, 179),
            roles=None,
            purpose=f"calico: {bgp.why}",
        )
    ]
    retired = next(r for r in catalogs["kubernetes"].retired if r.component == "kube-scheduler")
    assert _at(ports, 10251) == [
        ComponentPort(
            check="PS-EXPOSED-RETIRED-PORT",
            component="kube-scheduler",
            protocol=Protocol.TCP,
            ports=PortRange(10251, 10251),
            roles=frozenset({"control-plane"}),
            purpose=retired.why,
        )
    ]


def _port(check: str, component: str | None, purpose: str = "") -> ComponentPort:
    return ComponentPort(
        check=check,
        component=component,
        protocol=Protocol.TCP,
        ports=PortRange(10251, 10252),
        roles=frozenset({"control-plane"}),
        purpose=purpose,
    )


def test_how_findings_name_a_port() -> None:
    retired = "PS-EXPOSED-RETIRED-PORT"
    assert _port(retired, "kube-scheduler").label() == "retired kube-scheduler port tcp/10251-10252"
    assert _port(retired, None, "old").label() == "retired Kubernetes port tcp/10251-10252"
    table = "PS-EXPOSED-TABLE-PORT"
    assert _port(table, "kubelet", "kubelet API").label() == "kubelet tcp/10251-10252"
    assert _port(table, None, "Cilium health").label() == "Cilium health tcp/10251-10252"
    assert _port(table, None).label() == "port tcp/10251-10252"


def test_a_port_of_some_roles_applies_to_those_and_to_roles_the_tables_do_not_know() -> None:
    port = _port("PS-EXPOSED-RETIRED-PORT", "kube-scheduler")
    known = frozenset({"control-plane", "worker"})
    assert port.applies_to("control-plane", known)
    assert not port.applies_to("worker", known)
    assert port.applies_to("bastion", known)
    assert port.applies_to(None, known)


def test_apply_guards_the_high_checks_only() -> None:
    """The API server and NodePorts are warnings: apply never refuses to open them."""
    names = {name for _port, name in guarded_ports(_loaded(catalog=["kubernetes"]))}
    assert names == {"etcd", "kubelet", "kube-scheduler", "kube-controller-manager", "retired"}


def test_every_check_is_filed_under_its_own_id() -> None:
    for key, check in exposure.CHECKS.items():
        assert check.id == key
        assert check.sarif_id.startswith(("portsync/exposure/", "portsync/lifeline/"))
        assert isinstance(check.severity, exposure.Severity)
        assert check.title and check.why and check.fix
    etcd = exposure.CHECKS["PS-EXPOSED-ETCD"]
    assert (etcd.sarif_id, etcd.severity, etcd.title) == (
        "portsync/exposure/etcd",
        exposure.Severity.HIGH,
        "etcd reachable from the internet",
    )
    assert etcd.fix.startswith("Allow 2379-2380 only from the control plane")
    assert etcd.why.startswith("etcd stores every Secret")


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0", "10.0.0.0/8", "2001:db8::/32"])
def test_no_native_peer_is_written_like_a_network(cidr: str) -> None:
    assert native_kind(cidr) is None
