"""A read's listings side by side: the groups' and each 200 groups' rules at once, the result
as if read one after another (boto3 → EC2Proxy → moto server)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config

from portsync.errors import ProviderError
from portsync.providers.aws import adapter as adapter_module
from portsync.providers.aws.adapter import Ec2Adapter
from portsync.testing.ec2proxy import EC2Proxy

from .conftest import owned_by

GROUPS = 7


@pytest.fixture
def proxy(moto_url: str) -> Iterator[EC2Proxy]:
    with EC2Proxy(moto_url) as running:
        yield running


@pytest.fixture
def groups(moto_url: str) -> list[str]:
    ec2 = boto3.client("ec2", region_name="eu-west-1", endpoint_url=moto_url)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    made = []
    for i in range(GROUPS):
        gid = ec2.create_security_group(GroupName=f"g{i}", Description="g", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=gid,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": p,
                    "ToPort": p,
                    "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
                }
                for p in (100 + i, 200 + i)
            ],
            TagSpecifications=owned_by(),
        )
        made.append(gid)
    return made


def _adapter(url: str) -> Ec2Adapter:
    return Ec2Adapter(boto3.client("ec2", region_name="eu-west-1", endpoint_url=url))


def test_rules_of_many_filters_come_back_in_filter_order(
    proxy: EC2Proxy, groups: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    one_filter = _adapter(proxy.url).describe_rules(groups)
    monkeypatch.setattr(adapter_module, "MAX_FILTER_VALUES", 2)  # 7 groups: 4 filters
    proxy.reset_counts()
    split = _adapter(proxy.url).describe_rules(list(reversed(groups)))
    assert proxy.calls["DescribeSecurityGroupRules"] == 4
    filters = [
        sorted(v for k, v in params.items() if k.startswith("Filter.1.Value."))
        for params in proxy.requests("DescribeSecurityGroupRules")
    ]
    ordered = sorted(groups)
    assert sorted(filters) == [ordered[i : i + 2] for i in range(0, GROUPS, 2)]
    # The items of the first filter first, and so on: the order of a read one filter at a time.
    by_filter = [
        [item for item in one_filter if item["GroupId"] in ordered[i : i + 2]]
        for i in range(0, GROUPS, 2)
    ]
    assert split == [item for items in by_filter for item in items]
    assert len(split) == 3 * GROUPS  # two ingress rules and the default egress rule a group


def test_groups_and_rules_are_read_together(proxy: EC2Proxy, groups: list[str]) -> None:
    found, rules = _adapter(proxy.url).describe_groups_and_rules(groups)
    assert sorted(g["GroupId"] for g in found) == sorted(groups)
    assert sorted({r["GroupId"] for r in rules}) == sorted(groups)
    assert proxy.calls == {"DescribeSecurityGroups": 1, "DescribeSecurityGroupRules": 1}


def test_a_failing_listing_fails_the_read(
    proxy: EC2Proxy, groups: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adapter_module, "MAX_FILTER_VALUES", 2)
    proxy.inject("server_error", action="DescribeSecurityGroupRules", times=50, status=500)
    client = boto3.client(
        "ec2",
        region_name="eu-west-1",
        endpoint_url=proxy.url,
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ProviderError):
        Ec2Adapter(client).describe_groups_and_rules(groups)
