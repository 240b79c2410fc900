"""GCP: every IP protocol, ICMPv6 and egress written and read; ICMP types refused at plan time —
the real FirewallsClient against the local Compute emulator."""

from __future__ import annotations

from typing import Any

import pytest

from portsync import api
from portsync.config import load_config
from portsync.errors import TranslationError, UnsupportedFeatureError

from .test_gcp_engine import NODE_TAG, GcpWorld, gcp_world

__all__ = ["gcp_world"]

pytest.importorskip("google.cloud.compute_v1", reason="needs portsync[gcp]")

EXTRA = [
    {"role": "worker", "protocol": "ipip", "peer": "self", "purpose": "calico ip-in-ip"},
    {"role": "worker", "protocol": "esp", "peer": "self", "purpose": "ipsec"},
    {"role": "worker", "protocol": "gre", "peer": "self", "purpose": "gre"},
    {"role": "worker", "protocol": "sctp", "ports": 38412, "peer": "self", "purpose": "ngap"},
    {"role": "worker", "protocol": "icmp", "peer": "any", "purpose": "ping"},
    {
        "role": "worker",
        "direction": "egress",
        "protocol": "udp",
        "ports": 4789,
        "peer": "cidr:10.0.0.0/16",
        "purpose": "vxlan out",
    },
]


def _entries(world: GcpWorld) -> set[tuple[Any, ...]]:
    out = set()
    for fw in world.firewalls().values():
        for entry in fw.get("allowed") or ():
            peers = fw.get("sourceRanges") or fw.get("sourceTags") or fw.get("destinationRanges")
            out.add(
                (
                    fw["direction"],
                    entry["IPProtocol"],
                    tuple(entry.get("ports") or ()),
                    tuple(peers or ()),
                )
            )
    return out


def test_apply_writes_ip_protocols_icmpv6_and_egress_then_plan_is_clean(
    gcp_world: GcpWorld,
) -> None:
    gcp_world.write_config(extra_rules=EXTRA)
    api.apply(load_config(gcp_world.config_path))
    entries = _entries(gcp_world)
    assert ("INGRESS", "ipip", (), (NODE_TAG,)) in entries
    assert ("INGRESS", "esp", (), (NODE_TAG,)) in entries
    assert ("INGRESS", "47", (), (NODE_TAG,)) in entries  # GRE: the API has no name for it
    assert ("INGRESS", "sctp", ("38412",), (NODE_TAG,)) in entries
    icmp = {(e[1], e[3]) for e in entries if e[1] in ("icmp", "58")}
    # icmp towards the IPv6 "All" range is ICMPv6 (58); icmp would match no IPv6 packet.
    assert {p for p, peers in icmp if any(":" in x for x in peers)} == {"58"}
    assert {p for p, peers in icmp if not any(":" in x for x in peers)} == {"icmp"}
    assert ("EGRESS", "udp", ("4789",), ("10.0.0.0/16",)) in entries
    assert api.plan(load_config(gcp_world.config_path)).is_empty()


def test_live_firewalls_of_other_protocols_are_read_and_listed(gcp_world: GcpWorld) -> None:
    gcp_world.seed(
        {
            "name": "calico-ipip",
            "direction": "INGRESS",
            "priority": 1000,
            "allowed": [{"IPProtocol": "ipip"}],
            "sourceRanges": ["10.8.0.0/16"],
            "targetTags": [NODE_TAG],
        },
        {
            "name": "other-115",
            "direction": "INGRESS",
            "priority": 1000,
            "allowed": [{"IPProtocol": "115"}],
            "sourceRanges": ["10.9.0.0/16"],
            "targetTags": [NODE_TAG],
        },
    )
    plan = api.plan(load_config(gcp_world.config_path))
    unmanaged = {(r.protocol.value, str(r.peer)) for g in plan.groups for r in g.unmanaged}
    assert {("ipip", "cidr:10.8.0.0/16"), ("115", "cidr:10.9.0.0/16")} <= unmanaged


def test_icmp_type_refused_in_one_error_naming_every_rule(gcp_world: GcpWorld) -> None:
    gcp_world.write_config(
        extra_rules=[
            {"role": "worker", "protocol": "icmp", "icmp_type": 3, "icmp_code": 4, "peer": "any"},
            {"role": "control-plane", "protocol": "icmp", "icmp_type": 8, "peer": "any"},
        ]
    )
    with pytest.raises(UnsupportedFeatureError) as caught:
        api.plan(load_config(gcp_world.config_path))
    text = str(caught.value)
    assert "GCP firewall rules have no ICMP type or code" in text
    assert "rule worker icmp" in text and "rule control-plane icmp" in text
    assert gcp_world.firewalls() == {}


def test_egress_to_a_tag_peer_refused_naming_destination_ranges(gcp_world: GcpWorld) -> None:
    gcp_world.write_config(
        extra_rules=[
            {
                "role": "worker",
                "direction": "egress",
                "protocol": "tcp",
                "ports": 443,
                "peer": "role:control-plane",
            }
        ]
    )
    with pytest.raises(TranslationError, match="only take destination IP ranges"):
        api.plan(load_config(gcp_world.config_path))
    assert gcp_world.firewalls() == {}


@pytest.mark.parametrize(
    ("sources", "peer"),
    [
        ({"all": ["service-tag:VirtualNetwork"]}, None),
        ({"all": ["203.0.113.0/24"]}, "service-tag:Storage.WestEurope"),
        ({"all": ["203.0.113.0/24"]}, "sg-0abc"),
    ],
)
def test_peers_of_other_clouds_are_refused_in_one_clear_error(
    gcp_world: GcpWorld, sources: dict[str, Any], peer: str | None
) -> None:
    rules = [{"role": "worker", "protocol": "tcp", "ports": 443, "peer": peer}] if peer else []
    gcp_world.write_config(sources=sources, extra_rules=rules)
    with pytest.raises(UnsupportedFeatureError, match="GCP cannot write it") as err:
        api.plan(load_config(gcp_world.config_path))
    assert "Azure service tag" in str(err.value) or "AWS security group" in str(err.value)
    assert "give this GCP cluster CIDRs instead" in str(err.value)
