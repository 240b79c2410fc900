"""Coverage, not equality: when live rules already admit a wanted rule (portsync.evaluate)."""

from __future__ import annotations

import logging

import pytest

from portsync.diff import diff_target, settle_covered
from portsync.evaluate import covering_rules
from portsync.model import Direction, Endpoint, PortRange, Protocol, TargetRule
from portsync.ops import CreateRuleOp, DeleteRuleOp
from portsync.providers.aws.peers import GROUP

SG_CP = Endpoint(GROUP, "sg-cp")
SG_NODE = Endpoint(GROUP, "sg-node")
SG_LB = Endpoint(GROUP, "sg-lb")


def _rule(
    ports: tuple[int, int] | None,
    peer: Endpoint,
    *,
    protocol: Protocol = Protocol.TCP,
    direction: Direction = Direction.INGRESS,
    target: str = "sg-cp",
    owned: bool = False,
    extra: tuple[tuple[str, str], ...] = (),
) -> TargetRule:
    return TargetRule(
        target=target,
        role="control-plane",
        direction=direction,
        protocol=protocol,
        ports=PortRange(*ports) if ports else None,
        peer=peer,
        owned=owned,
        extra=extra,
    )


WANT_ETCD = _rule((2379, 2380), SG_CP, owned=True)


def test_covering_rules_all_protocols_from_same_group_covers_tcp_range() -> None:
    everything = _rule(None, SG_CP, protocol=Protocol.ALL)
    assert covering_rules(WANT_ETCD, [everything]) == (everything,)


def test_covering_rules_two_single_ports_cover_the_range_together() -> None:
    a, b = _rule((2379, 2379), SG_CP), _rule((2380, 2380), SG_CP)
    assert covering_rules(WANT_ETCD, [b, a]) == (a, b)


def test_covering_rules_gap_in_ports_is_not_covered() -> None:
    assert covering_rules(WANT_ETCD, [_rule((2379, 2379), SG_CP)]) == ()
    # kops opens 1-2379 and 2382-4000 from nodes: 2380 is the gap.
    assert covering_rules(WANT_ETCD, [_rule((1, 2379), SG_CP), _rule((2382, 4000), SG_CP)]) == ()


def test_covering_rules_other_peer_protocol_direction_or_target_do_not_cover() -> None:
    assert covering_rules(WANT_ETCD, [_rule((1, 65535), SG_NODE)]) == ()
    assert covering_rules(WANT_ETCD, [_rule((1, 65535), SG_CP, protocol=Protocol.UDP)]) == ()
    assert covering_rules(WANT_ETCD, [_rule((1, 65535), SG_CP, direction=Direction.EGRESS)]) == ()
    assert covering_rules(WANT_ETCD, [_rule((1, 65535), SG_CP, target="sg-other")]) == ()


def test_covering_rules_wider_cidr_covers_narrower_but_not_the_reverse() -> None:
    want = _rule((6443, 6443), Endpoint.cidr("203.0.113.0/24"))
    assert covering_rules(want, [_rule((443, 6443), Endpoint.cidr("203.0.0.0/16"))])
    assert covering_rules(want, [_rule((6443, 6443), Endpoint.cidr("203.0.113.0/25"))]) == ()
    assert covering_rules(want, [_rule((6443, 6443), Endpoint.cidr("2001:db8::/32"))]) == ()


def test_covering_rules_every_address_covers_a_group_peer() -> None:
    assert covering_rules(WANT_ETCD, [_rule((1, 65535), Endpoint.cidr("0.0.0.0/0"))])


def test_covering_rules_group_the_roles_machines_are_in_covers_self() -> None:
    live = [_rule(None, SG_LB, protocol=Protocol.ALL)]
    assert covering_rules(WANT_ETCD, live) == ()
    assert covering_rules(WANT_ETCD, live, members={SG_CP: {SG_LB}}) == tuple(live)


def test_covering_rules_a_deny_rule_touching_the_flow_means_not_covered() -> None:
    allow = _rule(None, SG_CP, protocol=Protocol.ALL, extra=(("gcp.priority", "1000"),))
    deny = _rule((2380, 2380), SG_CP, extra=(("gcp.action", "deny"), ("gcp.priority", "900")))
    assert covering_rules(WANT_ETCD, [allow]) == (allow,)
    assert covering_rules(WANT_ETCD, [allow, deny]) == ()


@pytest.mark.parametrize("mode", ["additive", "owned", "exclusive"])
def test_settle_covered_drops_covered_additions_and_keeps_the_rest(mode: str) -> None:
    cover = _rule(None, SG_CP, protocol=Protocol.ALL)
    api = _rule((6443, 6443), Endpoint.cidr("203.0.113.0/24"), owned=True)
    desired = [WANT_ETCD, api]
    ops, _unmanaged = diff_target(desired, [cover], mode=mode)
    if mode == "exclusive":
        # Exclusive removes the unmanaged broad rule, so it covers nothing: both are added.
        kept, satisfied = settle_covered(ops, [cover])
        assert satisfied == []
        assert {op.rule.key for op in kept if isinstance(op, CreateRuleOp)} == {
            WANT_ETCD.key,
            api.key,
        }
        assert [op.rule for op in kept if isinstance(op, DeleteRuleOp)] == [cover]
        return
    kept, satisfied = settle_covered(ops, [cover])
    assert [op.rule.key for op in kept] == [api.key]
    assert [(s.rule.key, s.by) for s in satisfied] == [(WANT_ETCD.key, (cover,))]


def test_settle_covered_owned_rule_being_removed_covers_nothing() -> None:
    # portsync once wrote 2379-2381; now 2379-2380 is wanted: the old rule goes, the new one is
    # added, never "satisfied" by a rule the same plan removes.
    old = _rule((2379, 2381), SG_CP, owned=True)
    ops, _ = diff_target([WANT_ETCD], [old], mode="owned")
    kept, satisfied = settle_covered(ops, [old])
    assert satisfied == []
    assert sorted(op.action.value for op in kept) == ["add", "remove"]


