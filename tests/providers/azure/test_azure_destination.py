"""Coverage looks at a live rule's role side (its destination inbound, its source outbound), on
the Azure emulator through the real SDK.

An NSG rule admits a flow to a role's machines only when its destination holds them. portsync
counts a live rule for a role's rows only when it can prove that: a destination of ``*``, the
``VirtualNetwork`` tag, one of the role's ASGs, or prefixes that hold the role's address
prefixes. A rule aimed at other machines (another subnet, another role's ASG, the ``Internet``
tag) satisfies nothing, and neither does one portsync cannot place; plan, explain and audit
agree on it.
"""

from __future__ import annotations

from typing import Any

import pytest

from portsync import api
from portsync.audit import audit
from portsync.config import load_config
from portsync.explain import Answer, Explanation, explain, parse_destination, parse_source
from portsync.ops import Plan

from .test_azure_engine import CP_NSG, NODE_NSG, RG, SUB, AzureWorld, world

__all__ = ["world"]

pytest.importorskip("azure.mgmt.network", reason="needs portsync[azure]")

SHARED = "shared-nsg"
CP_ROWS = 7  # see test_azure_engine: the control plane's rows of the standard table


def _asg(name: str) -> str:
    return (
        f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/"
        f"applicationSecurityGroups/{name}"
    )


def _rule(name: str, priority: int, destination: str | list[str], **props: Any) -> dict[str, Any]:
    """An inbound rule from anywhere, on every protocol and port, aimed at ``destination`` (a
    prefix, a tag, ``*``, an ASG id or a list of prefixes); ``props`` override."""
    base: dict[str, Any] = {
        "protocol": "*",
        "access": "Allow",
        "direction": "Inbound",
        "priority": priority,
        "sourcePortRange": "*",
        "sourceAddressPrefix": "*",
        "destinationPortRange": "*",
    }
    if isinstance(destination, list):
        base["destinationAddressPrefixes"] = destination
    elif destination.startswith("/"):
        base["destinationApplicationSecurityGroups"] = [{"id": destination}]
    else:
        base["destinationAddressPrefix"] = destination
    return {"name": name, "properties": {**base, **props}}


def _plan(world: AzureWorld) -> Plan:
    return api.plan(load_config(world.config_path))


def _satisfied(plan: Plan, role: str) -> list[str]:
    return sorted(
        f"{s.rule.protocol.value} {s.rule.ports_text} {s.rule.peer}"
        for g in plan.groups
        if g.role == role
        for s in g.satisfied
    )


def _adds(plan: Plan, role: str) -> list[str]:
    return sorted(
        f"{op.rule.protocol.value} {op.rule.ports_text} {op.rule.peer}"
        for g in plan.groups
        if g.role == role
        for op in g.adds
    )


def _explain(world: AzureWorld, source: str, destination: str) -> Explanation:
    return explain(
        load_config(world.config_path), parse_source(source), parse_destination(destination)
    )


def _deciding(found: Explanation) -> dict[str, str]:
    """Each rule that decides (or may decide) an endpoint, with how it matches."""
    return {
        m.rule.native_id or "": m.match.value
        for c in found.clusters
        for t in c.targets
        for e in t.endpoints
        for m in e.deciding
    }


# --------------------------------------------------------------------------- one role per NSG


@pytest.mark.parametrize(
    ("destination", "covers"),
    [
        ("*", True),
        ("VirtualNetwork", True),  # the machines an NSG filters have their addresses in the VNet
        ("10.0.0.0/16", True),  # holds the control plane's 10.0.1.0/24
        (["10.0.0.0/24", "10.0.1.0/25", "10.0.1.128/25"], True),  # together they hold it
        ("10.0.9.0/24", False),  # another subnet
        ("10.0.1.0/25", False),  # only half of the control plane
        ("Internet", False),  # addresses outside the virtual network
        ("AzureLoadBalancer", False),  # the host's probe address
        ("Storage.WestEurope", False),  # addresses portsync cannot see
        (_asg("someone-else"), False),  # machines in prefixes are not known to be in an ASG
    ],
)
def test_a_rule_covers_a_roles_rows_only_when_its_destination_holds_the_role(
    world: AzureWorld, destination: str | list[str], covers: bool
) -> None:
    if isinstance(destination, str) and destination.startswith("/"):
        world.emulator.seed_asg(SUB, RG, destination.rsplit("/", 1)[-1])
    world.seed(CP_NSG, _rule("wide-open", 500, destination))
    plan = _plan(world)
    if covers:
        assert len(_satisfied(plan, "control-plane")) == CP_ROWS
        assert _adds(plan, "control-plane") == []
    else:
        assert _satisfied(plan, "control-plane") == []
        assert len(_adds(plan, "control-plane")) == CP_ROWS
    # Listed as unmanaged under the NSG's role either way, and left alone.
    listed = {g.target for g in plan.groups for r in g.unmanaged if r.native_id == "wide-open"}
    assert listed == {CP_NSG}


