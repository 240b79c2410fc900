"""Azure end to end: the real NetworkManagementClient over HTTPS against the local ARM emulator,
through the portsync API (plan → guardrails → apply → re-read) with a config file."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from portsync import api
from portsync.cli import app
from portsync.config import load_config
from portsync.demo import DEMO_SOURCES
from portsync.errors import (
    ApplyError,
    AuthError,
    ConflictError,
    NotFoundError,
    ProviderError,
    ProviderLimitError,
    TranslationError,
)
from portsync.model import RuleKey
from portsync.ops import Plan
from portsync.owners import NamedOwners
from portsync.provider import Settings
from portsync.providers.azure.demo import AzureDemo
from portsync.providers.azure.emulator import AzureEmulator
from portsync.providers.azure.provider import AzureProvider
from portsync.providers.azure.translate import Binding, NsgLayout

pytest.importorskip("azure.mgmt.network", reason="needs portsync[azure]")

runner = CliRunner()

SUB = "00000000-0000-0000-0000-000000000000"
#: The config's cluster owns the rules named ``<STEM>-…``.
OWNERS = NamedOwners(prefix="portsync", owner="prod-azure", fold_case=True)
STEM = OWNERS.stem
RG = "k8s"
CP_NSG, NODE_NSG = "cp-nsg", "node-nsg"
CP_PREFIXES = ["10.0.1.0/24"]
NODE_PREFIXES = ["10.0.2.0/24", "fd00:2::/64"]
CP = Binding("control-plane", CP_NSG, CP_NSG, tuple(CP_PREFIXES))
NODE = Binding("worker", NODE_NSG, NODE_NSG, tuple(NODE_PREFIXES))
#: Rules of the standard table with "All" = one IPv4 and one IPv6 range, an IPv4-only control
#: plane and a dual-stack worker: control plane 6443 (IPv4 only), 6443 from the workers' IPv4
#: prefix and from itself ("All" holds the cluster's roles) + 4 self rules; worker 10250
#: self ×2 and from the control plane, 10256 self ×2 and from AzureLoadBalancer, NodePorts ×2
#: and from self ×2 and the control plane.
CP_RULES, NODE_RULES = 7, 11
RULES = CP_RULES + NODE_RULES


@dataclass
class AzureWorld:
    """An emulated resource group with two empty NSGs, and a config file binding them."""

    emulator: AzureEmulator
    config_path: Path

    def write_config(
        self,
        *,
        cluster: dict[str, Any] | None = None,
        roles: dict[str, Any] | None = None,
        **top: Any,
    ) -> Path:
        entry: dict[str, Any] = {
            "name": "prod-azure",
            "provider": "azure",
            "subscription_id": SUB,
            "resource_group": RG,
            "endpoint": self.emulator.base_url,
            "ca_bundle": self.emulator.ca_bundle_path,
            "credentials": "anonymous",
            "polling_interval": 0.01,
            "roles": roles
            or {
                "control-plane": {"nsg": CP_NSG, "address_prefixes": CP_PREFIXES},
                "worker": {"nsg": NODE_NSG, "address_prefixes": NODE_PREFIXES},
            },
        }
        entry.update(cluster or {})
        data: dict[str, Any] = {"sources": {"all": list(DEMO_SOURCES["all"])}, "clusters": [entry]}
        data.update(top)
        self.config_path.write_text(yaml.safe_dump(data, sort_keys=False))
        return self.config_path

    def nsg(self, name: str) -> dict[str, Any]:
        found = self.emulator.get_nsg(SUB, RG, name)
        assert found is not None, name
        return found

    def rules(self, name: str) -> dict[str, dict[str, Any]]:
        return {r["name"]: r for r in self.nsg(name)["properties"]["securityRules"]}

    def seed(self, name: str, *rules: dict[str, Any], keep: bool = True) -> None:
        existing = list(self.rules(name).values()) if keep else []
        self.emulator.seed_nsg(SUB, RG, name, rules=[*existing, *rules])

    def rule_path(self, nsg: str, rule: str) -> str:
        return (
            f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/"
            f"networkSecurityGroups/{nsg}/securityRules/{rule}"
        )


@pytest.fixture
def world(azure_emulator: AzureEmulator, tmp_path: Path) -> AzureWorld:
    azure_emulator.seed_nsg(SUB, RG, CP_NSG)
    azure_emulator.seed_nsg(SUB, RG, NODE_NSG)
    world = AzureWorld(azure_emulator, tmp_path / "portsync.yaml")
    world.write_config()
    return world


def _plan(world: AzureWorld) -> Plan:
    return api.plan(load_config(world.config_path))


def _apply(world: AzureWorld, **kwargs: Any) -> api.ApplyResult:
    return api.apply(load_config(world.config_path), **kwargs)


def _layout(binding: Binding) -> NsgLayout:
    return NsgLayout(
        nsg=binding.nsg,
        where=binding.nsg,
        owners=OWNERS,
        band=(1000, 1999),
        bindings=(binding,),
    )


def _keys(nsg: dict[str, Any]) -> set[RuleKey]:
    binding = CP if nsg["name"] == CP_NSG else NODE
    live = _layout(binding).live(nsg["properties"]["securityRules"])
    return {r.key for r in live[binding.target]}


def _rule(name: str, priority: int, port: str = "22", **props: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": "someone else's",
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "destinationPortRange": port,
        "sourceAddressPrefix": "10.9.0.0/16",
        "destinationAddressPrefix": "*",
        "access": "Allow",
        "priority": priority,
        "direction": "Inbound",
        **props,
    }


def _owned(name: str, port: str, purpose: str, priority: int, **props: Any) -> dict[str, Any]:
    return _rule(
        name,
        priority,
        port,
        description=f"[portsync] {purpose}",
        sourceAddressPrefix="10.0.0.0/8",
        destinationAddressPrefix=CP_PREFIXES[0],
        **props,
    )


def _without_etag(rule: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rule.items() if k != "etag"}


def _priorities(world: AzureWorld, nsg: str) -> dict[str, int]:
    return {n: r["properties"]["priority"] for n, r in world.rules(nsg).items()}


# --------------------------------------------------------------------------- plan and apply


def test_plan_empty_nsgs_adds_every_rule_with_one_list(world: AzureWorld) -> None:
    plan = _plan(world)
    assert plan.summary() == {
        "add": RULES,
        "remove": 0,
        "update": 0,
        "unmanaged": 0,
        "satisfied": 0,
        "protected": 0,
    }
    assert {g.target for g in plan} == {CP_NSG, NODE_NSG}
    assert {g.label for g in plan} == {"cp-nsg (control-plane)", "node-nsg (worker)"}
    calls = world.emulator.calls
    assert calls["nsg.list"] == 1
    assert calls["nsg.get"] == 0
    assert calls.total() == 1


def test_apply_then_plan_is_clean_and_second_apply_makes_no_put(world: AzureWorld) -> None:
    result = _apply(world)
    assert result.changed
    assert world.emulator.calls["nsg.put"] == 2  # one PUT per changed NSG
    for nsg, count in ((CP_NSG, CP_RULES), (NODE_NSG, NODE_RULES)):
        rules = world.rules(nsg)
        assert len(rules) == count
        assert all(n.startswith("portsync-") for n in rules)
        props = [r["properties"] for r in rules.values()]
        assert all(p["description"].startswith("[portsync] ") for p in props)
        priorities = [p["priority"] for p in props]
        assert sorted(priorities) == list(range(1000, 1000 + count))
    assert _plan(world).is_empty()
    world.emulator.reset()
    second = _apply(world)
    assert not second.changed
    assert world.emulator.calls["nsg.put"] == 0
    assert world.emulator.calls["nsg.list"] == 1


def test_apply_ipv6_sources_pair_with_ipv6_prefixes(world: AzureWorld) -> None:
    _apply(world)
    pairs = sorted(
        (r["properties"]["sourceAddressPrefix"], r["properties"]["destinationAddressPrefix"])
        for r in world.rules(NODE_NSG).values()
        if r["properties"]["destinationPortRange"] == "30000-32767"
    )
    assert pairs == [
        ("10.0.1.0/24", "10.0.2.0/24"),  # "All" holds the control plane (IPv4 only) ...
        ("10.0.2.0/24", "10.0.2.0/24"),  # ... and the workers themselves, per family
        ("2001:db8::/32", "fd00:2::/64"),
        ("203.0.113.0/24", "10.0.2.0/24"),
        ("fd00:2::/64", "fd00:2::/64"),
    ]


def test_apply_priorities_stay_stable_when_other_rules_come_and_go(world: AzureWorld) -> None:
    def extra(port: int) -> list[dict[str, Any]]:
        return [
            {
                "role": "control-plane",
                "protocol": "tcp",
                "ports": port,
                "peer": "self",
                "purpose": "x",
            }
        ]

    world.write_config(extra_rules=extra(9100))
    _apply(world)
    before = _priorities(world, CP_NSG)
    (old,) = [n for n in before if "-9100-" in n]
    world.write_config(extra_rules=extra(9200))
    plan = _plan(world)
    assert plan.summary() == {
        "add": 1,
        "remove": 1,
        "update": 0,
        "unmanaged": 0,
        "satisfied": 0,
        "protected": 0,
    }
    _apply(world)
    after = _priorities(world, CP_NSG)
    assert old not in after
    assert {n: p for n, p in after.items() if n in before} == {
        n: p for n, p in before.items() if n != old
    }
    (new,) = [n for n in after if "-9200-" in n]
    others = {p for n, p in after.items() if n != new}
    assert after[new] == min(set(range(1000, 2000)) - others)
    assert _plan(world).is_empty()


def test_apply_foreign_rules_on_band_priorities_are_never_collided_with(world: AzureWorld) -> None:
    deny = _rule("policy-deny-telnet", 1000, "23", access="Deny", sourceAddressPrefix="*")
    monitoring = _rule("allow-monitoring", 1002, "9100")
    world.seed(CP_NSG, deny, monitoring)
    foreign_before = {n: _without_etag(r) for n, r in world.rules(CP_NSG).items()}
    plan = _plan(world)
    assert [r.native_id for g in plan for r in g.unmanaged] == ["allow-monitoring"]
    _apply(world)
    rules = world.rules(CP_NSG)
    for name, rule in foreign_before.items():
        assert _without_etag(rules[name]) == rule
    owned = sorted(r["properties"]["priority"] for n, r in rules.items() if n not in foreign_before)
    assert owned == [1001, 1003, 1004, 1005, 1006, 1007, 1008]
    assert _plan(world).is_empty()


def test_plan_full_band_is_provider_limit_error_and_nothing_is_written(world: AzureWorld) -> None:
    world.seed(CP_NSG, _rule("policy-deny-telnet", 1001, "23", access="Deny"))
    world.write_config(cluster={"priority_band": [1000, 1003]})
    with pytest.raises(ProviderLimitError) as info:
        _apply(world)
    message = str(info.value)
    assert "NSG cp-nsg" in message and "priority_band 1000-1003" in message
    assert "(4 missing)" in message
    assert world.emulator.calls["nsg.put"] == 0
    world.write_config(cluster={"priority_band": [1000, 1010]})  # the workers' 11 rules
    _apply(world)
    assert _plan(world).is_empty()


def test_plan_more_than_1000_rules_is_provider_limit_error(world: AzureWorld) -> None:
    world.seed(NODE_NSG, *[_rule(f"other-{i:04d}", 100 + i) for i in range(995)])
    with pytest.raises(ProviderLimitError, match="1006 security rules"):
        _plan(world)
    assert world.emulator.calls["nsg.put"] == 0


def test_apply_owned_mode_keeps_unmanaged_exactly_and_removes_owned_extra(
    world: AzureWorld,
) -> None:
    ssh = _rule(
        "allow-ssh",
        300,
        sourcePortRanges=["1024-65535"],
        sourcePortRange=None,
        sourceAddressPrefix=None,
        sourceAddressPrefixes=["10.9.0.0/16", "10.8.0.0/16"],
        destinationPortRange=None,
        destinationPortRanges=["22", "2222"],
    )
    world.seed(CP_NSG, ssh, _owned(f"{STEM}-old-rule", "9999", "stale rule", 1500))
    before = _without_etag(world.rules(CP_NSG)["allow-ssh"])
    plan = _plan(world)
    removes = [op.rule for g in plan for op in g.removes]
    assert [(r.ports_text, str(r.peer), r.native_id) for r in removes] == [
        ("9999", "cidr:10.0.0.0/8", f"{STEM}-old-rule")
    ]
    assert {r.native_id for g in plan for r in g.unmanaged} == {"allow-ssh"}
    _apply(world)
    rules = world.rules(CP_NSG)
    assert f"{STEM}-old-rule" not in rules
    assert _without_etag(rules["allow-ssh"]) == before
    assert _plan(world).is_empty()


def test_plan_prefix_without_marker_is_unmanaged(world: AzureWorld) -> None:
    hand_made = _owned("portsync-hand-made", "9999", "x", 1500)
    world.seed(CP_NSG, dict(hand_made, description="made by hand"))
    plan = _plan(world)
    assert plan.summary()["remove"] == 0
    assert [r.native_id for g in plan for r in g.unmanaged] == ["portsync-hand-made"]


def test_plan_deny_rule_does_not_satisfy_wanted_allow(world: AzureWorld) -> None:
    world.seed(
        CP_NSG,
        _rule(
            "deny-api",
            1500,
            "6443",
            access="Deny",
            sourceAddressPrefix="203.0.113.0/24",
            destinationAddressPrefix=CP_PREFIXES[0],
        ),
    )
    plan = _plan(world)
    assert plan.summary() == {
        "add": RULES,
        "remove": 0,
        "update": 0,
        "unmanaged": 0,
        "satisfied": 0,
        "protected": 0,
    }
    _apply(world)
    assert "deny-api" in world.rules(CP_NSG)
    assert _plan(world).is_empty()


def test_plan_stale_description_is_an_update_in_place(world: AzureWorld, arm_http: Any) -> None:
    _apply(world)
    name, rule = next((n, r) for n, r in world.rules(CP_NSG).items() if "-6443-" in n)
    rule["properties"]["description"] = "[portsync] API (old words)"
    assert arm_http.put(world.rule_path(CP_NSG, name), {"properties": rule["properties"]}).ok
    plan = _plan(world)
    assert plan.summary() == {
        "add": 0,
        "remove": 0,
        "update": 1,
        "unmanaged": 0,
        "satisfied": 0,
        "protected": 0,
    }
    (update,) = [op for g in plan for op in g.updates]
    assert update.after.description == "[portsync] Kubernetes API server"
    world.emulator.reset()
    _apply(world)
    assert world.emulator.calls["nsg.put"] == 1
    after = world.rules(CP_NSG)[name]["properties"]
    assert after["description"] == "[portsync] Kubernetes API server"
    assert after["priority"] == rule["properties"]["priority"]
    assert _plan(world).is_empty()


def test_apply_role_prefix_change_updates_rules_in_place(world: AzureWorld) -> None:
    _apply(world)
    before = _priorities(world, CP_NSG)
    world.write_config(
        roles={
            "control-plane": {"nsg": CP_NSG, "address_prefixes": ["10.0.1.0/25"]},
            "worker": {"nsg": NODE_NSG, "address_prefixes": NODE_PREFIXES},
        }
    )
    plan = _plan(world)
    # Rules from the control plane change peer (remove + add: 5 self rules, the workers' kubelet
    # and NodePort rules); the API server rules from "All" and from the workers change only their
    # destination, in place.
    assert plan.summary() == {
        "add": 7,
        "remove": 7,
        "update": 2,
        "unmanaged": 0,
        "satisfied": 0,
        "protected": 0,
    }
    _apply(world, max_deletes=10)
    rules = world.rules(CP_NSG)
    api_rules = [r for n, r in rules.items() if "-6443-" in n]
    assert len(api_rules) == 3  # from "All", from the workers, from itself
    for api_rule in api_rules:
        assert api_rule["properties"]["destinationAddressPrefix"] == "10.0.1.0/25"
    moved = [r for r in api_rules if r["properties"]["sourceAddressPrefix"] != "10.0.1.0/25"]
    assert [before[r["name"]] for r in moved] == [r["properties"]["priority"] for r in moved]
    assert _plan(world).is_empty()


def test_apply_band_change_moves_rules_keeping_names(world: AzureWorld) -> None:
    _apply(world)
    names = set(world.rules(CP_NSG))
    world.write_config(cluster={"priority_band": [2000, 2099]})
    plan = _plan(world)
    assert plan.summary() == {
        "add": 0,
        "remove": 0,
        "update": RULES,
        "unmanaged": 0,
        "satisfied": 0,
        "protected": 0,
    }
    world.emulator.reset()
    _apply(world)
    assert world.emulator.calls["nsg.put"] == 2
    rules = world.rules(CP_NSG)
    assert set(rules) == names
    assert all(2000 <= r["properties"]["priority"] <= 2099 for r in rules.values())
    assert _plan(world).is_empty()


# --------------------------------------------------------------------------- concurrency


def test_apply_nsg_changed_after_the_read_is_refused_with_412_and_left_alone(
    world: AzureWorld, arm_http: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = AzureProvider.execute
    raced: list[str] = []

    def racing(self: AzureProvider, write: Any) -> None:
        if not raced and write.target.endswith(f"/{NODE_NSG}"):
            # Another writer adds a rule after the plan read the NSG, before portsync writes.
            props = _rule("concurrent-writer", 1000, "8080")
            del props["name"]
            assert arm_http.put(
                world.rule_path(NODE_NSG, "concurrent-writer"), {"properties": props}
            ).ok
            raced.append(write.target)
        original(self, write)

    monkeypatch.setattr(AzureProvider, "execute", racing)
    with pytest.raises(ApplyError) as info:
        _apply(world)
    cause = info.value.__cause__
    assert isinstance(cause, ConflictError)
    assert "changed since portsync read it" in str(cause)
    assert "plan" in (cause.hint or "")
    statuses = sorted(
        (r.path.rsplit("/", 1)[-1].split("?")[0], r.status)
        for r in world.emulator.requests
        if r.operation == "nsg.put"
    )
    # One PUT per NSG, never retried: the stale one is refused, nothing is composed again.
    assert statuses == [(CP_NSG, 200), (NODE_NSG, 412)]
    assert set(world.rules(NODE_NSG)) == {"concurrent-writer"}
    monkeypatch.undo()
    _apply(world)
    rules = world.rules(NODE_NSG)
    assert rules["concurrent-writer"]["properties"]["priority"] == 1000
    owned = [r["properties"]["priority"] for n, r in rules.items() if n.startswith("portsync-")]
    assert 1000 not in owned and len(owned) == NODE_RULES


def test_apply_shared_nsg_two_roles_are_written_in_one_put(world: AzureWorld) -> None:
    world.emulator.seed_nsg(SUB, RG, "shared-nsg")
    world.write_config(
        roles={
            "control-plane": {"nsg": "shared-nsg", "address_prefixes": CP_PREFIXES},
            "worker": {"nsg": "shared-nsg", "address_prefixes": NODE_PREFIXES},
        }
    )
    plan = _plan(world)
    assert {g.target for g in plan} == {"shared-nsg/control-plane", "shared-nsg/worker"}
    assert plan.summary()["add"] == RULES
    world.emulator.reset()
    _apply(world)
    assert world.emulator.calls["nsg.put"] == 1
    rules = world.rules("shared-nsg")
    assert len(rules) == RULES
    assert len({r["properties"]["priority"] for r in rules.values()}) == RULES
    assert _plan(world).is_empty()


def test_apply_shared_nsg_failed_write_fails_both_roles_then_converges(
    world: AzureWorld,
) -> None:
    world.emulator.seed_nsg(SUB, RG, "shared-nsg")
    world.write_config(
        roles={
            "control-plane": {"nsg": "shared-nsg", "address_prefixes": CP_PREFIXES},
            "worker": {"nsg": "shared-nsg", "address_prefixes": NODE_PREFIXES},
        }
    )
    world.emulator.inject("operation_failed", route="nsg.put")
    with pytest.raises(ApplyError) as info:
        _apply(world)
    assert "shared-nsg (control-plane)" in str(info.value)
    assert "shared-nsg (worker)" in str(info.value)
    assert world.rules("shared-nsg") == {}
    _apply(world)
    assert _plan(world).is_empty()


def test_apply_asg_bindings_converge(world: AzureWorld) -> None:
    ids = {}
    for name in ("cp-asg", "node-asg"):
        ids[name] = world.emulator.seed_asg(SUB, RG, name)["id"]
    world.write_config(
        roles={
            "control-plane": {"nsg": CP_NSG, "asg": ids["cp-asg"]},
            "worker": {"nsg": NODE_NSG, "asg": ids["node-asg"]},
        }
    )
    _apply(world)
    kubelet = next(r for n, r in world.rules(NODE_NSG).items() if "-10250-" in n)
    props = kubelet["properties"]
    assert props["destinationApplicationSecurityGroups"] == [{"id": ids["node-asg"]}]
    assert _plan(world).is_empty()


# --------------------------------------------------------------------------- make before break


def test_apply_every_intermediate_state_keeps_wanted_rules(world: AzureWorld) -> None:
    _apply(world)
    wanted = {nsg: _keys(world.nsg(nsg)) for nsg in (CP_NSG, NODE_NSG)}
    # Drift: one wanted rule dropped, one stale description, one owned extra.
    rules = world.rules(CP_NSG)
    names = sorted(rules)
    dropped = names[0]
    stale = dict(rules[names[1]])
    stale["properties"] = dict(stale["properties"], description="[portsync] old")
    kept = [r for n, r in rules.items() if n not in (dropped, names[1])]
    world.seed(CP_NSG, *kept, stale, _owned(f"{STEM}-extra", "9999", "x", 1900), keep=False)
    present = {nsg: _keys(world.nsg(nsg)) & wanted[nsg] for nsg in (CP_NSG, NODE_NSG)}
    snapshots: list[dict[str, Any]] = []
    world.emulator.add_observer(snapshots.append)
    _apply(world)
    assert len(snapshots) == 1  # one atomic write of the drifted NSG
    for snapshot in snapshots:
        assert present[snapshot["name"]] <= _keys(snapshot)
    assert _keys(world.nsg(CP_NSG)) == wanted[CP_NSG]
    assert _plan(world).is_empty()


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("kind", "route", "status"),
    [
        ("throttle", "nsg.list", None),
        ("throttle", "nsg.put", None),
        ("server_error", "nsg.list", 500),
        ("server_error", "nsg.put", 500),
        ("server_error", "nsg.put", 503),
        ("server_error", "operation.get", 500),
        ("another_operation", "nsg.put", None),
        ("reset", "nsg.list", None),
        ("reset", "nsg.put", None),
        ("reset", "operation.get", None),
    ],
)
def test_apply_transient_faults_are_retried_and_converge(
    world: AzureWorld, kind: str, route: str, status: int | None
) -> None:
    world.seed(NODE_NSG, _rule("allow-ssh", 300))
    world.emulator.inject(kind, route=route, status=status, times=2)
    result = _apply(world)
    assert result.changed
    assert world.emulator.pending_faults() == []
    assert _plan(world).is_empty()
    assert "allow-ssh" in world.rules(NODE_NSG)


def test_apply_operation_failed_is_clean_error_and_next_apply_converges(
    world: AzureWorld,
) -> None:
    world.emulator.inject("operation_failed", route="nsg.put", code="InternalServerError")
    with pytest.raises(ApplyError) as info:
        _apply(world)
    cause = info.value.__cause__
    assert isinstance(cause, ProviderError)
    assert "InternalServerError" in str(cause) and "long-running operation" in str(cause)
    _apply(world)
    assert _plan(world).is_empty()


def test_apply_nsg_busy_past_retries_is_clean_error(
    world: AzureWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portsync.providers.azure import adapter

    monkeypatch.setattr(adapter.random, "uniform", lambda _a, _b: 0.0)
    world.emulator.inject("another_operation", route="nsg.put", times=50)
    with pytest.raises(ApplyError) as info:
        _apply(world)
    cause = info.value.__cause__
    assert isinstance(cause, ConflictError) and "AnotherOperationInProgress" in str(cause)
    world.emulator.reset()
    _apply(world)
    assert _plan(world).is_empty()


def test_apply_slow_operations_are_polled(world: AzureWorld) -> None:
    world.emulator.operation_delay = 0.05
    _apply(world)
    assert world.emulator.calls["operation.get"] >= 2
    assert _plan(world).is_empty()


# --------------------------------------------------------------------------- saved plans


# --------------------------------------------------------------------------- reads and errors


def test_plan_call_counts_one_paged_list_and_no_get(world: AzureWorld) -> None:
    for i in range(3):
        world.emulator.seed_nsg(SUB, RG, f"other-{i}", rules=[_rule("allow-ssh", 300)])
    world.emulator.page_size = 2
    nsgs = 5
    plan = _plan(world)
    assert plan.summary()["add"] == RULES
    calls = world.emulator.calls
    assert calls["nsg.list"] == math.ceil(nsgs / 2) == 3
    assert calls["nsg.get"] == 0
    assert calls.total() == 3


def test_plan_page_failing_mid_list_is_retried_and_the_plan_is_whole(world: AzureWorld) -> None:
    for i in range(3):
        world.emulator.seed_nsg(SUB, RG, f"other-{i}", rules=[_rule("allow-ssh", 300)])
    world.emulator.page_size = 2
    # The first page is served (a zero-second "slow" fault consumes it), the second fails twice.
    world.emulator.inject("slow", route="nsg.list", delay=0.0)
    world.emulator.inject("server_error", route="nsg.list", status=503, times=2)
    plan = _plan(world)
    assert plan.summary()["add"] == RULES
    assert world.emulator.calls["nsg.list"] == 3 + 2


def _fleet(world: AzureWorld) -> None:
    """The world's cluster plus a second one in the same resource group, binding role ``app``."""
    world.emulator.seed_nsg(SUB, RG, "app-nsg")
    world.write_config()
    data = yaml.safe_load(world.config_path.read_text())
    apps = dict(data["clusters"][0], name="apps")
    apps["roles"] = {"app": {"nsg": "app-nsg", "address_prefixes": ["10.0.9.0/24"]}}
    data["clusters"].append(apps)
    data["extra_rules"] = [
        {
            "role": "app",
            "protocol": "tcp",
            "ports": 8080,
            "peer": "cidr:10.0.0.0/8",
            "purpose": "app",
        }
    ]
    world.config_path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_clusters_of_one_resource_group_share_one_list(world: AzureWorld) -> None:
    _fleet(world)
    plan = _plan(world)
    assert plan.summary()["add"] == RULES + 1
    assert {g.cluster for g in plan.groups} == {"prod-azure", "apps"}
    assert world.emulator.calls["nsg.list"] == 1


