"""Find the NSGs of existing clusters in one Azure resource group, by the marks their builders
leave (read-only: networkSecurityGroups.list, paginated).

- Cluster API Azure (CAPZ) names a cluster's NSGs ``<cluster>-controlplane-nsg`` and
  ``<cluster>-node-nsg``.
- AKS puts one NSG named ``aks-agentpool-<number>-nsg`` in the cluster's node resource group
  (``MC_<resource group>_<cluster>_<location>`` unless chosen otherwise); AKS runs the control
  plane, so that NSG is bound as ``worker``.

An Azure role binding also needs the role's address prefixes (its subnets' CIDRs), which an NSG
does not carry: they are left empty for you to fill in, and ``portsync validate`` says so until
they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from portsync.discover import Found

from .adapter import AzureAdapter, make_client
from .tools import AKS_NSG, CAPZ_NSG

__all__ = ["discover", "propose"]

_AKS_NODE_GROUP = re.compile(r"^MC_(?P<group>.+?)_(?P<cluster>[^_]+)_(?P<location>[^_]+)$", re.I)
_ROLES = {"controlplane": "control-plane", "node": "worker"}
_FILL_IN = "fill in address_prefixes: the CIDRs of the {role} subnet(s) of NSG {nsg}"


def _entry(name: str, scope: Mapping[str, Any], roles: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "provider": "azure",
        "subscription_id": scope["subscription_id"],
        "resource_group": scope["resource_group"],
    }
    for key in ("endpoint", "ca_bundle", "credentials"):
        if scope.get(key):
            entry[key] = scope[key]
    entry["roles"] = {role: {"nsg": nsg, "address_prefixes": []} for role, nsg in roles.items()}
    return entry


def propose(nsgs: Iterable[Mapping[str, Any]], scope: Mapping[str, Any]) -> list[Found]:
    """The clusters recognisable in ``nsgs`` (networkSecurityGroups.list items)."""
    capz: dict[str, dict[str, str]] = {}
    aks: list[str] = []
    for item in nsgs:
        name = str(item.get("name", ""))
        match = CAPZ_NSG.match(name)
        if match is not None:
            capz.setdefault(match["cluster"], {})[_ROLES[match["role"].lower()]] = name
        elif AKS_NSG.match(name):
            aks.append(name)
    found = []
    for cluster, roles in capz.items():
        ordered: dict[str, str] = {r: roles[r] for r in ("control-plane", "worker") if r in roles}
        found.append(
            Found(
                name=cluster,
                tool="cluster-api-azure",
                entry=_entry(cluster, scope, ordered),
                evidence={
                    role: f"NSG {nsg} (Cluster API Azure name)" for role, nsg in ordered.items()
                },
                notes=tuple(_FILL_IN.format(role=r, nsg=n) for r, n in ordered.items()),
            )
        )
    if aks:
        group = _AKS_NODE_GROUP.match(str(scope["resource_group"]))
        cluster = group["cluster"] if group else f"aks-{scope['resource_group']}".lower()
        nsg = sorted(aks)[0]
        notes = [
            "AKS runs the control plane: only the agent pool NSG is bound, as worker",
            _FILL_IN.format(role="worker", nsg=nsg),
        ]
        notes.extend(
            f"NSG {other} is another agent pool NSG; left out" for other in sorted(aks)[1:]
        )
        found.append(
            Found(
                name=cluster,
                tool="aks",
                entry=_entry(cluster, scope, {"worker": nsg}),
                evidence={"worker": f"NSG {nsg} (AKS agent pool)"},
                notes=tuple(notes),
            )
        )
    return found


def discover(scope: Mapping[str, Any]) -> list[Found]:
    """List the resource group's NSGs once and propose the clusters found in them.

    ``scope`` holds ``subscription_id`` and ``resource_group`` (the core checks they are
    there, as ``discover_scope`` declares).

    Raises:
        ProviderError: ARM refused the listing.
    """
    client = make_client(
        subscription_id=str(scope["subscription_id"]),
        endpoint=scope.get("endpoint"),
        ca_bundle=scope.get("ca_bundle"),
        anonymous=scope.get("credentials") == "anonymous",
    )
    adapter = AzureAdapter(
        client,
        subscription_id=str(scope["subscription_id"]),
        resource_group=str(scope["resource_group"]),
    )
    return propose((n for page in adapter.nsg_pages() for n in page), scope)
