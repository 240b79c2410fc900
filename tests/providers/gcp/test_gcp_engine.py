"""GCP end to end: the real FirewallsClient over HTTP against the local Compute emulator, through
the portsync API (plan → guardrails → apply → re-read) with a config file."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from collections.abc import Callable
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
    ProviderError,
    ProviderLimitError,
    TranslationError,
)
from portsync.model import Direction, Endpoint, Protocol, RuleKey
from portsync.ops import Plan
from portsync.owners import NamedOwners
from portsync.provider import Settings
from portsync.providers.gcp import translate
from portsync.providers.gcp.demo import GcpDemo, drift
from portsync.providers.gcp.emulator import GcpEmulator
from portsync.providers.gcp.peers import TAG
from portsync.providers.gcp.provider import GcpProvider

pytest.importorskip("google.cloud.compute_v1", reason="needs portsync[gcp]")

runner = CliRunner()

CP_TAG, NODE_TAG = "k8s-cp", "k8s-node"
ROLES_BY_TARGET = {f"tag:{CP_TAG}": "control-plane", f"tag:{NODE_TAG}": "worker"}
#: Firewalls of the standard table on two tags with one IPv4 and one IPv6 source for "All":
#: control plane 6443 ×2, 6443 from the worker tag ("All" holds the cluster's roles) and one
#: self firewall; worker: kubelet and NodePorts from cp, self, 6 health-check ranges (4 IPv4,
#: 2 IPv6), NodePorts ×2.
FIREWALLS = 14
#: The rules in them: 6443 and the NodePorts are also open to both tags.
RULES = 21
#: The config's cluster owns the firewalls named ``<STEM>-…``.
OWNERS = NamedOwners(prefix="portsync", owner="prod-gcp")
STEM = OWNERS.stem
MUTATIONS = ("firewalls.insert", "firewalls.patch", "firewalls.update", "firewalls.delete")


@dataclass
class GcpWorld:
    """An emulated project and a config file whose cluster binds two roles to network tags."""

    emulator: GcpEmulator
    project: str
    config_path: Path

    @property
    def network(self) -> str:
        return translate.network_url(self.project, "default")

    def write_config(self, *, cluster: dict[str, Any] | None = None, **top: Any) -> Path:
        entry: dict[str, Any] = {
            "name": "prod-gcp",
            "provider": "gcp",
            "project": self.project,
            "endpoint": self.emulator.url,
            "credentials": "anonymous",
            "roles": {
                "control-plane": {"target_tag": CP_TAG},
                "worker": {"target_tag": NODE_TAG},
            },
        }
        entry.update(cluster or {})
        data: dict[str, Any] = {"sources": {"all": list(DEMO_SOURCES["all"])}, "clusters": [entry]}
        data.update(top)
        self.config_path.write_text(yaml.safe_dump(data, sort_keys=False))
        return self.config_path

    def firewalls(self) -> dict[str, dict[str, Any]]:
        return {fw["name"]: fw for fw in self.emulator.firewalls(self.project)}

    def seed(self, *bodies: dict[str, Any]) -> None:
        self.emulator.seed(self.project, [{"network": self.network, **body} for body in bodies])

    def mutations(self) -> dict[str, int]:
        calls = self.emulator.calls
        return {m: calls[m] for m in MUTATIONS}


@pytest.fixture
def gcp_world(gcp_emulator: GcpEmulator, gcp_project: str, tmp_path: Path) -> GcpWorld:
    world = GcpWorld(gcp_emulator, gcp_project, tmp_path / "portsync.yaml")
    world.write_config()
    return world


def _plan(world: GcpWorld) -> Plan:
    return api.plan(load_config(world.config_path))


def _apply(world: GcpWorld, **kwargs: Any) -> api.ApplyResult:
    return api.apply(load_config(world.config_path), **kwargs)


def _keys(firewalls: list[dict[str, Any]] | dict[str, dict[str, Any]]) -> set[RuleKey]:
    items = firewalls.values() if isinstance(firewalls, dict) else firewalls
    return {
        rule.key
        for fw in items
        for rule in translate.expand(fw, owners=OWNERS, roles_by_target=ROLES_BY_TARGET)
    }


def _wanted(world: GcpWorld) -> set[RuleKey]:
    plan = _plan(world)
    assert plan.summary()["add"] == RULES
    return {op.rule.key for _g, op in plan.changes}


def _ssh(name: str = "allow-ssh", tag: str = NODE_TAG, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": "bastion ssh",
        "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}],
        "sourceRanges": ["10.9.0.0/16"],
        "targetTags": [tag],
        **extra,
    }


def _owned(name: str, port: str, purpose: str, tag: str = CP_TAG, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"[portsync] {port} {purpose}",
        "allowed": [{"IPProtocol": "tcp", "ports": [port]}],
        "sourceRanges": ["10.0.0.0/8"],
        "targetTags": [tag],
        **extra,
    }


def _legacy(world: GcpWorld) -> list[dict[str, Any]]:
    """Every wanted rule present in portsync's own firewalls, but packed the old way: one
    firewall per port, and the health-check ranges in one firewall per IP family. Two descriptions are stale,
    one per target, so both targets have a change to apply."""
    bodies: list[dict[str, Any]] = []
    health_checks: list[str] = []
    for _group, op in _plan(world).changes:
        rule = op.rule
        port, peer = rule.ports_text, rule.peer.value
        if rule.origin == "load-balancers":
            health_checks.append(peer)
            continue
        purpose = rule.description.removeprefix("[portsync] ")
        if (port, peer) in {("30000-32767", "203.0.113.0/24"), ("10259", CP_TAG)}:
            purpose = "old words"
        source = "sourceTags" if rule.peer.kind is TAG else "sourceRanges"
        bodies.append(
            {
                "name": f"{STEM}-legacy-{len(bodies):02d}",
                "description": f"[portsync] {port} {purpose}",
                "allowed": [{"IPProtocol": "tcp", "ports": [port]}],
                source: [peer],
                "targetTags": [rule.target.partition(":")[2]],
            }
        )
    bodies.append(
        {
            "name": f"{STEM}-legacy-lb",
            "description": "[portsync] 10256 kube-proxy",
            "allowed": [{"IPProtocol": "tcp", "ports": ["10256"]}],
            # A firewall never mixes IPv4 and IPv6 sources: the IPv6 ranges get one of their own.
            "sourceRanges": sorted(h for h in health_checks if ":" not in h),
            "targetTags": [NODE_TAG],
        }
    )
    bodies.append(
        {
            "name": f"{STEM}-legacy-lb6",
            "description": "[portsync] 10256 kube-proxy",
            "allowed": [{"IPProtocol": "tcp", "ports": ["10256"]}],
            "sourceRanges": sorted(h for h in health_checks if ":" in h),
            "targetTags": [NODE_TAG],
        }
    )
    return bodies


def _groups(firewalls: dict[str, dict[str, Any]]) -> list[Any]:
    return [translate.group_of(fw) for fw in firewalls.values()]


# --------------------------------------------------------------------------- plan and apply


def test_plan_empty_project_adds_every_rule_with_one_list(gcp_world: GcpWorld) -> None:
    plan = _plan(gcp_world)
    assert plan.summary() == {
        "add": RULES,
        "remove": 0,
        "update": 0,
        "unmanaged": 0,
        "satisfied": 0,
        "protected": 0,
    }
    assert {g.target for g in plan} == {"tag:k8s-cp", "tag:k8s-node"}
    assert {g.label for g in plan} == {"k8s-cp (control-plane)", "k8s-node (worker)"}
    calls = gcp_world.emulator.calls
    assert calls["firewalls.list"] == 1
    assert calls["firewalls.get"] == 0


def test_apply_then_plan_is_clean_and_second_apply_changes_nothing(gcp_world: GcpWorld) -> None:
    result = _apply(gcp_world)
    assert result.changed
    firewalls = gcp_world.firewalls()
    assert len(firewalls) == FIREWALLS
    assert gcp_world.mutations()["firewalls.insert"] == FIREWALLS
    self_cp = [
        fw for fw in firewalls.values() if fw.get("sourceTags") == [CP_TAG] == fw["targetTags"]
    ]
    assert [fw["allowed"] for fw in self_cp] == [
        [{"IPProtocol": "tcp", "ports": ["2379-2380", "6443", "10250", "10257", "10259"]}]
    ]
    assert all(fw["description"].startswith("[portsync] ") for fw in firewalls.values())
    assert all(fw["name"].startswith("portsync-") for fw in firewalls.values())
    assert _plan(gcp_world).is_empty()
    gcp_world.emulator.reset_calls()
    second = _apply(gcp_world)
    assert not second.changed
    assert sum(gcp_world.mutations().values()) == 0


def test_apply_owned_mode_keeps_unmanaged_and_removes_owned_extra(gcp_world: GcpWorld) -> None:
    gcp_world.seed(_ssh(), _owned(f"{STEM}-old-rule", "9999", "stale rule"))
    plan = _plan(gcp_world)
    removes = [op.rule for g in plan for op in g.removes]
    assert [(r.ports_text, str(r.peer), r.native_id) for r in removes] == [
        ("9999", "cidr:10.0.0.0/8", f"{STEM}-old-rule")
    ]
    assert [r.description for g in plan for r in g.unmanaged] == ["bastion ssh"]
    _apply(gcp_world)
    names = set(gcp_world.firewalls())
    assert "allow-ssh" in names
    assert f"{STEM}-old-rule" not in names
    assert _plan(gcp_world).is_empty()


def test_plan_prefix_without_marker_is_unmanaged(gcp_world: GcpWorld) -> None:
    gcp_world.seed(dict(_owned("portsync-hand-made", "9999", "x"), description="made by hand"))
    plan = _plan(gcp_world)
    assert plan.summary()["remove"] == 0
    assert [r.native_id for g in plan for r in g.unmanaged] == ["portsync-hand-made"]


def test_apply_exclusive_mode_drops_target_from_shared_unmanaged_firewall(
    gcp_world: GcpWorld,
) -> None:
    gcp_world.write_config(mode="exclusive")
    gcp_world.seed(_ssh(targetTags=[NODE_TAG, "bastion-hosts"]))
    _apply(gcp_world, allow_exclusive=True)
    assert gcp_world.firewalls()["allow-ssh"]["targetTags"] == ["bastion-hosts"]


def test_plan_exclusive_mode_firewall_for_all_instances_is_refused(gcp_world: GcpWorld) -> None:
    gcp_world.write_config(mode="exclusive")
    gcp_world.seed({k: v for k, v in _ssh("default-allow-ssh").items() if k != "targetTags"})
    with pytest.raises(ProviderLimitError, match="every instance"):
        _plan(gcp_world)


def test_plan_firewall_without_target_is_unmanaged_on_every_target(gcp_world: GcpWorld) -> None:
    gcp_world.seed({k: v for k, v in _ssh("default-allow-ssh").items() if k != "targetTags"})
    plan = _plan(gcp_world)
    unmanaged = [(g.target, dict(r.extra).get("applies_to")) for g in plan for r in g.unmanaged]
    assert sorted(unmanaged) == [
        ("tag:k8s-cp", "all-instances"),
        ("tag:k8s-node", "all-instances"),
    ]


def test_plan_disabled_or_denying_firewall_does_not_satisfy_wanted_rule(
    gcp_world: GcpWorld,
) -> None:
    api_fw = translate.firewall_name(
        STEM,
        "control-plane",
        f"tag:{CP_TAG}",
        Direction.INGRESS,
        Protocol.TCP,
        Endpoint.cidr("203.0.113.0/24"),
    )
    gcp_world.seed(
        {
            "name": api_fw,
            "description": "[portsync] 6443 Kubernetes API server",
            "allowed": [{"IPProtocol": "tcp", "ports": ["6443"]}],
            "sourceRanges": ["203.0.113.0/24"],
            "targetTags": [CP_TAG],
            "disabled": True,
        },
        {
            "name": "deny-kubelet",
            "denied": [{"IPProtocol": "tcp", "ports": ["10250"]}],
            "sourceTags": [CP_TAG],
            "targetTags": [CP_TAG],
        },
    )
    plan = _plan(gcp_world)
    assert plan.summary() == {
        "add": RULES,
        "remove": 0,
        "update": 0,
        "unmanaged": 0,
        "satisfied": 0,
        "protected": 0,
    }
    _apply(gcp_world)
    assert gcp_world.mutations()["firewalls.patch"] == 1  # re-enabled under the same name
    firewalls = gcp_world.firewalls()
    assert firewalls[api_fw]["disabled"] is False
    assert "deny-kubelet" in firewalls
    assert _plan(gcp_world).is_empty()


# --------------------------------------------------------------------------- in-place updates


def test_plan_stale_description_is_an_update_patched_in_place(
    gcp_world: GcpWorld, gcp_raw: Callable[..., tuple[int, dict[str, Any]]]
) -> None:
    _apply(gcp_world)
    firewalls = gcp_world.firewalls()
    name = next(n for n, fw in firewalls.items() if fw.get("sourceTags") == [CP_TAG])
    stale = firewalls[name]["description"].replace("kube-scheduler", "scheduler (old)")
    status, _ = gcp_raw(
        "PATCH",
        f"projects/{gcp_world.project}/global/firewalls/{name}",
        {"name": name, "description": stale},
    )
    assert status == 200
    plan = _plan(gcp_world)
    assert plan.summary() == {
        "add": 0,
        "remove": 0,
        "update": 1,
        "unmanaged": 0,
        "satisfied": 0,
        "protected": 0,
    }
    (update,) = [op for g in plan for op in g.updates]
    assert update.before.description == "[portsync] scheduler (old)"
    assert update.after.description == "[portsync] kube-scheduler"
    gcp_world.emulator.reset_calls()
    _apply(gcp_world)
    assert gcp_world.mutations() == {
        "firewalls.insert": 0,
        "firewalls.patch": 1,
        "firewalls.update": 0,
        "firewalls.delete": 0,
    }
    after = gcp_world.firewalls()[name]
    assert after["id"] == firewalls[name]["id"]
    assert after["description"] == firewalls[name]["description"]
    assert _plan(gcp_world).is_empty()


def test_apply_priority_change_patches_every_firewall_in_place(gcp_world: GcpWorld) -> None:
    _apply(gcp_world)
    ids = {n: fw["id"] for n, fw in gcp_world.firewalls().items()}
    gcp_world.write_config(cluster={"priority": 900})
    plan = _plan(gcp_world)
    assert plan.summary() == {
        "add": 0,
        "remove": 0,
        "update": RULES,
        "unmanaged": 0,
        "satisfied": 0,
        "protected": 0,
    }
    gcp_world.emulator.reset_calls()
    _apply(gcp_world)
    assert gcp_world.mutations() == {
        "firewalls.insert": 0,
        "firewalls.patch": FIREWALLS,
        "firewalls.update": 0,
        "firewalls.delete": 0,
    }
    firewalls = gcp_world.firewalls()
    assert {n: fw["id"] for n, fw in firewalls.items()} == ids
    assert {fw["priority"] for fw in firewalls.values()} == {900}
    assert _plan(gcp_world).is_empty()


def test_apply_removed_port_is_a_patch_not_delete_and_insert(gcp_world: GcpWorld) -> None:
    extra = [
        {
            "role": "control-plane",
            "protocol": "tcp",
            "ports": 9100,
            "peer": "self",
            "purpose": "node exporter",
        }
    ]
    gcp_world.write_config(extra_rules=extra)
    _apply(gcp_world)
    firewalls = gcp_world.firewalls()
    assert len(firewalls) == FIREWALLS
    (name,) = [
        n for n, fw in firewalls.items() if fw.get("sourceTags") == [CP_TAG] == fw["targetTags"]
    ]
    assert firewalls[name]["allowed"][0]["ports"] == [
        "2379-2380",
        "6443",
        "9100",
        "10250",
        "10257",
        "10259",
    ]
    assert "9100 node exporter" in firewalls[name]["description"]

    gcp_world.write_config()
    plan = _plan(gcp_world)
    assert plan.summary()["remove"] == 1
    gcp_world.emulator.reset_calls()
    _apply(gcp_world)
    assert gcp_world.mutations() == {
        "firewalls.insert": 0,
        "firewalls.patch": 1,
        "firewalls.update": 0,
        "firewalls.delete": 0,
    }
    after = gcp_world.firewalls()[name]
    assert after["id"] == firewalls[name]["id"]
    assert after["allowed"][0]["ports"] == ["2379-2380", "6443", "10250", "10257", "10259"]
    assert "9100" not in after["description"]
    assert _plan(gcp_world).is_empty()


def test_apply_added_port_joins_existing_firewall(gcp_world: GcpWorld) -> None:
    _apply(gcp_world)
    extra = [
        {"role": "worker", "protocol": "tcp", "ports": 10255, "peer": "self", "purpose": "metrics"}
    ]
    gcp_world.write_config(extra_rules=extra)
    gcp_world.emulator.reset_calls()
    _apply(gcp_world)
    assert gcp_world.mutations()["firewalls.patch"] == 1
    assert gcp_world.mutations()["firewalls.insert"] == 0
    assert _plan(gcp_world).is_empty()


def test_apply_field_to_clear_replaces_firewall_and_keeps_logging(gcp_world: GcpWorld) -> None:
    _apply(gcp_world)
    name = translate.firewall_name(
        STEM,
        "control-plane",
        f"tag:{CP_TAG}",
        Direction.INGRESS,
        Protocol.TCP,
        Endpoint.cidr("203.0.113.0/24"),
    )
    edited = {
        k: v
        for k, v in gcp_world.firewalls()[name].items()
        if k not in ("id", "kind", "creationTimestamp", "selfLink")
    }
    edited.update(sourceTags=["jump-hosts"], logConfig={"enable": True})
    others = [fw for n, fw in gcp_world.firewalls().items() if n != name]
    gcp_world.emulator.reset()
    gcp_world.seed(edited, *others)
    plan = _plan(gcp_world)
    (remove,) = [op.rule for g in plan for op in g.removes]
    assert str(remove.peer) == "tag:jump-hosts" and remove.owned
    gcp_world.emulator.reset_calls()
    _apply(gcp_world)
    assert gcp_world.mutations()["firewalls.update"] == 1
    after = gcp_world.firewalls()[name]
    assert "sourceTags" not in after
    assert after["sourceRanges"] == ["203.0.113.0/24"]
    assert after["logConfig"] == {"enable": True}
    assert _plan(gcp_world).is_empty()


def test_apply_slow_operations_are_waited_for(gcp_world: GcpWorld) -> None:
    gcp_world.emulator.operation_delay = 0.05
    _apply(gcp_world)
    assert gcp_world.emulator.calls["globalOperations.wait"] >= FIREWALLS
    assert _plan(gcp_world).is_empty()


def test_adapter_retried_insert_reuses_its_request_id(
    gcp_world: GcpWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portsync.providers.gcp.adapter import GcpAdapter, make_clients

    firewalls, operations = make_clients(endpoint=gcp_world.emulator.url, anonymous=True)
    session = firewalls._transport._session
    seen: list[str] = []
    post = session.post

    def recording_post(url: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(dict(kwargs.get("params") or {}).get("requestId", ""))
        return post(url, *args, **kwargs)

    monkeypatch.setattr(session, "post", recording_post)
    gcp_world.emulator.inject("server_error", route="firewalls.insert", status=503)
    adapter = GcpAdapter(firewalls, operations, project=gcp_world.project)
    adapter.insert({**_ssh(), "network": gcp_world.network})
    assert len(seen) == 2
    assert seen[0] == seen[1] != ""
    assert "allow-ssh" in gcp_world.firewalls()


# --------------------------------------------------------------------------- make before break


def test_apply_repacking_never_drops_a_wanted_rule(gcp_world: GcpWorld) -> None:
    wanted = _wanted(gcp_world)
    gcp_world.seed(*_legacy(gcp_world))
    assert _keys(gcp_world.firewalls()) == wanted
    plan = _plan(gcp_world)
    assert plan.summary() == {
        "add": 0,
        "remove": 0,
        "update": 2,
        "unmanaged": 0,
        "satisfied": 0,
        "protected": 0,
    }

    snapshots: list[set[RuleKey]] = []
    remove = gcp_world.emulator.add_observer(lambda _p, fws: snapshots.append(_keys(fws)))
    try:
        _apply(gcp_world)
    finally:
        remove()
    mutations = gcp_world.mutations()
    assert mutations["firewalls.insert"] == 6  # the health-check ranges get a firewall each
    # merged into their group's firewall: 4 of the control plane's self ports, 2 of the
    # workers' self ports, 1 of the workers' ports from the control plane, the two old
    # health-check ones (IPv4 and IPv6)
    assert mutations["firewalls.delete"] == 4 + 2 + 1 + 2
    assert len(snapshots) == sum(mutations.values())
    for i, present in enumerate(snapshots):
        assert wanted <= present, f"snapshot {i} lost {sorted(wanted - present)}"
    after = gcp_world.firewalls()
    assert len(after) == FIREWALLS
    assert None not in _groups(after) and len(set(_groups(after))) == FIREWALLS
    assert _keys(after) == wanted
    assert _plan(gcp_world).is_empty()


def test_apply_operation_failed_is_clean_error_and_next_apply_converges(
    gcp_world: GcpWorld,
) -> None:
    wanted = _wanted(gcp_world)
    gcp_world.seed(*_legacy(gcp_world))
    snapshots: list[set[RuleKey]] = []
    gcp_world.emulator.add_observer(lambda _p, fws: snapshots.append(_keys(fws)))
    gcp_world.emulator.inject("operation_failed", route="firewalls.insert", code="INTERNAL_ERROR")
    with pytest.raises(ApplyError) as info:
        _apply(gcp_world)
    cause = info.value.__cause__
    assert isinstance(cause, ProviderError)
    assert "INTERNAL_ERROR" in str(cause) and "operation" in str(cause)
    assert "Traceback" not in str(info.value)
    assert wanted <= _keys(gcp_world.firewalls())
    assert all(wanted <= present for present in snapshots)
    _apply(gcp_world)
    assert wanted <= _keys(gcp_world.firewalls())
    assert _plan(gcp_world).is_empty()


# --------------------------------------------------------------------------- transient faults


@pytest.mark.parametrize(
    ("kind", "route", "status"),
    [
        ("rate_limit", "firewalls.list", None),
        ("rate_limit", "firewalls.insert", None),
        ("rate_limit", "firewalls.insert", 429),
        ("rate_limit", "firewalls.patch", None),
        ("rate_limit", "globalOperations.wait", 429),
        ("server_error", "firewalls.insert", 500),
        ("server_error", "firewalls.delete", 503),
        ("server_error", "globalOperations.wait", 500),
        ("reset", "firewalls.list", None),
        ("reset", "firewalls.insert", None),
        ("reset", "firewalls.patch", None),
        ("reset", "firewalls.delete", None),
        ("reset", "globalOperations.wait", None),
    ],
)
def test_apply_transient_faults_are_retried_and_converge(
    gcp_world: GcpWorld, kind: str, route: str, status: int | None
) -> None:
    gcp_world.seed(*drift(gcp_world.project, owner="prod-gcp"))
    gcp_world.emulator.inject(kind, route=route, status=status, times=2)
    result = _apply(gcp_world)
    assert result.changed
    assert gcp_world.emulator.pending_faults() == []
    assert _plan(gcp_world).is_empty()
    assert "allow-ssh" in gcp_world.firewalls()


# --------------------------------------------------------------------------- saved plans


# --------------------------------------------------------------------------- scale and races


def test_plan_call_counts_one_list_page_per_500_firewalls(gcp_world: GcpWorld) -> None:
    count = 1001
    gcp_world.seed(*[_ssh(f"other-{i:04d}", tag="other-app") for i in range(count)])
    gcp_world.emulator.add_network(gcp_world.project, "other-net")
    gcp_world.emulator.seed(
        gcp_world.project,
        [dict(_ssh("elsewhere"), network=translate.network_url(gcp_world.project, "other-net"))],
    )
    plan = _plan(gcp_world)
    assert plan.summary()["add"] == RULES
    calls = gcp_world.emulator.calls
    assert calls["firewalls.list"] == math.ceil(count / 500) == 3
    assert calls["firewalls.get"] == 0
    assert sum(calls.values()) == 3


def test_plan_page_failing_mid_list_is_retried_and_the_plan_is_whole(gcp_world: GcpWorld) -> None:
    count = 1001
    gcp_world.seed(*[_ssh(f"other-{i:04d}", tag="other-app") for i in range(count)])
    # The first page is served (a zero-second "slow" fault consumes it), the second fails twice.
    gcp_world.emulator.inject("slow", route="firewalls.list", seconds=0.0)
    gcp_world.emulator.inject("server_error", route="firewalls.list", status=503, times=2)
    plan = _plan(gcp_world)
    assert plan.summary()["add"] == RULES
    assert gcp_world.emulator.pending_faults() == []
    assert gcp_world.emulator.calls["firewalls.list"] == 3 + 2


def test_list_page_failing_for_good_raises_after_the_pages_before_it(
    gcp_world: GcpWorld,
) -> None:
    from portsync.providers.gcp.adapter import GcpAdapter, make_clients, make_retry

    gcp_world.seed(*[_ssh(f"other-{i:04d}", tag="other-app") for i in range(600)])
    firewalls, operations = make_clients(endpoint=gcp_world.emulator.url, anonymous=True)
    adapter = GcpAdapter(
        firewalls, operations, project=gcp_world.project, retry=make_retry(deadline=0.5)
    )
    gcp_world.emulator.inject("slow", route="firewalls.list", seconds=0.0)
    gcp_world.emulator.inject("server_error", route="firewalls.list", status=500, times=1000)
    pages = adapter.firewall_pages()
    assert len(next(pages)) == 500
    with pytest.raises(ProviderError, match="listing the firewalls of project"):
        next(pages)


def _fleet(world: GcpWorld, *, apps_network: str = "default", **keys: Any) -> None:
    """The world's cluster plus a second one in the same project, binding role ``app``; ``keys``
    go into both cluster entries."""
    base: dict[str, Any] = {
        "provider": "gcp",
        "project": world.project,
        "endpoint": world.emulator.url,
        "credentials": "anonymous",
        **keys,
    }
    world.write_config(
        clusters=[
            {
                **base,
                "name": "prod-gcp",
                "roles": {
                    "control-plane": {"target_tag": CP_TAG},
                    "worker": {"target_tag": NODE_TAG},
                },
            },
            {
                **base,
                "name": "apps",
                "network": apps_network,
                "roles": {"app": {"target_tag": "k8s-app"}},
            },
        ],
        extra_rules=[
            {
                "role": "app",
                "protocol": "tcp",
                "ports": 8080,
                "peer": "cidr:10.0.0.0/8",
                "purpose": "app",
            }
        ],
    )


def test_clusters_of_one_project_and_network_share_one_list(gcp_world: GcpWorld) -> None:
    gcp_world.seed(*[_ssh(f"other-{i:04d}", tag="other-app") for i in range(600)])
    _fleet(gcp_world)
    plan = _plan(gcp_world)
    assert plan.summary()["add"] == RULES + 1
    assert {g.cluster for g in plan.groups} == {"prod-gcp", "apps"}
    assert gcp_world.emulator.calls["firewalls.list"] == 2  # 601 firewalls: two pages, once


def test_a_scope_read_takes_each_sibling_writer_from_the_sessions_provider(
    gcp_world: GcpWorld,
) -> None:
    _fleet(gcp_world)
    loaded = load_config(gcp_world.config_path)
    session = api.Session(loaded, Settings(mode=loaded.config.mode))
    mine: Any = session.provider(loaded.cluster("prod-gcp"))
    apps: Any = session.provider(loaded.cluster("apps"))
    assert mine._writer_for("apps") is apps.writer
    assert mine._writer_for("prod-gcp") is mine.writer
    # Outside a session the sibling's writer is built from the fleet, and it is the same.
    alone = GcpProvider(
        loaded.cluster("prod-gcp"),
        settings=Settings(mode=loaded.config.mode, fleet=tuple(loaded.config.clusters)),
    )
    assert alone._writer_for("apps") == apps.writer


def test_clusters_on_different_networks_list_their_own(gcp_world: GcpWorld) -> None:
    gcp_world.emulator.add_network(gcp_world.project, "apps-net")
    _fleet(gcp_world, apps_network="apps-net")
    _plan(gcp_world)
    assert gcp_world.emulator.calls["firewalls.list"] == 2  # one per network


def test_apply_over_clusters_of_one_project_rereads_after_writing(gcp_world: GcpWorld) -> None:
    _fleet(gcp_world)
    _apply(gcp_world)
    assert gcp_world.emulator.calls["firewalls.list"] == 2  # plan once, verify once
    gcp_world.emulator.reset_calls()
    assert _plan(gcp_world).is_empty()
    assert gcp_world.emulator.calls["firewalls.list"] == 1


def test_plan_firewall_quota_exceeded_is_refused_before_any_write(gcp_world: GcpWorld) -> None:
    gcp_world.seed(_ssh())
    gcp_world.write_config(cluster={"firewall_quota": FIREWALLS})
    with pytest.raises(ProviderLimitError, match=f"{FIREWALLS + 1} firewall rules"):
        _apply(gcp_world)
    assert sum(gcp_world.mutations().values()) == 0
    gcp_world.write_config(cluster={"firewall_quota": FIREWALLS + 1})
    _apply(gcp_world)
    assert len(gcp_world.firewalls()) == FIREWALLS + 1


def test_plan_firewall_quota_counts_the_inserts_of_every_cluster_of_the_project(
    gcp_world: GcpWorld,
) -> None:
    gcp_world.seed(_ssh())
    # prod-gcp alone would reach 1 + FIREWALLS, apps alone 1 + 1: each fits, together they don't.
    _fleet(gcp_world, firewall_quota=FIREWALLS + 1)
    with pytest.raises(
        ProviderLimitError,
        match=f"{FIREWALLS + 2} firewall rules in the project "
        r"\(with the other clusters",
    ):
        _apply(gcp_world)
    assert sum(gcp_world.mutations().values()) == 0
    _fleet(gcp_world, firewall_quota=FIREWALLS + 2)
    _apply(gcp_world)
    assert len(gcp_world.firewalls()) == FIREWALLS + 2


def test_apply_concurrent_runs_both_converge(gcp_world: GcpWorld) -> None:
    gcp_world.seed(*drift(gcp_world.project, owner="prod-gcp"))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            _apply(gcp_world)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(gcp_world.firewalls()) == FIREWALLS + 1
    assert _plan(gcp_world).is_empty()


# --------------------------------------------------------------------------- translation errors


def test_plan_any_without_sources_all_is_translation_error(gcp_world: GcpWorld) -> None:
    gcp_world.write_config(sources={})
    with pytest.raises(TranslationError, match=r"sources\.all"):
        _plan(gcp_world)
    assert gcp_world.emulator.calls["firewalls.list"] == 0


def test_plan_service_account_role_with_tag_peer_is_translation_error(
    gcp_world: GcpWorld,
) -> None:
    roles = {
        "control-plane": {"target_tag": CP_TAG},
        "worker": {"service_account": "node@portsync-test.iam.gserviceaccount.com"},
    }
    gcp_world.write_config(cluster={"roles": roles})
    with pytest.raises(TranslationError, match="cannot combine"):
        _plan(gcp_world)


def test_apply_service_account_roles_converge(gcp_world: GcpWorld) -> None:
    roles = {
        "control-plane": {"service_account": "cp@portsync-test.iam.gserviceaccount.com"},
        "worker": {"service_account": "node@portsync-test.iam.gserviceaccount.com"},
    }
    gcp_world.write_config(cluster={"roles": roles})
    plan = _plan(gcp_world)
    assert {g.target for g in plan} == {
        "sa:cp@portsync-test.iam.gserviceaccount.com",
        "sa:node@portsync-test.iam.gserviceaccount.com",
    }
    _apply(gcp_world)
    firewalls = gcp_world.firewalls().values()
    assert all(fw.get("targetServiceAccounts") and not fw.get("targetTags") for fw in firewalls)
    assert _plan(gcp_world).is_empty()


def test_plan_without_google_credentials_is_auth_error(
    gcp_world: GcpWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Skip google-auth's metadata-server probe (it retries for seconds; tests stay on loopback).
    monkeypatch.setattr("google.auth.compute_engine._metadata._NO_GCE_CHECK", True)
    gcp_world.write_config(cluster={"credentials": "default"})
    with pytest.raises(AuthError, match="no Google credentials"):
        _plan(gcp_world)
    assert gcp_world.emulator.calls["firewalls.list"] == 0


# --------------------------------------------------------------------------- demo, CLI, imports


def test_demo_seeds_drift_and_converges(tmp_path: Path) -> None:
    demo = GcpDemo()
    try:
        entry = demo.start(tmp_path)
        config = {"mode": "owned", "sources": DEMO_SOURCES, "clusters": [entry]}
        path = tmp_path / "portsync.yaml"
        path.write_text(yaml.safe_dump(config))
        loaded = load_config(path)
        assert api.plan(loaded).summary() == {
            "add": 20,  # 4 for "All" holding the cluster's roles, 6 health-check ranges
            "remove": 1,
            "update": 1,
            "unmanaged": 1,
            "satisfied": 0,
            "protected": 0,
        }
        api.apply(loaded)
        assert api.plan(loaded).is_empty()
    finally:
        demo.stop()


def test_cli_plan_json_and_apply_on_gcp(gcp_world: GcpWorld) -> None:
    cfg = str(gcp_world.config_path)
    result = runner.invoke(
        app, ["--config", cfg, "plan", "--detailed-exitcode", "--output", "json"]
    )
    assert result.exit_code == 2, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["add"] == RULES
    assert {c["provider"] for c in data["changes"]} == {"gcp"}
    result = runner.invoke(app, ["--config", cfg, "apply", "--auto-approve"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["--config", cfg, "plan", "--detailed-exitcode"])
    assert result.exit_code == 0, result.output


def test_import_provider_loads_no_google_sdk() -> None:
    code = (
        "import sys; import portsync.providers.gcp.provider, portsync.providers.gcp.translate; "
        "print(sorted(m for m in sys.modules if m.startswith('google')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
