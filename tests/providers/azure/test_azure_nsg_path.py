"""A role whose machines are behind two NSGs (the subnet's and the NICs'), on the Azure emulator
through the real SDK.

Azure lets an inbound flow through only when the subnet's NSG *and* the NIC's allow it. The
worker is bound with ``nsgs: [subnet-nsg, nic-nsg]`` and ``nsg: nic-nsg``: portsync writes to the
NIC's NSG only, reads the subnet's, and refuses to write a rule the subnet's NSG would stop.
"""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from portsync import api
from portsync.cli import app
from portsync.config import load_config
from portsync.errors import ConfigError, GuardrailError, NotFoundError

from .test_azure_engine import CP_NSG, RG, SUB, AzureWorld, world

__all__ = ["world"]

pytest.importorskip("azure.mgmt.network", reason="needs portsync[azure]")

runner = CliRunner()
SUBNET, NIC = "subnet-nsg", "nic-nsg"
WORKER = {"nsgs": [SUBNET, NIC], "nsg": NIC, "address_prefixes": ["10.0.2.0/24"]}
CONTROL_PLANE = {"nsg": CP_NSG, "address_prefixes": ["10.0.1.0/24"]}
#: What the subnet's NSG must let in besides Azure's defaults: the NodePorts from "All".
FROM_ALL = {
    "name": "nodeports-from-all",
    "properties": {
        "protocol": "Tcp",
        "access": "Allow",
        "direction": "Inbound",
        "priority": 300,
        "sourcePortRange": "*",
        "sourceAddressPrefix": "203.0.113.0/24",
        "destinationPortRange": "30000-32767",
        "destinationAddressPrefix": "10.0.2.0/24",
    },
}


@pytest.fixture
def path(world: AzureWorld) -> AzureWorld:
    world.emulator.seed_nsg(SUB, RG, SUBNET)  # Azure's default rules only
    world.emulator.seed_nsg(SUB, RG, NIC)
    world.write_config(roles={"control-plane": CONTROL_PLANE, "worker": WORKER})
    return world


def test_a_rule_the_subnet_nsg_would_stop_is_refused_before_any_write(path: AzureWorld) -> None:
    with pytest.raises(GuardrailError) as caught:
        api.plan(load_config(path.config_path))
    message = str(caught.value)
    # The NodePorts from "All" (a public range): the subnet's NSG admits only the virtual
    # network and the load balancer's probes.
    assert "NSG subnet-nsg, also on the path of the role's machines" in message
    assert "ingress tcp 30000-32767 from cidr:203.0.113.0/24" in message
    assert "would be written to NSG nic-nsg" in message
    # Flows from the cluster's own machines pass the subnet's AllowVnetInBound: not named.
    assert "from cidr:10.0.1.0/24" not in message
    assert "from cidr:10.0.2.0/24" not in message
    before = path.emulator.calls.total()
    result = runner.invoke(app, ["--config", str(path.config_path), "apply", "--auto-approve"])
    assert result.exit_code == 1, result.output
    assert "subnet-nsg" in result.stderr
    assert "nsg.put" not in path.emulator.calls.snapshot()
    assert path.emulator.calls.total() > before  # it read, and wrote nothing
    assert path.rules(NIC) == {}


def test_with_the_subnet_nsg_letting_it_in_only_the_nic_nsg_is_written(path: AzureWorld) -> None:
    path.seed(SUBNET, FROM_ALL)
    subnet_before = path.nsg(SUBNET)["properties"]["securityRules"]
    plan = api.plan(load_config(path.config_path))
    worker = next(g for g in plan.groups if g.role == "worker")
    assert worker.target == NIC
    assert any(op.rule.ports_text == "30000-32767" for op in worker.adds)
    assert {w.target.rsplit("/", 1)[-1] for w in plan.writes} == {NIC, CP_NSG}
    api.apply(load_config(path.config_path))
    assert path.nsg(SUBNET)["properties"]["securityRules"] == subnet_before
    assert path.rules(NIC)
    assert api.plan(load_config(path.config_path)).is_empty()


def test_a_deny_rule_of_the_subnet_nsg_stops_a_flow_from_inside(path: AzureWorld) -> None:
    deny: dict[str, Any] = {
        "name": "no-kubelet-from-cp",
        "properties": {
            "protocol": "Tcp",
            "access": "Deny",
            "direction": "Inbound",
            "priority": 200,
            "sourcePortRange": "*",
            "sourceAddressPrefix": "10.0.1.0/24",
            "destinationPortRange": "10250",
            "destinationAddressPrefix": "*",
        },
    }
    path.seed(SUBNET, FROM_ALL, deny)
    with pytest.raises(GuardrailError, match=r"ingress tcp 10250 from cidr:10\.0\.1\.0/24"):
        api.plan(load_config(path.config_path))


