"""Find the network tags of existing clusters in one GCP project, by the marks their builders
leave (read-only: firewalls.list, paginated).

Cluster API GCP (CAPG) tags a cluster's control-plane instances ``<cluster>-control-plane`` and its
nodes ``<cluster>-node``, and its firewall rules target those tags; a tag pair seen on the
project's firewalls names a cluster and its two roles.
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
    rules: dict[tuple[str, str], set[str]] = {}
    for firewall in firewalls:
        network = _network(firewall)
        for tag in firewall.get("targetTags") or []:
            match = CAPG_TAG.match(str(tag))
            if match is None:
                continue
            where = (match["cluster"], network)
            seen.setdefault(where, {})[_ROLES[match["role"]]] = str(tag)
            rules.setdefault(where, set()).add(str(firewall.get("name", "")))
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
        entry["roles"] = {role: {"target_tag": tag} for role, tag in ordered.items()}
        names = ", ".join(sorted(rules[(cluster, network)])[:5])
        found.append(
            Found(
                name=cluster,
                tool="cluster-api-gcp",
                entry=entry,
                evidence={
                    role: f"network tag {tag} (Cluster API GCP), targeted by firewalls {names}"
                    for role, tag in ordered.items()
                },
                notes=(
                    ()
                    if len(ordered) == 2
                    else (f"only the {', '.join(ordered)} tag was seen on a firewall",)
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
