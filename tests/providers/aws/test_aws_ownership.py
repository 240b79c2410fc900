"""Ownership by identity on AWS (moto over HTTP): the ``portsync:owner`` tag decides, rules are
changed and revoked by the exact rule ids the plan read, and exclusive mode keeps to the
directions the rule set manages."""

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

from .conftest import AwsWorld, owned_by

runner = CliRunner()


def _plan(world: AwsWorld, path: Path | None = None, **kwargs: Any) -> Plan:
    return api.plan(load_config(path or world.config_path), **kwargs)


def _apply(world: AwsWorld, path: Path | None = None, **kwargs: Any) -> api.ApplyResult:
    return api.apply(load_config(path or world.config_path), **kwargs)


def _rules(world: AwsWorld, group: str) -> list[dict[str, Any]]:
    return world.ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group]}]
    )["SecurityGroupRules"]


def _has(world: AwsWorld, group: str, port: int, cidr: str, *, egress: bool = False) -> bool:
    return any(
        r.get("FromPort") == port and r.get("CidrIpv4") == cidr and r["IsEgress"] is egress
        for r in _rules(world, group)
    )


def _tags(rule: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in rule.get("Tags", [])}


def _ingress(
    world: AwsWorld,
    port: int,
    cidr: str,
    description: str,
    *,
    group: str | None = None,
    tags: dict[str, str] | None = None,
    protocol: str = "tcp",
    to_port: int | None = None,
) -> None:
    extra: dict[str, Any] = {}
    if tags:
        extra["TagSpecifications"] = [
            {
                "ResourceType": "security-group-rule",
                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
            }
        ]
    world.ec2.authorize_security_group_ingress(
        GroupId=group or world.cp,
        IpPermissions=[
            {
                "IpProtocol": protocol,
                "FromPort": port,
                "ToPort": port if to_port is None else to_port,
                "IpRanges": [{"CidrIp": cidr, "Description": description}],
            }
        ],
        **extra,
    )


def owned_tags() -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in owned_by()[0]["Tags"]}


def _foreign_and_lookalike(world: AwsWorld) -> None:
    """A rule someone typed to look like portsync's, and a rule another owner's run wrote."""
    _ingress(world, 9001, "10.1.0.0/16", "portsync: looks like ours")
    _ingress(world, 9002, "10.2.0.0/16", "portsync: team b's", tags={"portsync:owner": "team-b"})


# -- issue item 2: ownership is read from tags, not descriptions ---------------------------------


@pytest.mark.parametrize("mode", ["owned", "exclusive"])
def test_lookalike_and_another_owners_rule_survive_owned_and_exclusive_applies(
    aws_world: AwsWorld, mode: str
) -> None:
    aws_world.write_config(mode=mode)
    _foreign_and_lookalike(aws_world)
    plan = _plan(aws_world)
    assert not [op for _g, op in plan.changes if isinstance(op, DeleteRuleOp)]
    notes = {r.ports_text: (r.owner, r.legacy) for g in plan for r in g.unmanaged}
    assert notes["9001"] == (None, True)
    assert notes["9002"] == ("team-b", False)
    _apply(aws_world, allow_exclusive=True)
    assert _has(aws_world, aws_world.cp, 9001, "10.1.0.0/16")
    assert _has(aws_world, aws_world.cp, 9002, "10.2.0.0/16")
    assert _plan(aws_world).is_empty()


def test_plan_text_names_the_other_owner_and_warns(aws_world: AwsWorld) -> None:
    _foreign_and_lookalike(aws_world)
    cfg = str(aws_world.config_path)
    result = runner.invoke(app, ["--config", cfg, "plan"])
    assert result.exit_code == 0, result.output
    assert "also bound by owner team-b" in result.stdout
    # Collapsed by default, but the migration is named.
    assert "1 of them written by an earlier portsync release" in result.stdout
    result = runner.invoke(app, ["--config", cfg, "plan", "--show-unmanaged"])
    assert result.exit_code == 0, result.output
    assert "owned by team-b, left alone" in result.stdout
    assert "adopt with --adopt-legacy" in result.stdout


