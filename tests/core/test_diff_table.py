"""The diff as one table: wanted or not × what is live on the key × mode → the exact operations.

Each row names the operations by type, native id and ownership, so a change that deletes the
wrong copy (an unmanaged rule instead of a duplicate of portsync's own) fails here even when the
number and kind of operations stay the same. The properties below hold for any mix of rules.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portsync.diff import MODES, diff_target, final_state
from portsync.model import Direction, Endpoint, PortRange, Protocol, TargetRule
from portsync.ops import CreateRuleOp, DeleteRuleOp, Op, UpdateRuleOp
from portsync.peers import syntax

PORT = 6443


def _rule(
    native_id: str | None = None,
    *,
    owned: bool = True,
    port: int = PORT,
    peer: str = "cidr:10.0.0.0/8",
    description: str = "portsync: api",
    extra: tuple[tuple[str, str], ...] = (),
) -> TargetRule:
    return TargetRule(
        target="sg-1",
        role="control-plane",
        protocol=Protocol.TCP,
        ports=PortRange(port, port),
        peer=Endpoint.parse(peer),
        description=description,
        owned=owned,
        native_id=native_id,
        extra=extra,
    )


WANT = _rule()
OWNED_1 = _rule("own-1")
OWNED_2 = _rule("own-2")
UNMANAGED = _rule("hand-1", owned=False, description="opened by hand")
#: Another wanted rule, live and owned: it makes the table's direction (ingress) one the rule
#: set manages, so exclusive mode applies to it, and it never causes an operation itself.
ANCHOR = _rule(port=22, description="portsync: ssh")
ANCHOR_LIVE = _rule("own-anchor", port=22, description="portsync: ssh")

#: What can be live on the one key the table is about.
#: ANOTHER OWNER: when a live rule carries the identity of the portsync owner that wrote it, the
#: rule of another owner gets its rows here (alone, and beside an owned rule in both orders):
#: reported, never deleted, never taken for a duplicate, in every mode.
LIVE: dict[str, tuple[TargetRule, ...]] = {
    "none": (),
    "owned": (OWNED_1,),
    "unmanaged": (UNMANAGED,),
    "owned+owned": (OWNED_1, OWNED_2),
    "owned+unmanaged": (OWNED_1, UNMANAGED),
    "unmanaged+owned": (UNMANAGED, OWNED_1),
}

ADD = ("add", None, True)  # the wanted rule, created: no native id yet, owned by portsync


def _del(rule: TargetRule) -> tuple[str, str | None, bool]:
    return ("remove", rule.native_id, rule.owned)


# (wanted, live state) → {mode: exact ops}. Ops are (action, native id, owned).
TABLE: dict[tuple[bool, str], dict[str, list[tuple[str, str | None, bool]]]] = {
    (True, "none"): {"additive": [ADD], "owned": [ADD], "exclusive": [ADD]},
    (True, "owned"): {"additive": [], "owned": [], "exclusive": []},
    # A rule someone else made already lets the traffic in: no duplicate, nothing removed.
    (True, "unmanaged"): {"additive": [], "owned": [], "exclusive": []},
    # portsync's own duplicate goes (the first copy stays) — except in additive mode.
    (True, "owned+owned"): {
        "additive": [],
        "owned": [_del(OWNED_2)],
        "exclusive": [_del(OWNED_2)],
    },
    # portsync keeps its own copy; the unmanaged one is never taken for a duplicate.
    (True, "owned+unmanaged"): {"additive": [], "owned": [], "exclusive": []},
    (True, "unmanaged+owned"): {"additive": [], "owned": [], "exclusive": []},
    (False, "none"): {"additive": [], "owned": [], "exclusive": []},
    (False, "owned"): {"additive": [], "owned": [_del(OWNED_1)], "exclusive": [_del(OWNED_1)]},
    (False, "unmanaged"): {"additive": [], "owned": [], "exclusive": [_del(UNMANAGED)]},
    (False, "owned+owned"): {
        "additive": [],
        "owned": [_del(OWNED_1), _del(OWNED_2)],
        "exclusive": [_del(OWNED_1), _del(OWNED_2)],
    },
    (False, "owned+unmanaged"): {
        "additive": [],
        "owned": [_del(OWNED_1)],
        "exclusive": [_del(OWNED_1), _del(UNMANAGED)],
    },
    (False, "unmanaged+owned"): {
        "additive": [],
        "owned": [_del(OWNED_1)],
        "exclusive": [_del(UNMANAGED), _del(OWNED_1)],
    },
}

CASES = [
    pytest.param(
        wanted, state, mode, expected, id=f"{'wanted' if wanted else 'unwanted'}-{state}-{mode}"
    )
    for (wanted, state), by_mode in TABLE.items()
    for mode, expected in by_mode.items()
]


def _shape(ops: Sequence[Op]) -> list[tuple[str, str | None, bool]]:
    return [(op.action.value, op.rule.native_id, op.rule.owned) for op in ops]


def test_table_covers_every_mode_and_live_state() -> None:
    assert {mode for by_mode in TABLE.values() for mode in by_mode} == set(MODES)
    assert {key for key in TABLE} == {(w, s) for w in (True, False) for s in LIVE}


@pytest.mark.parametrize(("wanted", "state", "mode", "expected"), CASES)
def test_diff_table(
    wanted: bool, state: str, mode: str, expected: list[tuple[str, str | None, bool]]
) -> None:
    live = LIVE[state]
    ops, unmanaged = diff_target(
        [ANCHOR, WANT] if wanted else [ANCHOR], (ANCHOR_LIVE, *live), mode=mode
    )
    assert _shape(ops) == expected
    # Every unmanaged rule shows up once: removed (exclusive mode) or reported as left alone.
    removed = [op.rule for op in ops if isinstance(op, DeleteRuleOp)]
    assert unmanaged == [r for r in live if not r.owned and r not in removed]
    created = [op for op in ops if isinstance(op, CreateRuleOp)]
    assert all(op.rule is WANT for op in created)


# -- stale attributes: updates happen in place, on portsync's own copy only ---------------------

STALE = _rule("own-1", description="portsync: old text")


@pytest.mark.parametrize("mode", MODES)
def test_stale_description_updates_the_owned_copy_in_place(mode: str) -> None:
    ops, _ = diff_target([WANT], [UNMANAGED, STALE], mode=mode)
    assert len(ops) == 1 and isinstance(ops[0], UpdateRuleOp)
    update = ops[0]
    assert update.before is STALE
    assert (update.after.native_id, update.after.owned) == ("own-1", True)
    assert update.after.description == WANT.description
    assert update.reason == "description is 'portsync: old text', wanted 'portsync: api'"


def test_update_keeps_portsync_ownership_of_the_rule_it_rewrites() -> None:
    """The rewritten rule is portsync's even when the desired copy came without the flag: an
    update that dropped it would turn portsync's own rule into an "unmanaged" one."""
    desired = _rule(owned=False, description="portsync: new")
    ops, _ = diff_target([desired], [OWNED_1])
    assert [(type(op), op.rule.native_id, op.rule.owned) for op in ops] == [
        (UpdateRuleOp, "own-1", True)
    ]


