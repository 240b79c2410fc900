"""Diff is set algebra on stable keys.

``desired − live`` → create; ``live − desired`` → delete if this owner owns it (per mode),
otherwise report as unmanaged or as another owner's; ``both`` → compare descriptions. Every live rule is looked at; findings are
logged at INFO in sorted order.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence

from portsync.evaluate import Match, covering_rules, reach_of
from portsync.model import Endpoint, RuleKey, TargetRule
from portsync.ops import CreateRuleOp, DeleteRuleOp, Op, Satisfied, UpdateRuleOp
from portsync.peers import strip_marker

__all__ = ["MODES", "diff_target", "final_state", "settle_covered", "untouched"]

log = logging.getLogger(__name__)

MODES = ("additive", "owned", "exclusive")


def diff_target(
    desired: Sequence[TargetRule],
    live: Sequence[TargetRule],
    *,
    mode: str = "owned",
    owner: str | None = None,
    markers: Sequence[str] = (),
) -> tuple[list[Op], list[TargetRule]]:
    """Compare one target's desired and live rules.

    Ownership comes from the provider, which read each live rule's owner identity back from the
    cloud: ``owned`` rules are the current owner's; a rule with another ``owner`` belongs to
    another portsync owner and is never changed or removed, in any mode; every other rule is
    unmanaged. ``exclusive`` removes unmanaged rules only in the directions the desired rules
    cover on this target, so a target with ingress rules only keeps its egress rules; and never
    a ``legacy`` rule (an earlier release's, perhaps another config's, waiting to be adopted).

    A live rule that is not the owner's stands for a wanted rule of the same key only when it is
    surely aimed at the wanted rule's role (:func:`~portsync.evaluate.reach_of`: Azure rules
    say which roles their destination holds); ``exclusive`` never removes a rule surely aimed at
    other machines than its target role's.

    ``owner`` is the current owner: an adopted legacy rule (owned, but carrying no identity yet)
    gets an update that writes it. ``markers``: the description prefixes the provider writes
    in front of a purpose (its :class:`~portsync.peers.CloudSyntax`), left out of reasons.

    Returns:
        ``(ops, unmanaged)``: the operations that make live match desired under ``mode``, and the
        live rules portsync leaves alone (unmanaged or another owner's), each once: a rule this
        plan removes is not listed again.

    Raises:
        ValueError: unknown mode.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    # A plan diffs every rule of a fleet, and nearly all of them are in place: each key is looked
    # at once, in the order read, and only the few that change something are sorted (ops and
    # log lines come out in key order, as if every key had been visited sorted).
    wanted: dict[RuleKey, TargetRule] = {}
    for rule in desired:
        if rule.key not in wanted:
            wanted[rule.key] = rule
    directions = {rule.direction for rule in wanted.values()}
    present: dict[RuleKey, TargetRule] = {}
    more: dict[RuleKey, list[TargetRule]] = {}  # every rule of a key read more than once
    for rule in live:
        key = rule.key
        first = present.get(key)
        if first is None:
            present[key] = rule
        elif key in more:
            more[key].append(rule)
        else:
            more[key] = [first, rule]

    changed: list[tuple[RuleKey, TargetRule, list[TargetRule]]] = []
    for key, want in wanted.items():
        first = present.get(key)
        if first is not None and not (more and key in more):
            if first.owned:
                if (
                    first.legacy
                    or first.description != want.description
                    or first.extra != want.extra
                ):
                    changed.append((key, want, [first]))
            elif reach_of(first, want.role) is not Match.YES:
                changed.append((key, want, []))
            continue
        # Someone else's rule with the same key stands for the wanted one only when it is aimed
        # at the role's machines (an Azure rule for another subnet is not).
        found = [r for r in more.get(key, ()) if r.owned or reach_of(r, want.role) is Match.YES]
        changed.append((key, want, found))

    ops: list[Op] = []
    changed.sort()  # by key: keys are unique, so no two entries compare further
    for key, want, found in changed:
        owned = [r for r in found if r.owned]
        if not found:
            log.info("missing %s", key)
            ops.append(CreateRuleOp(want, _reason_add(want, markers)))
        elif owned:
            keep = owned[0]
            adopt = keep.legacy
            if (
                adopt
                or keep.description != want.description
                or (keep.extra != want.extra and _compared(keep) != _compared(want))
            ):
                log.info("stale attributes %s", key)
                reason = _reason_update(keep, want)
                if adopt:
                    reason = "; ".join(p for p in (_reason_adopt(keep, owner), reason) if p)
                ops.append(
                    UpdateRuleOp(
                        keep,
                        want.replace(native_id=keep.native_id, owned=True, owner=owner),
                        reason,
                    )
                )
            if mode != "additive":
                for extra in owned[1:]:
                    ops.append(DeleteRuleOp(extra, "duplicate of another portsync rule"))

    # Live rules: an owned rule of a wanted key was dealt with above; every other rule is
    # removed or left alone.
    unmanaged: list[TargetRule] = []
    # Keys read but not wanted (the dicts' stored hashes, no key hashed again), with those of
    # rules that are not the owner's and of keys read more than once.
    left = sorted(
        (present.keys() - wanted.keys()).union(
            [key for key, rule in present.items() if not rule.owned], more
        )
    )
    for key in left:
        for rule in more.get(key) or (present[key],):
            if rule.owned:
                if key not in wanted and mode != "additive":
                    log.info("unwanted %s", key)
                    ops.append(DeleteRuleOp(rule, "owned by portsync but no longer wanted"))
            elif (
                rule.owner is None
                and not rule.legacy
                and mode == "exclusive"
                and key not in wanted
                and rule.direction in directions
                and reach_of(rule, rule.role) is not Match.NO
            ):
                ops.append(DeleteRuleOp(rule, "unmanaged rule removed in exclusive mode"))
            else:
                unmanaged.append(rule)
    return ops, unmanaged


#: ``extra`` keys that start with this are facts a provider read about a live rule (its priority
#: in an Azure NSG): shown and evaluated, never a reason to rewrite the rule.
LIVE_ONLY = "live."


def _compared(rule: TargetRule) -> tuple[tuple[str, str], ...]:
    return tuple(item for item in rule.extra if not item[0].startswith(LIVE_ONLY))


def _reason_adopt(live: TargetRule, owner: str | None) -> str:
    whom = f" as owner {owner}" if owner else ""
    return f"adopt a rule an earlier portsync release wrote ({live.description!r}){whom}"


def _reason_update(live: TargetRule, want: TargetRule) -> str:
    parts = []
    if live.description != want.description:
        parts.append(f"description is {live.description!r}, wanted {want.description!r}")
    before, after = dict(_compared(live)), dict(_compared(want))
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            parts.append(f"{name} is {before.get(name)!r}, wanted {after.get(name)!r}")
    return "; ".join(parts)


def _reason_add(rule: TargetRule, markers: Sequence[str]) -> str:
    origin = f" (from {rule.origin})" if rule.origin else ""
    # The marker says who wrote the rule; the reason is about its purpose.
    what = strip_marker(rule.description, markers) if rule.description else "wanted rule"
    return f"missing: {what}{origin}"


def final_state(live: Sequence[TargetRule], ops: Sequence[Op]) -> list[TargetRule]:
    """The rules a target would hold after ``ops``: removals gone, updates in their new form,
    additions at the end. Rules no op touches are the live objects themselves."""
    removed = {(op.rule.key, op.rule.native_id) for op in ops if isinstance(op, DeleteRuleOp)}
    updated = {
        (op.before.key, op.before.native_id): op.after for op in ops if isinstance(op, UpdateRuleOp)
    }
    out = [
        updated.get((r.key, r.native_id), r) for r in live if (r.key, r.native_id) not in removed
    ]
    out.extend(op.rule for op in ops if isinstance(op, CreateRuleOp))
    return out


def untouched(final: Sequence[TargetRule], live: Sequence[TargetRule] | None) -> bool:
    """Whether ``final`` (from :func:`final_state`) is ``live`` exactly as read — the same rule
    objects in the same order — so a plan leaves the target as the cloud already holds it.
    Identity makes this exact and cheaper than comparing every rule."""
    if live is None or len(final) != len(live):
        return False
    return all(a is b for a, b in zip(final, live, strict=True))


def settle_covered(
    ops: Sequence[Op],
    live: Sequence[TargetRule],
    *,
    members: Mapping[Endpoint, Collection[Endpoint]] | None = None,
    also: Sequence[TargetRule] = (),
) -> tuple[list[Op], list[Satisfied]]:
    """Drop the additions that live rules already cover (coverage, not equality).

    Only rules that survive the plan count: a rule this plan removes (owned and no longer
    wanted, or unmanaged in exclusive mode) covers nothing, so removing a broad rule and adding
    the narrow wanted one stay together. When the covering rule later disappears, the next plan
    adds portsync's own rule.

    ``also``: the live rules of the other groups the target's machines are in (a role bound to
    several); they cover as the target's own do. ``members``: see
    :func:`~portsync.evaluate.covering_rules`.

    Returns:
        ``(ops, satisfied)``: the operations left, and each dropped addition with the live rules
        that cover it.
    """
    if not any(isinstance(op, CreateRuleOp) for op in ops):
        return list(ops), []  # nothing to settle (most targets of a plan)
    surviving = final_state(live, [op for op in ops if not isinstance(op, CreateRuleOp)])
    surviving.extend(also)
    others = {r.target for r in also}
    kept: list[Op] = []
    satisfied: list[Satisfied] = []
    for op in ops:
        if isinstance(op, CreateRuleOp):
            by = covering_rules(op.rule, surviving, members=members, targets=others)
            if by:
                log.info("satisfied %s by %d live rules", op.rule.key, len(by))
                satisfied.append(Satisfied(op.rule, by))
                continue
        kept.append(op)
    return kept, satisfied
