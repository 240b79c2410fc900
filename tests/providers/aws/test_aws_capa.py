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
import yaml
from typer.testing import CliRunner

from portsync import api
from portsync.audit import audit
from portsync.cli import app
from portsync.config import load_config
from portsync.errors import GuardrailError
from portsync.evaluate import covering_rules
from portsync.explain import Answer, explain, parse_destination, parse_source
from portsync.history import History
from portsync.model import Endpoint
from portsync.ops import Plan
from portsync.providers.aws.peers import GROUP

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


def _several_groups(capa: CapaLayout) -> None:
    """Bind each role to every group CAPA puts its machines in: all machines are in ``node`` and
    ``lb``, control-plane machines in ``controlplane`` as well."""
    text = capa.config.read_text()
    text = text.replace(
        f"control-plane: {{security_group: {capa.cp}}}",
        f"control-plane: {{security_groups: [{capa.cp}, {capa.node}, {capa.lb}], "
        f"write_to: {capa.cp}}}",
    ).replace(
        f"worker: {{security_group: {capa.node}}}",
        f"worker: {{security_groups: [{capa.node}, {capa.lb}]}}",
    )
    capa.config.write_text(text)


def _explain(capa: CapaLayout, source: str, destination: str) -> Answer:
    loaded = load_config(capa.config)
    return explain(loaded, parse_source(source), parse_destination(destination)).answer


#: Flows CAPA's rules allow only through a group the destination's machines share with others:
#: the kubelet of control-plane machines (the node group admits 10250 from the control plane,
#: and control-plane machines are in the node group).
CAPA_FLOWS = [
    ("role:control-plane", "control-plane:10250/tcp"),
    ("role:control-plane", "worker:10250/tcp"),
    ("role:worker", "control-plane:6443/tcp"),
    ("role:control-plane", "control-plane:2380/tcp"),
]


def test_one_group_per_role_denies_what_capa_allows(capa: CapaLayout) -> None:
    assert _explain(capa, "role:control-plane", "control-plane:10250/tcp") is Answer.DENIED


@pytest.mark.parametrize(("source", "destination"), CAPA_FLOWS)
def test_several_groups_per_role_explain_allows_what_capa_allows(
    capa: CapaLayout, source: str, destination: str
) -> None:
    _several_groups(capa)
    assert _explain(capa, source, destination) is Answer.ALLOWED


def test_several_groups_per_role_plan_adds_nothing_covered_and_writes_only_to_write_to(
    capa: CapaLayout,
) -> None:
    _several_groups(capa)
    plan = capa.plan()
    assert {g.target for g in plan.groups} == {capa.cp, capa.node}
    cp = next(g for g in plan.groups if g.role == "control-plane")
    kubelet = [s for s in cp.satisfied if s.rule.ports_text == "10250"]
    assert kubelet, "the control plane's kubelet is admitted through the node group"
    assert {r.target for r in kubelet[0].by} == {capa.node}
    # Nothing added is covered by a live rule on any of the role's groups.
    live = _live(capa)
    groups = {"control-plane": [capa.cp, capa.node, capa.lb], "worker": [capa.node, capa.lb]}
    members = {
        Endpoint(GROUP, capa.cp): {Endpoint(GROUP, capa.node)},
        Endpoint(GROUP, capa.node): {Endpoint(GROUP, capa.lb)},
    }
    for group in plan.groups:
        rules = [r for gid in groups[group.role] for r in live[gid]]
        for op in group.adds:
            assert not covering_rules(
                op.rule, rules, members=members, targets=groups[group.role]
            ), op.rule
    # Applying writes only to the groups written to, and the next plan is clean.
    api.apply(load_config(capa.config), history=capa.history)
    assert api.plan(load_config(capa.config)).is_empty()
    assert capa._rule_ids(capa.lb) == set()


def _live(capa: CapaLayout) -> dict[str, list[Any]]:
    from portsync.providers.aws.translate import live_rules

    out: dict[str, list[Any]] = {}
    for gid in (capa.cp, capa.node, capa.lb):
        group = capa.ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
        items = capa.ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [gid]}]
        )["SecurityGroupRules"]
        out[gid] = live_rules(group, items, {}, owner=CLUSTER, cluster=CLUSTER)
    return out


def _discovered(capa: CapaLayout, url: str) -> dict[str, Any]:
    """Replace the layout's config with what ``portsync init --discover aws`` proposes on it
    (with "All" said, which discovery leaves to the user), and return the proposal."""
    args = ["init", "--discover", "aws", "--region", "eu-west-1", "--endpoint", url]
    result = runner.invoke(app, [*args, "--anonymous", "--out", str(capa.config), "--force"])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(capa.config.read_text())
    data["sources"]["all"] = ["203.0.113.0/24"]
    capa.config.write_text(yaml.safe_dump(data))
    proposed: dict[str, Any] = data
    return proposed


