"""Diff: set algebra on stable keys, ownership and modes."""

from __future__ import annotations

import pytest

from portsync.diff import diff_target, final_state, untouched
from portsync.model import Endpoint, PortRange, Protocol, TargetRule
from portsync.ops import CreateRuleOp, DeleteRuleOp, UpdateRuleOp


def rule(
    port: int, peer: str = "cidr:10.0.0.0/8", *, owned: bool = True, desc: str = "portsync: x"
) -> TargetRule:
    return TargetRule(
        target="sg-1",
        protocol=Protocol.TCP,
        ports=PortRange(port, port),
        peer=Endpoint.parse(peer),
        description=desc,
        owned=owned,
    )


def test_diff_missing_rule_is_created() -> None:
    ops, unmanaged = diff_target([rule(1)], [])
    assert [type(op) for op in ops] == [CreateRuleOp]
    assert unmanaged == []


def test_diff_same_rule_is_nothing() -> None:
    ops, _ = diff_target([rule(1)], [rule(1)])
    assert ops == []


def test_diff_changed_description_is_update_keeping_native_id() -> None:
    live = rule(1, desc="portsync: old").replace(native_id="sgr-1")
    ops, _ = diff_target([rule(1, desc="portsync: new")], [live])
    assert len(ops) == 1 and isinstance(ops[0], UpdateRuleOp)
    assert ops[0].after.native_id == "sgr-1"
    assert ops[0].before.description == "portsync: old"


def test_diff_owned_extra_is_removed_in_owned_mode() -> None:
    ops, _ = diff_target([], [rule(2)])
    assert [type(op) for op in ops] == [DeleteRuleOp]


def test_diff_additive_mode_never_removes() -> None:
    ops, unmanaged = diff_target([], [rule(2), rule(3, owned=False)], mode="additive")
    assert ops == []
    assert len(unmanaged) == 1


def test_diff_unmanaged_rule_is_reported_not_removed_in_owned_mode() -> None:
    ops, unmanaged = diff_target([], [rule(22, owned=False, desc="ssh")])
    assert ops == []
    assert [r.description for r in unmanaged] == ["ssh"]


def test_diff_exclusive_mode_removes_unmanaged_too() -> None:
    ops, unmanaged = diff_target([rule(1)], [rule(1), rule(22, owned=False)], mode="exclusive")
    assert [(type(op), op.rule.ports) for op in ops] == [(DeleteRuleOp, PortRange(22, 22))]
    # Listed once: as removed, not also as "left alone".
    assert unmanaged == []


def test_diff_unmanaged_rule_satisfies_desired_without_duplicate() -> None:
    ops, unmanaged = diff_target([rule(1)], [rule(1, owned=False, desc="by hand")])
    assert ops == []
    assert len(unmanaged) == 1


def test_diff_owned_duplicates_collapse_to_one() -> None:
    ops, _ = diff_target(
        [rule(1)], [rule(1).replace(native_id="a"), rule(1).replace(native_id="b")]
    )
    assert [(type(op), op.rule.native_id) for op in ops] == [(DeleteRuleOp, "b")]


def test_diff_description_is_not_identity() -> None:
    assert rule(1, desc="a").key == rule(1, desc="b").key


def test_diff_unknown_mode_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        diff_target([], [], mode="sometimes")


def test_final_state_applies_removals_updates_and_additions() -> None:
    kept = rule(1).replace(native_id="sgr-1")
    stale = rule(2, desc="portsync: old").replace(native_id="sgr-2")
    gone = rule(3).replace(native_id="sgr-3")
    live = [kept, stale, gone]
    ops, _ = diff_target([rule(1), rule(2, desc="portsync: new"), rule(4)], live)
    final = final_state(live, ops)
    assert [(r.ports.from_port if r.ports else None, r.description) for r in final] == [
        (1, "portsync: x"),
        (2, "portsync: new"),  # the update in its new form, not the live one
        (4, "portsync: x"),
    ]
    assert final[0] is kept
    assert not untouched(final, live)


def test_untouched_only_when_final_is_the_live_rules_as_read() -> None:
    live = [rule(1), rule(2)]
    assert untouched(final_state(live, []), live)
    assert not untouched([rule(1), rule(2)], live)  # equal but not the rules read
    assert not untouched(live[:1], live)
    assert not untouched(live, None)


def test_diff_ignores_live_only_extra_but_not_other_extra() -> None:
    # A provider's facts about a live rule (``live.`` keys, such as an Azure rule's priority in
    # its NSG) never make an update; any other extra key still does.
    live = rule(1).replace(extra=(("live.priority", "1001"),))
    assert diff_target([rule(1)], [live])[0] == []
    changed = rule(1).replace(extra=(("live.priority", "1001"), ("role_addresses", "10.0.1.0/24")))
    ops, _ = diff_target([rule(1)], [changed])
    assert len(ops) == 1 and isinstance(ops[0], UpdateRuleOp)
    assert "live.priority" not in ops[0].reason