def _second_config(world: AwsWorld, tmp_path: Path) -> Path:
    """Another config (another team, another owner) bound to the same control-plane group."""
    data = yaml.safe_load(world.config_path.read_text())
    data["clusters"][0]["name"] = "team-b-cluster"
    data["clusters"][0]["owner"] = "team-b"
    data["clusters"][0]["roles"] = {"control-plane": {"security_group": world.cp}}
    data["catalog"] = []
    data["extra_rules"] = [
        {"role": "control-plane", "protocol": "tcp", "ports": 9443, "peer": "cidr:10.7.0.0/16"}
    ]
    path = tmp_path / "team-b.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_two_owners_on_one_group_keep_their_own_rules_and_do_not_flap(
    aws_world: AwsWorld, tmp_path: Path
) -> None:
    other = _second_config(aws_world, tmp_path)
    _apply(aws_world)
    _apply(aws_world, other)
    ours = [r for r in _rules(aws_world, aws_world.cp) if not r["IsEgress"]]
    owners = {r.get("FromPort"): _tags(r).get("portsync:owner") for r in ours}
    assert owners[9443] == "team-b"
    assert owners[6443] == "prod-aws"
    # Each sees the other's rules as the other's, removes none of them, and has nothing to do.
    mine, theirs = _plan(aws_world), _plan(aws_world, other)
    assert mine.is_empty() and theirs.is_empty()
    assert "team-b" in {r.owner for g in mine for r in g.unmanaged}
    assert "prod-aws" in {r.owner for g in theirs for r in g.unmanaged}
    assert not _apply(aws_world).changed and not _apply(aws_world, other).changed
    assert _has(aws_world, aws_world.cp, 9443, "10.7.0.0/16")


def test_owner_key_changes_the_identity_written(aws_world: AwsWorld) -> None:
    data = yaml.safe_load(aws_world.config_path.read_text())
    data["clusters"][0]["owner"] = "platform"
    aws_world.config_path.write_text(yaml.safe_dump(data))
    _apply(aws_world)
    tags = [_tags(r) for r in _rules(aws_world, aws_world.cp) if not r["IsEgress"]]
    assert tags and all(t["portsync:owner"] == "platform" for t in tags)
    assert all(t["portsync:cluster"] == "prod-aws" for t in tags)


# -- issue item 3: removals name exact rule ids ---------------------------------------------------


def test_removing_owned_icmp_keeps_an_unmanaged_icmp_echo_from_the_same_peer(
    aws_world: AwsWorld,
) -> None:
    _apply(aws_world)
    # An owned "every ICMP" rule the rule set no longer wants, and someone's ICMP echo rule.
    _ingress(aws_world, -1, "10.0.0.0/8", "portsync: icmp", protocol="icmp", tags=owned_tags())
    _ingress(aws_world, 8, "10.0.0.0/8", "echo for monitoring", protocol="icmp", to_port=0)
    plan = _plan(aws_world)
    removes = [op.rule for _g, op in plan.changes if isinstance(op, DeleteRuleOp)]
    assert [(r.protocol.value, r.icmp_type) for r in removes] == [("icmp", None)]
    unmanaged = [r for g in plan for r in g.unmanaged if r.protocol.value == "icmp"]
    assert [(r.icmp_type, r.icmp_code) for r in unmanaged] == [(8, 0)]
    _apply(aws_world)
    icmp = [r for r in _rules(aws_world, aws_world.cp) if r["IpProtocol"] == "icmp"]
    assert [(r["FromPort"], r["ToPort"], r.get("Description")) for r in icmp] == [
        (8, 0, "echo for monitoring")
    ]


# -- issue item 4: exclusive mode keeps to the managed directions ---------------------------------


def test_exclusive_apply_keeps_default_egress_and_lists_each_rule_once(
    aws_world: AwsWorld,
) -> None:
    aws_world.write_config(mode="exclusive")
    _ingress(aws_world, 22, "10.9.0.0/16", "bastion ssh")
    plan = _plan(aws_world)
    removed = [op.rule for _g, op in plan.changes if isinstance(op, DeleteRuleOp)]
    assert [(r.ports_text, str(r.peer)) for r in removed] == [("22", "cidr:10.9.0.0/16")]
    # The default egress of each group: left alone, once each (as the cloud's own default).
    assert not [r for g in plan for r in g.unmanaged]
    left = [r for g in plan for r in g.cloud_defaults]
    assert {(r.direction.value, str(r.peer)) for r in left} == {("egress", "cidr:0.0.0.0/0")}
    assert len(left) == 2
    result = runner.invoke(
        app,
        ["--config", str(aws_world.config_path), "apply", "--auto-approve", "--exclusive"],
    )
    assert result.exit_code == 0, result.output
    for group in (aws_world.cp, aws_world.worker):
        assert any(
            r["IsEgress"] and r.get("CidrIpv4") == "0.0.0.0/0" and r["IpProtocol"] == "-1"
            for r in _rules(aws_world, group)
        )
    assert not _has(aws_world, aws_world.cp, 22, "10.9.0.0/16")


