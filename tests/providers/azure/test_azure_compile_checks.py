"""Azure compile's pure helpers at their edges: rule names at exactly 80 characters, a role cut
at a dash or left out, the numbered suffix of a taken name, the refusals of what a security
rule cannot hold (no role side, a peer Azure cannot name), the 1,000-rule limit at its value,
priorities in the band (its ends, an exact fit, the order rules moving into it take slots,
slots a removed rule leaves, whose rules count as others'), and which live rule a removal, an
update or an addition lands on (one of two copies, a rule gone on a fresher read, an adopted
rule of an earlier release, a rule removed in the same change). The usual paths are the golden
cases (tests/providers/azure/cases)."""

from __future__ import annotations

from typing import Any

import pytest

from portsync.errors import ConflictError, ProviderLimitError, UnsupportedFeatureError
from portsync.model import Endpoint, PortRange, TargetRule
from portsync.providers.azure import translate
from portsync.providers.azure.limits import MAX_NAME_LENGTH, MAX_RULES_PER_NSG
from portsync.providers.azure.translate import Change

from .test_azure_translate import STEM, _desired, _foreign, _layout, _served

#: tcp 2379-2380 on the control plane: ``tcp``, ``2379-2380`` and an 8-character hash are fixed.
ETCD = next(r for r in _desired() if r.ports_text == "2379-2380")
FIXED = len("tcp") + len("2379-2380") + 8 + 4  # and the four dashes between five parts


def test_a_long_role_is_cut_so_the_name_is_exactly_80_characters() -> None:
    name = translate.rule_name(STEM, ETCD.replace(role="abcdefghij" * 10))
    assert len(name) == MAX_NAME_LENGTH


def test_a_role_cut_at_a_dash_loses_the_dash() -> None:
    prefix = "p" * (MAX_NAME_LENGTH - FIXED - 3)  # room for three characters of the role
    name = translate.rule_name(prefix, ETCD.replace(role="ab-cdefgh"))
    digest = name.rsplit("-", 1)[1]
    assert name == f"{prefix}-ab-tcp-2379-2380-{digest}"


def test_no_room_for_the_role_leaves_it_out() -> None:
    prefix = "p" * (MAX_NAME_LENGTH - FIXED)
    name = translate.rule_name(prefix, ETCD)
    digest = name.rsplit("-", 1)[1]
    assert name == f"{prefix}-tcp-2379-2380-{digest}"


def test_a_taken_name_gets_2_first_and_a_cut_name_ends_clean() -> None:
    assert translate.unique_name("a", {"a"}) == "a-2"
    # Cut to make room for the suffix, the name would end in "-": it is dropped, and the
    # letters before it are kept whatever their case.
    name = "X" * 77 + "-ab"
    assert translate.unique_name(name, {name.lower()}) == "X" * 77 + "-2"


def test_a_rule_without_its_role_side_is_refused_naming_it() -> None:
    rule = ETCD.replace(extra=())
    with pytest.raises(UnsupportedFeatureError) as caught:
        translate.render(rule, name="r1", priority=1000)
    assert caught.value.message == f"rule {rule.key} has no role side to write (r1)"


def test_a_peer_azure_cannot_name_is_refused_with_the_way_out() -> None:
    rule = ETCD.replace(peer=Endpoint.parse("sg:sg-0a"))
    with pytest.raises(UnsupportedFeatureError) as caught:
        translate.render(rule, name="r1", priority=1000)
    assert caught.value.message == (
        "Azure security rules cannot name peer sg:sg-0a (target cp-nsg)"
    )
    assert caught.value.hint == "use a cidr: peer, the load-balancers peer, or a role bound by asg"


def _others(count: int) -> list[dict[str, Any]]:
    # Someone else's rules, below the band (1000-1999).
    return [_foreign(f"theirs-{i}", 100 + i) for i in range(count)]


