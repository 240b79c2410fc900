"""Adopting a Cluster API AWS (CAPA) cluster on moto.

The layout follows CAPA's defaults for a cluster named ``capa``: a ``controlplane``, a ``node``,
an ``apiserver-lb`` and an ``lb`` group, each tagged with CAPA's cluster and role tags. CAPA opens
etcd as two rules (2379 and 2380) from the control plane, the API from the nodes and the API
load balancer, the kubelet from the control plane, NodePorts to the world, and Calico's BGP and
IP-in-IP between the machines. On every reconcile it revokes each ingress rule it did not create.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from portsync import api
from portsync.cli import app
from portsync.config import load_config
from portsync.errors import GuardrailError
from portsync.history import History
from portsync.ops import Plan

CLUSTER = "capa"
CAPA = "sigs.k8s.io/cluster-api-provider-aws"
runner = CliRunner()


def _group(ec2: Any, vpc: str, role: str) -> str:
    name = f"{CLUSTER}-{role}"
    gid = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
    ec2.create_tags(
        Resources=[gid],
        Tags=[
            {"Key": f"{CAPA}/cluster/{CLUSTER}", "Value": "owned"},
            {"Key": f"{CAPA}/role", "Value": role},
            {"Key": "Name", "Value": name},
        ],
    )
    return gid


def _tcp(low: int, high: int, *groups: str) -> dict[str, Any]:
    return {
        "IpProtocol": "tcp",
        "FromPort": low,
        "ToPort": high,
        "UserIdGroupPairs": [{"GroupId": g} for g in groups],
    }


class CapaLayout:
    def __init__(self, url: str, tmp_path: Path) -> None:
        self.ec2 = boto3.client("ec2", region_name="eu-west-1", endpoint_url=url)
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        cp, node = _group(self.ec2, vpc, "controlplane"), _group(self.ec2, vpc, "node")
        self.cp, self.node = cp, node
        self.apiserver_lb = _group(self.ec2, vpc, "apiserver-lb")
        self.lb = _group(self.ec2, vpc, "lb")
        self.ec2.authorize_security_group_ingress(
            GroupId=cp,
            IpPermissions=[
                _tcp(6443, 6443, cp, node, self.apiserver_lb),
                _tcp(2379, 2379, cp),
                _tcp(2380, 2380, cp),
                _tcp(179, 179, cp, node),
                {
                    "IpProtocol": "4",
                    "FromPort": -1,
                    "ToPort": -1,
                    "UserIdGroupPairs": [{"GroupId": cp}, {"GroupId": node}],
                },
            ],
        )
        self.ec2.authorize_security_group_ingress(
            GroupId=node,
            IpPermissions=[
                _tcp(10250, 10250, cp),
                _tcp(179, 179, cp, node),
                {
                    "IpProtocol": "tcp",
                    "FromPort": 30000,
                    "ToPort": 32767,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                },
            ],
        )
        self.capa_rules = {g: self._rule_ids(g) for g in (cp, node)}
        self.config = tmp_path / "portsync.yaml"
        self.config.write_text(
            f"sources: {{all: ['203.0.113.0/24'], load_balancers: [{self.apiserver_lb}]}}\n"
            "clusters:\n"
            f"  - name: {CLUSTER}\n"
            "    provider: aws\n"
            "    region: eu-west-1\n"
            f"    endpoint: {url}\n"
            "    roles:\n"
            f"      control-plane: {{security_group: {cp}}}\n"
            f"      worker: {{security_group: {node}}}\n"
        )
        self.history = History(tmp_path / "state" / "history.json")

    def _rule_ids(self, group: str) -> set[str]:
        rules = self.ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [group]}]
        )["SecurityGroupRules"]
        return {r["SecurityGroupRuleId"] for r in rules if not r["IsEgress"]}

    def reconcile(self) -> int:
        """What CAPA does on each reconcile: revoke every ingress rule it did not create."""
        revoked = 0
        for group, own in self.capa_rules.items():
            foreign = sorted(self._rule_ids(group) - own)
            if foreign:
                self.ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=foreign)
                revoked += len(foreign)
        return revoked

    def plan(self) -> Plan:
        return api.plan(load_config(self.config), history=self.history)


@pytest.fixture
def capa(moto_url: str, tmp_path: Path) -> CapaLayout:
    return CapaLayout(moto_url, tmp_path)


def test_capa_etcd_as_two_rules_satisfies_the_range_and_groups_are_recognised(
    capa: CapaLayout,
) -> None:
    plan = capa.plan()
    cp = next(g for g in plan.groups if g.role == "control-plane")
    etcd = [s for s in cp.satisfied if s.rule.ports_text == "2379-2380"]
    assert len(etcd) == 1
    assert sorted(r.ports_text for r in etcd[0].by) == ["2379", "2380"]
    assert not any(op.rule.ports_text == "2379-2380" for op in cp.adds)
    for group in plan.groups:
        assert group.managed_by is not None
        assert group.managed_by.name == "Cluster API AWS (CAPA)"
        assert group.fight is None


def test_capa_revoking_portsyncs_rules_between_applies_is_reported_as_a_fight(
    capa: CapaLayout,
) -> None:
    result = api.apply(load_config(capa.config), history=capa.history)
    added = [op for _c, _t, op in result.applied if op.action.value == "add"]
    assert added
    assert capa.reconcile() == len(added)
    plan = capa.plan()
    fights = {g.role: g.fight for g in plan.groups if g.fight is not None}
    assert sum(f.count for f in fights.values()) == len(added)
    for fight in fights.values():
        assert fight.writer.startswith("Cluster API AWS (CAPA), which revokes")
        assert fight.since
    assert Plan.from_dict(plan.to_dict()).groups == plan.groups
    # Without a record of earlier applies there is nothing to compare with: no fight.
    fresh = api.plan(load_config(capa.config))
    assert all(g.fight is None for g in fresh.groups)


def test_the_cli_reports_the_fight_in_text_and_markdown(capa: CapaLayout) -> None:
    cfg = str(capa.config)
    applied = runner.invoke(app, ["--config", cfg, "apply", "--auto-approve"])
    assert applied.exit_code == 0, applied.output
    capa.reconcile()
    text = runner.invoke(app, ["--config", cfg, "plan"])
    assert "fight: " in text.stdout
    assert "suspected writer: Cluster API AWS (CAPA)" in text.stdout
    markdown = runner.invoke(app, ["--config", cfg, "plan", "-o", "markdown"])
    assert "fight: " in markdown.stdout


def test_exclusive_is_refused_on_capa_groups(capa: CapaLayout) -> None:
    capa.config.write_text("mode: exclusive\n" + capa.config.read_text())
    with pytest.raises(GuardrailError, match=r"managed by Cluster API AWS \(CAPA\)"):
        api.apply(load_config(capa.config), allow_exclusive=True, max_deletes=100)
    assert {g: capa._rule_ids(g) for g in capa.capa_rules} == capa.capa_rules