def test_a_rule_equal_but_for_its_destination_does_not_stand_for_the_wanted_one(
    world: AzureWorld,
) -> None:
    # The same protocol, port and source as the table's API row, aimed at another subnet.
    world.seed(
        CP_NSG,
        _rule(
            "api-elsewhere",
            500,
            "10.0.9.0/24",
            protocol="Tcp",
            sourceAddressPrefix="203.0.113.0/24",
            destinationPortRange="6443",
        ),
    )
    plan = _plan(world)
    assert "tcp 6443 cidr:203.0.113.0/24" in _adds(plan, "control-plane")
    api.apply(load_config(world.config_path))
    rules = world.rules(CP_NSG)
    assert rules["api-elsewhere"]["properties"]["destinationAddressPrefix"] == "10.0.9.0/24"
    written = [
        r["properties"]
        for n, r in rules.items()
        if n != "api-elsewhere"
        and r["properties"]["destinationPortRange"] == "6443"
        and r["properties"].get("sourceAddressPrefix") == "203.0.113.0/24"
    ]
    assert [p["destinationAddressPrefix"] for p in written] == ["10.0.1.0/24"]
    assert _plan(world).is_empty()


@pytest.mark.parametrize(("destination", "answer"), [("*", Answer.ALLOWED), ("10.0.9.0/24", None)])
def test_explain_agrees_with_plan_on_a_rule_aimed_elsewhere(
    world: AzureWorld, destination: str, answer: Answer | None
) -> None:
    world.seed(CP_NSG, _rule("api-open", 500, destination, destinationPortRange="6443"))
    found = _explain(world, "203.0.113.7", "control-plane:6443/tcp")
    deciding = _deciding(found)
    if answer is Answer.ALLOWED:
        assert found.answer is Answer.ALLOWED
        assert "api-open" in deciding
    else:
        # Only Azure's default rule from the virtual network is left, whose addresses
        # portsync does not read.
        assert found.answer is not Answer.ALLOWED
        assert "api-open" not in deciding


def test_a_deny_rule_aimed_elsewhere_does_not_block_coverage_one_that_may_reach_does(
    world: AzureWorld,
) -> None:
    etcd_deny = {"access": "Deny", "protocol": "Tcp", "destinationPortRange": "2379-2380"}
    world.seed(
        CP_NSG,
        _rule("all-open", 500, "*"),
        _rule("deny-etcd-elsewhere", 400, "10.0.9.0/24", **etcd_deny),
    )
    assert len(_satisfied(_plan(world), "control-plane")) == CP_ROWS
    world.seed(CP_NSG, _rule("deny-etcd-half", 410, "10.0.1.0/25", **etcd_deny))
    plan = _plan(world)
    assert _adds(plan, "control-plane") == ["tcp 2379-2380 cidr:10.0.1.0/24"]
    assert len(_satisfied(plan, "control-plane")) == CP_ROWS - 1


def test_outbound_rules_are_placed_by_their_source(world: AzureWorld) -> None:
    egress = {
        "role": "worker",
        "direction": "egress",
        "protocol": "tcp",
        "ports": 443,
        "peer": "cidr:198.51.100.0/24",
    }
    world.write_config(extra_rules=[egress])
    outbound = {
        "direction": "Outbound",
        "protocol": "Tcp",
        "destinationAddressPrefix": "198.51.100.0/24",
        "destinationPortRange": "443",
    }
    world.seed(
        NODE_NSG,
        _rule("https-out-elsewhere", 500, "*", **outbound, sourceAddressPrefix="10.0.9.0/24"),
    )
    plan = _plan(world)
    assert "tcp 443 cidr:198.51.100.0/24" in _adds(plan, "worker")
    world.seed(NODE_NSG, _rule("https-out", 510, "*", **outbound, sourceAddressPrefix="*"))
    # The same rule but for its role side: it stands for the wanted one (listed unmanaged).
    assert "tcp 443 cidr:198.51.100.0/24" not in _adds(_plan(world), "worker")


def test_a_dual_stack_role_is_covered_per_family(world: AzureWorld) -> None:
    # Only the worker's IPv4 prefix is held: the IPv6 rows still need portsync's rules.
    world.seed(NODE_NSG, _rule("v4-open", 500, "10.0.0.0/16"))
    plan = _plan(world)
    satisfied = _satisfied(plan, "worker")
    adds = _adds(plan, "worker")
    assert satisfied and adds
    assert all(":" not in s.split(" cidr:")[-1] for s in satisfied if "cidr:" in s)
    assert all("fd00:2::/64" in s or "2001:db8::/32" in s for s in adds)