def test_settle_covered_counts_a_group_the_role_s_machines_are_members_of() -> None:
    """A rule from sg-lb admits the nodes when the nodes are also members of sg-lb: only the
    provider knows, and says so through ``members``."""
    want = _rule((10250, 10250), SG_NODE, owned=True)
    cover = _rule((10250, 10250), SG_LB)
    ops, _ = diff_target([want], [cover])
    kept, satisfied = settle_covered(ops, [cover])
    assert ([op.rule for op in kept], satisfied) == ([want], [])
    kept, satisfied = settle_covered(ops, [cover], members={SG_NODE: [SG_LB]})
    assert (kept, [(s.rule, s.by) for s in satisfied]) == ([], [(want, (cover,))])


def test_settle_covered_logs_each_addition_it_drops(caplog: pytest.LogCaptureFixture) -> None:
    cover = _rule(None, SG_CP, protocol=Protocol.ALL)
    ops, _ = diff_target([WANT_ETCD], [cover])
    with caplog.at_level(logging.INFO, logger="portsync.diff"):
        settle_covered(ops, [cover])
    assert [r.getMessage() for r in caplog.records if "satisfied" in r.getMessage()] == [
        f"satisfied {WANT_ETCD.key} by 1 live rules"
    ]


# --- decide and admits: the evaluator explain and lifelines share ------------------------------


def _flow_rule(
    ports: tuple[int, int] | None,
    peer: str,
    *,
    access: str = "allow",
    priority: int | None = None,
    protocol: str = "tcp",
) -> TargetRule:
    from portsync.model import Endpoint, PortRange, Protocol

    extra: list[tuple[str, str]] = []
    if access == "deny":
        extra.append(("live.access", "deny"))
    if priority is not None:
        extra.append(("priority", str(priority)))
    return TargetRule(
        target="t",
        protocol=Protocol(protocol),
        ports=PortRange(*ports) if ports else None,
        peer=Endpoint.parse(peer),
        extra=tuple(sorted(extra)),
    )


def test_admits_a_deny_ahead_blocks_a_deny_behind_does_not() -> None:
    from portsync.evaluate import admits

    flow = _flow_rule((22, 22), "cidr:10.9.1.0/24")
    allow = _flow_rule((22, 22), "cidr:10.9.0.0/16", priority=1000)
    assert admits(flow, [allow])
    assert not admits(
        flow, [allow, _flow_rule((22, 22), "cidr:10.0.0.0/8", access="deny", priority=500)]
    )
    assert admits(
        flow, [allow, _flow_rule((22, 22), "cidr:10.0.0.0/8", access="deny", priority=2000)]
    )
    # Equal priorities: the deny rule wins, as on GCP.
    assert not admits(
        flow, [allow, _flow_rule((22, 22), "cidr:10.0.0.0/8", access="deny", priority=1000)]
    )
    # A deny for another source or port does not touch the flow.
    assert admits(
        flow, [allow, _flow_rule((22, 22), "cidr:192.0.2.0/24", access="deny", priority=1)]
    )
    assert admits(flow, [allow, _flow_rule((23, 23), "cidr:10.0.0.0/8", access="deny", priority=1)])


def test_admits_a_range_only_when_every_piece_of_it_passes() -> None:
    from portsync.evaluate import admits

    flow = _flow_rule((2379, 2380), "cidr:10.0.1.0/24")
    assert admits(
        flow,
        [
            _flow_rule((2379, 2379), "cidr:10.0.0.0/16"),
            _flow_rule((2380, 2390), "cidr:10.0.0.0/16"),
        ],
    )
    assert not admits(flow, [_flow_rule((2379, 2379), "cidr:10.0.0.0/16")])
    whole = _flow_rule((2000, 3000), "cidr:10.0.0.0/16", priority=1000)
    hole = _flow_rule((2380, 2380), "cidr:10.0.1.0/24", access="deny", priority=900)
    assert admits(flow, [whole]) and not admits(flow, [whole, hole])
    # A rule for every protocol admits, a partial peer does not.
    assert admits(flow, [_flow_rule(None, "cidr:0.0.0.0/0", protocol="all")])
    assert not admits(flow, [_flow_rule((2379, 2380), "cidr:10.0.1.0/25")])


def test_settle_covered_counts_the_rules_of_the_role_s_other_groups() -> None:
    """A role bound to two groups (sg-cp and sg-cp-extra): a rule in the other group admits the
    same machines, so it covers; the same rule on an unrelated target does not."""
    cover = _rule(None, SG_CP, protocol=Protocol.ALL, target="sg-cp-extra")
    ops, _ = diff_target([WANT_ETCD], [])
    kept, satisfied = settle_covered(ops, [], also=[cover])
    assert kept == [] and [(s.rule, s.by) for s in satisfied] == [(WANT_ETCD, (cover,))]
    # Without it among ``also`` (only the target's own rules count), the addition stays.
    kept, satisfied = settle_covered(ops, [cover])
    assert [op.rule for op in kept] == [WANT_ETCD] and satisfied == []


def test_settle_covered_leaves_a_target_with_nothing_to_add_as_it_is() -> None:
    old = _rule((22, 22), SG_CP, owned=True)
    ops, _ = diff_target([], [old])
    assert [type(op) for op in ops] == [DeleteRuleOp]
    kept, satisfied = settle_covered(ops, [old], also=[_rule(None, SG_CP, protocol=Protocol.ALL)])
    assert (kept, satisfied) == (ops, [])
    assert settle_covered([], [old]) == ([], [])
