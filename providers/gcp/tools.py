"""Recognise network tags that Cluster API GCP (CAPG) manages, and say what it does.

CAPG tags a cluster's control-plane instances ``<cluster>-control-plane`` and its nodes
``<cluster>-node``, and creates two firewalls for the cluster: ``allow-<cluster>-cluster`` (every
protocol between the cluster's tags) and ``allow-<cluster>-healthchecks`` (the load balancers'
health-check ranges to the API server). It reconciles those two by name and leaves other
firewalls alone; deleting them breaks node-to-node traffic and the API load balancer until CAPG
puts them back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from portsync.model import TargetRule
from portsync.tools import ManagingTool

__all__ = ["CAPG_TAG", "is_capg_tag", "managing_tool"]

CAPG_TAG = re.compile(r"^(?P<cluster>[a-z](?:[-a-z0-9]*[a-z0-9])?)-(?P<role>control-plane|node)$")


def is_capg_tag(tag: str) -> bool:
    """Whether ``tag`` is named as CAPG names its role tags."""
    return CAPG_TAG.match(tag) is not None


def managing_tool(tag: str, live: Sequence[TargetRule]) -> ManagingTool | None:
    """CAPG, when ``tag`` is a CAPG role tag and CAPG's own firewalls target it."""
    match = CAPG_TAG.match(tag)
    if match is None:
        return None
    prefix = f"allow-{match['cluster']}-"
    names = sorted({r.native_id for r in live if r.native_id and r.native_id.startswith(prefix)})
    if not names:
        return None
    return ManagingTool(
        name="Cluster API GCP (CAPG)",
        marker=f"network tag {tag} with firewall {names[0]}",
        behaviour=(
            f"recreates its firewalls ({', '.join(names)}) when they are deleted and leaves "
            "other firewalls alone"
        ),
        route=(
            "keep CAPG's firewalls and let portsync add its own; to manage every rule with "
            "portsync, set the GCPCluster's spec.network.firewall.defaultRulesManagement: "
            "Unmanaged first"
        ),
    )
