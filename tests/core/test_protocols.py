"""The neutral model speaks every IP protocol, by name or number, and ICMP types and codes."""

from __future__ import annotations

import pickle

import pytest

from portsync.config import parse_config
from portsync.errors import ConfigError
from portsync.model import (
    Direction,
    Endpoint,
    Peer,
    PortRange,
    Protocol,
    Rule,
    RuleSet,
    TargetRule,
    icmp_for,
)
from portsync.synthesis import synthesize


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("tcp", "tcp"),
        ("6", "tcp"),
        (6, "tcp"),
        ("UDP", "udp"),
        ("1", "icmp"),
        ("58", "icmpv6"),
        ("icmpv6", "icmpv6"),
        ("50", "esp"),
        ("ah", "ah"),
        ("47", "gre"),
        ("4", "ipip"),
        ("132", "sctp"),
        ("all", "all"),
        ("115", "115"),
        (0, "0"),
        ("255", "255"),
    ],
)
def test_protocol_by_name_or_number_is_one_value(given: str | int, name: str) -> None:
    protocol = Protocol(given)
    assert protocol.value == name == str(protocol)
    assert protocol is Protocol(name)


@pytest.mark.parametrize("bad", ["256", "-1", "icmp6", "", "tcp/udp", True, "٣"])
def test_protocol_outside_names_and_0_255_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="tcp, udp, icmp, icmpv6"):
        Protocol(bad)  # type: ignore[arg-type]


def test_protocol_numbers_ports_and_icmp_flags() -> None:
    assert (Protocol.TCP.number, Protocol.SCTP.number, Protocol.ALL.number) == (6, 132, None)
    assert Protocol("115").number == 115
    assert [p.value for p in map(Protocol, ("tcp", "udp", "sctp")) if p.has_ports] == [
        "tcp",
        "udp",
        "sctp",
    ]
    assert not Protocol.GRE.has_ports and not Protocol.ALL.has_ports
    assert Protocol.ICMP.is_icmp and Protocol.ICMPV6.is_icmp and not Protocol.ESP.is_icmp
    assert pickle.loads(pickle.dumps(Protocol.IPIP)) is Protocol.IPIP


def test_icmp_towards_ipv6_peer_is_icmpv6() -> None:
    assert icmp_for(Protocol.ICMP, Endpoint.cidr("2001:db8::/32")) is Protocol.ICMPV6
    assert icmp_for(Protocol.ICMP, Endpoint.cidr("10.0.0.0/8")) is Protocol.ICMP
    assert icmp_for(Protocol.TCP, Endpoint.cidr("2001:db8::/32")) is Protocol.TCP


def _rule(**kw: object) -> Rule:
    base: dict[str, object] = {
        "role": "worker",
        "protocol": Protocol.ICMP,
        "ports": None,
        "peer": Peer.parse("cidr:10.0.0.0/8"),
    }
    base.update(kw)
    return Rule(**base)  # type: ignore[arg-type]


def test_icmp_type_and_code_are_part_of_rule_identity() -> None:
    everything = _rule()
    mtu = _rule(icmp_type=3, icmp_code=4)
    unreachable = _rule(icmp_type=3)
    assert len({everything.identity, mtu.identity, unreachable.identity}) == 3
    assert len(RuleSet((everything, mtu, unreachable, _rule(icmp_type=3, icmp_code=4)))) == 3
    assert mtu.to_dict()["icmp_type"] == 3 and mtu.to_dict()["icmp_code"] == 4
    assert everything.to_dict()["icmp_type"] is None
    assert Rule.from_dict(mtu.to_dict()) == mtu


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"protocol": Protocol.TCP, "ports": PortRange(1, 1), "icmp_type": 3}, "carries no"),
        ({"icmp_type": 256}, "outside 0-255"),
        ({"icmp_code": 4}, "needs an icmp_type"),
        ({"protocol": Protocol.GRE, "ports": PortRange(1, 1)}, "carries no ports"),
        ({"protocol": Protocol.SCTP}, "needs a port range"),
    ],
)
def test_rule_refuses_fields_its_protocol_does_not_have(
    kw: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _rule(**kw)


def test_target_rule_key_and_json_carry_icmp_type_and_code() -> None:
    peer = Endpoint.cidr("10.0.0.0/8")
    mtu = TargetRule(target="sg-1", protocol=Protocol.ICMP, peer=peer, icmp_type=3, icmp_code=4)
    every = TargetRule(target="sg-1", protocol=Protocol.ICMP, peer=peer)
    assert mtu.key != every.key
    data = mtu.to_dict()
    assert (data["protocol"], data["icmp_type"], data["icmp_code"]) == ("icmp", 3, 4)
    assert every.to_dict()["icmp_type"] is None and every.to_dict()["icmp_code"] is None
    assert TargetRule.from_dict(data).key == mtu.key
    assert mtu.ports_text == "type 3 code 4"
    gre = TargetRule(target="sg-1", protocol=Protocol("47"), peer=peer)
    assert gre.to_dict()["protocol"] == "gre"
    assert (
        TargetRule(target="sg-1", protocol=Protocol("115"), peer=peer).to_dict()["protocol"]
        == "115"
    )


def test_extra_rules_take_protocols_by_name_or_number_and_icmp_fields() -> None:
    loaded = parse_config(
        "extra_rules:\n"
        "  - {role: worker, protocol: ipip, peer: self, purpose: calico ip-in-ip}\n"
        "  - {role: worker, protocol: 50, peer: self, purpose: ipsec esp}\n"
        "  - {role: worker, protocol: sctp, ports: 38412, peer: self, purpose: ngap}\n"
        "  - {role: worker, protocol: icmp, icmp_type: 3, icmp_code: 4, peer: 'cidr:0.0.0.0/0',"
        " purpose: path MTU discovery}\n"
        "  - {role: worker, direction: egress, protocol: '115', peer: 'cidr:10.0.0.0/8'}\n"
    )
    rules = {(r.protocol.value, r.icmp_type, r.icmp_code, r.direction) for r in synthesize(loaded)}
    assert ("ipip", None, None, Direction.INGRESS) in rules
    assert ("esp", None, None, Direction.INGRESS) in rules
    assert ("sctp", None, None, Direction.INGRESS) in rules
    assert ("icmp", 3, 4, Direction.INGRESS) in rules
    assert ("115", None, None, Direction.EGRESS) in rules


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("{role: worker, protocol: quic, peer: self}", "protocol 'quic' is not one of"),
        ("{role: worker, protocol: 300, peer: self}", "protocol 300 is not one of"),
        ("{role: worker, protocol: tcp, ports: 1, icmp_type: 3, peer: self}", "carries no"),
        ("{role: worker, protocol: icmp, icmp_type: 300, peer: self}", "255"),
        ("{role: worker, protocol: gre, ports: 1, peer: self}", "carries no ports"),
    ],
)
def test_extra_rules_bad_protocol_fields_one_clear_error(item: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        synthesize(parse_config(f"extra_rules:\n  - {item}\n"))
    assert "extra_rules" in str(caught.value)
