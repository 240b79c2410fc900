"""Ownership by identity on Azure (the real NetworkManagementClient against the local ARM
emulator): the owner digest in the security rule's name decides; a ``portsync-`` name or a
``[portsync]`` description proves nothing; exclusive mode keeps to the managed directions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from portsync import api
from portsync.cli import app
from portsync.config import load_config
from portsync.ops import DeleteRuleOp, Plan
from portsync.owners import NamedOwners
from portsync.providers.azure.emulator import AzureEmulator

from .test_azure_engine import (
    CP_NSG,
    CP_PREFIXES,
    NODE_NSG,
    RG,
    STEM,
    SUB,
    AzureWorld,
    _owned,
    _rule,
)

runner = CliRunner()

#: Another team's owner, and the stem of the rules its runs write (names fold case on Azure).
TEAM_B = NamedOwners(prefix="portsync", owner="team-b", fold_case=True).stem
LOOKALIKE = "portsync-control-plane-tcp-9001-lookalike"
THEIRS = f"{TEAM_B}-control-plane-tcp-9002-0000beef"


@pytest.fixture
def world(azure_emulator: AzureEmulator, tmp_path: Path) -> AzureWorld:
    azure_emulator.seed_nsg(SUB, RG, CP_NSG)
    azure_emulator.seed_nsg(SUB, RG, NODE_NSG)
    made = AzureWorld(azure_emulator, tmp_path / "portsync.yaml")
    made.write_config()
    return made


def _plan(w: AzureWorld, path: Path | None = None, **kwargs: Any) -> Plan:
    return api.plan(load_config(path or w.config_path), **kwargs)


def _apply(w: AzureWorld, path: Path | None = None, **kwargs: Any) -> api.ApplyResult:
    return api.apply(load_config(path or w.config_path), **kwargs)


@pytest.mark.parametrize("mode", ["owned", "exclusive"])
def test_lookalike_and_another_owners_rule_survive_owned_and_exclusive_applies(
    world: AzureWorld, mode: str
) -> None:
    world.write_config(mode=mode)
    world.seed(
        CP_NSG,
        _owned(LOOKALIKE, "9001", "looks like ours", 1500),
        _owned(THEIRS, "9002", "team b's", 1501),
    )
    plan = _plan(world)
    assert not [op for _g, op in plan.changes if isinstance(op, DeleteRuleOp)]
    notes = {r.native_id: (r.owner, r.legacy) for g in plan for r in g.unmanaged}
    assert notes[LOOKALIKE] == (None, True)
    assert notes[THEIRS] == (f"#{TEAM_B.split('-')[1]}", False)
    _apply(world, allow_exclusive=True)
    rules = world.rules(CP_NSG)
    assert LOOKALIKE in rules and THEIRS in rules
    assert _plan(world).is_empty()


def test_exclusive_keeps_outbound_rules_when_the_rule_set_has_none(world: AzureWorld) -> None:
    world.write_config(mode="exclusive")
    outbound = _rule(
        "allow-https-out",
        400,
        "443",
        direction="Outbound",
        sourceAddressPrefix=CP_PREFIXES[0],
        destinationAddressPrefix="*",
    )
    world.seed(CP_NSG, _rule("allow-ssh", 300), outbound)
    plan = _plan(world)
    removed = [op.rule.native_id for _g, op in plan.changes if isinstance(op, DeleteRuleOp)]
    assert removed == ["allow-ssh"]
    # "*" is every IPv4 and every IPv6 address: two rules of the neutral model, each once.
    left = [(r.native_id, str(r.peer)) for g in plan for r in g.unmanaged]
    assert sorted(left) == [("allow-https-out", "cidr:0.0.0.0/0"), ("allow-https-out", "cidr:::/0")]
    _apply(world, allow_exclusive=True)
    rules = world.rules(CP_NSG)
    assert "allow-https-out" in rules and "allow-ssh" not in rules


def test_two_owners_on_one_nsg_keep_their_own_rules_and_do_not_flap(
    world: AzureWorld, tmp_path: Path
) -> None:
    data = yaml.safe_load(world.config_path.read_text())
    data["clusters"][0].update(
        name="team-b-cluster",
        owner="team-b",
        roles={"control-plane": {"nsg": CP_NSG, "address_prefixes": CP_PREFIXES}},
    )
    data["catalog"] = []
    data["extra_rules"] = [
        {"role": "control-plane", "protocol": "tcp", "ports": 9443, "peer": "cidr:10.7.0.0/16"}
    ]
    other = tmp_path / "team-b.yaml"
    other.write_text(yaml.safe_dump(data))
    _apply(world)
    _apply(world, other)
    names = set(world.rules(CP_NSG))
    assert any(n.startswith(f"{TEAM_B}-") for n in names)
    assert any(n.startswith(f"{STEM}-") for n in names)
    assert _plan(world).is_empty() and _plan(world, other).is_empty()
    assert not _apply(world).changed and not _apply(world, other).changed
    assert set(world.rules(CP_NSG)) == names


def test_adopt_legacy_renames_wanted_rules_and_removes_unwanted_ones_once(
    world: AzureWorld,
) -> None:
    legacy_api = "portsync-control-plane-tcp-6443-0ld0ld00"
    world.seed(
        CP_NSG,
        dict(
            _owned(legacy_api, "6443", "Kubernetes API server", 1500),
            sourceAddressPrefix="203.0.113.0/24",
        ),
        _owned("portsync-control-plane-tcp-9999-retired0", "9999", "retired", 1501),
    )
    plan = _plan(world)
    assert not [op for _g, op in plan.changes if op.action.value != "add"]
    # The legacy rule counts as present: the API server from 203.0.113.0/24 is not added twice.
    assert ("6443", "cidr:203.0.113.0/24") not in {
        (op.rule.ports_text, str(op.rule.peer)) for g in plan for op in g.adds
    }
    adopt = _plan(world, adopt_legacy=True)
    assert [op.before.native_id for g in adopt for op in g.updates] == [legacy_api]
    assert [op.rule.native_id for g in adopt for op in g.removes] == [
        "portsync-control-plane-tcp-9999-retired0"
    ]
    cfg = str(world.config_path)
    result = runner.invoke(app, ["--config", cfg, "apply", "--auto-approve", "--adopt-legacy"])
    assert result.exit_code == 0, result.output
    names = set(world.rules(CP_NSG))
    assert legacy_api not in names
    assert "portsync-control-plane-tcp-9999-retired0" not in names
    api_rules = [
        n
        for n, r in world.rules(CP_NSG).items()
        if r["properties"]["destinationPortRange"] == "6443"
        and r["properties"].get("sourceAddressPrefix") == "203.0.113.0/24"
    ]
    assert len(api_rules) == 1 and api_rules[0].startswith(f"{STEM}-")
    after = _plan(world)
    assert after.is_empty()
    assert not [r for g in after for r in g.unmanaged]