# -- whose machines a live rule is aimed at (providers that say so, such as Azure) ------------

REACHES = "live.reaches"
MAY_REACH = "live.may_reach"


def aimed(live: TargetRule, reaches: str, may: str = "") -> TargetRule:
    extra = ((REACHES, reaches),) + (((MAY_REACH, may),) if may else ())
    return live.replace(owned=False, extra=extra)


def test_someone_else_s_rule_aimed_at_the_role_stands_for_the_wanted_rule() -> None:
    want = rule(1).replace(role="worker")
    ops, unmanaged = diff_target([want], [aimed(rule(1), "worker")])
    assert ops == []
    assert [r.key for r in unmanaged] == [want.key]


@pytest.mark.parametrize("reaches, may", [("control-plane", ""), ("control-plane", "worker")])
def test_someone_else_s_rule_aimed_elsewhere_does_not_stand_for_the_wanted_rule(
    reaches: str, may: str
) -> None:
    want = rule(1).replace(role="worker")
    ops, unmanaged = diff_target([want], [aimed(rule(1), reaches, may)])
    assert [(type(op), op.rule) for op in ops] == [(CreateRuleOp, want)]
    assert len(unmanaged) == 1


def test_of_two_rules_with_one_key_only_the_one_aimed_at_the_role_stands_for_it() -> None:
    want = rule(1).replace(role="worker")
    elsewhere = aimed(rule(1), "control-plane").replace(native_id="a")
    here = aimed(rule(1), "worker").replace(native_id="b")
    assert diff_target([want], [elsewhere, here])[0] == []
    ops, unmanaged = diff_target([want], [elsewhere, elsewhere.replace(native_id="c")])
    assert [type(op) for op in ops] == [CreateRuleOp]
    assert [r.native_id for r in unmanaged] == ["a", "c"]
    # An owned copy counts wherever it is aimed: portsync wrote it for this target.
    mine = rule(1).replace(native_id="d", extra=((REACHES, "control-plane"),))
    ops, _ = diff_target([want.replace(extra=mine.extra)], [elsewhere, mine])
    assert ops == []


def test_exclusive_keeps_an_unmanaged_rule_surely_aimed_at_other_machines() -> None:
    want = rule(1).replace(role="worker")
    other = aimed(rule(2), "control-plane").replace(role="worker")
    maybe = aimed(rule(3), "control-plane", "worker").replace(role="worker")
    ours = aimed(rule(4), "worker").replace(role="worker")
    ops, unmanaged = diff_target([want], [want, other, maybe, ours], mode="exclusive")
    assert sorted(op.rule.ports.from_port for op in ops if op.rule.ports) == [3, 4]
    assert all(isinstance(op, DeleteRuleOp) for op in ops)
    assert unmanaged == [other]


def test_adopting_a_legacy_rule_says_so_and_names_the_owner() -> None:
    legacy = rule(1).replace(legacy=True, native_id="sgr-1")
    ops, _ = diff_target([rule(1)], [legacy], owner="own-1")
    assert len(ops) == 1 and isinstance(ops[0], UpdateRuleOp)
    assert ops[0].reason == (
        "adopt a rule an earlier portsync release wrote ('portsync: x') as owner own-1"
    )
    assert ops[0].after.owner == "own-1" and ops[0].after.owned
    stale = rule(1, desc="portsync: old").replace(legacy=True)
    ops, _ = diff_target([rule(1)], [stale])
    assert ops[0].reason == (
        "adopt a rule an earlier portsync release wrote ('portsync: old'); "
        "description is 'portsync: old', wanted 'portsync: x'"
    )


def test_changes_come_out_in_key_order_whatever_the_order_read() -> None:
    desired = [rule(p) for p in (5, 1, 4, 2, 3)]
    live = [rule(p, desc="portsync: old") for p in (3, 5)] + [rule(p) for p in (9, 7, 8)]
    ops, _ = diff_target(desired, live)
    assert [(type(op).__name__, op.rule.ports.from_port) for op in ops if op.rule.ports] == [
        ("CreateRuleOp", 1),
        ("CreateRuleOp", 2),
        ("UpdateRuleOp", 3),
        ("CreateRuleOp", 4),
        ("UpdateRuleOp", 5),
        ("DeleteRuleOp", 7),
        ("DeleteRuleOp", 8),
        ("DeleteRuleOp", 9),
    ]