def test_discovery_binds_each_role_to_every_capa_group_its_machines_are_in(
    capa: CapaLayout, moto_url: str
) -> None:
    data = _discovered(capa, moto_url)
    (cluster,) = data["clusters"]
    assert cluster["roles"] == {
        "control-plane": {"security_groups": [capa.cp, capa.node, capa.lb], "write_to": capa.cp},
        "worker": {"security_groups": [capa.node, capa.lb], "write_to": capa.node},
    }
    assert data["sources"]["load_balancers"] == [capa.apiserver_lb]
    # What the proposal is for: explain sees the flows CAPA allows through a shared group ...
    for source, destination in CAPA_FLOWS:
        assert _explain(capa, source, destination) is Answer.ALLOWED, (source, destination)
    # ... the plan writes only to each role's own group and adds nothing CAPA's rules cover ...
    plan = capa.plan()
    assert {g.target for g in plan.groups} == {capa.cp, capa.node}
    cp = next(g for g in plan.groups if g.role == "control-plane")
    assert {r.target for s in cp.satisfied if s.rule.ports_text == "10250" for r in s.by} == {
        capa.node
    }
    # ... and apply converges without touching the shared lb group.
    api.apply(load_config(capa.config), history=capa.history)
    assert api.plan(load_config(capa.config)).is_empty()
    assert capa._rule_ids(capa.lb) == set()


def test_audit_reads_every_group_of_a_role(capa: CapaLayout) -> None:
    _several_groups(capa)
    capa.ec2.authorize_security_group_ingress(
        GroupId=capa.lb,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 10250,
                "ToPort": 10250,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    report = audit(load_config(capa.config))
    exposed = [f for f in report.findings if f.target == capa.lb and f.rule.ports_text == "10250"]
    assert exposed, "the kubelet opened to the world on the shared lb group is reported"


def _bindings(roles: str) -> str:
    return (
        "clusters:\n  - name: c\n    provider: aws\n    region: eu-west-1\n"
        f"    roles: {{{roles}}}\n"
    )


def test_a_group_shared_by_two_roles_is_allowed_unless_both_write_to_it() -> None:
    from portsync.config import parse_config
    from portsync.errors import ConfigError

    shared = "control-plane: {security_groups: [sg-cp, sg-node]}, worker: {security_group: sg-node}"
    parse_config(_bindings(shared))
    both = "control-plane: {security_groups: [sg-node, sg-cp]}, worker: {security_group: sg-node}"
    with pytest.raises(ConfigError, match=r"both write to sg-node"):
        parse_config(_bindings(both))
    stray = "worker: {security_groups: [sg-node], write_to: sg-lb}"
    with pytest.raises(ConfigError, match=r"write_to sg-lb is not one of security_groups"):
        parse_config(_bindings(stray))
    neither = "worker: {write_to: sg-lb}"
    with pytest.raises(ConfigError, match=r"give security_group \(one group\), or security_groups"):
        parse_config(_bindings(neither))


def test_a_rule_from_a_group_the_peer_role_is_in_covers_with_no_rule_naming_its_own(
    capa: CapaLayout,
) -> None:
    # The node group admits the kubelet only from the lb group, which control-plane machines are
    # in; no rule anywhere on the node group names the control plane's own group.
    node_rules = capa.ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [capa.node]}]
    )["SecurityGroupRules"]
    naming_cp = [
        r["SecurityGroupRuleId"]
        for r in node_rules
        if not r["IsEgress"] and (r.get("ReferencedGroupInfo") or {}).get("GroupId") == capa.cp
    ]
    assert naming_cp
    capa.ec2.revoke_security_group_ingress(GroupId=capa.node, SecurityGroupRuleIds=naming_cp)
    capa.ec2.authorize_security_group_ingress(
        GroupId=capa.node, IpPermissions=[_tcp(10250, 10250, capa.lb)]
    )
    text = capa.config.read_text().replace(
        f"control-plane: {{security_group: {capa.cp}}}",
        f"control-plane: {{security_groups: [{capa.cp}, {capa.lb}], write_to: {capa.cp}}}",
    )
    capa.config.write_text(text)
    worker = next(g for g in capa.plan().groups if g.role == "worker")
    kubelet = [
        s
        for s in worker.satisfied
        if s.rule.origin == "role:control-plane" and s.rule.ports_text == "10250"
    ]
    assert [r.peer for s in kubelet for r in s.by] == [Endpoint(GROUP, capa.lb)]
    assert not [
        op
        for op in worker.adds
        if op.rule.origin == "role:control-plane" and op.rule.ports_text == "10250"
    ]
    assert _explain(capa, "role:control-plane", "worker:10250/tcp") is Answer.ALLOWED
