"""The GCP part of a rehearsal (docs/rehearse.md): the project's firewalls copied into a GCP
emulator of their own.

Every firewall of the project is copied — every network, not only the cluster's — with its
name, priority, description, tags, service accounts, ranges and logging, because the
``FIREWALLS`` quota counts the whole project and ownership is read from the names. Names are the
identity on GCP, so the copy keeps every id: the derived config differs only in the endpoint
(and the credentials: the copy takes none). The copy enforces the cluster's ``firewall_quota``
when it is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from portsync.config import ClusterConfig, Sources
from portsync.errors import ProviderError
from portsync.provider import Settings
from portsync.rehearse import Copied

from .emulator import GcpEmulator
from .provider import GcpClusterConfig, GcpProvider

__all__ = ["CloudCopy"]

#: Fields the API sets itself: an insert naming them is refused, so the copy leaves them out.
_OUTPUT_ONLY = frozenset({"id", "kind", "selfLink", "creationTimestamp"})


def _body(firewall: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in firewall.items() if k not in _OUTPUT_ONLY}


def _network_name(url: Any) -> str:
    return str(url or "").rstrip("/").rpartition("/")[2]


class CloudCopy:
    """A GCP emulator holding a copy of one cluster's project firewalls."""

    def __init__(self) -> None:
        self._emulator = GcpEmulator()

    @property
    def emulator(self) -> GcpEmulator:
        """The emulator (tests inject faults and quotas through it)."""
        return self._emulator

    def start(self, workdir: Path) -> None:
        """Start the emulator on a free loopback port."""
        self._emulator.start()

    def stop(self) -> None:
        """Stop the emulator."""
        self._emulator.stop()

    @staticmethod
    def is_write(method: str, path: str, body: bytes) -> bool:
        """Inserts, patches, updates and deletes; an operation wait is a read."""
        route = path.partition("?")[0]
        if method in ("GET", "HEAD"):
            return False
        return not route.endswith(("/wait", "/testIamPermissions"))

    def copy(self, cluster: ClusterConfig, sources: Sources, settings: Settings) -> Copied:
        """List every firewall of the project on the live side and seed them into the copy."""
        config = GcpClusterConfig.model_validate(cluster.settings)
        live = GcpProvider(cluster, settings=settings)
        firewalls = [fw for page in live.adapter.firewall_pages() for fw in page]
        networks = {config.network} | {_network_name(fw.get("network")) for fw in firewalls}
        for network in sorted(n for n in networks if n):
            self._emulator.add_network(config.project, network)
        self._emulator.firewall_quota = config.firewall_quota
        try:
            self._emulator.seed(config.project, [_body(fw) for fw in firewalls])
        except ValueError as exc:
            raise ProviderError(
                f"cluster {cluster.name}: a live firewall cannot be copied for the rehearsal: {exc}",
                hint="apply without --rehearse, and report the firewall to the portsync project",
            ) from None
        entry = cluster.model_dump(mode="json")
        entry.update(endpoint=self._emulator.url, credentials="anonymous")
        return Copied(entry=entry, targets=len(config.roles))
