"""The exposure floor, the world and CIDRs written with host bits (no cloud: the plans here are
built by hand, the configs only parsed)."""

from __future__ import annotations

from typing import Any

import pytest

from portsync.api import check_exposure
from portsync.audit import ALLOW_NAMES
from portsync.errors import ConfigError, GuardrailError
from portsync.exposure import config_warnings, is_world
from portsync.model import Endpoint, PortRange, Protocol, TargetRule
from portsync.ops import CreateRuleOp, GroupOps, Plan

from .worlds import prod_config

_loaded = prod_config


def _opening(
    port: int | tuple[int, int] | None,
    *,
    role: str = "worker",
    protocol: Protocol = Protocol.TCP,
    peer: str = "cidr:0.0.0.0/0",
) -> Plan:
    low, high = port if isinstance(port, tuple) else (port, port)
    rule = TargetRule(
        target="sg-2",
        role=role,
        protocol=protocol,
        ports=PortRange(low, high) if low is not None and high is not None else None,
        peer=Endpoint.parse(peer),
        owned=True,
    )
    group = GroupOps(
        cluster="prod", provider="aws", target="sg-2", role=role, ops=(CreateRuleOp(rule),)
    )
    return Plan(groups=(group,))


@pytest.mark.parametrize(
    ("port", "name"),
    [
        ((2379, 2380), "etcd"),
        (2380, "etcd"),
        (10250, "kubelet"),
        (10255, "retired"),
        (10257, "kube-controller-manager"),
        (10259, "kube-scheduler"),
    ],
)
@pytest.mark.parametrize("catalog", [[], ["kubernetes"]], ids=["no-catalog", "kubernetes"])
def test_floor_port_towards_the_world_is_refused_on_any_role(
    port: Any, name: str, catalog: list[str]
) -> None:
    loaded = _loaded(catalog=catalog, extra_rules=[])
    for role in ("worker", "control-plane"):
        with pytest.raises(GuardrailError, match=rf"\({name}\)") as exc:
            check_exposure(loaded, _opening(port, role=role))
        assert exc.value.hint is not None and f"list {name} under allow_exposure" in exc.value.hint
    check_exposure(_loaded(catalog=catalog, allow_exposure=[name]), _opening(port))


def test_floor_holds_under_external_etcd_and_overrides() -> None:
    loaded = _loaded(etcd="external", overrides={"kubelet": 10350, "etcd": "12379-12380"})
    for port in ((2379, 2380), 10250, 10350, (12379, 12380)):
        with pytest.raises(GuardrailError):
            check_exposure(loaded, _opening(port, role="control-plane"))


def test_every_protocol_from_the_world_is_refused_naming_every_floor_component() -> None:
    with pytest.raises(GuardrailError) as exc:
        check_exposure(_loaded(catalog=[]), _opening(None, protocol=Protocol.ALL))
    for name in ("etcd", "kubelet", "retired", "kube-controller-manager", "kube-scheduler"):
        assert name in (exc.value.hint or "")


@pytest.mark.parametrize(
    "plan",
    [
        _opening(10250, peer="cidr:10.0.0.0/8"),
        _opening(2379, protocol=Protocol.UDP),
        _opening(6443),
        _opening(10250, peer="cidr:192.0.2.0/24"),
    ],
    ids=["private-source", "udp", "api-server", "documentation-range"],
)
def test_what_the_floor_lets_through(plan: Plan) -> None:
    check_exposure(_loaded(catalog=[]), plan)


@pytest.mark.parametrize(
    ("cidr", "world"),
    [
        ("0.0.0.0/0", True),
        ("::/0", True),
        ("0.0.0.0/1", True),
        ("8.8.8.0/24", True),
        ("224.0.0.0/3", True),  # not routable, but /3 is no source anyone means
        ("fc00::/7", True),
        ("fe80::/10", True),
        ("10.0.0.0/8", False),
        ("fd00::/16", False),
        ("2001:db8::/32", False),
        ("192.168.0.0/16", False),
    ],
)
def test_the_world_is_public_space_or_a_prefix_shorter_than_8_or_16(cidr: str, world: bool) -> None:
    assert is_world(Endpoint.cidr(cidr)) is world


def test_world_service_tags() -> None:
    assert is_world(Endpoint.parse("service-tag:Internet"))
    assert not is_world(Endpoint.parse("service-tag:VirtualNetwork"))


@pytest.mark.parametrize(
    ("where", "text", "message"),
    [
        (
            "sources.all",
            "203.0.113.7/0",
            "203.0.113.7/0: host bits set; did you mean 203.0.113.7/32?",
        ),
        (
            "sources.all",
            "10.1.2.3/16",
            "10.1.2.3/16: host bits set; did you mean 10.1.2.3/32, or the network 10.1.0.0/16?",
        ),
        (
            "sources.all",
            "2001:db8::1/0",
            "2001:db8::1/0: host bits set; did you mean 2001:db8::1/128?",
        ),
        (
            "sources.load_balancers",
            "10.1.2.3/8",
            "10.1.2.3/8: host bits set; did you mean 10.1.2.3/32, or the network 10.0.0.0/8?",
        ),
    ],
)
def test_cidr_with_host_bits_is_an_error_naming_it(where: str, text: str, message: str) -> None:
    key = where.split(".")[1]
    with pytest.raises(ConfigError, match=message.replace("?", r"\?").replace(".", r"\.")) as exc:
        _loaded(sources={key: [text]})
    assert where in exc.value.message


def test_extra_rule_peer_with_host_bits_is_an_error_naming_it() -> None:
    extra = [{"role": "worker", "protocol": "tcp", "ports": 22, "peer": "cidr:203.0.113.7/0"}]
    with pytest.raises(ConfigError, match=r"extra_rules\.0\.peer: 203\.0\.113\.7/0: host bits set"):
        _loaded(extra_rules=extra)


def test_a_network_or_a_bare_address_is_fine() -> None:
    loaded = _loaded(sources={"all": ["10.1.0.0/16", "203.0.113.7", "2001:db8::/32"]})
    assert loaded.config.sources.all == ("10.1.0.0/16", "203.0.113.7/32", "2001:db8::/32")


def test_world_in_sources_all_is_a_warning_on_every_plan() -> None:
    loaded = _loaded(sources={"all": ["0.0.0.0/0", "::/0", "203.0.113.0/24"]})
    lines = config_warnings(loaded)
    assert len(lines) == 2
    assert lines[0] == (
        "sources.all holds 0.0.0.0/0 (portsync.yaml:3): every rule whose peer is any (the API "
        "server, NodePorts, …) is open to the whole internet"
    )
    assert lines[1].startswith("sources.all holds ::/0 (portsync.yaml:4)")
    assert config_warnings(_loaded()) == []


def test_allow_exposure_accepts_the_api_server_and_nodeports() -> None:
    loaded = _loaded(allow_exposure=["kube-apiserver", "nodeport"])
    assert loaded.config.allow_exposure == ["kube-apiserver", "nodeport"]
    assert ALLOW_NAMES["PS-EXPOSED-APISERVER"] == "kube-apiserver"
    assert ALLOW_NAMES["PS-EXPOSED-NODEPORT"] == "nodeport"
    # accepting them never makes apply refuse a world-open API server
    check_exposure(loaded, _opening(6443, role="control-plane"))
