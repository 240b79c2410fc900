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
from portsync.errors import GuardrailError
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
    return {
        (g.role, s.rule.ports_text, s.rule.origin or "") for g in plan.groups for s in g.satisfied
    }


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


def _exclusive(kops: KopsLayout, extra: str = "") -> None:
    kops.config.write_text("mode: exclusive\n" + extra + kops.config.read_text())


def test_kops_groups_are_recognised_with_the_ports_kops_update_deletes(kops: KopsLayout) -> None:
    plan = kops.plan()
    tools = {g.role: g.managed_by for g in plan.groups}
    masters, nodes = tools["control-plane"], tools["worker"]
    assert masters is not None and nodes is not None
    assert masters.name == "kops"
    assert masters.marker == f"tag KubernetesCluster={CLUSTER}"
    assert "ports 22, 443, 2380, 2381, 4001, 4002, 4789, 179, 8443" in masters.behaviour
    assert nodes.behaviour.endswith("ports 22")
    assert "securityGroupOverride" in masters.route
    again = Plan.from_dict(plan.to_dict())
    assert [g.managed_by for g in again.groups] == [g.managed_by for g in plan.groups]


def test_exclusive_is_refused_on_kops_groups_before_any_write(kops: KopsLayout) -> None:
    _exclusive(kops)
    before = kops.ec2.describe_security_groups(GroupIds=[kops.masters, kops.nodes])
    with pytest.raises(GuardrailError, match="managed by kops") as caught:
        api.apply(load_config(kops.config), allow_exclusive=True, max_deletes=100)
    assert "--exclusive-on-managed" in (caught.value.hint or "")
    after = kops.ec2.describe_security_groups(GroupIds=[kops.masters, kops.nodes])
    assert after["SecurityGroups"] == before["SecurityGroups"]


def test_exclusive_on_managed_names_the_targets_it_may_touch(kops: KopsLayout) -> None:
    _exclusive(kops)
    # Naming only the nodes' group: the masters' group still refuses.
    with pytest.raises(GuardrailError, match=f"masters.{CLUSTER}|{kops.masters}"):
        api.apply(
            load_config(kops.config),
            allow_exclusive=True,
            max_deletes=100,
            exclusive_on_managed=[kops.nodes],
        )
    api.apply(
        load_config(kops.config),
        allow_exclusive=True,
        max_deletes=100,
        exclusive_on_managed=[kops.nodes, kops.masters],
    )
    assert kops.plan().is_empty()


def test_exclusive_refusal_comes_before_max_deletes(kops: KopsLayout) -> None:
    _exclusive(kops)
    with pytest.raises(GuardrailError, match="mode exclusive would remove") as caught:
        api.apply(load_config(kops.config), max_deletes=0)
    assert "--exclusive" in (caught.value.hint or "")


def test_protected_rules_survive_exclusive_and_are_listed_once(kops: KopsLayout) -> None:
    # kops' node-to-node all-traffic and SSH from the admin range: protected by description.
    kops.ec2.update_security_group_rule_descriptions_ingress(
        GroupId=kops.nodes,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": ADMIN, "Description": "kops: ssh from admins"}],
            }
        ],
    )
    _exclusive(kops, "protect:\n  - description: '^kops: '\n")
    plan = kops.plan()
    nodes = next(g for g in plan.groups if g.role == "worker")
    assert [(r.ports_text, str(r.peer)) for r in nodes.protected] == [("22", f"cidr:{ADMIN}")]
    assert all(r.key != nodes.protected[0].key for r in nodes.unmanaged)
    assert all(op.rule.key != nodes.protected[0].key for op in nodes.ops)
    assert plan.summary()["protected"] == 1
    api.apply(
        load_config(kops.config),
        allow_exclusive=True,
        max_deletes=100,
        exclusive_on_managed=[kops.nodes, kops.masters],
    )
    live = kops.ec2.describe_security_groups(GroupIds=[kops.nodes])["SecurityGroups"][0]
    ssh = [p for p in live["IpPermissions"] if p.get("FromPort") == 22]
    assert [r["CidrIp"] for p in ssh for r in p["IpRanges"]] == [ADMIN]
    assert Plan.from_dict(plan.to_dict()).groups == plan.groups


def test_kops_own_ports_as_a_catalog_are_all_satisfied_on_a_kops_layout(kops: KopsLayout) -> None:
    kops.config.write_text("catalog: [kubernetes, kops]\n" + kops.config.read_text())
    plan = kops.plan()
    kops_rows = {("control-plane", p) for p in ("2380-2381", "3994-3997", "4001-4002", "3988")}
    assert kops_rows <= {(role, ports) for role, ports, _origin in _satisfied(plan)}
    assert not {(g.role, op.rule.ports_text) for g in plan.groups for op in g.adds} & kops_rows
