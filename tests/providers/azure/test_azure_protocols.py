"""Azure: Esp and Ah written and read, outbound rules in the band, and what NSGs cannot say
refused at plan time — the real NetworkManagementClient against the local ARM emulator."""

from __future__ import annotations

import pytest

from portsync import api
from portsync.config import load_config
from portsync.errors import UnsupportedFeatureError

from .test_azure_engine import CP_NSG, NODE_NSG, AzureWorld, world

__all__ = ["world"]

pytest.importorskip("azure.mgmt.network", reason="needs portsync[azure]")


def test_apply_writes_esp_ah_and_outbound_rules_in_band_then_plan_is_clean(
    world: AzureWorld,
) -> None:
    world.write_config(
        extra_rules=[
            {"role": "worker", "protocol": "esp", "peer": "self", "purpose": "ipsec esp"},
            {"role": "worker", "protocol": 51, "peer": "self", "purpose": "ipsec ah"},
            {
                "role": "worker",
                "direction": "egress",
                "protocol": "tcp",
                "ports": 443,
                "peer": "cidr:10.50.0.0/16",
                "purpose": "registry",
            },
        ]
    )
    api.apply(load_config(world.config_path))
    props = [r["properties"] for r in world.rules(NODE_NSG).values()]
    protocols = {p["protocol"] for p in props}
    assert {"Esp", "Ah"} <= protocols
    outbound = [p for p in props if p["direction"] == "Outbound"]
    assert len(outbound) == 1
    assert outbound[0]["destinationAddressPrefix"] == "10.50.0.0/16"
    assert outbound[0]["sourceAddressPrefix"] == "10.0.2.0/24"  # the role's own IPv4 side
    assert 1000 <= outbound[0]["priority"] <= 1999
    assert api.plan(load_config(world.config_path)).is_empty()


def test_live_esp_rule_is_read_and_listed(world: AzureWorld) -> None:
    world.seed(
        NODE_NSG,
        {
            "name": "ipsec",
            "properties": {
                "protocol": "Esp",
                "sourcePortRange": "*",
                "destinationPortRange": "*",
                "sourceAddressPrefix": "10.7.0.0/16",
                "destinationAddressPrefix": "*",
                "access": "Allow",
                "priority": 300,
                "direction": "Inbound",
            },
        },
    )
    plan = api.plan(load_config(world.config_path))
    unmanaged = {(r.protocol.value, str(r.peer)) for g in plan.groups for r in g.unmanaged}
    assert ("esp", "cidr:10.7.0.0/16") in unmanaged


def test_protocols_nsgs_lack_and_icmp_types_refused_in_one_error(world: AzureWorld) -> None:
    world.write_config(
        extra_rules=[
            {"role": "worker", "protocol": "ipip", "peer": "self"},
            {"role": "worker", "protocol": "gre", "peer": "self"},
            {"role": "worker", "protocol": "sctp", "ports": 38412, "peer": "self"},
            {"role": "worker", "protocol": "icmp", "icmp_type": 3, "icmp_code": 4, "peer": "any"},
        ]
    )
    before = {n: world.rules(n) for n in (CP_NSG, NODE_NSG)}
    with pytest.raises(UnsupportedFeatureError) as caught:
        api.plan(load_config(world.config_path))
    text = str(caught.value)
    assert "Tcp, Udp, Icmp, Esp, Ah and *" in text
    for name in ("ipip", "gre", "sctp"):
        assert f"rule worker {name}" in text and f"not {name}" in text
    assert "write it as protocol all" in text  # the option to choose instead
    assert "no ICMP type or code" in text
    assert {n: world.rules(n) for n in (CP_NSG, NODE_NSG)} == before


def test_icmpv6_rule_written_as_icmp_towards_ipv6_only(world: AzureWorld) -> None:
    world.write_config(
        extra_rules=[{"role": "worker", "protocol": "icmpv6", "peer": "cidr:fd00:9::/64"}]
    )
    api.apply(load_config(world.config_path))
    props = [r["properties"] for r in world.rules(NODE_NSG).values()]
    icmp = [p for p in props if p["protocol"] == "Icmp"]
    assert [p.get("sourceAddressPrefix") for p in icmp] == ["fd00:9::/64"]
    assert api.plan(load_config(world.config_path)).is_empty()
    world.write_config(
        extra_rules=[{"role": "worker", "protocol": "icmpv6", "peer": "cidr:10.9.0.0/16"}]
    )
    with pytest.raises(UnsupportedFeatureError, match="use protocol icmp"):
        api.plan(load_config(world.config_path))
