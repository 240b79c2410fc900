"""Find the network tags of existing clusters in one GCP project, by the marks their builders
leave (read-only: firewalls.list, paginated).

Cluster API GCP (CAPG) gives every instance it creates two network tags: its role's,
``<cluster>-control-plane`` or ``<cluster>-node``, and the cluster's name, ``<cluster>``. Its
firewalls (``allow-<cluster>-cluster``, ``allow-<cluster>-healthchecks``) target the role tags, so
a role tag seen on the project's firewalls names a cluster and a role. Each role is proposed with
both of its tags (``target_tags``), so that a firewall targeting the cluster's tag counts for
coverage, ``explain`` and ``audit``; portsync writes for the role tag (``write_to``): CAPG
reconciles only its own firewalls by name and leaves others on its tags alone, and the cluster's
tag is on the machines of both roles, so it cannot be one role's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from portsync.discover import Found

from .adapter import GcpAdapter, make_clients
from .tools import CAPG_TAG

__all__ = ["discover", "propose"]

_ROLES = {"control-plane": "control-plane", "node": "worker"}


def _network(firewall: Mapping[str, Any]) -> str:
    return str(firewall.get("network", "")).rstrip("/").rsplit("/", 1)[-1] or "default"


def propose(firewalls: Iterable[Mapping[str, Any]], scope: Mapping[str, Any]) -> list[Found]:
    """The clusters recognisable in ``firewalls`` (firewalls.list items)."""
    seen: dict[tuple[str, str], dict[str, str]] = {}
    #: (cluster, network, tag) → the firewalls targeting that tag.
    rules: dict[tuple[str, str, str], set[str]] = {}
    for firewall in firewalls:
        network = _network(firewall)
        for tag in firewall.get("targetTags") or []:
            match = CAPG_TAG.match(str(tag))
            if match is None:
                continue
            where = (match["cluster"], network)
            seen.setdefault(where, {})[_ROLES[match["role"]]] = str(tag)
            rules.setdefault((*where, str(tag)), set()).add(str(firewall.get("name", "")))
    found = []
    for (cluster, network), roles in seen.items():
        entry: dict[str, Any] = {
            "name": cluster,
            "provider": "gcp",
            "project": scope["project"],
            "network": network,
        }
        for option in ("endpoint", "credentials"):
            if scope.get(option):
                entry[option] = scope[option]
        ordered = {r: roles[r] for r in ("control-plane", "worker") if r in roles}
        entry["roles"] = {
            role: {"target_tags": [tag, cluster], "write_to": tag} for role, tag in ordered.items()
        }
        found.append(
            Found(
                name=cluster,
                tool="cluster-api-gcp",
                entry=entry,
                evidence={
                    role: f"Cluster API GCP tags {tag} (targeted by "
                    f"{', '.join(sorted(rules[(cluster, network, tag)])[:3])}; written to) and "
                    f"{cluster} (the cluster's name, on every machine)"
                    for role, tag in ordered.items()
                },
                notes=(
                    *(
                        ()
                        if len(ordered) == 2
                        else (f"only the {', '.join(ordered)} tag was seen on a firewall",)
                    ),
                    "Cluster API GCP also puts a GCPMachine's additionalNetworkTags on its "
                    "instance: add those to the role's target_tags if firewalls target them",
                ),
            )
        )
    return found


def discover(scope: Mapping[str, Any]) -> list[Found]:
    """List the project's firewalls once and propose the clusters found in them.

    ``scope`` holds ``project`` (the core checks it is there, as ``discover_scope`` declares).

    Raises:
        ProviderError: the API refused the listing.
    """
    project = scope["project"]
    firewalls, operations = make_clients(
        endpoint=scope.get("endpoint"), anonymous=scope.get("credentials") == "anonymous"
    )
    adapter = GcpAdapter(firewalls, operations, project=str(project))
    return propose((f for page in adapter.firewall_pages() for f in page), scope)
