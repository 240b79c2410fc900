"""The AWS benchmarks' direct lookups in moto give exactly moto's own answers.

``benchmarks.motoindex`` replaces two of moto's lookups for the duration of a benchmark run (a
resource's tags, a rule's group-id filter). These tests make the same resources over moto
server, then ask each question of moto's shipped code and of the replacement and compare.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("moto", reason="needs portsync[emulators]")

from moto.ec2.models.security_groups import SecurityGroupRule
from moto.ec2.models.tags import TagBackend

from benchmarks.bench_aws import REGION, _client
from benchmarks.motoindex import direct_lookups
from portsync.providers.aws.emulator import MotoServer

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def world() -> Iterator[dict[str, Any]]:
    """Three groups with tagged rules, made with moto as shipped."""
    with MotoServer() as moto:
        moto.reset()
        ec2 = _client(moto.url)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        groups = [
            ec2.create_security_group(GroupName=f"g{i}", Description="d", VpcId=vpc)["GroupId"]
            for i in range(3)
        ]
        for i, gid in enumerate(groups):
            ec2.authorize_security_group_ingress(
                GroupId=gid,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 80 + j,
                        "ToPort": 80 + j,
                        "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
                    }
                    for j in range(2)
                ],
                TagSpecifications=[
                    {
                        "ResourceType": "security-group-rule",
                        "Tags": [{"Key": "owner", "Value": f"o{i}"}, {"Key": "k", "Value": "v"}],
                    }
                ],
            )
        ec2.create_tags(Resources=[groups[0]], Tags=[{"Key": "Name", "Value": "first"}])
        from moto.backends import get_backend

        backend = get_backend("ec2")[ACCOUNT][REGION]
        rules = [
            rule
            for by_vpc in backend.groups.values()
            for group in by_vpc.values()
            for rule in (*group.ingress_rules, *group.egress_rules)
        ]
        yield {"backend": backend, "groups": groups, "rules": rules, "ec2": ec2}


def _tag_filters(world: dict[str, Any]) -> list[dict[str, list[str]] | None]:
    first_rule = world["rules"][0].id
    return [
        None,
        {"resource-id": [world["groups"][0]]},
        {"resource-id": [first_rule]},
        {"resource-id": ["sg-does-not-exist"]},
        {"resource-id": [world["groups"][0], world["groups"][1]]},
        {"resource-id": [world["groups"][0][:-2] + "*"]},
        {"resource-id": ["sgr-?" + first_rule[5:]]},
        {"key": ["owner"]},
        {"resource-id": [first_rule], "key": ["owner"]},
    ]


def test_tags_by_resource_id_are_moto_s_answers(world: dict[str, Any]) -> None:
    backend = world["backend"]
    for filters in _tag_filters(world):
        shipped = TagBackend.describe_tags(backend, filters)
        with direct_lookups():
            direct = TagBackend.describe_tags(backend, filters)
        assert direct == shipped, filters
    # An id's tags are found (the comparison above is not between two empty answers).
    with direct_lookups():
        found = TagBackend.describe_tags(backend, {"resource-id": [world["groups"][0]]})
    assert [t["value"] for t in found] == ["first"]


def test_a_lookup_adds_no_empty_entry(world: dict[str, Any]) -> None:
    backend = world["backend"]
    with direct_lookups():
        assert TagBackend.describe_tags(backend, {"resource-id": ["sg-0123456789abcdef0"]}) == []
    assert "sg-0123456789abcdef0" not in backend.tags


def test_rule_group_filter_is_moto_s_answer(world: dict[str, Any]) -> None:
    groups = world["groups"]
    rule_filters = [
        [groups[0]],
        groups[1:],
        ["sg-does-not-exist"],
        [groups[0][:-3] + "*"],
        [groups[1][:-1] + "?"],
        [groups[2].replace("-", ".")],
        [],
    ]
    with direct_lookups():
        replaced = SecurityGroupRule.filter_group_id
    assert world["rules"]
    for values in rule_filters:
        for rule in world["rules"]:
            shipped = SecurityGroupRule.filter_group_id(rule, values)
            assert replaced(rule, values) == shipped, (values, rule.group_id)
    assert replaced(world["rules"][0], [world["rules"][0].group_id])


def test_describe_security_group_rules_answers_alike(world: dict[str, Any]) -> None:
    """The whole call over HTTP gives the same rules with the same tags either way (a rule's
    filter functions are fixed when it is made, so this compares the tag lookups)."""
    ec2 = world["ec2"]
    groups = world["groups"]

    def read() -> list[tuple[str, str, list[Any]]]:
        answer = ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": groups[:2]}]
        )["SecurityGroupRules"]
        return sorted((r["GroupId"], r["SecurityGroupRuleId"], r.get("Tags", [])) for r in answer)

    shipped = read()
    with direct_lookups():
        direct = read()
    assert direct == shipped
    assert {g for g, _r, _t in shipped} == set(groups[:2])
    # The two tagged ingress rules of each group (the default egress rule has no tags).
    assert sum(1 for _g, _r, tags in shipped if tags) == 4
