"""The built-in catalogs for what runs on the nodes: every catalog's rules under its defaults,
and what each option adds or removes, written out.

Rules are written ``role direction protocol/ports peer`` (``control-plane in udp/4789 self``).
"""

from __future__ import annotations

import pytest

from portsync.catalog import builtin_catalogs, load_catalog
from portsync.errors import PortTableError
from portsync.model import Rule, RuleSet
from portsync.synthesis import rows_to_rules

CP, WK = "control-plane", "worker"


def _text(rules: RuleSet) -> set[str]:
    short = {"ingress": "in", "egress": "out"}

    def what(rule: Rule) -> str:
        if rule.ports is not None:
            return f"{rule.protocol.value}/{rule.ports}"
        if rule.icmp_type is not None:
            return f"{rule.protocol.value}/{rule.icmp_type}/{rule.icmp_code}"
        return rule.protocol.value

    return {f"{r.role} {short[r.direction.value]} {what(r)} {r.peer}" for r in rules}


def _rules(name: str, **options: object) -> set[str]:
    return _text(rows_to_rules(load_catalog(name, options=options).rows))


def _between_nodes(protocol_ports: str, direction: str = "in") -> set[str]:
    """A port open on both roles from both roles (how a CNI's mesh reads)."""
    return {
        f"{CP} {direction} {protocol_ports} self",
        f"{CP} {direction} {protocol_ports} role:worker",
        f"{WK} {direction} {protocol_ports} self",
        f"{WK} {direction} {protocol_ports} role:control-plane",
    }


# --- calico ------------------------------------------------------------------------------------


def test_calico_defaults_are_ip_in_ip_and_bgp_between_every_node() -> None:
    assert _rules("calico") == _between_nodes("ipip") | _between_nodes("tcp/179")


def test_calico_vxlan_drops_bgp_and_opens_4789() -> None:
    assert _rules("calico", encapsulation="vxlan") == _between_nodes("udp/4789")


def test_calico_no_encapsulation_is_bgp_only() -> None:
    assert _rules("calico", encapsulation="none") == _between_nodes("tcp/179")


@pytest.mark.parametrize(
    ("options", "added"),
    [
        ({"typha": True}, _between_nodes("tcp/5473")),
        ({"wireguard": True}, _between_nodes("udp/51820")),
        (
            {"wireguard": True, "ipv6": True},
            _between_nodes("udp/51820") | _between_nodes("udp/51821"),
        ),
        ({"ipv6": True}, set()),  # IPv6 alone opens nothing: only WireGuard has an IPv6 port
    ],
)
def test_calico_flags_add_their_ports(options: dict[str, object], added: set[str]) -> None:
    base = _rules("calico", encapsulation="none")
    assert _rules("calico", encapsulation="none", **options) - base == added
    assert base <= _rules("calico", encapsulation="none", **options)


# --- cilium ------------------------------------------------------------------------------------


def test_cilium_defaults_are_vxlan_and_health_both_ways() -> None:
    expected = set()
    for port in ("udp/8472", "tcp/4240", "icmp/8/0"):
        expected |= _between_nodes(port) | _between_nodes(port, "out")
    assert _rules("cilium") == expected


@pytest.mark.parametrize(
    ("options", "removed", "added"),
    [
        (
            {"tunnel": "geneve"},
            _between_nodes("udp/8472") | _between_nodes("udp/8472", "out"),
            _between_nodes("udp/6081") | _between_nodes("udp/6081", "out"),
        ),
        (
            {"tunnel": "disabled"},
            _between_nodes("udp/8472") | _between_nodes("udp/8472", "out"),
            set(),
        ),
        (
            {"wireguard": True},
            set(),
            _between_nodes("udp/51871") | _between_nodes("udp/51871", "out"),
        ),
        ({"hubble": True}, set(), _between_nodes("tcp/4244") | _between_nodes("tcp/4244", "out")),
        (
            {"health_icmp": False},
            _between_nodes("icmp/8/0") | _between_nodes("icmp/8/0", "out"),
            set(),
        ),
        (
            {"kvstore": "etcd"},
            set(),
            {f"{CP} in tcp/2379-2380 role:worker", f"{WK} out tcp/2379-2380 role:control-plane"},
        ),
    ],
)
def test_cilium_options(options: dict[str, object], removed: set[str], added: set[str]) -> None:
    base, chosen = _rules("cilium"), _rules("cilium", **options)
    assert base - chosen == removed
    assert chosen - base == added


# --- flannel -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, _between_nodes("udp/8472")),
        ({"backend": "wireguard"}, _between_nodes("udp/51820")),
        (
            {"backend": "wireguard", "ipv6": True},
            _between_nodes("udp/51820") | _between_nodes("udp/51821"),
        ),
        ({"backend": "host-gw"}, set()),
        ({"ipv6": True}, _between_nodes("udp/8472")),
    ],
)
def test_flannel_backends(options: dict[str, object], expected: set[str]) -> None:
    assert _rules("flannel", **options) == expected


# --- k3s ---------------------------------------------------------------------------------------

