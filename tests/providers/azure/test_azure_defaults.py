"""Azure's default security rules: read with every NSG, shown by plan, audit and explain, never
removed, and never counted as covering a wanted rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from portsync import api
from portsync.audit import audit
from portsync.config import load_config
from portsync.explain import Answer, explain, parse_destination, parse_source
from portsync.ops import DeleteRuleOp
from portsync.providers.azure.emulator import AzureEmulator
from portsync.providers.azure.provider import AzureProvider

from .test_azure_engine import CP_NSG, NODE_NSG, RG, SUB, AzureWorld

pytest.importorskip("azure.mgmt.network", reason="needs portsync[azure]")

INBOUND = {"AllowVnetInBound", "AllowAzureLoadBalancerInBound"}
OUTBOUND = {"AllowVnetOutBound", "AllowInternetOutBound"}


@pytest.fixture
def world(azure_emulator: AzureEmulator, tmp_path: Path) -> AzureWorld:
    """Two empty NSGs (each with Azure's six default rules) and a config binding them."""
    azure_emulator.seed_nsg(SUB, RG, CP_NSG)
    azure_emulator.seed_nsg(SUB, RG, NODE_NSG)
    made = AzureWorld(azure_emulator, tmp_path / "portsync.yaml")
    made.write_config()
    return made


def _defaults(group: Any) -> set[str]:
    return {r.native_id for r in group.cloud_defaults}


def test_plan_shows_the_allow_defaults_of_every_nsg_as_cloud_defaults(world: AzureWorld) -> None:
    plan = api.plan(load_config(world.config_path))
    assert [_defaults(g) for g in plan.groups] == [INBOUND | OUTBOUND] * 2
    assert all(not g.unmanaged for g in plan.groups)
    rule = next(r for r in plan.groups[0].cloud_defaults if r.native_id == "AllowVnetInBound")
    assert (str(rule.peer), rule.protocol.value, rule.ports) == (
        "service-tag:VirtualNetwork",
        "all",
        None,
    )
    assert AzureProvider.is_cloud_default(rule) and not rule.owned


def test_exclusive_mode_never_plans_to_remove_a_default_rule(world: AzureWorld) -> None:
    world.write_config(mode="exclusive")
    plan = api.plan(load_config(world.config_path))
    removed = [op.rule.native_id for _g, op in plan.changes if isinstance(op, DeleteRuleOp)]
    assert removed == []
    assert [_defaults(g) for g in plan.groups] == [INBOUND | OUTBOUND] * 2
    api.apply(load_config(world.config_path), allow_exclusive=True)
    assert api.plan(load_config(world.config_path)).is_empty()


def test_default_rules_do_not_satisfy_wanted_rules(world: AzureWorld) -> None:
    # AllowAzureLoadBalancerInBound admits the load balancer on every port, but a deny rule
    # portsync does not read may come before it: portsync still writes its own rule.
    plan = api.plan(load_config(world.config_path))
    assert plan.summary()["satisfied"] == 0
    assert any(op.rule.origin == "load-balancers" for _g, op in plan.changes)


def test_audit_names_the_default_rule_and_the_components_it_reaches(world: AzureWorld) -> None:
    report = audit(load_config(world.config_path))
    found = [
        f for f in report.findings if f.rule.native_id == "AllowVnetInBound" and f.target == CP_NSG
    ]
    assert len(found) == 1
    message = found[0].message
    assert "default rule AllowVnetInBound" in message
    assert "cannot be removed" in message
    assert "etcd" in message and "kubelet" in message
    assert found[0].severity.value == "info"


def test_explain_worker_to_control_plane_kubelet_is_allowed_by_allow_vnet_inbound(
    world: AzureWorld,
) -> None:
    answer = explain(
        load_config(world.config_path),
        parse_source("role:worker"),
        parse_destination("control-plane:10250"),
    )
    assert answer.answer is Answer.ALLOWED
    (target,) = answer.clusters[0].targets
    deciding = [m for e in target.endpoints for m in e.deciding]
    assert {m.rule.native_id for m in deciding} == {"AllowVnetInBound"}
    assert "machines of role worker are in the virtual network" in deciding[0].note


def test_explain_from_the_internet_is_not_let_in_by_the_vnet_default(world: AzureWorld) -> None:
    answer = explain(
        load_config(world.config_path),
        parse_source("any"),
        parse_destination("control-plane:10250"),
    )
    assert answer.answer is Answer.DENIED