def test_clusters_of_one_resource_group_share_one_paged_list(world: AzureWorld) -> None:
    _fleet(world)
    world.emulator.page_size = 2
    plan = _plan(world)
    assert {g.cluster for g in plan.groups} == {"prod-azure", "apps"}
    nsgs = 3  # the control-plane, node and app NSGs
    assert world.emulator.calls["nsg.list"] == math.ceil(nsgs / 2) == 2


def test_a_scope_read_takes_each_sibling_layout_from_the_sessions_provider(
    world: AzureWorld,
) -> None:
    _fleet(world)
    loaded = load_config(world.config_path)
    session = api.Session(loaded, Settings(mode=loaded.config.mode))
    mine: Any = session.provider(loaded.cluster("prod-azure"))
    apps: Any = session.provider(loaded.cluster("apps"))
    assert mine._layout_of("apps") is apps.layout
    assert mine._layout_of("prod-azure") is mine.layout
    # Outside a session the sibling's layout is built from the fleet, and it is the same.
    alone: Any = AzureProvider(
        loaded.cluster("prod-azure"),
        settings=Settings(mode=loaded.config.mode, fleet=tuple(loaded.config.clusters)),
    )
    assert alone._layout_of("apps") == apps.layout


def test_apply_over_clusters_of_one_resource_group_rereads_after_writing(
    world: AzureWorld,
) -> None:
    _fleet(world)
    api.apply(load_config(world.config_path))
    assert world.emulator.calls["nsg.list"] == 2  # plan once, verify once
    world.emulator.calls.clear()
    assert _plan(world).is_empty()
    assert world.emulator.calls["nsg.list"] == 1


