"""Recognise NSGs that Cluster API Azure (CAPZ) or AKS manage, by their names.

- CAPZ names a cluster's NSGs ``<cluster>-controlplane-nsg`` and ``<cluster>-node-nsg``, writes
  its own security rules from the AzureCluster's subnet specs on each reconcile and keeps the
  others (it updates the NSG under its etag).
- AKS puts ``aks-agentpool-<number>-nsg`` in the cluster's node resource group and rewrites its
  rules for LoadBalancer Services; Microsoft documents changes to it as unsupported.
"""

from __future__ import annotations

import re

from portsync.tools import ManagingTool

__all__ = ["AKS_NSG", "CAPZ_NSG", "managing_tool"]

CAPZ_NSG = re.compile(r"^(?P<cluster>.+)-(?P<role>controlplane|node)-nsg$", re.IGNORECASE)
AKS_NSG = re.compile(r"^aks-agentpool-\d+-nsg$", re.IGNORECASE)


def managing_tool(nsg: str) -> ManagingTool | None:
    """CAPZ or AKS, recognised by the NSG's name."""
    if AKS_NSG.match(nsg):
        return ManagingTool(
            name="AKS",
            marker=f"NSG name {nsg}",
            behaviour=(
                "rewrites this NSG's rules for LoadBalancer Services; changing it is unsupported "
                "by Microsoft"
            ),
            route=(
                "use the Services' loadBalancerSourceRanges, or put your own NSG on the cluster's "
                "subnet and bind portsync to that"
            ),
        )
    match = CAPZ_NSG.match(nsg)
    if match:
        return ManagingTool(
            name="Cluster API Azure (CAPZ)",
            marker=f"NSG name {nsg}",
            behaviour=(
                "writes its own security rules from the AzureCluster on each reconcile and keeps "
                "other rules (it updates the NSG with its etag); its rules come back if removed"
            ),
            route=(
                "add the rule to the AzureCluster's spec.networkSpec.subnets[].securityGroup."
                "securityRules"
            ),
        )
    return None
