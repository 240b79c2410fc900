"""The Azure part of a rehearsal (docs/rehearse.md): the resource group's NSGs copied into an
Azure emulator of their own.

Every NSG of the cluster's resource group is copied under its own name, location and tags, each
security rule with its name, priority, access, direction and description (Azure's default rules
come with every NSG), and every application security group a rule or a role binding names. The
ids stay those of the live cloud, so the derived config differs only in the endpoint, the CA
bundle and the credentials (the copy takes none). The etag of each NSG is the copy's own: the
apply reads it from the copy like any etag.

azure-core speaks only HTTPS, so the recording proxy in front of the copy gets a throw-away
certificate of its own, trusted through the derived config's ``ca_bundle``.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from portsync.config import ClusterConfig, Sources
from portsync.errors import ProviderError
from portsync.provider import Settings
from portsync.rehearse import Copied

from .emulator import AzureEmulator
from .provider import AzureClusterConfig, AzureProvider
from .tlscert import make_tls

__all__ = ["CloudCopy"]

#: Rule fields ARM sets itself; the copy leaves them out of what it seeds.
_READ_ONLY = frozenset({"provisioningState"})


def _rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    props = rule.get("properties") or {}
    return {
        "name": rule["name"],
        "properties": {k: v for k, v in props.items() if k not in _READ_ONLY},
    }


def _asg_ids(rules: Iterable[Mapping[str, Any]]) -> set[str]:
    found: set[str] = set()
    for rule in rules:
        props = rule.get("properties") or {}
        for key in ("sourceApplicationSecurityGroups", "destinationApplicationSecurityGroups"):
            found |= {str(item["id"]) for item in props.get(key) or () if item.get("id")}
    return found


class CloudCopy:
    """An Azure emulator holding a copy of one cluster's resource group NSGs."""

    def __init__(self) -> None:
        self._emulator: AzureEmulator | None = None
        self._workdir: Path | None = None

    @property
    def emulator(self) -> AzureEmulator:
        """The emulator (tests inject faults through it)."""
        if self._emulator is None:
            raise RuntimeError("the copy has not been started")
        return self._emulator

    def start(self, workdir: Path) -> None:
        """Start the emulator (HTTPS, a throw-away CA) on a free loopback port."""
        self._workdir = workdir
        self._emulator = AzureEmulator(ca_out=workdir / f"azure-copy-ca-{uuid.uuid4().hex}.pem")
        self._emulator.start()

    def stop(self) -> None:
        """Stop the emulator."""
        if self._emulator is not None:
            self._emulator.stop()
            self._emulator = None

    @staticmethod
    def is_write(method: str, path: str, body: bytes) -> bool:
        """PUT, PATCH, POST and DELETE change an NSG; polling a long-running operation is GET."""
        return method not in ("GET", "HEAD")

    def copy(self, cluster: ClusterConfig, sources: Sources, settings: Settings) -> Copied:
        """List the resource group's NSGs on the live side and seed them into the copy."""
        config = AzureClusterConfig.model_validate(cluster.settings)
        emulator = self.emulator
        live = AzureProvider(cluster, settings=settings)
        nsgs = [nsg for page in live.adapter.nsg_pages() for nsg in page]
        sub, rg = config.subscription_id, config.resource_group
        asgs = {a for b in config.roles.values() for a in (b.asg, *(b.asgs or ())) if a}
        for nsg in nsgs:
            asgs |= _asg_ids((nsg.get("properties") or {}).get("securityRules") or ())
        for asg in sorted(asgs):
            parts = asg.split("/")
            # /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Network/
            # applicationSecurityGroups/<name>
            emulator.seed_asg(parts[2], parts[4], parts[-1])
        etags: dict[str, str] = {}  # the copy's etag -> the live one
        for nsg in nsgs:
            rules = (nsg.get("properties") or {}).get("securityRules") or []
            try:
                seeded = emulator.seed_nsg(
                    sub,
                    rg,
                    str(nsg["name"]),
                    location=str(nsg.get("location") or "eastus"),
                    rules=[_rule(r) for r in rules],
                    tags=nsg.get("tags"),
                )
            except ValueError as exc:
                raise ProviderError(
                    f"cluster {cluster.name}: NSG {nsg['name']} cannot be copied for the "
                    f"rehearsal: {exc}",
                    hint="apply without --rehearse, and report the rule to the portsync project",
                ) from None
            # The copy's NSG has an etag of its own; a write compiled on the copy names it where
            # the live write names the live one.
            if seeded.get("etag") and nsg.get("etag"):
                etags[str(seeded["etag"])] = str(nsg["etag"])
        assert self._workdir is not None
        tls = make_tls(["127.0.0.1", "localhost"])
        ca = self._workdir / f"rehearse-tap-ca-{uuid.uuid4().hex}.pem"
        ca.write_bytes(tls.ca_pem)
        upstream = ssl.create_default_context(cafile=emulator.ca_bundle_path)
        entry = cluster.model_dump(mode="json")
        entry.update(
            endpoint=emulator.base_url,
            ca_bundle=emulator.ca_bundle_path,
            credentials="anonymous",
        )
        return Copied(
            entry=entry,
            targets=len(config.roles),
            ids=etags,
            tap_tls=(tls.context, upstream, {"ca_bundle": str(ca)}),
        )
