"""Clusters that Cluster API Azure (CAPZ) and AKS built, on the Azure emulator through the real
SDK: what their rules cover of the port tables, judged by where each rule is aimed.

* CAPZ's control-plane NSG (``<cluster>-controlplane-nsg``) holds ``allow_ssh`` and
  ``allow_apiserver``: TCP 22 and 6443 from anywhere to every machine of the NSG (``*``).
* AKS's NSG (``aks-agentpool-<n>-nsg``) holds one rule per LoadBalancer Service and source
  range, aimed at the Service's frontend IP, not at the nodes' own addresses.
"""

from __future__ import annotations

from typing import Any

import pytest

from portsync import api
from portsync.config import load_config
from portsync.ops import Plan

from .test_azure_engine import RG, SUB, AzureWorld, world

__all__ = ["world"]

pytest.importorskip("azure.mgmt.network", reason="needs portsync[azure]")

CAPZ_CP, CAPZ_NODE = "prod-controlplane-nsg", "prod-node-nsg"
AKS = "aks-agentpool-12345678-nsg"


def _inbound(name: str, priority: int, port: str, source: str, destination: str) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            "protocol": "Tcp",
            "access": "Allow",
            "direction": "Inbound",
            "priority": priority,
            "sourcePortRange": "*",
            "sourceAddressPrefix": source,
            "destinationPortRange": port,
            "destinationAddressPrefix": destination,
        },
    }


def _plan(world: AzureWorld) -> Plan:
    return api.plan(load_config(world.config_path))


def test_capz_apiserver_rule_for_every_machine_satisfies_the_api_row(world: AzureWorld) -> None:
    world.emulator.seed_nsg(
        SUB,
        RG,
        CAPZ_CP,
        rules=[
            _inbound("allow_ssh", 2200, "22", "*", "*"),
            _inbound("allow_apiserver", 2201, "6443", "*", "*"),
        ],
    )
    world.emulator.seed_nsg(SUB, RG, CAPZ_NODE)
    world.write_config(
        roles={
            "control-plane": {"nsg": CAPZ_CP, "address_prefixes": ["10.0.0.0/16"]},
            "worker": {"nsg": CAPZ_NODE, "address_prefixes": ["10.1.0.0/16"]},
        },
        sources={"all": ["203.0.113.0/24"]},
    )
    plan = _plan(world)
    cp = next(g for g in plan.groups if g.role == "control-plane")
    by = {(s.rule.ports_text, str(s.rule.peer)): {r.native_id for r in s.by} for s in cp.satisfied}
    assert by == {
        ("6443", "cidr:203.0.113.0/24"): {"allow_apiserver"},
        ("6443", "cidr:10.1.0.0/16"): {"allow_apiserver"},
        ("6443", "cidr:10.0.0.0/16"): {"allow_apiserver"},
    }
    assert all(op.rule.ports_text != "6443" for op in cp.adds)
    assert cp.managed_by is not None
    api.apply(load_config(world.config_path))
    assert _plan(world).is_empty()


def test_aks_service_rules_aimed_at_a_frontend_ip_do_not_cover_the_nodes(
    world: AzureWorld,
) -> None:
    world.emulator.seed_nsg(
        SUB,
        RG,
        AKS,
        # A Service with loadBalancerSourceRanges: [203.0.113.0/24].
        rules=[
            _inbound("k8s-azure-lb_allow_IPv4_0123abcd", 500, "443", "203.0.113.0/24", "20.50.1.2")
        ],
    )
    world.write_config(
        roles={"worker": {"nsg": AKS, "address_prefixes": ["10.224.0.0/16"]}},
        extra_rules=[
            {"role": "worker", "protocol": "tcp", "ports": 443, "peer": "any", "purpose": "ingress"}
        ],
        catalog=[],
    )
    plan = _plan(world)
    (group,) = plan.groups
    assert not group.satisfied
    # The same protocol, port and source as the wanted rule, but aimed at the Service's frontend.
    added = {str(op.rule.peer) for op in group.adds if op.rule.ports_text == "443"}
    assert "cidr:203.0.113.0/24" in added
    api.apply(load_config(world.config_path))
    rules = world.rules(AKS)
    assert rules["k8s-azure-lb_allow_IPv4_0123abcd"]["properties"]["destinationAddressPrefix"] == (
        "20.50.1.2"
    )
    assert _plan(world).is_empty()
