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
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping, Sequence
from enum import Enum

from portsync.model import Endpoint, EndpointKind, Protocol, TargetRule

__all__ = [
    "Match",
    "access_of",
    "covering_rules",
    "match_peer",
    "priority_of",
]


class Match(str, Enum):
    """How one rule's peer relates to one source endpoint."""

    YES = "yes"
    PARTIAL = "partial"
    UNKNOWN = "unknown"
    NO = "no"


_ANY_TAGS = frozenset({"*", "any"})


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
        if peer.kind is EndpointKind.SERVICE_TAG:
            tag = peer.value.lower()
            if tag in _ANY_TAGS or tag in ("0.0.0.0/0", "::/0"):
                return Match.YES, ""
            if tag == "internet":
                if is_world(endpoint):
                    return Match.YES, "the Internet service tag holds the public part of it"
                return Match.NO, ""
            return Match.UNKNOWN, f"the addresses behind service tag {peer.value} are not visible"
        if peer.kind is EndpointKind.PREFIX_LIST:
            return Match.UNKNOWN, f"prefix list {peer.value} is not read by portsync"
        if from_internet or source.is_global:
            return Match.NO, ""  # identity peers never match traffic from the internet
        return Match.UNKNOWN, f"membership of {peer} is not visible to portsync"
    if peer == endpoint:
        return Match.YES, ""
    if peer.kind is EndpointKind.CIDR and _net(peer.value).prefixlen == 0:
        return Match.YES, f"{peer} holds every address"
    if peer.kind is EndpointKind.SERVICE_TAG and peer.value.lower() in _ANY_TAGS:
        return Match.YES, f"service tag {peer.value} holds every address"
    if peer.kind in (EndpointKind.CIDR, EndpointKind.PREFIX_LIST, EndpointKind.SERVICE_TAG):
        return Match.UNKNOWN, f"the addresses of {endpoint} are not visible to portsync"
    return Match.NO, ""


def access_of(rule: TargetRule) -> str:
    """``allow`` or ``deny``, from the provider's ``extra`` (rules without one allow, as on AWS)."""
    for key, value in rule.extra:
        if key.rsplit(".", 1)[-1].lower() in ("access", "action") and value.lower() == "deny":
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
) -> tuple[TargetRule, ...]:
    """The live rules that together admit every flow ``want`` describes, or ``()``.

    Coverage, not equality: the same direction and target; a protocol that covers it (``all``
    covers ``tcp``); port ranges that cover its range, possibly from several rules (2379 and
    2380 cover 2379-2380); a peer that covers it (a CIDR inside a live range, the same group,
    every address, or a group the role's machines are also members of, per ``members``). A deny
    rule that may touch any part of the flow makes it not covered.

    Args:
        want: a desired rule.
        live: the target's rules that will still be there after the plan.
        members: for an endpoint standing for a role's machines, the other endpoints (groups)
            those machines are members of.

    Returns:
        The covering rules in port order (a subset that suffices), or ``()`` when not covered.
    """
    members = members or {}
    relevant = [r for r in live if r.target == want.target and r.direction is want.direction]
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