def test_an_nsg_may_hold_exactly_1000_rules_and_not_1001() -> None:
    add = Change("cp-nsg", adds=(ETCD,))
    out = translate.compose(_others(MAX_RULES_PER_NSG - 1), [add], _layout())
    assert out is not None and len(out) == MAX_RULES_PER_NSG
    with pytest.raises(ProviderLimitError) as caught:
        translate.compose(_others(MAX_RULES_PER_NSG), [add], _layout())
    assert caught.value.message == (
        "NSG cp-nsg: the NSG would hold 1001 security rules, over Azure's limit of 1000 per "
        "network security group"
    )
    assert caught.value.hint == "remove rules, or bind some roles to another NSG"


def _owned(rule: TargetRule, priority: int) -> dict[str, Any]:
    return _served(translate.render(rule, name=translate.rule_name(STEM, rule), priority=priority))


def _priorities(out: list[dict[str, Any]] | None) -> dict[str, int]:
    assert out is not None
    return {str(r["name"]): int(r["properties"]["priority"]) for r in out}


def test_rules_at_either_end_of_the_band_stay_and_a_new_rule_takes_the_slot_between() -> None:
    api, etcd = sorted((r for r in _desired() if r.target == "cp-nsg"), key=lambda r: r.ports_text)[
        -1::-1
    ][:2]
    live = [_owned(api, 1000), _owned(etcd, 1002)]
    other = ETCD.replace(ports=PortRange(2381, 2381), description="[portsync] etcd metrics")
    out = translate.compose(live, [Change("cp-nsg", adds=(other,))], _layout(band=(1000, 1002)))
    got = _priorities(out)
    assert got[translate.rule_name(STEM, api)] == 1000
    assert got[translate.rule_name(STEM, etcd)] == 1002
    assert got[translate.rule_name(STEM, other)] == 1001


def test_new_rules_fit_when_free_priorities_are_exactly_enough() -> None:
    first, second = (r for r in _desired() if r.target == "cp-nsg")
    live = [_foreign("theirs", 1000)]
    out = translate.compose(
        live, [Change("cp-nsg", adds=(first, second))], _layout(band=(1000, 1002))
    )
    assert sorted(_priorities(out).values()) == [1000, 1001, 1002]


def test_rules_moving_into_the_band_take_slots_in_rule_order_not_nsg_order() -> None:
    first, second = sorted((r for r in _desired() if r.target == "cp-nsg"), key=lambda r: r.key)
    # Outside the band, listed in the reverse of their order.
    live = [_owned(second, 500), _owned(first, 501)]
    add = Change("cp-nsg", adds=(ETCD.replace(ports=PortRange(2381, 2381)),))
    got = _priorities(translate.compose(live, [add], _layout()))
    assert got[translate.rule_name(STEM, first)] == 1000
    assert got[translate.rule_name(STEM, second)] == 1001


def test_a_removed_rule_frees_its_slot_and_the_rules_after_it_keep_theirs() -> None:
    api = next(r for r in _desired() if r.target == "cp-nsg" and r.ports_text == "6443")
    gone = _owned(api, 1001)
    live = [gone, _foreign("theirs", 1000)]
    removed = next(r for r in translate.NsgLayout.expand(_layout(), gone) if r.owned)
    change = Change("cp-nsg", adds=(ETCD,), removes=(removed,))
    got = _priorities(translate.compose(live, [change], _layout(band=(1000, 1002))))
    assert got == {"theirs": 1000, translate.rule_name(STEM, ETCD): 1001}


def test_only_others_rules_are_counted_as_taking_the_band() -> None:
    api = next(r for r in _desired() if r.target == "cp-nsg" and r.ports_text == "6443")
    live = [_owned(api, 1000), _foreign("theirs", 1001)]
    with pytest.raises(ProviderLimitError) as caught:
        translate.compose(live, [Change("cp-nsg", adds=(ETCD,))], _layout(band=(1000, 1001)))
    assert caught.value.message == (
        "NSG cp-nsg: priority_band 1000-1001 has 0 free inbound priorities but portsync needs 1 "
        "(1 missing); 1 of the band's priorities are taken by rules portsync does not own"
    )
    assert caught.value.hint == (
        "widen priority_band, move the other rules out of the band, or remove rules"
    )


