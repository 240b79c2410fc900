"""Find the security groups of existing clusters in one AWS region, by the marks their builders
leave (read-only: DescribeSecurityGroups, paginated).

- kops tags its groups ``KubernetesCluster=<cluster>`` and names them ``masters.<cluster>``,
  ``nodes.<cluster>``, ``api-elb.<cluster>`` (and ``bastion.<cluster>``, ``bastion-elb.<cluster>``).
- Cluster API AWS (CAPA) tags them ``sigs.k8s.io/cluster-api-provider-aws/cluster/<cluster>`` and
  ``sigs.k8s.io/cluster-api-provider-aws/role`` = ``controlplane``, ``node``, ``apiserver-lb``,
  ``lb`` or ``bastion``.
- EKS tags the cluster security group it creates ``aws:eks:cluster-name=<cluster>``; that group is
  on the managed nodes and on the control plane's network interfaces, and EKS runs the control
  plane itself, so it is bound as ``worker``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portsync.discover import Found

from .adapter import Ec2Adapter, make_client
from .tools import CAPA_CLUSTER_PREFIX, CAPA_ROLE_TAG, EKS_TAG, KOPS_TAG, group_tags

__all__ = ["discover", "propose"]


#: CAPA role tag → portsync role, or "lb" for sources.load_balancers, or None (not a role).
_CAPA_ROLES: dict[str, str | None] = {
    "controlplane": "control-plane",
    "node": "worker",
    "apiserver-lb": "lb",
    "lb": "lb",
    "bastion": None,
}
#: kops group name prefix → portsync role, "lb", or None.
_KOPS_NAMES: dict[str, str | None] = {
    "masters.": "control-plane",
    "nodes.": "worker",
    "api-elb.": "lb",
    "bastion.": None,
    "bastion-elb.": None,
}


class _Cluster:
    """What has been seen of one cluster so far."""

    def __init__(self, name: str, tool: str) -> None:
        self.name = name
        self.tool = tool
        self.roles: dict[str, str] = {}
        self.evidence: dict[str, str] = {}
        self.lbs: list[str] = []
        self.notes: list[str] = []

    def bind(self, role: str | None, group: Mapping[str, Any], why: str) -> None:
        gid = str(group.get("GroupId", ""))
        label = f"{gid} ({group.get('GroupName', '')})"
        if role is None:
            self.notes.append(f"{label} is not a Kubernetes role ({why}); left out")
        elif role == "lb":
            self.lbs.append(gid)
            self.evidence[f"load balancer {gid}"] = why
        elif role in self.roles:
            self.notes.append(
                f"{label} is another {role} group ({why}); {self.roles[role]} is bound, add "
                "this one as a role of its own if portsync should manage it too"
            )
        else:
            self.roles[role] = gid
            self.evidence[role] = f"{label}: {why}"


def _classify(group: Mapping[str, Any], clusters: dict[tuple[str, str], _Cluster]) -> None:
    tags = group_tags(group)
    name = str(group.get("GroupName", ""))

    def cluster(cluster_name: str, tool: str) -> _Cluster:
        return clusters.setdefault((tool, cluster_name), _Cluster(cluster_name, tool))

    capa = [k[len(CAPA_CLUSTER_PREFIX) :] for k in tags if k.startswith(CAPA_CLUSTER_PREFIX)]
    if capa and capa[0]:
        role_tag = tags.get(CAPA_ROLE_TAG, "")
        if role_tag in _CAPA_ROLES:
            cluster(capa[0], "cluster-api-aws").bind(
                _CAPA_ROLES[role_tag], group, f"Cluster API AWS role tag {role_tag}"
            )
        return
    if tags.get(KOPS_TAG):
        kops_name = tags[KOPS_TAG]
        for prefix, role in _KOPS_NAMES.items():
            if name == f"{prefix}{kops_name}":
                cluster(kops_name, "kops").bind(role, group, f"kops group {prefix}<cluster>")
                return
        return
    if tags.get(EKS_TAG):
        cluster(tags[EKS_TAG], "eks").bind("worker", group, "EKS cluster security group")


def propose(groups: list[dict[str, Any]], scope: Mapping[str, Any]) -> list[Found]:
    """The clusters recognisable in ``groups`` (DescribeSecurityGroups items)."""
    clusters: dict[tuple[str, str], _Cluster] = {}
    for group in groups:
        _classify(group, clusters)
    found = []
    for seen in clusters.values():
        if not seen.roles:
            continue
        entry: dict[str, Any] = {"name": seen.name, "provider": "aws", "region": scope["region"]}
        for key in ("profile", "endpoint", "credentials"):
            if scope.get(key):
                entry[key] = scope[key]
        entry["roles"] = {role: {"security_group": gid} for role, gid in seen.roles.items()}
        notes = list(seen.notes)
        if seen.tool == "eks":
            notes.append(
                "EKS runs the control plane: only its cluster security group (on the managed "
                "nodes) is bound, as worker"
            )
        found.append(
            Found(
                name=seen.name,
                tool=seen.tool,
                entry=entry,
                evidence=seen.evidence,
                load_balancers=tuple(seen.lbs),
                notes=tuple(notes),
            )
        )
    return found


def discover(scope: Mapping[str, Any]) -> list[Found]:
    """Read the region's security groups once and propose the clusters found in them.

    ``scope`` holds ``region`` (the core checks it is there, as ``discover_scope`` declares).

    Raises:
        ProviderError: EC2 refused the listing.
    """
    client = make_client(
        region=str(scope["region"]),
        endpoint=scope.get("endpoint"),
        profile=scope.get("profile"),
        anonymous=scope.get("credentials") == "anonymous",
    )
    groups = list(Ec2Adapter(client).all_groups())
    return propose(groups, scope)
