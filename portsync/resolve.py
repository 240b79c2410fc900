"""Resolving a neutral peer to concrete endpoints for one cluster — the same for every cloud.

Each provider says how its roles are bound (role → endpoints) and what "load balancers" means
on its cloud; this module does the rest, with one wording for the errors everywhere:
``any`` needs ``sources.all`` (never a silent 0.0.0.0/0), ``role:X`` needs X bound, and
``load-balancers`` needs whatever the provider says it needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from portsync.errors import TranslationError
from portsync.model import Endpoint, PeerKind, Rule

__all__ = ["TranslationProblems", "describe_rule", "resolve_peer"]


def describe_rule(rule: Rule, cluster: str) -> str:
    """``cluster prod: rule worker tcp 10250`` — how errors name a rule."""
    return f"cluster {cluster}: rule {rule.role} {rule.protocol.value} {rule.ports_text}"


def resolve_peer(
    rule: Rule,
    *,
    cluster: str,
    bindings: Mapping[str, Sequence[Endpoint]],
    sources_all: Sequence[str],
    load_balancers: Sequence[Endpoint],
    binding_keys: str = "binding",
    load_balancers_hint: str = "set sources.load_balancers",
) -> list[Endpoint]:
    """The concrete endpoints ``rule.peer`` means on this cluster.

    Args:
        rule: the neutral rule (its role must be bound).
        cluster: cluster name, for messages.
        bindings: role → the endpoints standing for that role's machines.
        sources_all: the CIDRs ``any`` means.
        load_balancers: what ``load-balancers`` means on this cloud (empty: not configured).
        binding_keys: how the provider's config binds a role, for the hint (``security_group``).
        load_balancers_hint: how to configure load balancers when they are missing.

    Raises:
        TranslationError: the peer needs a source or binding the config does not give.
    """
    peer = rule.peer
    if peer.kind is PeerKind.SELF:
        return list(bindings[rule.role])
    if peer.kind is PeerKind.ROLE:
        if peer.value not in bindings and rule.via_all:
            return []  # part of "All": this cluster has no machines of that role
        if peer.value not in bindings:
            raise TranslationError(
                f"{describe_rule(rule, cluster)} needs peer role {peer.value!r}, which has no {binding_keys} in this cluster",
                hint=f"bind it under clusters[{cluster}].roles.{peer.value}",
            )
        return list(bindings[peer.value])
    if peer.kind is PeerKind.CIDR:
        return [Endpoint.cidr(peer.value)]
    if peer.kind is PeerKind.ANY:
        if not sources_all:
            raise TranslationError(
                f"{describe_rule(rule, cluster)} ({rule.purpose}) is open to 'All', but sources.all is not set",
                hint="set sources.all to the CIDRs 'All' means (0.0.0.0/0 only if you mean it)",
            )
        return [Endpoint.cidr(c) for c in sources_all]
    if not load_balancers:
        raise TranslationError(
            f"{describe_rule(rule, cluster)} ({rule.purpose}) names load balancers, which this cluster does not define",
            hint=load_balancers_hint,
        )
    return list(load_balancers)


class TranslationProblems:
    """Every rule of a rule set a cluster cannot express, so that one error names them all.

    Each problem keeps its own hint (it is part of the line); the error raised is of the most
    specific class all problems share.
    """

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._kinds: set[type[TranslationError]] = set()

    def add(self, error: TranslationError) -> None:
        """Note one problem (a repeat of the same line is noted once)."""
        self._kinds.add(type(error))
        if str(error) not in self._lines:
            self._lines.append(str(error))

    def raise_if_any(self) -> None:
        """Raise one error listing every problem noted, if there is any.

        Raises:
            TranslationError: or the one subclass every problem is an instance of.
        """
        if not self._lines:
            return
        cls = next(iter(self._kinds)) if len(self._kinds) == 1 else TranslationError
        raise cls("\n".join(self._lines))