def test_an_outbound_refusal_counts_the_outbound_rules_of_others() -> None:
    """portsync's own outbound rule fills the band: none of it is others'."""
    node = translate.Binding("worker", "node-nsg", "node-nsg", ("10.0.2.0/24",))
    out_rule = next(r for r in _desired() if r.direction.value == "egress").replace(
        target="node-nsg"
    )
    more = out_rule.replace(peer=Endpoint.parse("cidr:10.0.0.0/8"))
    with pytest.raises(ProviderLimitError) as caught:
        translate.compose(
            [_owned(out_rule, 1000)],
            [Change("node-nsg", adds=(more,))],
            _layout(node, band=(1000, 1000)),
        )
    assert caught.value.message == (
        "NSG node-nsg: priority_band 1000-1000 has 0 free outbound priorities but portsync needs "
        "1 (1 missing); 0 of the band's priorities are taken by rules portsync does not own"
    )


def test_two_changes_to_one_target_are_refused() -> None:
    with pytest.raises(ConflictError) as caught:
        translate.compose([], [Change("cp-nsg", adds=(ETCD,)), Change("cp-nsg")], _layout())
    assert caught.value.message == "NSG cp-nsg: target cp-nsg changed twice"


def test_a_new_rule_whose_name_someone_took_in_other_case_is_numbered() -> None:
    """Azure compares rule names without case: a rule of someone else's already named as the
    new rule, in capitals, takes the plain name from it."""
    name = translate.rule_name(STEM, ETCD)
    theirs = _foreign(name.upper(), 100)
    got = _priorities(translate.compose([theirs], [Change("cp-nsg", adds=(ETCD,))], _layout()))
    assert set(got) == {name.upper(), f"{name}-2"}


# -- which live rule a removal, an update or an addition lands on --------------------------------

API = next(r for r in _desired() if r.target == "cp-nsg" and r.ports_text == "6443")


def _copy(rule: TargetRule, name: str, priority: int, **props: Any) -> dict[str, Any]:
    """A security rule holding ``rule`` under ``name`` (a second copy of portsync's own when the
    name carries the owner, someone else's rule when it does not)."""
    raw = _owned(rule, priority)
    raw["name"] = name
    raw["properties"].update(props)
    return raw


def _live(raw: dict[str, Any]) -> TargetRule:
    (rule,) = translate.NsgLayout.expand(_layout(), raw)
    return rule


def _names(out: list[dict[str, Any]] | None) -> list[str]:
    assert out is not None
    return [str(r["name"]) for r in out]


NAME = translate.rule_name(STEM, ETCD)


def test_removing_one_of_two_copies_by_name_keeps_the_other() -> None:
    first, second = _owned(ETCD, 1000), _copy(ETCD, f"{NAME}-2", 1001)
    out = translate.compose(
        [first, second], [Change("cp-nsg", removes=(_live(second),))], _layout()
    )
    assert _names(out) == [NAME]


def test_a_removed_rule_already_gone_takes_portsyncs_copies_of_its_key_only() -> None:
    """Re-composed on a fresh read, a removal whose rule is gone removes portsync's other rules
    of that key, never someone else's rule of that key nor portsync's rules of other keys."""
    live = [_owned(ETCD, 1000), _copy(ETCD, "theirs", 1001, description="x"), _owned(API, 1002)]
    gone = _live(live[0]).replace(native_id="renamed-meanwhile")
    out = translate.compose(live, [Change("cp-nsg", removes=(gone,))], _layout())
    assert _names(out) == ["theirs", translate.rule_name(STEM, API)]


