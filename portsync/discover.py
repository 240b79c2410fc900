"""``portsync init --discover``: find the groups an existing cluster already uses.

Cluster builders leave recognisable marks — kops tags and names its security groups, Cluster API
providers tag theirs with the cluster and a role, EKS and AKS name or tag the groups they create.
Each provider package that can read those marks names a function (``discover = "module:function"``
on the provider class) taking the scope to read (region, project, resource group, …) and returning
:class:`Found` clusters. The read is read-only: one listing of the groups in that scope.

The core knows only this small protocol, never a cloud.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from portsync.errors import InputError
from portsync.registry import available_providers, get_provider_class

__all__ = ["Found", "discover", "discoverable_providers", "pick"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    """One cluster found in a cloud, as a proposed config entry.

    ``entry`` is the cluster's config entry (name, provider, scope keys, roles); ``evidence``
    says, per role, which group was bound and why (the convention recognised); ``load_balancers``
    are the API-server and load-balancer groups, for ``sources.load_balancers``.
    """

    name: str
    tool: str
    entry: dict[str, Any]
    evidence: dict[str, str] = field(default_factory=dict)
    load_balancers: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


Discoverer = Callable[[Mapping[str, Any]], Sequence[Found]]


def _discoverer(provider: str) -> Discoverer | None:
    spec = getattr(get_provider_class(provider), "discover", None)
    if not spec:
        return None
    module, _, attr = str(spec).partition(":")
    fn: Discoverer = getattr(importlib.import_module(module), attr)
    return fn


def discoverable_providers() -> list[str]:
    """The installed providers that can discover clusters."""
    return [
        name
        for name in available_providers()
        if getattr(get_provider_class(name), "discover", None)
    ]


def discover(provider: str, scope: Mapping[str, Any]) -> list[Found]:
    """The clusters ``provider`` finds in ``scope``, sorted by name.

    Raises:
        InputError: the provider cannot discover, or the scope lacks what it needs.
        ProviderError: the cloud refused the listing.
    """
    fn = _discoverer(provider)
    if fn is None:
        raise InputError(
            f"provider {provider} cannot discover clusters",
            hint=f"providers that can: {', '.join(discoverable_providers()) or 'none installed'}",
        )
    return sorted(fn(scope), key=lambda found: found.name)


def pick(found: Sequence[Found], name: str | None, *, where: str) -> Found:
    """The one cluster to write: the only one found, or the one ``--cluster`` names.

    Raises:
        InputError: nothing found, several found and no name given, or the name is not among them.
    """
    listing = ", ".join(f"{f.name} ({f.tool})" for f in found)
    if not found:
        raise InputError(
            f"no cluster found in {where}: no security group, firewall or NSG carries the marks "
            "of kops, Cluster API, EKS or AKS",
            hint="check the region / project / resource group, or run `portsync init` without "
            "--discover and fill the bindings in",
        )
    if name is None:
        if len(found) == 1:
            return found[0]
        raise InputError(
            f"{len(found)} clusters found in {where}: {listing}",
            hint="pick one with --cluster NAME",
        )
    for candidate in found:
        if candidate.name == name:
            return candidate
    raise InputError(f"no cluster {name!r} in {where}", hint=f"found: {listing}")
