"""AWS peers beyond CIDRs and the cluster's own groups: a security group of another account
(``123456789012/sg-…``, written as UserIdGroupPairs' UserId), and the refusal of peers that
exist only on other clouds — boto3 against moto."""

from __future__ import annotations

from typing import Any

import pytest

from portsync import api
from portsync.config import load_config, parse_config
from portsync.errors import ConfigError, UnsupportedFeatureError

from .conftest import AwsWorld

OTHER_ACCOUNT = "111122223333"


def _pairs(world: AwsWorld, group: str) -> list[dict[str, Any]]:
    found = world.ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]
    return [
        {**pair, "FromPort": perm.get("FromPort")}
        for perm in found["IpPermissions"]
        for pair in perm.get("UserIdGroupPairs", [])
    ]


def test_a_group_of_another_account_is_written_with_its_account_and_read_back_the_same(
    aws_world: AwsWorld,
) -> None:
    # moto keeps every account's groups in one place only when they are its own, so the peer is
    # a group of this account written as another's: EC2 stores the UserId given.
    peer = f"{OTHER_ACCOUNT}/{aws_world.lb}"
    aws_world.write_config(
        sources={"all": ["203.0.113.0/24"], "load_balancers": [peer]},
        extra_rules=[{"role": "worker", "protocol": "tcp", "ports": 9100, "peer": peer}],
    )
    api.apply(load_config(aws_world.config_path))
    to_worker = [p for p in _pairs(aws_world, aws_world.worker) if p["GroupId"] == aws_world.lb]
    assert to_worker, "no rule from the load balancers' group was written"
    assert {p["UserId"] for p in to_worker} == {OTHER_ACCOUNT}
    assert 9100 in {p["FromPort"] for p in to_worker}
    again = api.plan(load_config(aws_world.config_path))
    assert again.is_empty(), [op.rule.key for g in again.groups for op in g.ops]
    # Read back as the same peer: without the rule, the plan removes it by that name.
    aws_world.write_config(sources={"all": ["203.0.113.0/24"], "load_balancers": [peer]})
    dropped = api.plan(load_config(aws_world.config_path))
    removed = [op.rule for g in dropped.groups for op in g.removes]
    assert [(r.target, r.ports_text, str(r.peer)) for r in removed] == [
        (aws_world.worker, "9100", f"sg:{peer}")
    ]
    assert removed[0].owned


def test_a_group_of_the_same_account_is_read_without_the_account(aws_world: AwsWorld) -> None:
    aws_world.ec2.authorize_security_group_ingress(
        GroupId=aws_world.worker,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 9200,
                "ToPort": 9200,
                "UserIdGroupPairs": [{"GroupId": aws_world.lb}],
            }
        ],
    )
    plan = api.plan(load_config(aws_world.config_path))
    worker = next(g for g in plan.groups if g.target == aws_world.worker)
    peers = {r.peer.value for r in worker.unmanaged if r.ports_text == "9200"}
    assert peers == {aws_world.lb}


def test_naming_the_groups_own_account_is_refused_at_plan(aws_world: AwsWorld) -> None:
    owner = aws_world.ec2.describe_security_groups(GroupIds=[aws_world.worker])["SecurityGroups"][
        0
    ]["OwnerId"]
    aws_world.write_config(
        extra_rules=[
            {"role": "worker", "protocol": "tcp", "ports": 9100, "peer": f"{owner}/{aws_world.lb}"}
        ]
    )
    with pytest.raises(ConfigError, match=rf"names the account {owner}") as err:
        api.plan(load_config(aws_world.config_path))
    assert f"write {aws_world.lb} alone" in err.value.hint


@pytest.mark.parametrize(
    ("peer", "message"),
    [
        ("12345/sg-0abc", "12-digit AWS account id"),
        ("1234567890123/sg-0abc", "12-digit AWS account id"),
        ("123456789012/sg-", "not a security group id"),
        ("sg-0a!c", "not a security group id"),
    ],
)
def test_malformed_group_peers_are_refused_by_the_config(peer: str, message: str) -> None:
    for text in (
        f"sources: {{load_balancers: ['{peer}']}}\n",
        f"extra_rules: [{{role: worker, protocol: tcp, ports: 1, peer: '{peer}'}}]\n",
    ):
        with pytest.raises(ConfigError, match=message):
            parse_config(text)


@pytest.mark.parametrize(
    "sources",
    [
        {"all": ["service-tag:VirtualNetwork"]},
        {"all": ["203.0.113.0/24"], "extra": "service-tag:Storage.WestEurope"},
    ],
)
def test_azure_service_tags_are_refused_on_aws(
    aws_world: AwsWorld, sources: dict[str, Any]
) -> None:
    extra = sources.pop("extra", None)
    rules = [{"role": "worker", "protocol": "tcp", "ports": 443, "peer": extra}] if extra else []
    aws_world.write_config(sources={**sources, "load_balancers": [aws_world.lb]}, extra_rules=rules)
    with pytest.raises(UnsupportedFeatureError, match="Azure service tag") as err:
        api.plan(load_config(aws_world.config_path))
    assert "AWS cannot write it" in str(err.value)
