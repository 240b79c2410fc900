"""Resolving a neutral peer to concrete endpoints for one cluster — the same for every cloud.

Each provider says how its roles are bound (role → endpoints) and what "load balancers" means
on its cloud; this module does the rest, with one wording for the errors everywhere:
``any`` needs ``sources.all`` (never a silent 0.0.0.0/0), ``role:X`` needs X bound, and
``load-balancers`` needs whatever the provider says it needs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from portsync.errors import TranslationError, UnsupportedFeatureError
from portsync.model import Endpoint, EndpointKind, Peer, PeerKind, Rule, cidr_version
from portsync.peers import native_kind, native_spec

__all__ = [
    "TranslationProblems",
    "describe_rule",
    "native_endpoint",
    "resolve_peer",
    "source_endpoint",
    "with_pods",
]


def native_endpoint(peer: Peer) -> Endpoint | None:
    """The endpoint a native neutral peer (see :mod:`portsync.peers`) names, or None for the
    other kinds."""
    if peer.kind is not PeerKind.NATIVE:
        return None
    spec = native_kind(peer.value)
    if spec is None:  # a native peer is checked against the declarations when it is made
        return None
    return Endpoint(EndpointKind(spec.kind), spec.value_of(peer.value))


def source_endpoint(item: str) -> Endpoint:
    """The endpoint one ``sources`` entry names: a CIDR, or a native peer.

    Raises:
        ValueError: neither (the config validation refuses such entries first).
    """
    if cidr_version(item) is not None:
        return Endpoint.cidr(item)
    endpoint = native_endpoint(Peer.parse(item))
    if endpoint is None:
        raise ValueError(f"{item!r} is not a CIDR or a native peer")
    return endpoint


def _check_kinds(
    rule: Rule,
    endpoints: Sequence[Endpoint],
    *,
    cluster: str,
    cloud: str,
    native: Collection[str] | None,
    where: str,
) -> list[Endpoint]:
    """``endpoints``, when the cloud can write every one of them (``native`` None: every kind).

    Raises:
        UnsupportedFeatureError: naming the first native peer the cloud does not have.
    """
    for endpoint in endpoints:
        if native is None or endpoint.kind is EndpointKind.CIDR or endpoint.kind in native:
            continue
        spec = native_spec(endpoint.kind)
        shown = spec.text_of(endpoint.value) if spec is not None else endpoint.text
        what = spec.what if spec is not None else f"a peer of kind {endpoint.kind}"
        raise UnsupportedFeatureError(
            f"{describe_rule(rule, cluster)}: {where} {shown} is {what}; "
            f"{cloud or 'this cloud'} cannot write it",
            hint=f"give this {cloud + ' ' if cloud else ''}cluster CIDRs instead (cidr: peers, "
            "or CIDRs in sources), "
            "or leave the rule to the roles of clusters on that cloud",
        )
    return list(endpoints)


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
    cloud: str = "",
    native: Collection[str] | None = None,
    pods: Sequence[Endpoint] = (),
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
        cloud: the cloud's name, for refusals (``AWS``).
        native: the native endpoint kinds the cloud can write, as its declared syntax says
            (:attr:`portsync.peers.CloudSyntax.writable`); a native peer of another kind, named
            by the rule or by ``sources``, is refused. None (the default) refuses none.
        pods: the cluster's pod ranges, added to ``self`` and ``role:`` peers on clouds whose
            role endpoints (network tags, ASGs) do not match traffic from pods.

    Raises:
        TranslationError: the peer needs a source or binding the config does not give.
        UnsupportedFeatureError: the peer is native to another cloud.
    """
    peer = rule.peer
    if peer.kind is PeerKind.SELF:
        return with_pods(bindings[rule.role], pods)
    if peer.kind is PeerKind.ROLE:
        if peer.value not in bindings and rule.via_all:
            return []  # part of "All": this cluster has no machines of that role
        if peer.value not in bindings:
            raise TranslationError(
                f"{describe_rule(rule, cluster)} needs peer role {peer.value!r}, which has no {binding_keys} in this cluster",
                hint=f"bind it under clusters[{cluster}].roles.{peer.value}",
            )
        return with_pods(bindings[peer.value], pods)
    if peer.kind is PeerKind.CIDR:
        return [Endpoint.cidr(peer.value)]
    named = native_endpoint(peer)
    if named is not None:
        return _check_kinds(
            rule, [named], cluster=cluster, cloud=cloud, native=native, where="peer"
        )
    if peer.kind is PeerKind.ANY:
        if not sources_all:
            raise TranslationError(
                f"{describe_rule(rule, cluster)} ({rule.purpose}) is open to 'All', but sources.all is not set",
                hint="set sources.all to the CIDRs 'All' means (0.0.0.0/0 only if you mean it)",
            )
        return _check_kinds(
            rule,
            [source_endpoint(c) for c in sources_all],
            cluster=cluster,
            cloud=cloud,
            native=native,
            where="sources.all entry",
        )
    if not load_balancers:
        raise TranslationError(
            f"{describe_rule(rule, cluster)} ({rule.purpose}) names load balancers, which this cluster does not define",
            hint=load_balancers_hint,
        )
    return _check_kinds(
        rule,
        list(load_balancers),
        cluster=cluster,
        cloud=cloud,
        native=native,
        where="sources.load_balancers entry",
    )


def with_pods(endpoints: Sequence[Endpoint], pods: Sequence[Endpoint]) -> list[Endpoint]:
    """A role's endpoints, then the cluster's pod ranges it does not already hold: traffic from
    the role's pods leaves from pod addresses, which a network tag or an ASG does not match."""
    out = list(endpoints)
    out.extend(p for p in pods if p not in out)
    return out


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
