"""Recognise security groups that kops, Cluster API AWS (CAPA) or EKS manage, by the tags and
names those tools put on them, and say what each does to rules it did not create.

Facts from each tool's source and documentation:

- kops tags its groups ``KubernetesCluster=<cluster>`` and names them ``masters.<cluster>``,
  ``nodes.<cluster>``, ``api-elb.<cluster>``. ``kops update cluster`` deletes every rule it did not
  create on given ports of its own groups: 22, 443, 2380, 2381, 4001, 4002, 4789, 179 and 8443 on
  the masters' group, 22 on the nodes' group, 443 on the API load balancer's. Groups an instance
  group brings with ``securityGroupOverride`` are shared and left alone.
- CAPA tags its groups ``sigs.k8s.io/cluster-api-provider-aws/cluster/<cluster>`` (``owned``) and
  ``sigs.k8s.io/cluster-api-provider-aws/role``; on each reconcile it revokes every ingress rule it
  did not compute, unless the cluster brings its own groups (``securityGroupOverrides``).
- EKS tags the cluster security group ``aws:eks:cluster-name``; EKS creates it and its self
  reference, and the managed node groups depend on that rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portsync.tools import ManagingTool

__all__ = ["CAPA_CLUSTER_PREFIX", "CAPA_ROLE_TAG", "EKS_TAG", "KOPS_TAG", "managing_tool"]

KOPS_TAG = "KubernetesCluster"
CAPA_CLUSTER_PREFIX = "sigs.k8s.io/cluster-api-provider-aws/cluster/"
CAPA_ROLE_TAG = "sigs.k8s.io/cluster-api-provider-aws/role"
EKS_TAG = "aws:eks:cluster-name"

#: kops group name prefix → the ports whose foreign rules ``kops update`` deletes there.
KOPS_REMOVED_PORTS: dict[str, tuple[int, ...]] = {
    "masters.": (22, 443, 2380, 2381, 4001, 4002, 4789, 179, 8443),
    "nodes.": (22,),
    "api-elb.": (443,),
    "bastion.": (22,),
    "bastion-elb.": (22,),
}


def group_tags(group: Mapping[str, Any]) -> dict[str, str]:
    """The tags of one DescribeSecurityGroups item (malformed entries skipped)."""
    tags: dict[str, str] = {}
    for tag in group.get("Tags") or []:
        if isinstance(tag, Mapping) and isinstance(tag.get("Key"), str):
            tags[tag["Key"]] = str(tag.get("Value", ""))
    return tags


def managing_tool(group: Mapping[str, Any]) -> ManagingTool | None:
    """The tool that manages ``group`` (a DescribeSecurityGroups item), if any."""
    tags = group_tags(group)
    capa = sorted(k for k in tags if k.startswith(CAPA_CLUSTER_PREFIX))
    if capa:
        return ManagingTool(
            name="Cluster API AWS (CAPA)",
            marker=f"tag {capa[0]}",
            behaviour="revokes every ingress rule it did not create on each reconcile",
            route=(
                "add the rule to the AWSCluster (spec.network.cni.cniIngressRules, "
                "spec.network.additionalControlPlaneIngressRules, "
                "spec.controlPlaneLoadBalancer.ingressRules) or bring your own groups with "
                "spec.network.securityGroupOverrides"
            ),
        )
    if tags.get(KOPS_TAG):
        name = str(group.get("GroupName", ""))
        ports = next((p for prefix, p in KOPS_REMOVED_PORTS.items() if name.startswith(prefix)), ())
        what = (
            "deletes rules it did not create on ports " + ", ".join(map(str, ports))
            if ports
            else "reconciles the rules it created"
        )
        return ManagingTool(
            name="kops",
            marker=f"tag {KOPS_TAG}={tags[KOPS_TAG]}",
            behaviour=f"`kops update cluster` {what}",
            route=(
                "open such ports in the kops cluster spec (sshAccess, kubernetesApiAccess, "
                "nodePortAccess), or attach a group of your own with the instance group's "
                "spec.securityGroupOverride and bind portsync to that"
            ),
        )
    if tags.get(EKS_TAG):
        return ManagingTool(
            name="EKS",
            marker=f"tag {EKS_TAG}={tags[EKS_TAG]}",
            behaviour=(
                "created this cluster security group and its rules; the managed node groups "
                "and the control plane depend on them"
            ),
            route=(
                "leave its rules in place; add rules of your own to it, or to an additional "
                "security group of the cluster"
            ),
        )
    return None
