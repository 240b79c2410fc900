"""The wipe guard: a plan that removes every rule portsync owns on a target and adds none there."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from portsync.api import check_empty_targets
from portsync.config import parse_config
from portsync.errors import GuardrailError
from portsync.model import Endpoint, PortRange, Protocol, TargetRule
from portsync.ops import CreateRuleOp, DeleteRuleOp, GroupOps, Plan

from .worlds import PROD_CLUSTER

LOADED = parse_config(
    yaml.safe_dump({"clusters": [PROD_CLUSTER]}, sort_keys=False), path=Path("portsync.yaml")
)


def _rule(port: int, *, owned: bool = True) -> TargetRule:
    return TargetRule(
        target="sg-2",
        role="worker",
        protocol=Protocol.TCP,
        ports=PortRange(port, port),
        peer=Endpoint.parse("cidr:10.0.0.0/8"),
        owned=owned,
    )


def _plan(*ops: Any, live: int, unmanaged: int = 0) -> Plan:
    group = GroupOps(
        cluster="prod",
        provider="aws",
        target="sg-2",
        role="worker",
        label="worker (sg-2)",
        ops=ops,
        unmanaged=tuple(_rule(22 + i, owned=False) for i in range(unmanaged)),
        live_count=live,
    )
    return Plan(groups=(group,))


def test_removing_every_owned_rule_and_adding_none_is_refused() -> None:
    plan = _plan(DeleteRuleOp(_rule(10250)), DeleteRuleOp(_rule(10256)), live=3, unmanaged=1)
    with pytest.raises(GuardrailError) as exc:
        check_empty_targets(LOADED, plan)
    assert exc.value.message == (
        "the plan would leave targets without any portsync rule: prod/worker (sg-2): removes all "
        "2 rules portsync owns there and adds none (bound as clusters.0.roles.worker at "
        "portsync.yaml:8)"
    )
    assert exc.value.hint is not None and "--allow-empty-target" in exc.value.hint


@pytest.mark.parametrize(
    "plan",
    [
        # one owned rule stays
        _plan(DeleteRuleOp(_rule(10250)), live=2),
        # something is added there
        _plan(DeleteRuleOp(_rule(10250)), CreateRuleOp(_rule(10251)), live=1),
        # nothing owned to begin with
        _plan(live=1, unmanaged=1),
        # only unmanaged removals (exclusive mode) leave the owned rule alone
        _plan(DeleteRuleOp(_rule(22, owned=False)), live=2, unmanaged=1),
    ],
    ids=["one-kept", "adds", "nothing-owned", "unmanaged-only"],
)
def test_plans_that_keep_or_add_a_rule_pass(plan: Plan) -> None:
    check_empty_targets(LOADED, plan)


def test_removing_the_one_owned_rule_of_a_target_is_refused() -> None:
    with pytest.raises(GuardrailError, match="removes all 1 rules portsync owns there"):
        check_empty_targets(LOADED, _plan(DeleteRuleOp(_rule(10250)), live=1))


def test_every_emptied_target_is_named_after_one_that_is_not() -> None:
    kept = GroupOps(
        cluster="prod", provider="aws", target="sg-1", role="control-plane", live_count=0
    )
    emptied = _plan(DeleteRuleOp(_rule(10250)), live=1).groups[0]
    other = GroupOps(
        cluster="prod", provider="aws", target="sg-3", role="worker",
        ops=(DeleteRuleOp(_rule(10256).replace(target="sg-3")),), live_count=1,
    )  # fmt: skip
    with pytest.raises(GuardrailError) as exc:
        check_empty_targets(LOADED, Plan(groups=(kept, emptied, other)))
    assert exc.value.message == (
        "the plan would leave targets without any portsync rule: prod/worker (sg-2): removes all "
        "1 rules portsync owns there and adds none (bound as clusters.0.roles.worker at "
        "portsync.yaml:8); prod/sg-3: removes all 1 rules portsync owns there and adds none "
        "(bound as clusters.0.roles.worker at portsync.yaml:8)"
    )
    assert exc.value.hint == (
        "check the role binding and the port tables; pass --allow-empty-target if the targets "
        "really should lose every rule portsync wrote"
    )


def test_a_target_of_a_cluster_the_config_does_not_hold_is_named_without_a_place() -> None:
    plan = Plan(groups=(dataclasses.replace(_plan(live=1).groups[0], cluster="gone", ops=(
        DeleteRuleOp(_rule(10250)),
    )),))  # fmt: skip
    with pytest.raises(GuardrailError) as exc:
        check_empty_targets(LOADED, plan)
    assert exc.value.message.endswith("(bound as clusters.-1.roles.worker)")


def test_unmanaged_rules_removed_in_exclusive_mode_do_not_count_as_owned_ones() -> None:
    """Exclusive mode lists an unmanaged rule it removes once, as a removal: the guard still sees
    that every owned rule goes (2 live: 1 owned removed, 1 unmanaged removed, nothing added)."""
    the_plan = _plan(
        DeleteRuleOp(_rule(9000), "owned by portsync but no longer wanted"),
        DeleteRuleOp(_rule(22, owned=False), "unmanaged rule removed in exclusive mode"),
        live=2,
    )
    with pytest.raises(GuardrailError, match="removes all 1 rules"):
        check_empty_targets(LOADED, the_plan)


def test_the_clouds_own_default_rules_do_not_count_as_owned_ones() -> None:
    """A group whose live rules are its 2 owned ones and the cloud's allow-all egress: removing
    both owned rules empties it, the default left alone or not."""
    default = _rule(0, owned=False)
    the_plan = Plan(
        groups=(
            dataclasses.replace(
                _plan(DeleteRuleOp(_rule(10250)), DeleteRuleOp(_rule(10256)), live=3).groups[0],
                cloud_defaults=(default,),
            ),
        )
    )
    with pytest.raises(GuardrailError, match="removes all 2 rules portsync owns there"):
        check_empty_targets(LOADED, the_plan)
