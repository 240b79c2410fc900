"""Adopting a kops-built cluster on AWS (moto): covered rows are satisfied, not added again.

The layout follows kops' default security groups for a cluster named ``k.example.com``: a
``masters.`` and a ``nodes.`` group tagged ``KubernetesCluster``; masters and nodes admit all
traffic from masters, nodes admit all traffic from nodes, masters admit TCP from nodes on every
port but etcd's (1-2379, 2382-3995, 3998-4000, 4003-65535), all UDP and IP-in-IP, SSH from the
admin range and the API on 443.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from portsync import api
from portsync.config import load_config
from portsync.ops import Plan

CLUSTER = "k.example.com"
ADMIN = "198.51.100.0/24"


def _group(ec2: Any, vpc: str, name: str) -> str:
    gid = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
    ec2.create_tags(
        Resources=[gid],
        Tags=[
            {"Key": "KubernetesCluster", "Value": CLUSTER},
            {"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"},
            {"Key": "Name", "Value": name},
        ],
    )
    return gid


def _from_group(gid: str, protocol: str, low: int | None = None, high: int | None = None) -> dict:
    perm: dict[str, Any] = {"IpProtocol": protocol, "UserIdGroupPairs": [{"GroupId": gid}]}
    if low is not None:
        perm.update(FromPort=low, ToPort=high if high is not None else low)
    elif protocol != "-1":
        # moto answers 500 to a portless IP-in-IP permission; EC2 takes -1 for "every port".
        perm.update(FromPort=-1, ToPort=-1)
    return perm


def _from_cidr(cidr: str, low: int, high: int | None = None) -> dict:
    return {
        "IpProtocol": "tcp",
        "FromPort": low,
        "ToPort": high if high is not None else low,
        "IpRanges": [{"CidrIp": cidr}],
    }


class KopsLayout:
    def __init__(self, url: str, tmp_path: Path) -> None:
        self.ec2 = boto3.client("ec2", region_name="eu-west-1", endpoint_url=url)
        vpc = self.ec2.create_vpc(CidrBlock="172.20.0.0/16")["Vpc"]["VpcId"]
        self.masters = _group(self.ec2, vpc, f"masters.{CLUSTER}")
        self.nodes = _group(self.ec2, vpc, f"nodes.{CLUSTER}")
        self.api_elb = _group(self.ec2, vpc, f"api-elb.{CLUSTER}")
        m, n = self.masters, self.nodes
        self.ec2.authorize_security_group_ingress(
            GroupId=m,
            IpPermissions=[
                _from_group(m, "-1"),
                _from_group(n, "tcp", 1, 2379),
                _from_group(n, "tcp", 2382, 3995),
                _from_group(n, "tcp", 3998, 4000),
                _from_group(n, "tcp", 4003, 65535),
                _from_group(n, "udp", 1, 65535),
                _from_group(n, "4"),
                _from_cidr(ADMIN, 22),
                _from_cidr("0.0.0.0/0", 443),
            ],
        )
        self.ec2.authorize_security_group_ingress(
            GroupId=n,
            IpPermissions=[_from_group(m, "-1"), _from_group(n, "-1"), _from_cidr(ADMIN, 22)],
        )
        self.config = tmp_path / "portsync.yaml"
        self.config.write_text(
            "overrides: {kube-apiserver: 443}\n"
            f"sources: {{all: ['203.0.113.0/24'], load_balancers: [{self.api_elb}]}}\n"
            "clusters:\n"
            "  - name: kops\n"
            "    provider: aws\n"
            "    region: eu-west-1\n"
            f"    endpoint: {url}\n"
            "    roles:\n"
            f"      control-plane: {{security_group: {m}}}\n"
            f"      worker: {{security_group: {n}}}\n"
        )

    def plan(self) -> Plan:
        return api.plan(load_config(self.config))


@pytest.fixture
def kops(moto_url: str, tmp_path: Path) -> KopsLayout:
    return KopsLayout(moto_url, tmp_path)


def _adds(plan: Plan) -> set[tuple[str, str, str, str]]:
    return {
        (g.role, op.rule.protocol.value, op.rule.ports_text, op.rule.origin or "")
        for g in plan.groups
        for op in g.adds
    }


def _satisfied(plan: Plan) -> set[tuple[str, str, str]]:
    return {(g.role, s.rule.ports_text, s.rule.origin or "") for g in plan.groups for s in g.satisfied}


def test_kops_owned_plan_lists_covered_rows_as_satisfied_and_adds_only_uncovered(
    kops: KopsLayout,
) -> None:
    plan = kops.plan()
    # Every control-plane row but the API from sources.all is covered by "all from masters";
    # the worker's kubelet and kube-proxy by "all from nodes/masters".
    assert {
        ("control-plane", "2379-2380", "self"),
        ("control-plane", "10250", "self"),
        ("control-plane", "10257", "self"),
        ("control-plane", "10259", "self"),
        ("worker", "10250", "self"),
        ("worker", "10250", "role:control-plane"),
        ("worker", "10256", "self"),
    } <= _satisfied(plan)
    adds = _adds(plan)
    # Only flows no live rule admits: kube-proxy from the load balancers and NodePorts from the
    # configured sources (443 from 0.0.0.0/0 already covers the API from 203.0.113.0/24).
    assert ("worker", "tcp", "10256", "load-balancers") in adds
    assert ("worker", "tcp", "30000-32767", "any") in adds
    assert {a for a in adds if a[0] == "control-plane"} == set()
    assert all(s.by for g in plan.groups for s in g.satisfied)
    assert plan.summary()["satisfied"] == len(_satisfied(plan))


def test_kops_apply_converges_and_second_plan_is_empty(kops: KopsLayout) -> None:
    result = api.apply(load_config(kops.config))
    assert result.changed
    again = kops.plan()
    assert again.is_empty()
    assert again.summary()["satisfied"] >= 7


def test_kops_covering_rule_removed_then_portsync_adds_its_own(kops: KopsLayout) -> None:
    kops.ec2.revoke_security_group_ingress(
        GroupId=kops.masters, IpPermissions=[_from_group(kops.masters, "-1")]
    )
    plan = kops.plan()
    assert ("control-plane", "tcp", "2379-2380", "self") in _adds(plan)
    assert ("control-plane", "2379-2380", "self") not in _satisfied(plan)


def test_kops_covered_add_keeps_writing_portsyncs_own_rules(kops: KopsLayout) -> None:
    text = kops.config.read_text().replace(
        "    provider: aws\n", "    provider: aws\n    covered: add\n"
    )
    kops.config.write_text(text)
    plan = kops.plan()
    assert plan.summary()["satisfied"] == 0
    assert ("control-plane", "tcp", "2379-2380", "self") in _adds(plan)


def test_kops_plan_round_trips_satisfied_through_json(kops: KopsLayout) -> None:
    plan = kops.plan()
    again = Plan.from_dict(plan.to_dict())
    assert [g.satisfied for g in again.groups] == [g.satisfied for g in plan.groups]
