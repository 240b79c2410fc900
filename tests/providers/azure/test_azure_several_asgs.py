"""Roles whose machines are in several application security groups, on the Azure emulator.

Both roles share one NSG (the subnet's). Every machine is in the ASG ``cluster``, which rules
someone else wrote already name (every protocol between the cluster's machines, ssh from the
office); control-plane machines are also in ``ps-cp`` and nodes in ``ps-node``, the ASGs
portsync writes for. Each role is bound to both: ``asgs: [own, cluster], write_to: own``.
"""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from portsync import api
from portsync.audit import audit
from portsync.cli import app
from portsync.config import load_config, parse_config
from portsync.errors import ConfigError
from portsync.explain import Answer, Explanation, explain, parse_destination, parse_source
from portsync.ops import Plan

from .test_azure_engine import RG, SUB, AzureWorld, world

__all__ = ["world"]

pytest.importorskip("azure.mgmt.network", reason="needs portsync[azure]")

NSG = "k8s-subnet-nsg"
runner = CliRunner()


def _asg(name: str) -> str:
    return (
        f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/"
        f"applicationSecurityGroups/{name}"
    )


CP, NODE, CLUSTER = _asg("ps-cp"), _asg("ps-node"), _asg("cluster")
SEVERAL = {
    "control-plane": {"nsg": NSG, "asgs": [CP, CLUSTER], "write_to": CP},
    "worker": {"nsg": NSG, "asgs": [NODE, CLUSTER]},  # written for the first
}
ONE_EACH = {"control-plane": {"nsg": NSG, "asg": CP}, "worker": {"nsg": NSG, "asg": NODE}}
SSH = {"role": "worker", "protocol": "tcp", "ports": 22, "peer": "cidr:198.51.100.0/25"}


def _rule(name: str, priority: int, **props: Any) -> dict[str, Any]:
    base = {
        "protocol": "*",
        "access": "Allow",
        "direction": "Inbound",
        "priority": priority,
        "sourcePortRange": "*",
        "destinationPortRange": "*",
        "destinationApplicationSecurityGroups": [{"id": CLUSTER}],
    }
    return {"name": name, "properties": {**base, **props}}


INTERNAL = _rule("cluster-internal", 500, sourceApplicationSecurityGroups=[{"id": CLUSTER}])
OFFICE_SSH = _rule(
    "ssh-from-office",
    510,
    protocol="Tcp",
    sourceAddressPrefix="198.51.100.0/24",
    destinationPortRange="22",
)


@pytest.fixture
def asgs(world: AzureWorld) -> AzureWorld:
    for name in ("ps-cp", "ps-node", "cluster"):
        world.emulator.seed_asg(SUB, RG, name)
    world.emulator.seed_nsg(SUB, RG, NSG, rules=[INTERNAL, OFFICE_SSH])
    world.write_config(roles=SEVERAL, extra_rules=[SSH])
    return world


def _plan(world: AzureWorld) -> Plan:
    return api.plan(load_config(world.config_path))


def _explain(world: AzureWorld, source: str, destination: str) -> Explanation:
    loaded = load_config(world.config_path)
    return explain(loaded, parse_source(source), parse_destination(destination))


def _first_allowing(answer: Explanation) -> set[str]:
    """The rule that decides each endpoint's ALLOWED (the first allowing one, by priority)."""
    out = set()
    for cluster in answer.clusters:
        for target in cluster.targets:
            for endpoint in target.endpoints:
                allowing = [m for m in endpoint.deciding if m.access == "allow"]
                if allowing:
                    out.add(allowing[0].rule.native_id or "")
    return out


def test_explain_allows_from_outside_through_an_asg_that_is_not_written_to(
    asgs: AzureWorld,
) -> None:
    answer = _explain(asgs, "198.51.100.7", "worker:22/tcp")
    assert answer.answer is Answer.ALLOWED
    assert _first_allowing(answer) == {"ssh-from-office"}
    asgs.write_config(roles=ONE_EACH, extra_rules=[SSH])
    # Bound to its own ASG alone, the worker is not known to be reached: only Azure's default
    # rule from the virtual network (whose addresses portsync does not read) is left.
    alone = _explain(asgs, "198.51.100.7", "worker:22/tcp")
    assert alone.answer is Answer.UNKNOWN
    assert "ssh-from-office" not in _first_allowing(alone)