def test_a_missing_nsg_on_the_path_is_named(path: AzureWorld) -> None:
    path.write_config(
        roles={"control-plane": CONTROL_PLANE, "worker": {**WORKER, "nsgs": ["gone-nsg", NIC]}}
    )
    with pytest.raises(NotFoundError, match=r"gone-nsg \(on the path of role worker\)"):
        api.plan(load_config(path.config_path))


@pytest.mark.parametrize(
    ("binding", "message"),
    [
        ({"nsgs": [SUBNET, NIC], "nsg": "other-nsg"}, "nsg other-nsg is not one of nsgs"),
        ({"nsgs": [NIC, NIC.upper()]}, "nsgs lists a network security group twice"),
        ({"nsgs": []}, "nsgs needs at least one network security group"),
        ({}, "give nsg (the role's network security group) or nsgs"),
        ({"nsgs": ["bad name!"]}, "nsgs.0"),
    ],
)
def test_a_bad_list_of_nsgs_is_one_message_and_no_cloud_call(
    path: AzureWorld, binding: dict[str, Any], message: str
) -> None:
    path.write_config(
        roles={
            "control-plane": CONTROL_PLANE,
            "worker": {**binding, "address_prefixes": ["10.0.2.0/24"]},
        }
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path.config_path)
    assert message in str(caught.value)
    before = path.emulator.calls.total()
    result = runner.invoke(app, ["--config", str(path.config_path), "plan"])
    assert result.exit_code == 1
    assert message in result.stderr
    assert path.emulator.calls.total() == before


def test_nsgs_alone_write_to_the_first(path: AzureWorld) -> None:
    path.seed(SUBNET, FROM_ALL)
    path.write_config(
        roles={
            "control-plane": CONTROL_PLANE,
            "worker": {"nsgs": [NIC, SUBNET], "address_prefixes": ["10.0.2.0/24"]},
        }
    )
    plan = api.plan(load_config(path.config_path))
    assert next(g for g in plan.groups if g.role == "worker").target == NIC


def test_explain_lets_a_flow_through_only_when_every_nsg_on_the_path_does(
    path: AzureWorld,
) -> None:
    from portsync.explain import Answer, explain, parse_destination, parse_source

    nic_rule = {**FROM_ALL, "name": "nodeports-on-the-nic"}
    path.seed(NIC, nic_rule)

    def ask() -> Any:
        return explain(
            load_config(path.config_path),
            parse_source("203.0.113.7"),
            parse_destination("worker:30080/tcp"),
        )

    found = ask()
    assert found.answer is not Answer.ALLOWED  # the subnet's NSG has Azure's defaults only
    (cluster,) = found.clusters
    assert any(n.startswith(f"{NIC}") and "subnet-nsg" in n for n in cluster.notes), cluster.notes
    path.seed(SUBNET, FROM_ALL)
    assert ask().answer is Answer.ALLOWED
    # Bound to the NIC's NSG alone, portsync takes the NIC's rule for the whole answer.
    path.emulator.seed_nsg(SUB, RG, SUBNET)
    path.write_config(
        roles={
            "control-plane": CONTROL_PLANE,
            "worker": {"nsg": NIC, "address_prefixes": ["10.0.2.0/24"]},
        }
    )
    assert ask().answer is Answer.ALLOWED


