"""One evaluator of live rules, shared by ``plan`` (coverage) and ``explain`` (reachability).

Two questions are asked of a target's rules, and both are answered here so the commands that ask
them can never disagree:

* :func:`match_peer` — does a rule's peer admit traffic from a source endpoint?
* :func:`covering_rules` — do the rules together already admit every flow a desired rule
  describes? ``plan`` does not add a rule that live rules already cover; ``explain`` answers
  ALLOWED for the same flows.

Where a provider reports access and priority (``extra`` keys ending in ``access``/``action`` and
``priority``), deny rules count: a flow that a deny rule may touch is never called covered, since
whether it passes depends on an order portsync does not control.

Where a provider reports which roles' machines a live rule is aimed at (``extra`` keys
:data:`REACHES` and :data:`MAY_REACH`, Azure: from a rule's destination), a rule counts for a
role only as far as it reaches the role's machines (:func:`reach_of`): an allow rule covers and
admits only when it surely reaches them, a deny rule blocks whenever it may.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from portsync.model import Endpoint, EndpointKind, Protocol, TargetRule
from portsync.peers import native_spec

__all__ = [
    "MAY_REACH",
    "REACHES",
    "Answer",
    "Contains",
    "EndpointAnswer",
    "Match",
    "RuleMatch",
    "access_of",
    "admits",
    "answers",
    "covering_rules",
    "decide",
    "match_peer",
    "priority_of",
    "reach_of",
]

#: ``TargetRule.extra`` key of a live rule: the roles (comma-separated) whose machines the rule's
#: role side surely holds. A rule without it applies to its own target's machines.
REACHES = "live.reaches"
#: ``TargetRule.extra`` key of a live rule: the roles whose machines the rule's role side may or
#: may not hold (portsync cannot tell).
MAY_REACH = "live.may_reach"


class Match(str, Enum):
    """How one rule's peer relates to one source endpoint."""

    YES = "yes"
    PARTIAL = "partial"
    UNKNOWN = "unknown"
    NO = "no"