def test_exclusive_mode_leaves_rules_aimed_at_other_machines_alone(world: AzureWorld) -> None:
    world.write_config(mode="exclusive")
    world.seed(
        CP_NSG,
        _rule("ssh-elsewhere", 500, "10.0.9.0/24", protocol="Tcp", destinationPortRange="22"),
        _rule("ssh-here", 510, "*", protocol="Tcp", destinationPortRange="22"),
    )
    plan = _plan(world)
    removed = {op.rule.native_id for g in plan.groups for op in g.removes}
    assert removed == {"ssh-here"}
    api.apply(load_config(world.config_path), allow_exclusive=True)
    assert "ssh-elsewhere" in world.rules(CP_NSG)
    assert "ssh-here" not in world.rules(CP_NSG)


@pytest.mark.parametrize(("destination", "reported"), [("*", True), ("10.0.9.0/24", False)])
def test_audit_reports_an_open_kubelet_only_when_the_rule_reaches_the_role(
    world: AzureWorld, destination: str, reported: bool
) -> None:
    world.seed(
        NODE_NSG,
        _rule("kubelet-open", 500, destination, protocol="Tcp", destinationPortRange="10250"),
    )
    report = audit(load_config(world.config_path))
    exposed = [f for f in report.findings if f.rule.native_id == "kubelet-open"]
    assert bool(exposed) is reported


# --------------------------------------------------------------------------- roles sharing an NSG


SHARED_ROLES = {
    "control-plane": {"nsg": SHARED, "address_prefixes": ["10.0.1.0/24"]},
    "worker": {"nsg": SHARED, "address_prefixes": ["10.0.2.0/24"]},
}


@pytest.fixture
def shared(world: AzureWorld) -> AzureWorld:
    world.emulator.seed_nsg(SUB, RG, SHARED)
    world.write_config(roles=SHARED_ROLES, sources={"all": ["203.0.113.0/24"]})
    return world


def test_a_rule_for_every_machine_of_a_shared_nsg_covers_every_role(shared: AzureWorld) -> None:
    shared.seed(SHARED, _rule("all-open", 500, "*"))
    plan = _plan(shared)
    assert _adds(plan, "control-plane") == [] and _adds(plan, "worker") == []
    assert _satisfied(plan, "control-plane") and _satisfied(plan, "worker")
    by = {r.native_id for g in plan.groups for s in g.satisfied for r in s.by}
    assert by == {"all-open"}
    # Listed under one role only (the NSG's first), however many it covers.
    listed = {g.target for g in plan.groups for r in g.unmanaged if r.native_id == "all-open"}
    assert listed == {f"{SHARED}/control-plane"}


def test_a_rule_aimed_at_one_role_of_a_shared_nsg_covers_that_role_only(
    shared: AzureWorld,
) -> None:
    shared.seed(SHARED, _rule("workers-open", 500, "10.0.2.0/24"))
    plan = _plan(shared)
    assert _adds(plan, "worker") == []
    assert _satisfied(plan, "control-plane") == []
    assert len(_adds(plan, "control-plane")) >= 5


def test_a_rule_naming_no_role_of_a_shared_nsg_covers_none(shared: AzureWorld) -> None:
    # Before, a rule naming no role's binding was counted for the NSG's first role.
    shared.seed(SHARED, _rule("elsewhere-open", 500, "10.0.9.0/24"))
    plan = _plan(shared)
    assert _satisfied(plan, "control-plane") == [] and _satisfied(plan, "worker") == []
    found = _explain(shared, "203.0.113.7", "control-plane:6443/tcp")
    assert found.answer is not Answer.ALLOWED
    assert "elsewhere-open" not in _deciding(found)


def test_asg_roles_count_only_their_own_asgs(shared: AzureWorld) -> None:
    cp, node, other = _asg("ps-cp"), _asg("ps-node"), _asg("someone-else")
    for name in ("ps-cp", "ps-node", "someone-else"):
        shared.emulator.seed_asg(SUB, RG, name)
    shared.write_config(
        roles={
            "control-plane": {"nsg": SHARED, "asg": cp},
            "worker": {"nsg": SHARED, "asgs": [node]},
        },
        sources={"all": ["203.0.113.0/24"]},
    )
    shared.seed(SHARED, _rule("other-asg-open", 500, other), _rule("node-open", 510, node))
    plan = _plan(shared)
    assert _satisfied(plan, "control-plane") == []
    assert _adds(plan, "worker") == []
    by = {r.native_id for g in plan.groups if g.role == "worker" for s in g.satisfied for r in s.by}
    assert by == {"node-open"}
    # An ASG destination portsync cannot place (the control plane's machines may be in it):
    # explain cannot say the flow passes, nor that it does not.
    found = _explain(shared, "203.0.113.7", "control-plane:6443/tcp")
    assert found.answer is Answer.UNKNOWN
    assert _deciding(found)["other-asg-open"] == "unknown"
    # The worker lists every ASG its machines are in: the other ASG is not one of them.
    assert "other-asg-open" not in _deciding(_explain(shared, "203.0.113.7", "worker:22/tcp"))