@pytest.mark.parametrize(
    ("source", "held"),
    [
        # Someone else's rule equal to the row: the row is in place.
        ("203.0.113.0/24", "is in place in NSG nic-nsg"),
        # A broader one: the row is satisfied by it (coverage).
        ("203.0.112.0/23", "is satisfied by live rules of NSG nic-nsg"),
    ],
)
def test_a_row_the_nic_nsg_holds_open_and_the_subnet_nsg_stops_is_refused(
    path: AzureWorld, source: str, held: str
) -> None:
    # The plan would write nothing for the NodePorts row and count it open; the subnet's NSG
    # (Azure's defaults only) stops that flow, so nothing is open: the plan refuses, as it does
    # for a rule it would add.
    nic_rule = {**FROM_ALL, "name": "nodeports-on-the-nic"}
    nic_rule["properties"] = {**FROM_ALL["properties"], "sourceAddressPrefix": source}
    path.seed(NIC, nic_rule)
    with pytest.raises(GuardrailError) as caught:
        api.plan(load_config(path.config_path))
    message = str(caught.value)
    assert (
        f"role worker: ingress tcp 30000-32767 from cidr:203.0.113.0/24 {held}, but NSG "
        "subnet-nsg, also on the path of the role's machines, does not let it through"
    ) in message
    # Nothing else is named: the other rows pass the subnet's AllowVnetInBound.
    assert message.count("role worker:") == 1, message
    result = runner.invoke(app, ["--config", str(path.config_path), "apply", "--auto-approve"])
    assert result.exit_code == 1, result.output
    assert held in result.stderr
    assert "nsg.put" not in path.emulator.calls.snapshot()
    # Once the subnet's NSG lets it in, the plan goes on and writes nothing for the row.
    path.seed(SUBNET, FROM_ALL)
    plan = api.plan(load_config(path.config_path))
    worker = next(g for g in plan.groups if g.role == "worker")
    assert not [op for op in worker.adds if str(op.rule.peer) == "cidr:203.0.113.0/24"]
    satisfied = [s.rule.ports_text for s in worker.satisfied]
    assert satisfied == (["30000-32767"] if "satisfied" in held else [])


def test_a_rule_portsync_wrote_is_refused_once_the_subnet_nsg_stops_it(path: AzureWorld) -> None:
    # Converged with the subnet's NSG letting the NodePorts in; then its owner takes that out.
    path.seed(SUBNET, FROM_ALL)
    api.apply(load_config(path.config_path))
    assert api.plan(load_config(path.config_path)).is_empty()
    path.emulator.seed_nsg(SUB, RG, SUBNET)
    with pytest.raises(
        GuardrailError, match=r"30000-32767 from cidr:203\.0\.113\.0/24 is in place"
    ):
        api.plan(load_config(path.config_path))


#: The kubelet open to everyone, on the NIC's NSG portsync writes to.
KUBELET_FROM_EVERYONE = {
    "name": "kubelet-from-everyone",
    "properties": {
        "protocol": "Tcp",
        "access": "Allow",
        "direction": "Inbound",
        "priority": 250,
        "sourcePortRange": "*",
        "sourceAddressPrefix": "0.0.0.0/0",
        "destinationPortRange": "10250",
        "destinationAddressPrefix": "*",
    },
}


def test_audit_reports_an_exposure_only_when_every_nsg_on_the_path_lets_it_through(
    path: AzureWorld,
) -> None:
    from portsync.audit import audit

    def kubelet(report: Any) -> list[Any]:
        return [f for f in report.findings if f.id == "PS-EXPOSED-KUBELET" and f.target == NIC]

    path.seed(NIC, KUBELET_FROM_EVERYONE)
    # The subnet's NSG has Azure's defaults only: nothing from the internet reaches the kubelet.
    report = audit(load_config(path.config_path))
    assert kubelet(report) == []
    (notes,) = [c.notes for c in report.clusters]
    assert any(
        n.startswith(
            "not reported: kubelet tcp/10250 on nic-nsg (worker) is open to cidr:0.0.0.0/0"
        )
        and "but subnet-nsg (worker, read only), also on the path of the role's machines, does "
        "not let it through"
        in n
        for n in notes
    ), notes
    # The subnet's NSG lets the whole internet in on 10250: exposed, and said to be through both.
    path.seed(SUBNET, {**KUBELET_FROM_EVERYONE, "name": "kubelet-on-the-subnet"})
    report = audit(load_config(path.config_path))
    (finding,) = kubelet(report)
    assert (
        "subnet-nsg (worker, read only), also on the path of the role's machines, lets it through as well"
        in (finding.message)
    )
    # Only part of the internet on the subnet's NSG: reported, with the NSG that may stop part.
    part = {**KUBELET_FROM_EVERYONE, "name": "kubelet-on-the-subnet"}
    part["properties"] = {**part["properties"], "sourceAddressPrefix": "203.0.113.0/24"}
    path.emulator.seed_nsg(SUB, RG, SUBNET)
    path.seed(SUBNET, part)
    (finding,) = kubelet(audit(load_config(path.config_path)))
    assert (
        "subnet-nsg (worker, read only), also on the path of the role's machines, lets through only part of it"
        in (finding.message)
    )