def test_a_removed_rule_already_gone_whose_key_is_wanted_removes_nothing() -> None:
    live = [_owned(ETCD, 1000)]
    gone = _live(live[0]).replace(native_id="renamed-meanwhile")
    change = Change("cp-nsg", adds=(ETCD,), removes=(gone,))
    out = translate.compose(live, [change], _layout(wanted=frozenset({ETCD.key})))
    assert out is None


def test_an_update_lands_on_the_copy_it_names() -> None:
    first, second = _owned(ETCD, 1000), _copy(ETCD, f"{NAME}-2", 1001)
    after = ETCD.replace(description="[portsync] etcd, renamed")
    out = translate.compose(
        [first, second], [Change("cp-nsg", updates=((_live(second), after),))], _layout()
    )
    assert out is not None
    descriptions = {str(r["name"]): r["properties"]["description"] for r in out}
    assert descriptions == {
        NAME: "[portsync] etcd server client API",
        f"{NAME}-2": after.description,
    }


def test_an_update_whose_rule_is_gone_lands_on_portsyncs_rule_of_that_key() -> None:
    live = [_owned(ETCD, 1000)]
    gone = _live(live[0]).replace(native_id="renamed-meanwhile")
    after = ETCD.replace(description="[portsync] etcd, renamed")
    out = translate.compose(live, [Change("cp-nsg", updates=((gone, after),))], _layout())
    assert out is not None
    assert [(r["name"], r["properties"]["description"]) for r in out] == [(NAME, after.description)]


def test_an_update_with_nothing_left_of_its_key_adds_the_rule() -> None:
    gone = _live(_owned(ETCD, 1000))
    out = translate.compose([], [Change("cp-nsg", updates=((gone, ETCD),))], _layout())
    assert _names(out) == [NAME]


def test_an_addition_held_by_portsyncs_edited_rule_rewrites_it_and_the_next_is_added() -> None:
    """portsync's rule of the key, listed after someone else's rule, with source ports someone
    narrowed, is re-rendered (every source port again); the addition after it is still made."""
    live = [_foreign("theirs", 300), _copy(ETCD, NAME, 1000, sourcePortRange="1024-65535")]
    out = translate.compose(live, [Change("cp-nsg", adds=(ETCD, API))], _layout())
    assert out is not None
    ports = {str(r["name"]): r["properties"]["sourcePortRange"] for r in out}
    assert ports == {"theirs": "*", NAME: "*", translate.rule_name(STEM, API): "*"}


def test_a_rule_removed_in_the_same_change_does_not_stand_for_an_addition() -> None:
    theirs = _copy(ETCD, "theirs", 1000, description="x")
    change = Change("cp-nsg", adds=(ETCD,), removes=(_live(theirs),))
    assert _names(translate.compose([theirs], [change], _layout())) == [NAME]


def test_an_adopted_rule_of_an_earlier_release_is_written_again_under_the_owners_name() -> None:
    """With --adopt-legacy, a rule named with the prefix but no owner (an earlier release's)
    is portsync's: an addition or an update of its key drops it and writes the rule again
    under the owner's name, in the slot it leaves."""
    old = _copy(ETCD, "portsync-control-plane-etcd", 1000)
    layout = _layout(adopt_legacy=True)
    for change in (
        Change("cp-nsg", adds=(ETCD,)),
        Change("cp-nsg", updates=((next(iter(layout.expand(old))), ETCD),)),
    ):
        assert _priorities(translate.compose([old], [change], layout)) == {NAME: 1000}


def test_a_priority_that_is_not_a_number_is_not_taken_for_one() -> None:
    theirs = _copy(API, "theirs", 1000, description="x")
    theirs["properties"]["priority"] = "1000"
    out = translate.compose([theirs], [Change("cp-nsg", adds=(ETCD,))], _layout())
    assert _priorities(out)[NAME] == 1000
