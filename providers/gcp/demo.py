"""The GCP part of ``portsync demo``: the local Compute emulator seeded with drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from portsync.model import Direction, Endpoint, Protocol
from portsync.owners import NamedOwners

from .emulator import GcpEmulator
from .translate import firewall_name, network_url

__all__ = ["GcpDemo"]

PROJECT = "portsync-demo"
CONTROL_PLANE_TAG = "k8s-cp"
WORKER_TAG = "k8s-node"


def drift(project: str = PROJECT, owner: str = "demo-gcp") -> list[dict[str, Any]]:
    """Firewalls that disagree with the demo's port table in every way portsync handles.

    The owned ones are named as ``owner``'s runs name their firewalls.

    * the API server firewall (IPv4) exists under portsync's name with a stale description;
    * an owned firewall for the retired read-only kubelet port is no longer wanted;
    * ``allow-ssh`` is someone else's rule on the workers: listed, left alone;
    * every other wanted rule is missing.
    """
    network = network_url(project, "default")
    stem = NamedOwners(prefix="portsync", owner=owner).stem
    api_name = firewall_name(
        stem,
        "control-plane",
        f"tag:{CONTROL_PLANE_TAG}",
        Direction.INGRESS,
        Protocol.TCP,
        Endpoint.cidr("203.0.113.0/24"),
    )
    return [
        {
            "name": api_name,
            "description": "[portsync] 6443 API server (old wording)",
            "network": network,
            "allowed": [{"IPProtocol": "tcp", "ports": ["6443"]}],
            "sourceRanges": ["203.0.113.0/24"],
            "targetTags": [CONTROL_PLANE_TAG],
        },
        {
            "name": f"{stem}-worker-tcp-retired0",
            "description": "[portsync] 10255 read-only kubelet (retired port)",
            "network": network,
            "allowed": [{"IPProtocol": "tcp", "ports": ["10255"]}],
            "sourceRanges": ["10.0.0.0/8"],
            "targetTags": [WORKER_TAG],
        },
        {
            "name": "allow-ssh",
            "description": "bastion ssh",
            "network": network,
            "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}],
            "sourceRanges": ["10.9.0.0/16"],
            "targetTags": [WORKER_TAG],
        },
    ]


class GcpDemo:
    """The GCP Compute emulator on a free loopback port, seeded with :func:`drift`."""

    def __init__(self) -> None:
        self.emulator = GcpEmulator()

    def start(self, workdir: Path) -> dict[str, Any]:
        """Start the emulator, seed drift, return the cluster entry for the demo config."""
        url = self.emulator.start()
        self.emulator.seed(PROJECT, drift(PROJECT))
        return {
            "name": "demo-gcp",
            "provider": "gcp",
            "project": PROJECT,
            "network": "default",
            "endpoint": url,
            "credentials": "anonymous",
            "roles": {
                "control-plane": {"target_tag": CONTROL_PLANE_TAG},
                "worker": {"target_tag": WORKER_TAG},
            },
        }

    def stop(self) -> None:
        """Stop the emulator."""
        self.emulator.stop()
