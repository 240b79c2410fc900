"""AWS: every IP protocol, ICMP types and codes, ICMPv6 and egress — boto3 against moto."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from portsync import api
from portsync.config import load_config
from portsync.errors import UnsupportedFeatureError
from portsync.ops import Plan

from .conftest import AwsWorld

EXTRA = [
    {"role": "worker", "protocol": "ipip", "peer": "self", "purpose": "calico ip-in-ip"},
    {"role": "worker", "protocol": "esp", "peer": "self", "purpose": "ipsec esp"},
    {"role": "worker", "protocol": 51, "peer": "self", "purpose": "ipsec ah"},
    {"role": "worker", "protocol": "gre", "peer": "self", "purpose": "gre tunnels"},
    {
        "role": "worker",
        "protocol": "icmp",
        "icmp_type": 3,
        "icmp_code": 4,
        "peer": "any",
        "purpose": "path MTU discovery",
    },
    {
        "role": "worker",
        "direction": "egress",
        "protocol": "udp",
        "ports": 4789,
        "peer": "cidr:10.0.0.0/16",
        "purpose": "vxlan out",
    },
]


def _other(protocol: str, cidr: str) -> dict[str, Any]:
    # EC2 ignores ports for these protocols; moto wants them written (-1: every port).
    return {"IpProtocol": protocol, "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": cidr}]}


def _plan(world: AwsWorld) -> Plan:
    return api.plan(load_config(world.config_path))


def _perms(world: AwsWorld, group: str, key: str = "IpPermissions") -> list[dict[str, Any]]:
    found = world.ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]
    return list(found[key])


def _flat(perms: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    out = set()
    for p in perms:
        head = (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"))
        out |= {(*head, r["CidrIp"]) for r in p.get("IpRanges", [])}
        out |= {(*head, r["CidrIpv6"]) for r in p.get("Ipv6Ranges", [])}
        out |= {(*head, r["GroupId"]) for r in p.get("UserIdGroupPairs", [])}
    return out


def _write_covered_add(world: AwsWorld) -> None:
    # The group's default egress (all -> 0.0.0.0/0) admits the vxlan egress rule; "covered: add"
    # writes it anyway, so the write path is exercised.
    world.write_config(extra_rules=EXTRA)
    data = yaml.safe_load(world.config_path.read_text())
    data["clusters"][0]["covered"] = "add"
    world.config_path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_egress_admitted_by_the_default_egress_is_satisfied_not_added(
    aws_world: AwsWorld,
) -> None:
    aws_world.write_config(extra_rules=EXTRA)
    plan = _plan(aws_world)
    egress_adds = [
        op for group in plan.groups for op in group.adds if op.rule.direction.value == "egress"
    ]
    satisfied = [
        s.rule
        for group in plan.groups
        for s in group.satisfied
        if s.rule.direction.value == "egress"
    ]
    assert egress_adds == []
    assert [(r.protocol.value, str(r.peer)) for r in satisfied] == [("udp", "cidr:10.0.0.0/16")]


def test_apply_writes_ip_protocols_icmp_type_icmpv6_and_egress_then_plan_is_clean(
    aws_world: AwsWorld,
) -> None:
    _write_covered_add(aws_world)
    api.apply(load_config(aws_world.config_path))
    worker = _flat(_perms(aws_world, aws_world.worker))
    w = aws_world.worker
    # ip-in-ip, esp, ah, gre by number (EC2 names only tcp, udp, icmp and icmpv6).
    for number in ("4", "50", "51", "47"):
        assert any(p[0] == number and p[3] == w for p in worker), (number, worker)
    # Type 3 code 4 in FromPort/ToPort; towards the IPv6 "All" range as ICMPv6, never icmp.
    assert ("icmp", 3, 4, "203.0.113.0/24") in worker
    assert ("icmpv6", 3, 4, "2001:db8::/32") in worker
    assert not any(p[0] == "icmp" and p[3] == "2001:db8::/32" for p in worker)
    egress = _flat(_perms(aws_world, w, "IpPermissionsEgress"))
    assert ("udp", 4789, 4789, "10.0.0.0/16") in egress
    assert _plan(aws_world).is_empty()


def test_live_rules_of_any_protocol_are_read_and_listed(aws_world: AwsWorld) -> None:
    aws_world.ec2.authorize_security_group_ingress(
        GroupId=aws_world.worker,
        IpPermissions=[
            _other("47", "10.1.0.0/16"),
            _other("50", "10.2.0.0/16"),
            _other("115", "10.3.0.0/16"),
        ],
    )
    plan = _plan(aws_world)
    unmanaged = {(r.protocol.value, str(r.peer)) for group in plan.groups for r in group.unmanaged}
    assert {
        ("gre", "cidr:10.1.0.0/16"),
        ("esp", "cidr:10.2.0.0/16"),
        ("115", "cidr:10.3.0.0/16"),
    } <= unmanaged


def test_removing_an_owned_icmp_type_rule_revokes_only_that_type(aws_world: AwsWorld) -> None:
    aws_world.write_config(extra_rules=EXTRA)
    api.apply(load_config(aws_world.config_path))
    aws_world.write_config(
        extra_rules=[
            *EXTRA[:4],
            {**EXTRA[4], "icmp_type": 3, "icmp_code": None},
            EXTRA[5],
        ]
    )
    plan = _plan(aws_world)
    removed = {
        (op.rule.protocol.value, op.rule.icmp_type, op.rule.icmp_code)
        for group in plan.groups
        for op in group.removes
    }
    added = {
        (op.rule.protocol.value, op.rule.icmp_type, op.rule.icmp_code)
        for group in plan.groups
        for op in group.adds
    }
    assert removed == {("icmp", 3, 4), ("icmpv6", 3, 4)}
    assert added == {("icmp", 3, None), ("icmpv6", 3, None)}
    api.apply(load_config(aws_world.config_path))
    worker = _flat(_perms(aws_world, aws_world.worker))
    assert ("icmp", 3, -1, "203.0.113.0/24") in worker
    assert not any(p[0] == "icmp" and p[2] == 4 for p in worker)
    assert _plan(aws_world).is_empty()


def test_sctp_on_some_ports_refused_at_plan_time(aws_world: AwsWorld) -> None:
    aws_world.write_config(
        extra_rules=[{"role": "worker", "protocol": "sctp", "ports": 38412, "peer": "self"}]
    )
    with pytest.raises(UnsupportedFeatureError, match="cannot limit sctp to ports") as caught:
        _plan(aws_world)
    assert "write ports: 0-65535" in str(caught.value)
    assert _perms(aws_world, aws_world.worker) == []