def test_stale_extra_attribute_is_updated_and_named_in_the_reason() -> None:
    live = _rule("own-1", extra=(("priority", "1001"),))
    want = _rule(extra=(("priority", "1000"),))
    ops, _ = diff_target([want], [live])
    assert len(ops) == 1 and isinstance(ops[0], UpdateRuleOp)
    assert ops[0].after.extra == (("priority", "1000"),)
    assert ops[0].reason == "priority is '1001', wanted '1000'"


def test_extra_attribute_gained_or_lost_is_named_in_the_reason() -> None:
    ops, _ = diff_target([_rule(extra=(("logging", "on"),))], [OWNED_1])
    assert [op.reason for op in ops] == ["logging is None, wanted 'on'"]
    ops, _ = diff_target([WANT], [_rule("own-1", extra=(("logging", "on"),))])
    assert [op.reason for op in ops] == ["logging is 'on', wanted None"]


def test_only_the_first_desired_copy_of_a_key_counts() -> None:
    first, second = _rule(description="portsync: first"), _rule(description="portsync: second")
    ops, _ = diff_target([first, second], [])
    assert [op.rule for op in ops] == [first]


# -- reasons people read in the plan ------------------------------------------------------------


def test_reason_for_an_addition_names_the_purpose_without_the_marker_and_the_origin() -> None:
    # The markers are the providers' own (their CloudSyntax), passed in by the engine.
    aws, gcp = syntax("aws").markers, syntax("gcp").markers
    want = _rule(description="portsync: kube-apiserver").replace(origin="role:worker")
    reason = diff_target([want], [], markers=aws)[0][0].reason
    assert reason == "missing: kube-apiserver (from role:worker)"
    bare = _rule(description="[portsync] etcd")
    assert diff_target([bare], [], markers=gcp)[0][0].reason == "missing: etcd"
    # Another cloud's marker is part of the purpose: only the rule's own provider's is dropped.
    assert diff_target([bare], [], markers=aws)[0][0].reason == "missing: [portsync] etcd"
    assert diff_target([_rule(description="")], [])[0][0].reason == "missing: wanted rule"


