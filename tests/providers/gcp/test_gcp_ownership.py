"""Ownership by identity on GCP (the real FirewallsClient against the local emulator): the owner
digest in the firewall name decides; a ``portsync-`` name or a ``[portsync]`` description proves
nothing; exclusive mode keeps to the directions the rule set manages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from portsync import api
from portsync.cli import app
from portsync.config import load_config
from portsync.model import Direction, Endpoint, Protocol
from portsync.ops import DeleteRuleOp, Plan
from portsync.owners import NamedOwners
from portsync.providers.gcp import translate
from portsync.providers.gcp.emulator import GcpEmulator

from .test_gcp_engine import CP_TAG, STEM, GcpWorld, _owned, _ssh

pytest.importorskip("google.cloud.compute_v1", reason="needs portsync[gcp]")

runner = CliRunner()

#: Another team's owner, and the stem of the firewalls its runs write.
TEAM_B = NamedOwners(prefix="portsync", owner="team-b").stem


@pytest.fixture
def gcp_world(gcp_emulator: GcpEmulator, gcp_project: str, tmp_path: Path) -> GcpWorld:
    world = GcpWorld(gcp_emulator, gcp_project, tmp_path / "portsync.yaml")
    world.write_config()
    return world


def _plan(world: GcpWorld, path: Path | None = None, **kwargs: Any) -> Plan:
    return api.plan(load_config(path or world.config_path), **kwargs)


def _apply(world: GcpWorld, path: Path | None = None, **kwargs: Any) -> api.ApplyResult:
    return api.apply(load_config(path or world.config_path), **kwargs)


def _foreign_and_lookalike(world: GcpWorld) -> None:
    # Typed to look like portsync's: the prefix, the marker, one target, but no owner digest.
    world.seed(_owned("portsync-control-plane-tcp-lookalike", "9001", "looks like ours"))
    # Written by another owner's run (its digest in the name).
    world.seed(_owned(f"{TEAM_B}-control-plane-tcp-0000beef", "9002", "team b's"))


@pytest.mark.parametrize("mode", ["owned", "exclusive"])
def test_lookalike_and_another_owners_firewall_survive_owned_and_exclusive_applies(
    gcp_world: GcpWorld, mode: str
) -> None:
    gcp_world.write_config(mode=mode)
    _foreign_and_lookalike(gcp_world)
    plan = _plan(gcp_world)
    assert not [op for _g, op in plan.changes if isinstance(op, DeleteRuleOp)]
    notes = {r.native_id: (r.owner, r.legacy) for g in plan for r in g.unmanaged}
    assert notes["portsync-control-plane-tcp-lookalike"] == (None, True)
    # team-b is not in this config: shown by its digest
    assert notes[f"{TEAM_B}-control-plane-tcp-0000beef"] == (f"#{TEAM_B.split('-')[1]}", False)
    _apply(gcp_world, allow_exclusive=True)
    names = set(gcp_world.firewalls())
    assert "portsync-control-plane-tcp-lookalike" in names
    assert f"{TEAM_B}-control-plane-tcp-0000beef" in names
    assert all(
        n.startswith(f"{STEM}-")
        for n in names
        - {"portsync-control-plane-tcp-lookalike", f"{TEAM_B}-control-plane-tcp-0000beef"}
    )
    assert _plan(gcp_world).is_empty()


def test_exclusive_keeps_egress_when_the_rule_set_has_none_and_lists_each_rule_once(
    gcp_world: GcpWorld,
) -> None:
    gcp_world.write_config(mode="exclusive")
    egress = {
        "name": "allow-egress-https",
        "direction": "EGRESS",
        "allowed": [{"IPProtocol": "tcp", "ports": ["443"]}],
        "destinationRanges": ["0.0.0.0/0"],
        "targetTags": [CP_TAG],
    }
    gcp_world.seed(_ssh(tag=CP_TAG), egress)
    plan = _plan(gcp_world)
    removed = [op.rule.native_id for _g, op in plan.changes if isinstance(op, DeleteRuleOp)]
    assert removed == ["allow-ssh"]
    left = [r.native_id for g in plan for r in g.unmanaged]
    assert left == ["allow-egress-https"]
    _apply(gcp_world, allow_exclusive=True)
    names = set(gcp_world.firewalls())
    assert "allow-egress-https" in names and "allow-ssh" not in names


def _second_config(world: GcpWorld, tmp_path: Path) -> Path:
    data = yaml.safe_load(world.config_path.read_text())
    data["clusters"][0].update(
        name="team-b-cluster", owner="team-b", roles={"control-plane": {"target_tag": CP_TAG}}
    )
    data["catalog"] = []
    data["extra_rules"] = [
        {"role": "control-plane", "protocol": "tcp", "ports": 9443, "peer": "cidr:10.7.0.0/16"}
    ]
    path = tmp_path / "team-b.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_two_owners_on_one_tag_keep_their_own_firewalls_and_do_not_flap(
    gcp_world: GcpWorld, tmp_path: Path
) -> None:
    other = _second_config(gcp_world, tmp_path)
    _apply(gcp_world)
    _apply(gcp_world, other)
    names = set(gcp_world.firewalls())
    assert any(n.startswith(f"{TEAM_B}-") for n in names)
    assert _plan(gcp_world).is_empty() and _plan(gcp_world, other).is_empty()
    assert not _apply(gcp_world).changed and not _apply(gcp_world, other).changed
    assert set(gcp_world.firewalls()) == names
    result = runner.invoke(app, ["--config", str(gcp_world.config_path), "plan"])
    assert result.exit_code == 0, result.output
    assert "also bound by owner #" in result.stdout


# -- migration -----------------------------------------------------------------------------------

#: The name the earlier release gave the API server's IPv4 firewall (no owner digest).
LEGACY_API = translate.firewall_name(
    "portsync",
    "control-plane",
    f"tag:{CP_TAG}",
    Direction.INGRESS,
    Protocol.TCP,
    Endpoint.cidr("203.0.113.0/24"),
)


def _legacy(world: GcpWorld) -> None:
    api_fw = _owned(LEGACY_API, "6443", "Kubernetes API server", sourceRanges=["203.0.113.0/24"])
    world.seed(api_fw, _owned("portsync-control-plane-tcp-retired", "9999", "retired"))


def test_adopt_legacy_renames_wanted_firewalls_and_removes_unwanted_ones_once(
    gcp_world: GcpWorld,
) -> None:
    _legacy(gcp_world)
    plan = _plan(gcp_world)
    assert not [op for _g, op in plan.changes if op.action.value != "add"]
    assert {r.native_id for g in plan for r in g.unmanaged if r.legacy} == {
        LEGACY_API,
        "portsync-control-plane-tcp-retired",
    }
    adopt = _plan(gcp_world, adopt_legacy=True)
    assert [op.before.native_id for g in adopt for op in g.updates] == [LEGACY_API]
    assert [op.rule.native_id for g in adopt for op in g.removes] == [
        "portsync-control-plane-tcp-retired"
    ]
    cfg = str(gcp_world.config_path)
    result = runner.invoke(app, ["--config", cfg, "apply", "--auto-approve", "--adopt-legacy"])
    assert result.exit_code == 0, result.output
    names = set(gcp_world.firewalls())
    assert LEGACY_API not in names and "portsync-control-plane-tcp-retired" not in names
    assert LEGACY_API.replace("portsync-", f"{STEM}-", 1) in names
    after = _plan(gcp_world)
    assert after.is_empty()
    assert not [r for g in after for r in g.unmanaged]