K3S_BASE = (
    {f"{CP} in tcp/6443 role:worker"} | _between_nodes("tcp/10250") | _between_nodes("udp/8472")
)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, K3S_BASE),
        ({"flannel_backend": "none"}, K3S_BASE - _between_nodes("udp/8472")),
        ({"flannel_backend": "host-gw"}, K3S_BASE - _between_nodes("udp/8472")),
        (
            {"flannel_backend": "wireguard-native"},
            K3S_BASE - _between_nodes("udp/8472") | _between_nodes("udp/51820"),
        ),
        (
            {"flannel_backend": "wireguard-native", "ipv6": True},
            K3S_BASE - _between_nodes("udp/8472")
            | _between_nodes("udp/51820")
            | _between_nodes("udp/51821"),
        ),
        ({"embedded_etcd": True}, K3S_BASE | {f"{CP} in tcp/2379-2380 self"}),
        (
            {"embedded_registry": True},
            K3S_BASE | _between_nodes("tcp/5001") | _between_nodes("tcp/6443"),
        ),
    ],
)
def test_k3s_options(options: dict[str, object], expected: set[str]) -> None:
    assert _rules("k3s", **options) == expected


# --- rke2 --------------------------------------------------------------------------------------

RKE2_BASE = (
    {f"{CP} in tcp/6443 self", f"{CP} in tcp/6443 role:worker"}
    | {f"{CP} in tcp/9345 self", f"{CP} in tcp/9345 role:worker"}
    | _between_nodes("tcp/10250")
    | {f"{CP} in tcp/2379-2381 self"}
    | _between_nodes("tcp/30000-32767")
)


def _all(*ports: str) -> set[str]:
    out: set[str] = set()
    for port in ports:
        out |= _between_nodes(port)
    return out


@pytest.mark.parametrize(
    ("options", "cni_ports"),
    [
        ({}, _all("udp/8472", "tcp/9099")),
        ({"wireguard": True}, _all("udp/8472", "tcp/9099", "udp/51820")),
        ({"wireguard": True, "ipv6": True}, _all("udp/8472", "tcp/9099", "udp/51820", "udp/51821")),
        ({"cni": "cilium"}, _all("icmp/8/0", "tcp/4240", "udp/8472")),
        (
            {"cni": "cilium", "wireguard": True},
            _all("icmp/8/0", "tcp/4240", "udp/8472", "udp/51871"),
        ),
        ({"cni": "calico"}, _all("tcp/179", "udp/4789", "tcp/5473", "tcp/9098", "tcp/9099")),
        ({"cni": "flannel"}, _all("udp/4789")),
        ({"cni": "none"}, set()),
    ],
)
def test_rke2_cni_options(options: dict[str, object], cni_ports: set[str]) -> None:
    assert _rules("rke2", **options) == RKE2_BASE | cni_ports


# --- konnectivity ------------------------------------------------------------------------------


def test_konnectivity_is_one_port_from_the_agents() -> None:
    assert _rules("konnectivity") == {f"{CP} in tcp/8132 role:worker"}
    assert load_catalog("konnectivity").options == ()


# --- every catalog -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in builtin_catalogs() if n != "kubernetes"])
def test_each_node_catalog_names_its_upstream_and_marks_sensitive_ports(name: str) -> None:
    catalog = load_catalog(name)
    assert catalog.upstream is not None
    assert catalog.upstream.url.startswith("https://")
    assert catalog.upstream.version
    assert catalog.sensitive, f"{name} marks no sensitive port"
    assert all(port.why and port.catalog == name for port in catalog.sensitive)


@pytest.mark.parametrize("name", builtin_catalogs())
def test_each_option_value_loads_and_defaults_are_declared_values(name: str) -> None:
    catalog = load_catalog(name)
    for option in catalog.options:
        assert option.default in option.values
        for value in option.values:
            chosen = load_catalog(name, options={option.name: value})
            assert chosen.choices is not None and chosen.choices[option.name] == value


def test_sensitive_ports_name_what_listens() -> None:
    felix = [p for p in load_catalog("calico").sensitive if p.component == "calico-felix-metrics"]
    assert [str(p.ports) for p in felix] == ["9091"]
    health = [p for p in load_catalog("cilium").sensitive if p.component == "cilium-health"]
    assert [(p.protocol.value, str(p.ports)) for p in health] == [("tcp", "4240")]
    etcd = [p for p in load_catalog("k3s").sensitive if p.component == "etcd"]
    assert [(str(p.ports), p.roles) for p in etcd] == [("2379-2380", ("control-plane",))]


def test_unknown_option_or_value_is_refused_with_the_choices() -> None:
    with pytest.raises(PortTableError) as caught:
        load_catalog("calico", options={"encapsulation": "gre"})
    assert "ipip|vxlan|none" in str(caught.value)
    with pytest.raises(PortTableError) as caught:
        load_catalog("cilium", options={"tunnels": "vxlan"})
    assert "has no option 'tunnels'" in str(caught.value)
    assert "tunnel: vxlan|geneve|disabled" in str(caught.value)


# --- kops --------------------------------------------------------------------------------------


def test_kops_is_etcd_managers_ports_between_control_planes_and_kops_controller() -> None:
    assert _rules("kops") == {
        f"{CP} in tcp/2380-2381 self",
        f"{CP} in tcp/3994-3997 self",
        f"{CP} in tcp/4001-4002 self",
        f"{CP} in tcp/3988 role:worker",
    }
    sensitive = {(p.component, str(p.ports)) for p in load_catalog("kops").sensitive}
    assert sensitive == {("etcd", "4001-4002"), ("etcd-manager", "3994-3997")}