def test_reasons_for_removals_say_why() -> None:
    ops, _ = diff_target([WANT], [OWNED_1, OWNED_2])
    assert [op.reason for op in ops] == ["duplicate of another portsync rule"]
    ops, _ = diff_target([ANCHOR], [ANCHOR_LIVE, OWNED_1, UNMANAGED], mode="exclusive")
    assert [op.reason for op in ops] == [
        "owned by portsync but no longer wanted",
        "unmanaged rule removed in exclusive mode",
    ]


def test_ops_come_in_key_order_across_keys() -> None:
    low, high = _rule(port=22), _rule(port=8080)
    ops, _ = diff_target([high, low], [], mode="owned")
    assert [op.rule.ports for op in ops] == [PortRange(22, 22), PortRange(8080, 8080)]
    ops, _ = diff_target([], [high.replace(native_id="b"), low.replace(native_id="a")])
    assert [op.rule.native_id for op in ops] == ["a", "b"]


# -- properties over any mix of rules -----------------------------------------------------------

_PORTS = st.sampled_from([22, 443, 6443])
_PEERS = st.sampled_from(["cidr:10.0.0.0/8", "cidr:192.168.0.0/16"])
_DESCRIPTIONS = st.sampled_from(["portsync: a", "portsync: b", "by hand"])


@st.composite
def _rules(draw: st.DrawFn, *, live: bool) -> list[TargetRule]:
    rules = []
    for i in range(draw(st.integers(0, 8))):
        rules.append(
            _rule(
                f"r-{i}" if live else None,
                owned=draw(st.booleans()) if live else True,
                port=draw(_PORTS),
                peer=draw(_PEERS),
                description=draw(_DESCRIPTIONS),
            )
        )
    return rules


PROPERTY = settings(max_examples=150, deadline=None)


@PROPERTY
@given(_rules(live=False), _rules(live=True))
def test_additive_never_deletes(desired: list[TargetRule], live: list[TargetRule]) -> None:
    ops, _ = diff_target(desired, live, mode="additive")
    assert not [op for op in ops if isinstance(op, DeleteRuleOp)]


@PROPERTY
@given(_rules(live=False), _rules(live=True), st.sampled_from(MODES))
def test_no_mode_leaves_a_wanted_key_without_a_copy(
    desired: list[TargetRule], live: list[TargetRule], mode: str
) -> None:
    ops, _ = diff_target(desired, live, mode=mode)
    kept = {r.key for r in final_state(live, ops)}
    assert {r.key for r in desired} <= kept


