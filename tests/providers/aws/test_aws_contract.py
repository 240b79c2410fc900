"""The provider contract on AWS: the plan's writes are exactly the calls EC2 receives, and a
provider never changes after construction.

boto3 → EC2Proxy (which records every request's form fields) → moto server over real HTTP.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import serialize

from portsync import api
from portsync.config import load_config
from portsync.errors import StalePlanError
from portsync.ops import Plan
from portsync.provider import Settings
from portsync.session import Session
from portsync.testing.ec2proxy import EC2Proxy
from portsync.writes import Write

from .conftest import AwsWorld, owned_by

READS = ("Describe", "Get")


@pytest.fixture
def proxy(moto_url: str) -> Iterator[EC2Proxy]:
    with EC2Proxy(moto_url) as running:
        yield running


def _drift(world: AwsWorld) -> None:
    """Live state that needs every kind of write: an owned rule no longer wanted (revoke), an
    owned rule with a stale description (modify), a rule of an earlier release (adopt), and
    missing rules (authorize)."""
    for group, port, cidr, description in (
        (world.worker, 9000, "10.9.0.0/16", "portsync: old"),
        (world.cp, 6443, "203.0.113.0/24", "portsync: stale"),
    ):
        world.ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": port,
                    "ToPort": port,
                    "IpRanges": [{"CidrIp": cidr, "Description": description}],
                }
            ],
            TagSpecifications=owned_by(),
        )
    world.ec2.authorize_security_group_ingress(
        GroupId=world.cp,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 6443,
                "ToPort": 6443,
                "Ipv6Ranges": [
                    {"CidrIpv6": "2001:db8::/32", "Description": "portsync: Kubernetes API server"}
                ],
            }
        ],
    )


def _form(write: Write) -> dict[str, str]:
    """The EC2 query form botocore makes of ``write``'s body: what EC2 receives on the wire."""
    model = botocore.session.get_session().get_service_model("ec2")
    request = serialize.create_serializer("ec2").serialize_to_request(
        json.loads(json.dumps(dict(write.body))), model.operation_model(write.method)
    )
    return {str(k): str(v) for k, v in request["body"].items()}


def _received(proxy: EC2Proxy) -> list[str]:
    """Every write request the proxy forwarded, as sorted JSON of its form fields."""
    actions = {action for action, _ in proxy.log if not action.startswith(READS)}
    return sorted(
        json.dumps(params, sort_keys=True)
        for action in actions
        for params in proxy.requests(action)
    )


def test_the_plans_writes_are_exactly_the_calls_ec2_receives(
    aws_world: AwsWorld, proxy: EC2Proxy, tmp_path: Path
) -> None:
    _drift(aws_world)
    aws_world.write_config(
        clusters=[
            {
                "name": "prod-aws",
                "provider": "aws",
                "region": "eu-west-1",
                "endpoint": proxy.url,
                "roles": {
                    "control-plane": {"security_group": aws_world.cp},
                    "worker": {"security_group": aws_world.worker},
                },
            }
        ]
    )
    loaded = load_config(aws_world.config_path)
    saved = tmp_path / "plan.json"
    saved.write_text(api.plan(loaded, adopt_legacy=True).to_json())
    planned = Plan.load(str(saved))
    methods = {w.method for w in planned.writes}
    assert {
        "AuthorizeSecurityGroupIngress",
        "ModifySecurityGroupRules",
        "CreateTags",
        "RevokeSecurityGroupIngress",
    } <= methods
    proxy.reset_counts()
    result = api.apply(loaded, saved=planned, adopt_legacy=True)
    assert result.plan.writes == planned.writes
    assert _received(proxy) == sorted(json.dumps(_form(w), sort_keys=True) for w in planned.writes)
    assert api.plan(loaded).is_empty()


def _state(obj: Any) -> dict[str, Any]:
    """Every attribute of ``obj`` (identity and value), for comparing before and after.

    ``Settings`` holds the run's shared services (rate limiters, the deadline and stop
    request), whose state belongs to the run, not to a provider: it is compared field by field
    by identity.
    """
    out: dict[str, Any] = {}
    for name, value in vars(obj).items():
        if isinstance(value, Settings):
            fields = tuple((f.name, id(getattr(value, f.name))) for f in dataclasses.fields(value))
            out[name] = (id(value), fields)
        else:
            out[name] = (id(value), repr(value))
    return out


def test_no_provider_attribute_changes_after_construction(
    aws_world: AwsWorld, proxy: EC2Proxy
) -> None:
    _drift(aws_world)
    ec2, vpc = aws_world.ec2, aws_world.vpc
    cp2, worker2 = (
        ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
        for name in ("cp2", "worker2")
    )
    aws_world.write_config(
        clusters=[
            {
                "name": name,
                "provider": "aws",
                "region": "eu-west-1",
                "endpoint": proxy.url,
                "roles": {
                    "control-plane": {"security_group": cp},
                    "worker": {"security_group": worker},
                },
            }
            for name, cp, worker in (
                ("prod-aws", aws_world.cp, aws_world.worker),
                ("other", cp2, worker2),
            )
        ]
    )
    loaded = load_config(aws_world.config_path)
    session = Session(loaded, Settings())
    for cluster in loaded.config.clusters:
        session.provider(cluster)
    before = {name: _state(p) for name, p in session.providers.items()}
    planned = api.plan(loaded, session=session)
    assert planned.writes  # there is something to write
    api.apply(loaded, session=session, max_deletes=100)
    after = {name: _state(p) for name, p in session.providers.items()}
    changed = [
        (name, attr)
        for name in before
        for attr in before[name].keys() | after[name].keys()
        if before[name].get(attr) != after[name].get(attr)
    ]
    assert changed == []
    # Both clusters share one read scope: one read per round (plan, apply's re-plan, verify).
    assert proxy.calls["DescribeSecurityGroups"] == 3


def test_a_saved_plan_is_refused_when_a_rule_changed_since_because_its_writes_differ(
    aws_world: AwsWorld, tmp_path: Path
) -> None:
    _drift(aws_world)
    loaded = load_config(aws_world.config_path)
    saved = tmp_path / "plan.json"
    saved.write_text(api.plan(loaded).to_json())
    # Someone else revokes the owned rule the plan revokes, and changes nothing else.
    gone = [
        r
        for r in aws_world.ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [aws_world.worker]}]
        )["SecurityGroupRules"]
        if r.get("FromPort") == 9000
    ]
    assert len(gone) == 1
    aws_world.ec2.revoke_security_group_ingress(
        GroupId=aws_world.worker, SecurityGroupRuleIds=[gone[0]["SecurityGroupRuleId"]]
    )
    before = aws_world.ec2.describe_security_group_rules()["SecurityGroupRules"]
    with pytest.raises(StalePlanError) as exc:
        api.apply(loaded, saved=Plan.load(str(saved)))
    message = str(exc.value)
    assert (
        f"prod-aws/{aws_world.worker}: break RevokeSecurityGroupIngress is no longer called for"
        in message
    )
    # The worker's authorize was compiled from a state that moved: it differs too.
    assert f"prod-aws/{aws_world.worker}: make AuthorizeSecurityGroupIngress differs" in message
    assert aws_world.ec2.describe_security_group_rules()["SecurityGroupRules"] == before