@pytest.mark.parametrize(
    ("source", "destination"),
    [("role:worker", "control-plane:6443/tcp"), ("role:control-plane", "worker:10250/tcp")],
)
def test_explain_names_the_rule_on_the_shared_asg_for_flows_inside_the_cluster(
    asgs: AzureWorld, source: str, destination: str
) -> None:
    answer = _explain(asgs, source, destination)
    assert answer.answer is Answer.ALLOWED
    assert _first_allowing(answer) == {"cluster-internal"}


def test_plan_adds_nothing_the_shared_asg_covers_and_writes_only_for_write_to(
    asgs: AzureWorld,
) -> None:
    plan = _plan(asgs)
    assert {g.target for g in plan.groups} == {f"{NSG}/control-plane", f"{NSG}/worker"}
    satisfied = {
        (g.role, s.rule.ports_text, s.rule.origin): {(r.target, r.native_id) for r in s.by}
        for g in plan.groups
        for s in g.satisfied
    }
    shared = f"{NSG}/asg:cluster"
    assert satisfied[("control-plane", "2379-2380", "self")] == {(shared, "cluster-internal")}
    assert satisfied[("worker", "10250", "role:control-plane")] == {(shared, "cluster-internal")}
    assert satisfied[("worker", "22", "cidr:198.51.100.0/25")] == {(shared, "ssh-from-office")}
    adds = [op.rule for g in plan.groups for op in g.adds]
    assert adds, "the table's flows from outside the cluster are still added"
    assert all(r.origin not in ("self", "role:control-plane", "role:worker") for r in adds)
    assert len({(r.target, r.key) for r in adds}) == len(adds)

    api.apply(load_config(asgs.config_path))
    rules = asgs.rules(NSG)
    for name in ("cluster-internal", "ssh-from-office"):
        assert rules[name]["properties"]["destinationApplicationSecurityGroups"] == [
            {"id": CLUSTER}
        ]
    written = [
        r["properties"]
        for n, r in rules.items()
        if n not in ("cluster-internal", "ssh-from-office")
    ]
    assert len(written) == len(adds)
    for props in written:
        assert props["destinationApplicationSecurityGroups"] in ([{"id": CP}], [{"id": NODE}])
    assert _plan(asgs).is_empty()


def test_exclusive_mode_leaves_the_rules_of_a_shared_asg_alone(asgs: AzureWorld) -> None:
    asgs.write_config(roles=SEVERAL, extra_rules=[SSH], mode="exclusive")
    plan = _plan(asgs)
    assert not [op for g in plan.groups for op in g.removes]
    api.apply(load_config(asgs.config_path), allow_exclusive=True)
    assert {"cluster-internal", "ssh-from-office"} <= set(asgs.rules(NSG))


def test_audit_reads_the_rules_of_every_asg_of_a_role(asgs: AzureWorld) -> None:
    open_kubelet = _rule(
        "kubelet-open", 520, protocol="Tcp", sourceAddressPrefix="*", destinationPortRange="10250"
    )
    asgs.emulator.seed_nsg(SUB, RG, NSG, rules=[INTERNAL, OFFICE_SSH, open_kubelet])
    report = audit(load_config(asgs.config_path))
    exposed = [f for f in report.findings if f.rule.native_id == "kubelet-open"]
    assert exposed, "the kubelet opened to the world on the shared ASG is reported"
    assert {f.target for f in exposed} == {f"{NSG}/asg:cluster"}


