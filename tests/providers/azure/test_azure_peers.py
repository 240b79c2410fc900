"""Azure service tags as peers (``service-tag:<Name>``): validated by their spelling, written as
the rule's address prefix, read back as the same peer — the real NetworkManagementClient against
the local ARM emulator."""

from __future__ import annotations

import pytest

from portsync import api
from portsync.config import load_config, parse_config
from portsync.errors import ConfigError, UnsupportedFeatureError

from .test_azure_engine import CP_NSG, NODE_NSG, RG, SUB, AzureWorld, world

__all__ = ["world"]

pytest.importorskip("azure.mgmt.network", reason="needs portsync[azure]")

REGIONAL = "service-tag:Storage.WestEurope"


def _by_prefix(world: AzureWorld, nsg: str) -> dict[str, list[dict[str, object]]]:
    out: dict[str, list[dict[str, object]]] = {}
    for rule in world.rules(nsg).values():
        props = rule["properties"]
        prefix = props.get("sourceAddressPrefix")
        if isinstance(prefix, str) and props["direction"] == "Inbound":
            out.setdefault(prefix, []).append(props)
    return out


def test_service_tags_from_sources_and_extra_rules_are_written_and_read_back(
    world: AzureWorld,
) -> None:
    world.write_config(
        sources={"all": ["service-tag:VirtualNetwork"]},
        extra_rules=[
            {"role": "worker", "protocol": "tcp", "ports": 9100, "peer": REGIONAL},
            # Spelled in lower case: written as Azure spells (and reads back) the tag.
            {"role": "worker", "protocol": "tcp", "ports": 9101, "peer": "service-tag:internet"},
        ],
    )
    api.apply(load_config(world.config_path))
    written = _by_prefix(world, NODE_NSG)
    assert {p["destinationPortRange"] for p in written["Storage.WestEurope"]} == {"9100"}
    assert {p["destinationPortRange"] for p in written["Internet"]} == {"9101"}
    # "All" (the NodePorts) is the VirtualNetwork tag.
    assert "30000-32767" in {p["destinationPortRange"] for p in written["VirtualNetwork"]}
    assert api.plan(load_config(world.config_path)).is_empty()
    # Read back as the same peer: without the rule, the plan removes it under that name.
    world.write_config(
        sources={"all": ["service-tag:VirtualNetwork"]},
        extra_rules=[
            {"role": "worker", "protocol": "tcp", "ports": 9101, "peer": "service-tag:Internet"}
        ],
    )
    plan = api.plan(load_config(world.config_path))
    removed = [(op.rule.ports_text, str(op.rule.peer)) for g in plan.groups for op in g.removes]
    assert removed == [("9100", "service-tag:Storage.WestEurope")]
    assert not [op for g in plan.groups for op in g.adds]


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("service-tag:*", "not a service tag name"),
        ("service-tag:Any", "not a service tag name"),
        ("service-tag:Storage West", "not a service tag name"),
        ("service-tag:Storage-WestEurope", "not a service tag name"),
        ("service-tag:", "not a service tag name"),
        ("service-tag:A.b.c.d", "not a service tag name"),
    ],
)
def test_malformed_service_tags_are_refused_by_the_config(tag: str, message: str) -> None:
    for text in (
        f"sources: {{all: ['{tag}']}}\n",
        f"sources: {{load_balancers: ['{tag}']}}\n",
        f"extra_rules: [{{role: worker, protocol: tcp, ports: 1, peer: '{tag}'}}]\n",
    ):
        with pytest.raises(ConfigError, match=message):
            parse_config(text)


@pytest.mark.parametrize("peer", ["sg-0abc", "123456789012/sg-0abc", "pl-0abc"])
def test_aws_peers_are_refused_on_azure(world: AzureWorld, peer: str) -> None:
    world.write_config(
        extra_rules=[{"role": "worker", "protocol": "tcp", "ports": 9100, "peer": peer}]
    )
    before = world.rules(NODE_NSG)
    with pytest.raises(UnsupportedFeatureError, match=r"an AWS .*; Azure cannot write it"):
        api.plan(load_config(world.config_path))
    assert world.rules(NODE_NSG) == before


def test_pod_ranges_are_added_to_role_peers_of_asg_bound_roles(world: AzureWorld) -> None:
    # With a CNI that addresses pods outside the nodes' NICs, an ASG does not match pod traffic.
    ids = {name: world.emulator.seed_asg(SUB, RG, name)["id"] for name in ("cp-asg", "node-asg")}
    roles = {
        "control-plane": {"nsg": CP_NSG, "asg": ids["cp-asg"]},
        "worker": {"nsg": NODE_NSG, "asg": ids["node-asg"]},
    }
    world.write_config(roles=roles, cluster={"pod_ranges": ["192.168.0.0/16"]})
    api.apply(load_config(world.config_path))
    kubelet = [
        r["properties"]
        for r in world.rules(NODE_NSG).values()
        if r["properties"].get("destinationPortRange") == "10250"
    ]
    sources = {p.get("sourceAddressPrefix") for p in kubelet}
    assert "192.168.0.0/16" in sources
    assert any(p.get("sourceApplicationSecurityGroups") == [{"id": ids["cp-asg"]}] for p in kubelet)
    pod_rule = next(p for p in kubelet if p.get("sourceAddressPrefix") == "192.168.0.0/16")
    assert pod_rule["destinationApplicationSecurityGroups"] == [{"id": ids["node-asg"]}]
    assert api.plan(load_config(world.config_path)).is_empty()