@PROPERTY
@given(_rules(live=False), _rules(live=True))
def test_exclusive_deletes_only_what_is_unwanted_or_a_duplicate_of_its_own(
    desired: list[TargetRule], live: list[TargetRule]
) -> None:
    ops, _ = diff_target(desired, live, mode="exclusive")
    wanted = {r.key for r in desired}
    for op in ops:
        if isinstance(op, DeleteRuleOp) and op.rule.key in wanted:
            # Only a second owned copy of a wanted key goes; the first owned copy stays.
            assert op.rule.owned
            owned_copies = [r for r in live if r.key == op.rule.key and r.owned]
            assert op.rule is not owned_copies[0]


@PROPERTY
@given(_rules(live=False), _rules(live=True), st.sampled_from(("additive", "owned")))
def test_owned_and_additive_never_touch_an_unmanaged_rule(
    desired: list[TargetRule], live: list[TargetRule], mode: str
) -> None:
    ops, unmanaged = diff_target(desired, live, mode=mode)
    touched = [op.before if isinstance(op, UpdateRuleOp) else op.rule for op in ops]
    assert all(r.owned for r in touched if r.native_id is not None)
    assert unmanaged == [r for r in sorted(live, key=lambda r: r.key) if not r.owned]


@PROPERTY
@given(_rules(live=False), _rules(live=True), st.sampled_from(("owned", "exclusive")))
def test_owned_and_exclusive_converge_on_one_owned_copy_per_wanted_key(
    desired: list[TargetRule], live: list[TargetRule], mode: str
) -> None:
    ops, _ = diff_target(desired, live, mode=mode)
    final = final_state(live, ops)
    wanted = {r.key for r in desired}
    owned_keys = [r.key for r in final if r.owned]
    assert len(owned_keys) == len(set(owned_keys))  # no owned duplicates left
    assert set(owned_keys) <= wanted  # nothing owned that is not wanted
    if mode == "exclusive" and desired:
        # The rule set manages the direction: exactly the wanted keys, no more.
        assert {r.key for r in final} == wanted
    # A second diff of the result finds nothing left to do.
    again, _ = diff_target(desired, final, mode=mode)
    assert again == []


# -- what a person reads: the log of findings, the reasons, the error for a bad mode --------------


def test_findings_are_logged_at_info_in_key_order(caplog: pytest.LogCaptureFixture) -> None:
    """``-v`` shows why a plan does what it does: one line per finding, naming the key."""
    missing, stale, unwanted = _rule(port=22), _rule(port=443), _rule("own-9", port=8080)
    live = [_rule("own-1", port=443, description="portsync: old"), unwanted]
    with caplog.at_level(logging.INFO, logger="portsync.diff"):
        diff_target([stale, missing], live)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, f"missing {missing.key}"),
        (logging.INFO, f"stale attributes {stale.key}"),
        (logging.INFO, f"unwanted {unwanted.key}"),
    ]


def test_a_stale_description_and_a_stale_extra_are_both_named() -> None:
    live = _rule("own-1", description="portsync: old", extra=(("priority", "9"),))
    want = _rule(extra=(("priority", "10"),))
    ops, _ = diff_target([want], [live])
    assert [op.reason for op in ops] == [
        "description is 'portsync: old', wanted 'portsync: api'; priority is '9', wanted '10'"
    ]


def test_an_unknown_mode_is_named_with_the_modes_there_are() -> None:
    with pytest.raises(ValueError) as exc:
        diff_target([], [], mode="sometimes")
    assert str(exc.value) == (
        "unknown mode 'sometimes'; expected one of ('additive', 'owned', 'exclusive')"
    )


# -- ownership by identity: another owner's rules and legacy rules -------------------------------