def test_separate_nsgs_read_the_shared_asg_in_each(asgs: AzureWorld) -> None:
    for name in ("cp-only-nsg", "node-only-nsg"):
        asgs.emulator.seed_nsg(SUB, RG, name, rules=[INTERNAL])
    asgs.write_config(
        roles={
            "control-plane": {"nsg": "cp-only-nsg", "asgs": [CP, CLUSTER]},
            "worker": {"nsg": "node-only-nsg", "asgs": [NODE, CLUSTER]},
        }
    )
    plan = _plan(asgs)
    by = {
        (g.role, s.rule.ports_text): {(r.target, r.native_id) for r in s.by}
        for g in plan.groups
        for s in g.satisfied
    }
    assert by[("control-plane", "6443")] == {("cp-only-nsg/asg:cluster", "cluster-internal")}
    assert by[("worker", "10250")] == {("node-only-nsg/asg:cluster", "cluster-internal")}


def _bindings(roles: str) -> str:
    return (
        f"clusters:\n  - name: c\n    provider: azure\n    subscription_id: {SUB}\n"
        f"    resource_group: {RG}\n    roles: {{{roles}}}\n"
    )


def test_an_asg_shared_by_two_roles_is_allowed_unless_both_write_to_it() -> None:
    parse_config(
        _bindings(
            f"control-plane: {{nsg: n, asgs: ['{CP}', '{CLUSTER}']}}, "
            f"worker: {{nsg: n, asgs: ['{NODE}', '{CLUSTER}']}}"
        )
    )
    # One role reads the ASG the other writes for.
    parse_config(
        _bindings(
            f"control-plane: {{nsg: n, asgs: ['{CP}', '{NODE}']}}, worker: {{nsg: n, asg: '{NODE}'}}"
        )
    )
    both = (
        f"control-plane: {{nsg: n, asgs: ['{CP}', '{CLUSTER}'], write_to: '{CLUSTER}'}}, "
        f"worker: {{nsg: n, asgs: ['{NODE}', '{CLUSTER.upper()}'], write_to: '{CLUSTER.upper()}'}}"
    )
    with pytest.raises(ConfigError, match=r"both write to") as caught:
        parse_config(_bindings(both))
    assert "clusters.0.roles" in str(caught.value)
    stray = f"worker: {{nsg: n, asgs: ['{NODE}'], write_to: '{CP}'}}"
    with pytest.raises(ConfigError, match=r"is not one of asgs"):
        parse_config(_bindings(stray))
    alone = f"worker: {{nsg: n, asg: '{NODE}', write_to: '{NODE}'}}"
    with pytest.raises(ConfigError, match=r"write_to goes with asgs"):
        parse_config(_bindings(alone))
    mixed = f"worker: {{nsg: n, asg: '{NODE}', asgs: ['{NODE}']}}"
    with pytest.raises(ConfigError, match=r"give exactly one of address_prefixes, asg"):
        parse_config(_bindings(mixed))
    twice = f"worker: {{nsg: n, asgs: ['{NODE}', '{NODE.upper()}']}}"
    with pytest.raises(ConfigError, match=r"asgs lists an application security group twice"):
        parse_config(_bindings(twice))
    bad = "worker: {nsg: n, asgs: [cluster]}"
    with pytest.raises(ConfigError, match=r"application security group is a resource id"):
        parse_config(_bindings(bad))


def test_both_roles_writing_to_one_asg_is_refused_before_any_cloud_call(asgs: AzureWorld) -> None:
    asgs.write_config(
        roles={
            "control-plane": {"nsg": NSG, "asgs": [CLUSTER, CP]},
            "worker": {"nsg": NSG, "asgs": [NODE, CLUSTER], "write_to": CLUSTER},
        }
    )
    before = asgs.emulator.calls.total()
    for command in (["plan"], ["apply", "--auto-approve"], ["explain", "any", "worker:22/tcp"]):
        result = runner.invoke(app, ["--config", str(asgs.config_path), *command])
        assert result.exit_code == 1, result.output
        assert "roles 'control-plane' and 'worker' share NSG" in result.stderr
        assert "both write to" in result.stderr
    assert asgs.emulator.calls.total() == before


def test_a_rehearsal_with_several_asgs_converges_and_writes_nothing_live(
    asgs: AzureWorld,
) -> None:
    from portsync.rehearse import rehearse

    before = asgs.rules(NSG)
    result = rehearse(load_config(asgs.config_path))
    assert result.ok, result.problems
    assert result.totals()["writes"] > 0
    assert asgs.rules(NSG) == before