def _net(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(value)


def match_peer(
    endpoint: Endpoint, peer: Endpoint, *, from_internet: bool = False
) -> tuple[Match, str]:
    """How a rule's ``peer`` relates to a source ``endpoint``, with a reason when not plain.

    Identity peers (security groups, network tags, service accounts, application security
    groups) match only traffic from their members' addresses inside the cloud network, never
    traffic from the internet: against a public source they do not match, against a private or
    mixed one portsync cannot tell.

    Args:
        endpoint: one resolved source endpoint.
        peer: the peer of a live rule.
        from_internet: the source was asked as ``any`` / ``internet``: traffic from the public
            internet, not from inside the network.

    Returns:
        The match and a short note (empty for plain yes/no).
    """
    from portsync.exposure import is_world

    if endpoint.kind is EndpointKind.CIDR:
        source = _net(endpoint.value)
        if peer.kind is EndpointKind.CIDR:
            allowed = _net(peer.value)
            if allowed.version != source.version:
                return Match.NO, ""
            if source.subnet_of(allowed):  # type: ignore[arg-type]
                return Match.YES, ""
            if source.overlaps(allowed):
                return Match.PARTIAL, f"only {allowed} of {source} is allowed"
            return Match.NO, ""
        spec = native_spec(peer.kind)
        if spec is not None and spec.addresses:
            value = peer.value.lower()
            if value in spec.everyone:
                return Match.YES, ""
            if value in spec.world:
                if is_world(endpoint):
                    return Match.YES, f"the {peer.value} {spec.noun} holds the public part of it"
                return Match.NO, ""
            if from_internet and value in spec.internal:
                return Match.NO, ""
            return Match.UNKNOWN, spec.unseen.format(value=peer.value)
        if from_internet or source.is_global:
            return Match.NO, ""  # identity peers never match traffic from the internet
        return Match.UNKNOWN, f"membership of {peer} is not visible to portsync"
    if peer == endpoint:
        return Match.YES, ""
    if peer.kind is EndpointKind.CIDR and _net(peer.value).prefixlen == 0:
        return Match.YES, f"{peer} holds every address"
    spec = native_spec(peer.kind)
    addresses = spec is not None and spec.addresses
    if spec is not None and addresses and peer.value.lower() in spec.everyone:
        return Match.YES, f"{spec.noun} {peer.value} holds every address"
    if peer.kind is EndpointKind.CIDR or addresses:
        return Match.UNKNOWN, f"the addresses of {endpoint} are not visible to portsync"
    return Match.NO, ""


def access_of(rule: TargetRule) -> str:
    """``allow`` or ``deny``, from the provider's ``extra`` (rules without one allow, as on AWS)."""
    for key, value in rule.extra:
        if value.lower() == "deny" and key.rsplit(".", 1)[-1].lower() in ("access", "action"):
            return "deny"
    return "allow"


def priority_of(rule: TargetRule) -> float:
    """The rule's priority from the provider's ``extra`` (lower wins); infinity when absent."""
    for key, value in rule.extra:
        if key.rsplit(".", 1)[-1].lower() == "priority":
            try:
                return float(value)
            except ValueError:
                break
    return float("inf")


def reach_of(rule: TargetRule, role: str | None) -> Match:
    """Whether a live rule applies to the machines of ``role``: ``YES``, ``NO``, or ``UNKNOWN``
    when portsync cannot tell. A rule whose provider does not say (no :data:`REACHES` in its
    ``extra``) applies to its target's machines, as every rule did before providers said."""
    reaches = may = None
    for key, value in rule.extra:
        if key == REACHES:
            reaches = value
        elif key == MAY_REACH:
            may = value
    if reaches is None:
        return Match.YES
    if role is not None and role in reaches.split(","):
        return Match.YES
    if role is not None and may and role in may.split(","):
        return Match.UNKNOWN
    return Match.NO


def _protocol_covers(live: TargetRule, want: TargetRule) -> bool:
    if live.protocol is Protocol.ALL:
        return True
    if live.protocol is not want.protocol:
        return False
    # Later model fields (ICMP type and code) narrow a rule; a live rule covers only when it is
    # at least as wide on each of them.
    for name in ("icmp_type", "icmp_code"):
        have = getattr(live, name, None)
        if have is not None and have != getattr(want, name, None):
            return False
    return True


def _protocols_overlap(a: TargetRule, b: TargetRule) -> bool:
    return a.protocol is Protocol.ALL or b.protocol is Protocol.ALL or a.protocol is b.protocol


def _ports_overlap(a: TargetRule, b: TargetRule) -> bool:
    if a.ports is None or b.ports is None:
        return True
    return a.ports.overlaps(b.ports)


def _peer_covers(
    live: Endpoint, want: Endpoint, members: Mapping[Endpoint, Collection[Endpoint]]
) -> bool:
    if match_peer(want, live)[0] is Match.YES:
        return True
    # ``want`` is a role's own group and its machines are also members of ``live`` (a role bound
    # to several security groups): a rule from ``live`` admits them all.
    return live in members.get(want, ())


def covering_rules(
    want: TargetRule,
    live: Sequence[TargetRule],
    *,
    members: Mapping[Endpoint, Collection[Endpoint]] | None = None,
    targets: Collection[str] = (),
) -> tuple[TargetRule, ...]:
    """The live rules that together admit every flow ``want`` describes, or ``()``.

    Coverage, not equality: the same direction and target; a protocol that covers it (``all``
    covers ``tcp``); port ranges that cover its range, possibly from several rules (2379 and
    2380 cover 2379-2380); a peer that covers it (a CIDR inside a live range, the same group,
    every address, or a group the role's machines are also members of, per ``members``); and a
    role side that surely holds the machines of ``want``'s role (:func:`reach_of`). A deny rule
    that may touch any part of the flow, and may be aimed at the role's machines, makes it not
    covered.

    Args:
        want: a desired rule.
        live: the target's rules that will still be there after the plan.
        members: for an endpoint standing for a role's machines, the other endpoints (groups)
            those machines are members of.
        targets: other targets whose rules apply to the same machines as ``want.target`` (the
            other groups of a role bound to several).

    Returns:
        The covering rules in port order (a subset that suffices), or ``()`` when not covered.
    """
    members = members or {}
    same = {want.target, *targets}
    relevant = [
        r
        for r in live
        if r.target in same
        and r.direction is want.direction
        and reach_of(r, want.role) is not Match.NO
    ]
    for rule in relevant:
        if (
            access_of(rule) == "deny"
            and _protocols_overlap(rule, want)
            and _ports_overlap(rule, want)
            and match_peer(want.peer, rule.peer)[0] is not Match.NO
        ):
            return ()
    usable = [
        r
        for r in relevant
        if access_of(r) == "allow"
        and _protocol_covers(r, want)
        and _peer_covers(r.peer, want.peer, members)
        and reach_of(r, want.role) is Match.YES
    ]
    if not usable:
        return ()
    whole = [r for r in usable if r.ports is None]
    if want.ports is None or whole:
        return (min(whole or usable, key=lambda r: r.key),)
    # Sweep the wanted range with the fewest rules that extend the covered prefix the furthest.
    ranges = sorted(
        usable, key=lambda r: (r.ports.from_port, -r.ports.to_port) if r.ports else (0, 0)
    )
    reached = want.ports.from_port - 1
    chosen: list[TargetRule] = []
    while reached < want.ports.to_port:
        best: TargetRule | None = None
        for rule in ranges:
            assert rule.ports is not None
            if (
                rule.ports.from_port <= reached + 1
                and rule.ports.to_port > reached
                and (best is None or best.ports is None or rule.ports.to_port > best.ports.to_port)
            ):
                best = rule
        if best is None or best.ports is None:
            return ()
        chosen.append(best)
        reached = best.ports.to_port
    return tuple(chosen)


# --- deciding one flow, as explain and lifelines do ---------------------------------------------


class Answer(str, Enum):
    """The answer for one endpoint, target, cluster or overall."""

    ALLOWED = "allowed"
    DENIED = "denied"
    PARTIAL = "partial"  # part of the source may pass, part may not
    UNKNOWN = "unknown"  # a rule may match, but portsync cannot see its members
    NOT_BOUND = "not-bound"  # the cluster binds no target to the role
    MIXED = "mixed"  # clusters disagree (overall answer only)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """One rule that (may) decide for one endpoint."""

    rule: TargetRule
    match: Match
    access: str  # allow | deny
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        data = {"match": self.match.value, "access": self.access, "rule": self.rule.to_dict()}
        if self.note:
            data["note"] = self.note
        return data


@dataclass(frozen=True, slots=True)
class EndpointAnswer:
    """The answer for one resolved source endpoint on one target."""

    endpoint: Endpoint
    answer: Answer
    deciding: tuple[RuleMatch, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "endpoint": str(self.endpoint),
            "answer": self.answer.value,
            "rules": [m.to_dict() for m in self.deciding],
        }


#: A provider's optional ``peer_contains(endpoint, rule) -> str | None``: a note when the provider
#: knows that ``rule``'s peer holds ``endpoint`` although the peer's addresses are not visible
#: (Azure: a role's machines are in the ``VirtualNetwork`` service tag).
Contains = Callable[[Endpoint, TargetRule], "str | None"]


def decide(
    endpoint: Endpoint,
    rules: Sequence[TargetRule],
    *,
    from_internet: bool = False,
    contains: Contains | None = None,
    members: Mapping[Endpoint, Collection[Endpoint]] | None = None,
    role: str | None = None,
) -> EndpointAnswer:
    """The answer for ``endpoint`` from the rules that apply to one port: rules are taken in
    priority order (lower first; a deny rule before an allow rule of the same priority, as GCP
    decides), and the first rule whose peer surely matches decides. A rule that may match
    (partial, unknown) ahead of the deciding one makes the answer partial or unknown. Rules with
    no priority (AWS) all allow, so order does not matter there.

    Args:
        endpoint: one resolved source endpoint.
        rules: the rules of one target that apply to the asked direction, protocol and port.
        from_internet: the source stands for the public internet (see :func:`match_peer`).
        contains: the provider's ``peer_contains`` hook: a peer it knows holds the endpoint
            matches, with its note.
        members: for an endpoint standing for a role's machines, the other groups they are in
            (a role bound to several): a rule from one of those matches them.
        role: the role whose machines are asked about: a rule aimed elsewhere
            (:func:`reach_of` ``NO``) is skipped, one that may be aimed at them matches at most
            uncertainly.
    """
    members = members or {}
    ordered = sorted(rules, key=lambda r: (priority_of(r), access_of(r) != "deny", r.key))
    uncertain: list[RuleMatch] = []
    allowing: list[RuleMatch] = []
    for rule in ordered:
        if rule.peer in members.get(endpoint, ()):
            match, note = Match.YES, f"the machines of {endpoint} are also in {rule.peer}"
        else:
            match, note = match_peer(endpoint, rule.peer, from_internet=from_internet)
        if match is Match.UNKNOWN and contains is not None:
            known = contains(endpoint, rule)
            if known:
                match, note = Match.YES, known
        if match is Match.NO:
            continue
        reach = reach_of(rule, role)
        if reach is Match.NO:
            continue
        if reach is not Match.YES and match is Match.YES:
            match = Match.UNKNOWN
            note = "; ".join(
                n for n in (note, f"portsync cannot tell whether it is aimed at role {role}") if n
            )
        item = RuleMatch(rule, match, access_of(rule), note)
        if allowing:
            # Already decided by an earlier allow rule; list the other allow rules that match.
            if match is Match.YES and item.access == "allow":
                allowing.append(item)
            continue
        if match is not Match.YES:
            uncertain.append(item)
            continue
        if item.access == "deny":
            if any(u.access == "allow" for u in uncertain):
                return EndpointAnswer(endpoint, Answer.UNKNOWN, (*uncertain, item))
            return EndpointAnswer(endpoint, Answer.DENIED, (item,))
        if any(u.access == "deny" for u in uncertain):
            return EndpointAnswer(endpoint, Answer.UNKNOWN, (*uncertain, item))
        allowing.append(item)
    if allowing:
        return EndpointAnswer(endpoint, Answer.ALLOWED, tuple(allowing))
    allows = [u for u in uncertain if u.access == "allow"]
    if any(u.match is Match.PARTIAL for u in allows):
        return EndpointAnswer(endpoint, Answer.PARTIAL, tuple(allows))
    if allows:
        return EndpointAnswer(endpoint, Answer.UNKNOWN, tuple(allows))
    return EndpointAnswer(endpoint, Answer.DENIED, ())


def _applies_at(rule: TargetRule, flow: TargetRule, port: int | None) -> bool:
    """Whether ``rule`` applies to the packets of ``flow`` at ``port`` (None: a protocol
    without ports). An allow rule must cover them; a deny rule need only touch them."""
    if rule.target != flow.target or rule.direction is not flow.direction:
        return False
    if access_of(rule) == "deny":
        if not _protocols_overlap(rule, flow):
            return False
    elif not _protocol_covers(rule, flow):
        return False
    if rule.protocol is Protocol.ALL or port is None or rule.ports is None:
        return True
    return rule.ports.from_port <= port <= rule.ports.to_port


def admits(
    flow: TargetRule,
    rules: Sequence[TargetRule],
    *,
    from_internet: bool = False,
    contains: Contains | None = None,
) -> bool:
    """Whether ``rules`` let every packet of ``flow`` through, decided exactly as ``explain``
    decides (:func:`decide`): priorities and deny rules count, and an uncertain match does not
    admit. See :func:`answers`."""
    found = answers(flow, rules, from_internet=from_internet, contains=contains)
    return found == {Answer.ALLOWED}


def answers(
    flow: TargetRule,
    rules: Sequence[TargetRule],
    *,
    from_internet: bool = False,
    contains: Contains | None = None,
) -> set[Answer]:
    """The answers ``rules`` give the packets of ``flow``, one per piece of its range: every
    piece allowed means the whole flow passes, every piece denied that none of it does.

    ``flow`` is a rule-shaped flow: its peer is the source (ingress) and its ports the range that
    must pass. The range is cut where any rule's range starts or ends, and one port of each piece
    is decided: every port of a piece meets the same rules. ``contains``: the provider's
    ``peer_contains`` hook, as for :func:`decide`.
    """
    relevant = [
        r
        for r in rules
        if r.target == flow.target and r.direction is flow.direction and _protocols_overlap(r, flow)
    ]
    points: list[int | None]
    if flow.protocol.has_ports:
        low, high = (flow.ports.from_port, flow.ports.to_port) if flow.ports else (0, 65535)
        cuts = {low}
        for rule in relevant:
            if rule.ports is not None:
                for edge in (rule.ports.from_port, rule.ports.to_port + 1):
                    if low < edge <= high:
                        cuts.add(edge)
        points = list(sorted(cuts))
    else:
        points = [None]
    found: set[Answer] = set()
    for port in points:
        applying = [r for r in relevant if _applies_at(r, flow, port)]
        answer = decide(
            flow.peer, applying, from_internet=from_internet, contains=contains, role=flow.role
        )
        found.add(answer.answer)
    return found
