"""Find the security groups of existing clusters in one AWS region, by the marks their builders
leave (read-only: DescribeSecurityGroups, paginated).

- kops tags its groups ``KubernetesCluster=<cluster>`` and names them ``masters.<cluster>``,
  ``nodes.<cluster>``, ``api-elb.<cluster>`` (and ``bastion.<cluster>``, ``bastion-elb.<cluster>``).
  Each instance group's machines are in their role's group only (plus groups the user adds).
- Cluster API AWS (CAPA) tags them ``sigs.k8s.io/cluster-api-provider-aws/cluster/<cluster>`` and
  ``sigs.k8s.io/cluster-api-provider-aws/role`` = ``controlplane``, ``node``, ``apiserver-lb``,
  ``lb``, ``bastion`` (or ``node-eks-additional`` on EKS-managed clusters). Its machines are in
  several groups: every machine in ``node`` and ``lb`` (``node-eks-additional`` instead of ``lb``
  on EKS), control-plane machines in ``controlplane`` as well. Each role is proposed with every
  group its machines are in (``security_groups``), written to its own (``write_to``);
  ``apiserver-lb`` is the API load balancer's group. ``lb`` is not a load balancer's group: it
  holds the rules the in-cluster cloud provider opens for Services, on every machine.
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


#: The CAPA role tags of the groups a portsync role's machines are in, the role's own first
#: (CAPA's core security groups of a machine).
_CAPA_MEMBERSHIP: dict[str, tuple[str, ...]] = {
    "control-plane": ("controlplane", "node", "lb"),
    "worker": ("node", "lb", "node-eks-additional"),
}
#: CAPA role tags of groups that are no portsync role's: the API load balancer's (for
#: sources.load_balancers), or None (left out).
_CAPA_OTHER: dict[str, str | None] = {"apiserver-lb": "lb", "bastion": None}
#: The CAPA role tags of groups its machines are in.
_CAPA_MEMBER_TAGS = frozenset({"controlplane", "node", "lb", "node-eks-additional"})
#: The order roles are written in.
_ORDER = ("control-plane", "worker")
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
        self.roles: dict[str, dict[str, Any]] = {}
        self.evidence: dict[str, str] = {}
        self.lbs: list[str] = []
        self.notes: list[str] = []
        #: CAPA role tag → the groups carrying it, in listing order.
        self.capa: dict[str, list[Mapping[str, Any]]] = {}

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
                f"{label} is another {role} group ({why}); {self.bound(role)} is bound, add "
                "this one as a role of its own if portsync should manage it too"
            )
        else:
            self.roles[role] = {"security_group": gid}
            self.evidence[role] = f"{label}: {why}"

    def bound(self, role: str) -> str:
        """The group ``role``'s rules are written to."""
        binding = self.roles[role]
        return str(binding.get("write_to") or binding["security_group"])

    def settle_capa(self) -> None:
        """Bind each role to every CAPA group its machines are in, written to its own."""
        for role, tags in _CAPA_MEMBERSHIP.items():
            own = self.capa.get(tags[0], [])
            if not own:
                continue
            groups = [own[0], *(g for tag in tags[1:] for g in self.capa.get(tag, []))]
            ids = [str(g.get("GroupId", "")) for g in groups]
            labels = ", ".join(
                f"{g.get('GroupId', '')} ({tag})"
                for tag in tags
                for g in self.capa.get(tag, [])[: 1 if tag == tags[0] else None]
            )
            if len(ids) == 1:
                self.roles[role] = {"security_group": ids[0]}
            else:
                self.roles[role] = {"security_groups": ids, "write_to": ids[0]}
            self.evidence[role] = f"Cluster API AWS groups {labels}; written to {ids[0]}"
            for extra in own[1:]:
                self.bind(role, extra, f"Cluster API AWS role tag {tags[0]}")
        written = [self.bound(r) for r in self.roles]
        if written:
            self.notes.append(
                "CAPA puts every machine in its node and lb groups (node-eks-additional on EKS) "
                "and control-plane machines in controlplane too; lb holds the cloud provider's "
                "rules for Services and is never written to"
            )
            self.notes.append(
                f"CAPA revokes rules it did not create on {' and '.join(written)} on each "
                "reconcile: add a group of your own to the machines (additionalSecurityGroups) "
                "and make it write_to"
            )


def _classify(group: Mapping[str, Any], clusters: dict[tuple[str, str], _Cluster]) -> None:
    tags = group_tags(group)
    name = str(group.get("GroupName", ""))

    def cluster(cluster_name: str, tool: str) -> _Cluster:
        return clusters.setdefault((tool, cluster_name), _Cluster(cluster_name, tool))

    capa = [k[len(CAPA_CLUSTER_PREFIX) :] for k in tags if k.startswith(CAPA_CLUSTER_PREFIX)]
    if capa and capa[0]:
        role_tag = tags.get(CAPA_ROLE_TAG, "")
        if role_tag in _CAPA_MEMBER_TAGS:
            cluster(capa[0], "cluster-api-aws").capa.setdefault(role_tag, []).append(group)
        elif role_tag in _CAPA_OTHER:
            cluster(capa[0], "cluster-api-aws").bind(
                _CAPA_OTHER[role_tag], group, f"Cluster API AWS role tag {role_tag}"
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
        if seen.tool == "cluster-api-aws":
            seen.settle_capa()
        if not seen.roles:
            continue
        entry: dict[str, Any] = {"name": seen.name, "provider": "aws", "region": scope["region"]}
        for key in ("profile", "endpoint", "credentials"):
            if scope.get(key):
                entry[key] = scope[key]
        entry["roles"] = {role: seen.roles[role] for role in _ORDER if role in seen.roles}
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