def test_exclusive_plan_text_prints_a_removed_rule_once(aws_world: AwsWorld) -> None:
    aws_world.write_config(mode="exclusive")
    _ingress(aws_world, 22, "10.9.0.0/16", "bastion ssh")
    result = runner.invoke(app, ["--config", str(aws_world.config_path), "plan"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "10.9.0.0/16" in line]
    assert len(lines) == 1, lines
    assert "removed in exclusive mode" in lines[0]


def test_exclusive_with_egress_rules_manages_egress_too(aws_world: AwsWorld) -> None:
    aws_world.write_config(
        mode="exclusive",
        extra_rules=[
            {
                "role": "worker",
                "direction": "egress",
                "protocol": "tcp",
                "ports": 443,
                "peer": "cidr:0.0.0.0/0",
            }
        ],
    )
    _apply(aws_world, allow_exclusive=True)
    worker = [r for r in _rules(aws_world, aws_world.worker) if r["IsEgress"]]
    assert [(r["IpProtocol"], r.get("FromPort")) for r in worker] == [("tcp", 443)]
    # The control plane has no egress rules in the rule set: its default egress stays.
    cp = [r for r in _rules(aws_world, aws_world.cp) if r["IsEgress"]]
    assert [r["IpProtocol"] for r in cp] == ["-1"]


# -- migration: rules of the earlier release are adopted once ------------------------------------


def _legacy_rules(world: AwsWorld) -> None:
    """What the earlier release wrote: the marker, the managed and cluster tags, no owner tag."""
    old = {"portsync:managed": "true", "portsync:cluster": "prod-aws"}
    _ingress(world, 6443, "203.0.113.0/24", "portsync: Kubernetes API server", tags=old)
    _ingress(world, 9999, "10.0.0.0/8", "portsync: retired", tags=old)
    # Another cluster's rule of the earlier release: that cluster's, never adopted here.
    other = {"portsync:managed": "true", "portsync:cluster": "staging-aws"}
    _ingress(world, 9998, "10.0.0.0/8", "portsync: staging's", tags=other)


def test_without_adopt_legacy_the_earlier_releases_rules_are_left_alone(
    aws_world: AwsWorld,
) -> None:
    _legacy_rules(aws_world)
    plan = _plan(aws_world)
    cp = next(g for g in plan if g.target == aws_world.cp)
    assert not cp.removes and not cp.updates
    assert {r.ports_text for r in cp.unmanaged if r.legacy} == {"6443", "9999"}
    assert {r.ports_text: r.owner for r in cp.unmanaged}["9998"] == "staging-aws"
    # The wanted rule is there already (as a legacy rule): not added a second time.
    assert ("6443", "cidr:203.0.113.0/24") not in {
        (op.rule.ports_text, str(op.rule.peer)) for op in cp.adds
    }


def test_adopt_legacy_tags_wanted_rules_removes_unwanted_ones_once(aws_world: AwsWorld) -> None:
    _legacy_rules(aws_world)
    cfg = str(aws_world.config_path)
    result = runner.invoke(app, ["--config", cfg, "plan", "--adopt-legacy"])
    assert result.exit_code == 0, result.output
    assert "adopt a rule an earlier portsync release wrote" in result.stdout
    plan = _plan(aws_world, adopt_legacy=True)
    cp = next(g for g in plan if g.target == aws_world.cp)
    assert [op.before.ports_text for op in cp.updates] == ["6443"]
    assert [op.rule.ports_text for op in cp.removes] == ["9999"]
    result = runner.invoke(app, ["--config", cfg, "apply", "--auto-approve", "--adopt-legacy"])
    assert result.exit_code == 0, result.output
    by_port = {r.get("FromPort"): r for r in _rules(aws_world, aws_world.cp) if not r["IsEgress"]}
    assert _tags(by_port[6443])["portsync:owner"] == "prod-aws"
    assert 9999 not in by_port
    assert _tags(by_port[9998]).get("portsync:owner") is None  # staging's, untouched
    # Done once: the next plan, without the flag, owns the adopted rule and has nothing to do.
    again = _plan(aws_world)
    assert again.is_empty()
    assert all(r.ports_text != "6443" for g in again for r in g.unmanaged)


def test_protect_by_rule_tag_reads_the_tags_plan_now_reads(aws_world: AwsWorld) -> None:
    """``protect: [{tag: …}]`` matches the rule tags DescribeSecurityGroupRules returns."""
    aws_world.write_config(mode="exclusive", protect=[{"tag": "team=net"}])
    _ingress(aws_world, 22, "10.9.0.0/16", "bastion ssh", tags={"team": "net"})
    _ingress(aws_world, 23, "10.9.0.0/16", "telnet")
    plan = _plan(aws_world)
    removed = [op.rule.ports_text for _g, op in plan.changes if isinstance(op, DeleteRuleOp)]
    assert removed == ["23"]
    _apply(aws_world, allow_exclusive=True)
    assert _has(aws_world, aws_world.cp, 22, "10.9.0.0/16")
    assert not _has(aws_world, aws_world.cp, 23, "10.9.0.0/16")
