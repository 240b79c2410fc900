"""The Azure part of ``portsync demo``: the local ARM emulator with two NSGs seeded with drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from portsync.owners import NamedOwners

from .emulator import AzureEmulator

__all__ = ["AzureDemo", "drift"]

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
RESOURCE_GROUP = "k8s-demo"
CONTROL_PLANE_NSG = "k8s-cp-nsg"
WORKER_NSG = "k8s-node-nsg"
CONTROL_PLANE_PREFIXES = ["10.0.1.0/24", "fd00:1::/64"]
WORKER_PREFIXES = ["10.0.2.0/24", "fd00:2::/64"]


def _rule(
    name: str, priority: int, port: str, source: str, destination: str, **props: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "destinationPortRange": port,
        "sourceAddressPrefix": source,
        "destinationAddressPrefix": destination,
        "access": "Allow",
        "priority": priority,
        "direction": "Inbound",
        **props,
    }


def drift(owner: str = "demo-azure") -> dict[str, list[dict[str, Any]]]:
    """Security rules, by NSG, that disagree with the demo's port table in every way portsync
    handles.

    * the API server rule (IPv4) is portsync's but has a stale description;
    * ``policy-deny-telnet`` is a policy-injected deny rule sitting on priority 1000, the first
      priority of portsync's band: portsync allocates around it and never touches it;
    * a portsync rule for the retired read-only kubelet port is no longer wanted;
    * ``allow-ssh`` is someone else's rule on the workers: listed, left exactly as it is;
    * every other wanted rule is missing.

    portsync's rules are named as ``owner``'s runs name them.
    """
    stem = NamedOwners(prefix="portsync", owner=owner, fold_case=True).stem
    return {
        CONTROL_PLANE_NSG: [
            _rule(
                "policy-deny-telnet",
                1000,
                "23",
                "*",
                "*",
                access="Deny",
                description="injected by policy: no telnet",
            ),
            _rule(
                f"{stem}-control-plane-tcp-6443-0ldapi00",
                1001,
                "6443",
                "203.0.113.0/24",
                "10.0.1.0/24",
                description="[portsync] API server (old wording)",
            ),
        ],
        WORKER_NSG: [
            _rule("allow-ssh", 300, "22", "10.9.0.0/16", "*", description="bastion ssh"),
            _rule(
                f"{stem}-worker-tcp-10255-retired0",
                1000,
                "10255",
                "10.0.0.0/8",
                "10.0.2.0/24",
                description="[portsync] read-only kubelet (retired port)",
            ),
        ],
    }


class AzureDemo:
    """The Azure ARM emulator (HTTPS, throw-away CA) on a free loopback port, seeded with
    :func:`drift`."""

    def __init__(self) -> None:
        self.emulator: AzureEmulator | None = None

    def start(self, workdir: Path) -> dict[str, Any]:
        """Start the emulator, seed drift, return the cluster entry for the demo config."""
        self.emulator = AzureEmulator(ca_out=Path(workdir) / "azure-emulator-ca.pem")
        url = self.emulator.start()
        for nsg, rules in drift().items():
            self.emulator.seed_nsg(SUBSCRIPTION, RESOURCE_GROUP, nsg, rules=rules)
        return {
            "name": "demo-azure",
            "provider": "azure",
            "subscription_id": SUBSCRIPTION,
            "resource_group": RESOURCE_GROUP,
            "endpoint": url,
            "ca_bundle": self.emulator.ca_bundle_path,
            "credentials": "anonymous",
            "polling_interval": 0.05,
            "priority_band": [1000, 1999],
            "roles": {
                "control-plane": {
                    "nsg": CONTROL_PLANE_NSG,
                    "address_prefixes": list(CONTROL_PLANE_PREFIXES),
                },
                "worker": {"nsg": WORKER_NSG, "address_prefixes": list(WORKER_PREFIXES)},
            },
        }

    def stop(self) -> None:
        """Stop the emulator."""
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None
