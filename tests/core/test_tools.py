"""Recognising the tools that manage a target, from the marks they leave (no cloud needed)."""

from __future__ import annotations

from portsync.model import Endpoint, Protocol, TargetRule
from portsync.providers.aws.tools import managing_tool as aws_tool
from portsync.providers.azure.tools import managing_tool as azure_tool
from portsync.providers.gcp.tools import managing_tool as gcp_tool
from portsync.tools import ManagingTool


def _group(name: str, **tags: str) -> dict[str, object]:
    return {"GroupName": name, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}


def test_capa_is_recognised_by_its_cluster_tag() -> None:
    tool = aws_tool(
        _group("prod-node", **{"sigs.k8s.io/cluster-api-provider-aws/cluster/prod": "owned"})
    )
    assert tool is not None and tool.name == "Cluster API AWS (CAPA)"
    assert "revokes every ingress rule" in tool.behaviour
    assert "securityGroupOverrides" in tool.route


def test_kops_ports_follow_the_group_name() -> None:
    nodes = aws_tool(_group("nodes.k.example.com", KubernetesCluster="k.example.com"))
    elb = aws_tool(_group("api-elb.k.example.com", KubernetesCluster="k.example.com"))
    assert nodes is not None and nodes.behaviour.endswith("on ports 22")
    assert elb is not None and elb.behaviour.endswith("on ports 443")


def test_eks_and_plain_groups() -> None:
    eks = aws_tool(_group("eks-cluster-sg-prod", **{"aws:eks:cluster-name": "prod"}))
    assert eks is not None and eks.name == "EKS"
    assert aws_tool(_group("web", Name="web", team="a")) is None
    assert aws_tool({"GroupName": "x", "Tags": [{"Value": "no key"}, "junk"]}) is None


def test_capg_needs_its_own_firewall_on_the_tag() -> None:
    rule = TargetRule(
        target="tag:prod-node",
        protocol=Protocol.ALL,
        peer=Endpoint.parse("tag:prod-node"),
        native_id="allow-prod-cluster",
    )
    tool = gcp_tool("prod-node", [rule])
    assert tool is not None and "allow-prod-cluster" in tool.behaviour
    # The tag alone is not enough: a tag named like CAPG's without CAPG's firewalls is anyone's.
    assert gcp_tool("prod-node", [rule.replace(native_id="web-ssh")]) is None
    assert gcp_tool("web", [rule]) is None


def test_capz_and_aks_by_nsg_name() -> None:
    capz = azure_tool("prod-controlplane-nsg")
    aks = azure_tool("aks-agentpool-12345678-nsg")
    assert capz is not None and capz.name == "Cluster API Azure (CAPZ)"
    assert aks is not None and aks.name == "AKS"
    assert azure_tool("web-nsg") is None


def test_note_and_round_trip() -> None:
    tool = ManagingTool(name="kops", marker="tag K=v", behaviour="deletes", route="spec")
    assert tool.note() == "managed by kops (tag K=v): deletes; instead: spec"
    assert ManagingTool.from_dict(tool.to_dict()) == tool
