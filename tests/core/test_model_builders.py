"""The fast builders of rules (``TargetRule.made``, ``Rule.for_each_role``) give exactly what the
constructors give: every field, the identity or key, equality and hash; and they refuse what the
constructors refuse."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portsync.model import (
    Direction,
    Endpoint,
    EndpointKind,
    Peer,
    PeerKind,
    PortRange,
    Protocol,
    Rule,
    TargetRule,
)


def _fields(obj: Any) -> dict[str, Any]:
    """Every field, the ones the constructor computes included."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def _same(a: Any, b: Any) -> None:
    assert type(a) is type(b)
    assert _fields(a) == _fields(b)
    assert a == b and hash(a) == hash(b)
    for name, value in _fields(a).items():
        # The very same kind of value (an enum member stays a member, None stays None).
        assert type(value) is type(getattr(b, name)), name


PROTOCOLS = [Protocol("tcp"), Protocol("udp"), Protocol("icmp"), Protocol("all"), Protocol("47")]
PORTS = [None, PortRange(443, 443), PortRange(30000, 32767)]
PEERS = [Endpoint.cidr("10.0.0.0/8"), Endpoint(EndpointKind("tag"), "web"), Endpoint.cidr("::/0")]


@pytest.mark.parametrize(
    ("protocol", "ports", "peer", "direction"),
    list(itertools.product(PROTOCOLS, PORTS, PEERS, list(Direction))),
)
def test_target_rule_made_is_the_constructor(
    protocol: Protocol, ports: PortRange | None, peer: Endpoint, direction: Direction
) -> None:
    values: dict[str, Any] = {
        "target": "tag:web",
        "role": "worker",
        "direction": direction,
        "protocol": protocol,
        "ports": ports,
        "peer": peer,
        "description": "[portsync] web",
        "owned": True,
        "owner": "team-a",
        "legacy": False,
        "native_id": "fw-1",
        "origin": "role:lb",
        "extra": (("priority", "1000"),),
        "tags": (("portsync:cluster", "prod"), ("portsync:owner", "team-a")),
    }
    if ports is None and protocol.has_ports:
        return  # the constructor's own check, below
    _same(TargetRule.made(**values), TargetRule(**values))


@pytest.mark.parametrize(("icmp_type", "icmp_code"), [(3, 4), (8, None), (0, 0)])
def test_target_rule_made_with_icmp_numbers_is_the_constructor(
    icmp_type: int, icmp_code: int | None
) -> None:
    values: dict[str, Any] = {
        "target": "sg-1",
        "role": "worker",
        "direction": Direction.INGRESS,
        "protocol": Protocol("icmp"),
        "ports": None,
        "peer": Endpoint.cidr("10.0.0.0/8"),
        "icmp_type": icmp_type,
        "icmp_code": icmp_code,
        "owned": True,
        "tags": (("portsync:owner", "team-a"),),
    }
    _same(TargetRule.made(**values), TargetRule(**values))


def test_target_rule_made_refuses_icmp_numbers_as_the_constructor_does() -> None:
    values: dict[str, Any] = {
        "target": "sg-1",
        "role": None,
        "direction": Direction.INGRESS,
        "protocol": Protocol("tcp"),
        "ports": PortRange(22, 22),
        "peer": Endpoint.cidr("10.0.0.0/8"),
        "icmp_type": 3,
    }
    with pytest.raises(ValueError, match="no icmp_type"):
        TargetRule.made(**values)


def test_target_rule_made_defaults_are_the_constructor_s() -> None:
    values: dict[str, Any] = {
        "target": "sg-1",
        "role": None,
        "direction": Direction.EGRESS,
        "protocol": Protocol("udp"),
        "ports": PortRange(53, 53),
        "peer": Endpoint.cidr("0.0.0.0/0"),
    }
    _same(TargetRule.made(**values), TargetRule(**values))


def test_target_rule_made_takes_the_constructor_s_way_for_other_types() -> None:
    """Strings for the enums are converted (or refused) exactly as the constructor does."""
    values: dict[str, Any] = {
        "target": "tag:web",
        "role": "web",
        "direction": "ingress",
        "protocol": "tcp",
        "ports": PortRange(80, 80),
        "peer": Endpoint.cidr("10.0.0.0/8"),
    }
    made = TargetRule.made(**values)
    assert made.direction is Direction.INGRESS and type(made.protocol) is Protocol
    _same(made, TargetRule(**values))
    with pytest.raises(ValueError):
        TargetRule.made(**{**values, "direction": "sideways"})