FOREIGN = _rule("theirs-1", owned=False).replace(owner="team-b")
EGRESS_HAND = TargetRule(
    target="sg-1",
    direction=Direction.EGRESS,
    protocol=Protocol.ALL,
    peer=Endpoint.parse("cidr:0.0.0.0/0"),
    owned=False,
    native_id="default-egress",
)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("wanted", [True, False])
def test_another_owners_rule_is_never_touched_and_listed_once(mode: str, wanted: bool) -> None:
    ops, unmanaged = diff_target(
        [ANCHOR, WANT] if wanted else [ANCHOR], [ANCHOR_LIVE, FOREIGN], mode=mode, owner="team-a"
    )
    assert all(op.rule is not FOREIGN for op in ops)
    assert unmanaged == [FOREIGN]


@pytest.mark.parametrize("mode", ["owned", "exclusive"])
def test_exclusive_leaves_directions_the_rule_set_has_no_rules_for(mode: str) -> None:
    """Issue item 4: ingress rules only, so the default egress stays (and is listed once)."""
    ops, unmanaged = diff_target([ANCHOR], [ANCHOR_LIVE, UNMANAGED, EGRESS_HAND], mode=mode)
    removed = [op.rule for op in ops if isinstance(op, DeleteRuleOp)]
    assert EGRESS_HAND not in removed
    assert unmanaged.count(EGRESS_HAND) == 1
    assert (UNMANAGED in removed) == (mode == "exclusive")
    assert (UNMANAGED in unmanaged) == (mode != "exclusive")


def test_exclusive_removes_unmanaged_egress_once_the_rule_set_has_egress_rules() -> None:
    want_egress = EGRESS_HAND.replace(
        protocol=Protocol.TCP, ports=PortRange(443, 443), owned=True, native_id=None
    )
    ops, unmanaged = diff_target([want_egress], [EGRESS_HAND], mode="exclusive")
    assert [(op.action.value, op.rule.native_id) for op in ops] == [
        ("add", None),
        ("remove", "default-egress"),
    ]
    assert unmanaged == []


def test_an_empty_rule_set_removes_nothing_unmanaged_in_exclusive_mode() -> None:
    ops, unmanaged = diff_target([], [UNMANAGED, EGRESS_HAND], mode="exclusive")
    assert ops == []
    assert sorted(r.native_id or "" for r in unmanaged) == ["default-egress", "hand-1"]


LEGACY = _rule("old-1", description="portsync: api").replace(owned=True, legacy=True)


def test_an_adopted_legacy_rule_is_rewritten_with_the_owner() -> None:
    ops, unmanaged = diff_target([WANT], [LEGACY], owner="team-a")
    (op,) = ops
    assert isinstance(op, UpdateRuleOp)
    assert op.before is LEGACY
    assert (op.after.owner, op.after.owned, op.after.legacy, op.after.native_id) == (
        "team-a",
        True,
        False,
        "old-1",
    )
    assert op.reason.startswith("adopt a rule an earlier portsync release wrote")
    assert unmanaged == []


def test_an_adopted_legacy_rule_no_longer_wanted_is_removed_as_owned() -> None:
    ops, _ = diff_target([], [LEGACY], owner="team-a")
    assert [(op.action.value, op.rule.native_id) for op in ops] == [("remove", "old-1")]


@PROPERTY
@given(_rules(live=False), _rules(live=True), st.sampled_from(MODES))
def test_every_live_rule_not_owned_is_either_removed_or_listed_exactly_once(
    desired: list[TargetRule], live: list[TargetRule], mode: str
) -> None:
    ops, unmanaged = diff_target(desired, live, mode=mode)
    removed = [op.rule for op in ops if isinstance(op, DeleteRuleOp)]
    for rule in live:
        if not rule.owned:
            assert removed.count(rule) + unmanaged.count(rule) == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_legacy_rule_not_adopted_is_left_alone_even_in_exclusive_mode(mode: str) -> None:
    legacy = _rule("old-2", owned=False, port=9999).replace(legacy=True)
    ops, unmanaged = diff_target([ANCHOR], [ANCHOR_LIVE, legacy], mode=mode)
    assert ops == []
    assert unmanaged == [legacy]