def test_plan_missing_nsg_is_not_found_error(world: AzureWorld) -> None:
    world.write_config(
        roles={
            "control-plane": {"nsg": "no-such-nsg", "address_prefixes": CP_PREFIXES},
            "worker": {"nsg": NODE_NSG, "address_prefixes": NODE_PREFIXES},
        }
    )
    with pytest.raises(NotFoundError, match=r"no-such-nsg \(role control-plane\)"):
        _plan(world)


def test_plan_any_without_sources_all_is_translation_error(world: AzureWorld) -> None:
    world.write_config(sources={})
    with pytest.raises(TranslationError, match=r"sources\.all"):
        _plan(world)
    assert world.emulator.calls.total() == 0


def test_plan_refused_credentials_is_auth_error(world: AzureWorld) -> None:
    world.emulator.require_auth = True
    with pytest.raises(AuthError, match="AuthenticationFailed"):
        _plan(world)


def test_plan_without_azure_credentials_is_auth_error(
    world: AzureWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No az / azd / pwsh on PATH and an empty home: DefaultAzureCredential finds nothing, fast.
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    world.write_config(cluster={"credentials": "default"})
    with pytest.raises(AuthError, match="no usable Azure credentials"):
        _plan(world)
    assert world.emulator.calls.total() == 0


def test_plan_missing_ca_bundle_is_config_error(world: AzureWorld, tmp_path: Path) -> None:
    from portsync.errors import ConfigError

    world.write_config(cluster={"ca_bundle": str(tmp_path / "missing.pem")})
    with pytest.raises(ConfigError, match=r"missing\.pem"):
        _plan(world)


def test_plan_without_ca_bundle_is_tls_provider_error(world: AzureWorld) -> None:
    world.write_config(cluster={"ca_bundle": None})
    world.emulator.reset()
    with pytest.raises(ProviderError, match="cannot reach"):
        api.plan(load_config(world.config_path))


# --------------------------------------------------------------------------- demo, CLI, imports


def test_demo_seeds_drift_and_converges(tmp_path: Path) -> None:
    demo = AzureDemo()
    try:
        entry = demo.start(tmp_path)
        config = {"mode": "owned", "sources": DEMO_SOURCES, "clusters": [entry]}
        path = tmp_path / "portsync.yaml"
        path.write_text(yaml.safe_dump(config))
        loaded = load_config(path)
        assert api.plan(loaded).summary() == {
            "add": 26,  # 8 of them for "All" holding the cluster's dual-stack roles
            "remove": 1,
            "update": 1,
            "unmanaged": 1,
            "satisfied": 0,
            "protected": 0,
        }
        api.apply(loaded)
        assert api.plan(loaded).is_empty()
        assert demo.emulator is not None
        cp = demo.emulator.get_nsg(SUB, "k8s-demo", "k8s-cp-nsg")
        assert cp is not None
        by_name = {r["name"]: r["properties"] for r in cp["properties"]["securityRules"]}
        assert by_name["policy-deny-telnet"]["priority"] == 1000
        assert sorted(p["priority"] for p in by_name.values()) == list(range(1000, 1015))
    finally:
        demo.stop()


def test_cli_plan_json_and_apply_on_azure(world: AzureWorld) -> None:
    cfg = str(world.config_path)
    result = runner.invoke(
        app, ["--config", cfg, "plan", "--detailed-exitcode", "--output", "json"]
    )
    assert result.exit_code == 2, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["add"] == RULES
    assert {c["provider"] for c in data["changes"]} == {"azure"}
    assert {"role_addresses"} <= set(data["changes"][0]["rule"]["extra"])
    result = runner.invoke(app, ["--config", cfg, "apply", "--auto-approve"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["--config", cfg, "plan", "--detailed-exitcode"])
    assert result.exit_code == 0, result.output


def test_import_provider_loads_no_azure_sdk() -> None:
    code = (
        "import sys; import portsync.providers.azure.provider, portsync.providers.azure.translate;"
        " print(sorted(m for m in sys.modules if m.startswith('azure')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- the contract's writes


def _compiled(world: AzureWorld) -> tuple[AzureProvider, Any, tuple[Any, ...]]:
    """Plan, then compile the plan's groups from a read of the same state, as apply does."""
    loaded = load_config(world.config_path)
    session = api.Session(loaded, Settings(mode=loaded.config.mode))
    plan = api.plan(loaded, session=session)
    provider = session.provider(loaded.cluster("prod-azure"))
    assert isinstance(provider, AzureProvider)
    snapshot = provider.read(provider.targets())
    return provider, snapshot, provider.compile(list(plan.groups), snapshot)


def test_compiled_writes_are_exactly_the_puts_the_emulator_receives(world: AzureWorld) -> None:
    world.seed(CP_NSG, _rule("foreign", 1000, "8080"))
    _provider, _snapshot, writes = _compiled(world)
    assert [w.target.rsplit("/", 1)[-1] for w in writes] == [CP_NSG, NODE_NSG]
    assert all(w.api == "network.networkSecurityGroups" and w.method == "PUT" for w in writes)
    world.emulator.reset()
    _apply(world)
    received = [
        (r.path.rsplit("/", 1)[-1], r.body, r.headers.get("if-match"))
        for r in world.emulator.requests
        if r.operation == "nsg.put"
    ]
    sent = [(w.target.rsplit("/", 1)[-1], dict(w.body), w.headers["If-Match"]) for w in writes]
    assert sorted(received, key=str) == sorted(sent, key=str)
    # The etag each write names is the one the read saw, and the foreign rule went back as read.
    assert all(etag and etag.startswith('W/"') for _n, _b, etag in received)
    assert _plan(world).is_empty()


def test_a_write_of_an_nsg_changed_since_the_read_is_refused_and_writes_nothing(
    world: AzureWorld, arm_http: Any
) -> None:
    provider, snapshot, writes = _compiled(world)
    write = next(w for w in writes if w.target.endswith(f"/{CP_NSG}"))
    assert write.headers["If-Match"] == snapshot.fingerprints[write.target]
    props = _rule("meddler", 300, "8080")
    del props["name"]
    assert arm_http.put(world.rule_path(CP_NSG, "meddler"), {"properties": props}).ok
    with pytest.raises(ConflictError) as info:
        provider.execute(write)
    assert "changed since portsync read it" in str(info.value)
    assert set(world.rules(CP_NSG)) == {"meddler"}
    # Compiled again from a fresh read, the write names the new etag.
    fresh = provider.read(provider.targets())
    again = next(
        w for w in provider.compile(list(_plan(world).groups), fresh) if w.target == write.target
    )
    assert again.headers["If-Match"] != write.headers["If-Match"]
    provider.execute(again)
    assert len(world.rules(CP_NSG)) == CP_RULES + 1


def test_provider_attributes_do_not_change_across_read_compile_and_execute(
    world: AzureWorld,
) -> None:
    loaded = load_config(world.config_path)
    session = api.Session(loaded, Settings(mode=loaded.config.mode))
    provider = session.provider(loaded.cluster("prod-azure"))
    before = {name: (id(value), repr(value)) for name, value in vars(provider).items()}
    snapshot = provider.read(provider.targets())
    plan = api.plan(loaded, session=session)
    for write in provider.compile(list(plan.groups), snapshot):
        provider.execute(write)
    after = {name: (id(value), repr(value)) for name, value in vars(provider).items()}
    assert after == before
    assert _plan(world).is_empty()


def test_the_listing_read_stays_as_read_through_plan_compile_and_execute(
    world: AzureWorld,
) -> None:
    # The snapshot holds the listing's own JSON (no copy): nothing downstream may change it.
    world.seed(CP_NSG, _rule("foreign", 1000, "8080"), _rule("blocked", 1001, "22", access="Deny"))
    served = {name: world.nsg(name) for name in (CP_NSG, NODE_NSG)}
    loaded = load_config(world.config_path)
    session = api.Session(loaded, Settings(mode=loaded.config.mode))
    plan = api.plan(loaded, session=session)
    provider = session.provider(loaded.cluster("prod-azure"))
    snapshot = session.snapshot(loaded.cluster("prod-azure"))
    writes = provider.compile(list(plan.groups), snapshot)
    assert writes
    for write in writes:
        provider.execute(write)
    for name, body in served.items():
        assert json.loads(snapshot.native[name].text) == body


def test_snapshot_raw_nsgs_are_immutable(world: AzureWorld) -> None:
    _provider, snapshot, _writes = _compiled(world)
    raw = snapshot.native[CP_NSG]
    with pytest.raises(AttributeError):
        raw.text = "{}"  # type: ignore[misc]
    with pytest.raises(TypeError):
        snapshot.native["x"] = raw
    body = raw.body()
    body["properties"]["securityRules"].append({"name": "x"})
    assert raw.body() != body