def test_target_rule_made_drops_ports_a_protocol_has_not() -> None:
    made = TargetRule.made(
        target="t",
        role="r",
        direction=Direction.INGRESS,
        protocol=Protocol("icmp"),
        ports=PortRange(1, 2),
        peer=Endpoint.cidr("10.0.0.0/8"),
    )
    assert made.ports is None and made.key[3:5] == (-1, -1)


def test_desired_rule_is_the_constructor_s_rule() -> None:
    for protocol, ports, icmp in [
        (Protocol("tcp"), PortRange(80, 81), (None, None)),
        (Protocol("icmp"), None, (3, 4)),
        (Protocol("icmp"), None, (8, None)),
    ]:
        rule = Rule(
            role="web",
            protocol=protocol,
            ports=ports,
            peer=Peer.parse("role:lb"),
            purpose="p",
            icmp_type=icmp[0],
            icmp_code=icmp[1],
        )
        got = TargetRule.desired(
            rule, target="tag:web", peer=Endpoint.cidr("10.0.0.0/8"), description="d"
        )
        want = TargetRule(
            target="tag:web",
            role="web",
            direction=rule.direction,
            protocol=protocol,
            ports=ports,
            peer=Endpoint.cidr("10.0.0.0/8"),
            icmp_type=icmp[0],
            icmp_code=icmp[1],
            description="d",
            owned=True,
            origin="role:lb",
        )
        _same(got, want)


ROLES = st.lists(st.sampled_from(["web", "db", "lb", "control-plane", "w2"]), max_size=6)
RULE_PEERS = st.sampled_from(["any", "self", "role:web", "role:db", "cidr:10.0.0.0/8"])


@settings(max_examples=200, deadline=None)
@given(
    roles=ROLES,
    peer=RULE_PEERS,
    shape=st.sampled_from(
        [
            (Protocol("tcp"), PortRange(80, 80), None, None),
            (Protocol("udp"), PortRange(1000, 2000), None, None),
            (Protocol("icmp"), None, 3, 4),
            (Protocol("icmp"), None, None, None),
            (Protocol("all"), None, None, None),
        ]
    ),
    direction=st.sampled_from(list(Direction)),
    purpose=st.sampled_from(["", "a  b", "svc"]),
)
def test_for_each_role_is_one_constructor_call_a_role(
    roles: list[str],
    peer: str,
    shape: tuple[Protocol, PortRange | None, int | None, int | None],
    direction: Direction,
    purpose: str,
) -> None:
    protocol, ports, icmp_type, icmp_code = shape
    common: dict[str, Any] = {
        "direction": direction,
        "protocol": protocol,
        "ports": ports,
        "peer": Peer.parse(peer),
        "purpose": purpose,
        "icmp_type": icmp_type,
        "icmp_code": icmp_code,
    }
    got = Rule.for_each_role(roles, **common)
    want = [Rule(role=role, **common) for role in roles]
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        _same(a, b)


def test_for_each_role_writes_a_rule_s_own_role_as_self() -> None:
    rules = Rule.for_each_role(
        ["web", "db", "lb"],
        protocol=Protocol("tcp"),
        ports=PortRange(5432, 5432),
        peer=Peer.parse("role:db"),
    )
    assert [r.peer.kind for r in rules] == [PeerKind.ROLE, PeerKind.SELF, PeerKind.ROLE]
    assert rules[1].identity[5] == "self"


@pytest.mark.parametrize("bad", ["Web", "", "a b", "-x"])
def test_for_each_role_refuses_a_role_name_the_constructor_refuses(bad: str) -> None:
    common: dict[str, Any] = {
        "protocol": Protocol("tcp"),
        "ports": PortRange(80, 80),
        "peer": Peer.parse("any"),
    }
    with pytest.raises(ValueError) as constructor:
        Rule(role=bad, **common)
    for roles in (["web", bad], [bad, "web"]):
        with pytest.raises(ValueError) as fast:
            Rule.for_each_role(roles, **common)
        assert str(fast.value) == str(constructor.value)


def test_for_each_role_refuses_an_impossible_rule_at_once() -> None:
    with pytest.raises(ValueError, match="needs a port range"):
        Rule.for_each_role(
            ["web", "db"], protocol=Protocol("tcp"), ports=None, peer=Peer.parse("any")
        )
    assert (
        Rule.for_each_role([], protocol=Protocol("tcp"), ports=None, peer=Peer.parse("any")) == []
    )
