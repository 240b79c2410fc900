"""``portsync explain``: can this source reach that port of that role — and which rule decides?

The question is asked of every selected cluster, on the live rules, or (``--plan``) on the rules a
saved plan would leave behind. A source is resolved to concrete endpoints first:

* an IP or CIDR, ``any`` / ``internet`` (``0.0.0.0/0``) — one CIDR endpoint;
* ``role:X`` and ``load-balancers`` — through the provider's own translation of a one-rule rule
  set, so the answer uses exactly the endpoints ``apply`` would write (a security group, a network
  tag, an Azure service tag or address prefixes, GCP's health-check ranges, …).

A live rule decides for an endpoint when it is an ingress rule of the role's target, its protocol
is the asked one or ``all``, the port is in its range, and its peer matches: a CIDR peer must
contain a CIDR endpoint (overlap only is *partial*); other endpoints must be equal to the peer.
A CIDR source against a peer whose members are not visible (a security group, a network tag, a
service account, an application security group, a prefix list) is *unknown*, and said so.

Where a provider reports rule access and priority (``extra`` keys ending in ``access`` / ``action``
and ``priority``), rules are evaluated in priority order and a matching deny rule decides, as on
GCP and Azure; otherwise every rule allows, as on AWS.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from portsync.config import LoadedConfig
from portsync.errors import InputError, TranslationError
from portsync.evaluate import (
    Answer,
    Contains,
    EndpointAnswer,
    Match,
    RuleMatch,
    access_of,
    decide,
    match_peer,
)
from portsync.membership import Memberships, memberships
from portsync.model import (
    Direction,
    Endpoint,
    Peer,
    PeerKind,
    PortRange,
    Protocol,
    Rule,
    RuleSet,
    TargetRule,
    slugify,
)
from portsync.ops import GroupOps, Plan, fingerprint
from portsync.provider import Settings, Target

__all__ = [
    "EXPLAIN_FORMAT_VERSION",
    "Answer",
    "ClusterAnswer",
    "Destination",
    "EndpointAnswer",
    "Explanation",
    "Match",
    "RuleMatch",
    "Source",
    "TargetAnswer",
    "evaluate",
    "explain",
    "match_peer",
    "parse_destination",
    "parse_source",
]

EXPLAIN_FORMAT_VERSION = 1


# --- parsing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    """Who asks: a CIDR, a role, or the load balancers."""

    text: str
    peer: Peer  # cidr:…, role:X or load-balancers

    @property
    def kind(self) -> str:
        """``cidr``, ``role`` or ``load-balancers``."""
        return self.peer.kind.value

    @property
    def from_internet(self) -> bool:
        """Whether the source was asked as ``any`` / ``internet``: traffic from the internet."""
        return self.text.strip().lower() in _WORLD_WORDS

    def __str__(self) -> str:
        if self.peer.kind is PeerKind.CIDR and self.text != self.peer.value:
            return f"{self.text} ({self.peer})"
        return str(self.peer)


@dataclass(frozen=True, slots=True)
class Destination:
    """What is asked about: one port of one role."""

    role: str
    port: int
    protocol: Protocol

    def __str__(self) -> str:
        return f"{self.role}:{self.port}/{self.protocol.value}"


_WORLD_WORDS = ("any", "internet", "world", "all")


def parse_source(text: str) -> Source:
    """Parse the SOURCE argument.

    Args:
        text: an IP or CIDR, ``any`` / ``internet``, ``role:X`` or ``load-balancers``.

    Returns:
        The source.

    Raises:
        InputError: the text is none of those.
    """
    raw = (text or "").strip()
    low = raw.lower()
    hint = "SOURCE is an IP or CIDR, any / internet, role:<name> or load-balancers"
    if low in _WORLD_WORDS:
        return Source(raw, Peer(PeerKind.CIDR, "0.0.0.0/0"))
    if low in ("load-balancers", "load-balancer", "lb"):
        return Source(raw, Peer(PeerKind.LOAD_BALANCERS))
    if low.startswith("role:"):
        name = raw.split(":", 1)[1].strip()
        if not name or slugify(name) != name:
            raise InputError(f"source {raw!r}: role names are lowercase slugs", hint=hint)
        return Source(raw, Peer(PeerKind.ROLE, name))
    try:
        return Source(raw, Peer(PeerKind.CIDR, low.removeprefix("cidr:")))
    except ValueError:
        raise InputError(
            f"source {raw!r} is not a source portsync understands", hint=hint
        ) from None


def parse_destination(text: str) -> Destination:
    """Parse ``ROLE:PORT/PROTO`` (``/tcp`` may be left out).

    Args:
        text: for example ``control-plane:6443/tcp`` or ``worker:30080``.

    Returns:
        The destination.

    Raises:
        InputError: the text is not of that form.
    """
    hint = "write ROLE:PORT/PROTO, e.g. control-plane:6443/tcp or worker:53/udp"
    role, sep, rest = (text or "").strip().rpartition(":")
    if not sep or not role:
        raise InputError(f"destination {text!r} has no role", hint=hint)
    port_text, _, proto_text = rest.partition("/")
    try:
        protocol = Protocol((proto_text or "tcp").strip().lower())
    except ValueError:
        raise InputError(f"destination {text!r}: unknown protocol", hint=hint) from None
    if not protocol.has_ports:
        raise InputError(f"destination {text!r}: explain answers for tcp or udp ports", hint=hint)
    try:
        port = PortRange.parse(port_text.strip())
    except ValueError:
        raise InputError(f"destination {text!r}: {port_text!r} is not a port", hint=hint) from None
    if port.from_port != port.to_port:
        raise InputError(f"destination {text!r}: ask about one port, not a range", hint=hint)
    if slugify(role) != role:
        raise InputError(f"destination {text!r}: role {role!r} is not a lowercase slug", hint=hint)
    return Destination(role, port.from_port, protocol)


# --- evaluation (pure) -------------------------------------------------------------------------


def _applies(rule: TargetRule, destination: Destination) -> bool:
    if rule.direction is not Direction.INGRESS:
        return False
    if rule.protocol is Protocol.ALL:
        return True
    if rule.protocol is not destination.protocol or rule.ports is None:
        return False
    return rule.ports.contains(destination.port)


def _combine(answers: Sequence[Answer]) -> Answer:
    states = set(answers)
    if not states:
        return Answer.DENIED
    if len(states) == 1:
        return states.pop()
    if Answer.ALLOWED in states or Answer.PARTIAL in states:
        return Answer.PARTIAL
    return Answer.UNKNOWN


@dataclass(frozen=True, slots=True)
class TargetAnswer:
    """The answer on one target of the role."""

    target: Target
    answer: Answer
    endpoints: tuple[EndpointAnswer, ...] = ()
    port_rules: tuple[TargetRule, ...] = ()  # every ingress rule open on that port

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "target": self.target.id,
            "label": str(self.target),
            "role": self.target.role,
            "answer": self.answer.value,
            "endpoints": [e.to_dict() for e in self.endpoints],
            "port_rules": [r.to_dict() for r in self.port_rules],
        }


def evaluate(
    target: Target,
    rules: Sequence[TargetRule],
    endpoints: Sequence[Endpoint],
    destination: Destination,
    *,
    from_internet: bool = False,
    contains: Contains | None = None,
    members: Mapping[Endpoint, Collection[Endpoint]] | None = None,
) -> TargetAnswer:
    """Can each endpoint reach ``destination`` through ``rules`` (one target's rules, and those
    of the other groups its machines are in)?

    Args:
        target: the target the rules belong to.
        rules: its rules, live or planned.
        endpoints: the resolved source.
        destination: the asked port.
        from_internet: the source means traffic from the public internet (see
            :func:`match_peer`).
        contains: the provider's ``peer_contains`` hook, if it has one (see
            :data:`portsync.evaluate.Contains`).
        members: for an endpoint standing for a role's machines, the other groups they are in
            (a rule from one of those admits them).

    Returns:
        The per-endpoint answers and the target's combined answer.

    Raises:
        Nothing.
    """
    relevant = [r for r in rules if _applies(r, destination)]
    answers = tuple(
        decide(e, relevant, from_internet=from_internet, contains=contains, members=members)
        for e in endpoints
    )
    return TargetAnswer(
        target=target,
        answer=_combine([a.answer for a in answers]),
        endpoints=answers,
        port_rules=tuple(sorted(relevant, key=lambda r: r.key)),
    )


# --- the run -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClusterAnswer:
    """The answer on one cluster."""

    cluster: str
    provider: str
    answer: Answer
    targets: tuple[TargetAnswer, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "cluster": self.cluster,
            "provider": self.provider,
            "answer": self.answer.value,
            "notes": list(self.notes),
            "targets": [t.to_dict() for t in self.targets],
        }


_RANK = {
    Answer.ALLOWED: 4,
    Answer.PARTIAL: 3,
    Answer.UNKNOWN: 2,
    Answer.DENIED: 1,
    Answer.NOT_BOUND: 0,
}


@dataclass(frozen=True, slots=True)
class Explanation:
    """The whole answer of one ``explain`` run."""

    source: Source
    destination: Destination
    clusters: tuple[ClusterAnswer, ...]
    plan: str | None = None

    @property
    def state(self) -> str:
        """``live`` or ``plan``."""
        return "plan" if self.plan is not None else "live"

    @property
    def answer(self) -> Answer:
        """The clusters' common answer, ``mixed`` when they differ (unbound clusters ignored)."""
        answers = {c.answer for c in self.clusters if c.answer is not Answer.NOT_BOUND}
        if not answers:
            return Answer.NOT_BOUND
        return answers.pop() if len(answers) == 1 else Answer.MIXED

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``explain --output json``."""
        return {
            "format_version": EXPLAIN_FORMAT_VERSION,
            "kind": "explain",
            "source": {"text": self.source.text, "peer": str(self.source.peer)},
            "destination": {
                "role": self.destination.role,
                "port": self.destination.port,
                "protocol": self.destination.protocol.value,
            },
            "state": self.state,
            "plan": self.plan,
            "answer": self.answer.value,
            "clusters": [c.to_dict() for c in self.clusters],
        }

    def to_json(self) -> str:
        """Pretty, stable JSON."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"


def _endpoints(
    provider: Any, source: Source, destination: Destination, target: Target, loaded: LoadedConfig
) -> list[Endpoint]:
    if source.peer.kind is PeerKind.CIDR:
        return [Endpoint.cidr(source.peer.value)]
    probe = Rule(
        role=destination.role,
        protocol=destination.protocol,
        ports=PortRange(destination.port, destination.port),
        peer=source.peer,
        purpose="portsync explain",
    )
    resolved = provider.translate(RuleSet((probe,)), loaded.config.sources)
    return sorted({r.peer for r in resolved if r.target == target.id})


def _planned_also(
    member: Memberships,
    target: Target,
    live: Mapping[str, Sequence[TargetRule]],
    groups: Mapping[tuple[str, str], GroupOps],
    cluster: str,
) -> list[TargetRule]:
    """The rules of the other groups ``target``'s machines are in: live, or as a saved plan
    leaves a group it changes."""
    from portsync.diff import final_state

    out: list[TargetRule] = []
    for other in member.also.get(target.id, ()):
        rules = list(live.get(other.id, []))
        group = groups.get((cluster, other.id))
        out.extend(final_state(rules, group.ops) if group is not None else rules)
    return out


def explain(
    loaded: LoadedConfig,
    source: Source,
    destination: Destination,
    *,
    clusters: Sequence[str] = (),
    plan: Plan | None = None,
    plan_path: str | None = None,
    settings: Settings | None = None,
    session: Any = None,
    progress: Callable[[str], None] | None = None,
) -> Explanation:
    """Answer whether ``source`` reaches ``destination`` on each selected cluster.

    Args:
        loaded: the loaded config.
        source: from :func:`parse_source`.
        destination: from :func:`parse_destination`.
        clusters: names to ask; all configured clusters (or the plan's) when empty.
        plan: a saved plan: answer on the state it would produce instead of the live state.
        plan_path: where the plan was read from (reported back).
        settings: run-wide settings.
        session: an :class:`~portsync.session.Session` to reuse.
        progress: called with a short line per cluster.

    Returns:
        The explanation.

    Raises:
        InputError: no selected cluster binds the role, or a named cluster is not in the plan.
        ConfigError: a cluster name is unknown.
        ProviderError: a cloud refused.
    """
    from portsync.diff import final_state
    from portsync.session import Session

    settings = settings or Settings(mode=loaded.config.mode)
    session = session or Session(loaded, settings)
    names = list(clusters)
    if plan is not None:
        in_plan = plan.clusters()
        missing = [n for n in names if n not in in_plan]
        if missing:
            raise InputError(
                f"cluster {', '.join(missing)} is not in the saved plan "
                f"(it covers {', '.join(in_plan) or 'no cluster'})",
                hint="drop --cluster or make the plan with that cluster",
            )
        names = names or in_plan
        if not names:
            raise InputError("the saved plan covers no cluster; there is nothing to explain")
    selected = session.select(names)
    groups = {(g.cluster, g.target): g for g in plan.groups} if plan is not None else {}
    plan_notes: list[str] = []
    if plan is not None:
        from portsync.api import config_digest, synthesize

        if plan.config_digest != config_digest(loaded, synthesize(loaded)):
            plan_notes.append(
                "the plan was made from a different config (rules, sources, mode or bindings); "
                "apply would refuse it"
            )

    answers: list[ClusterAnswer] = []
    for cluster in selected:
        if progress:
            progress(f"reading {cluster.name} ({cluster.provider})")
        provider = session.provider(cluster)
        targets = [t for t in provider.targets() if t.role == destination.role]
        if not targets:
            answers.append(
                ClusterAnswer(
                    cluster.name,
                    cluster.provider,
                    Answer.NOT_BOUND,
                    notes=(f"role {destination.role} is not bound on this cluster",),
                )
            )
            continue
        member = memberships(provider)
        live = session.live(cluster, member.read_targets(targets))
        notes: list[str] = list(plan_notes)
        results: list[TargetAnswer] = []
        for target in targets:
            rules = live.get(target.id, [])
            if plan is not None:
                group = groups.get((cluster.name, target.id))
                if group is None:
                    notes.append(f"{target}: not in the saved plan; its live rules are used")
                else:
                    # The plan's fingerprint is of the rules the diff saw: deny rules are not.
                    seen = [r for r in rules if access_of(r) != "deny"]
                    if fingerprint(seen) != group.fingerprint:
                        notes.append(
                            f"{target}: live rules changed since the plan was made; "
                            "apply would refuse this plan"
                        )
                    rules = final_state(rules, group.ops)
            # A role bound to several groups: each of them admits its machines.
            rules = [*rules, *_planned_also(member, target, live, groups, cluster.name)]
            try:
                endpoints = _endpoints(provider, source, destination, target, loaded)
            except TranslationError as exc:
                notes.append(f"cannot resolve {source.peer}: {str(exc).splitlines()[0]}")
                results.append(TargetAnswer(target, Answer.UNKNOWN))
                continue
            if not endpoints:
                notes.append(f"{source.peer} resolves to no endpoint on {target}")
                results.append(TargetAnswer(target, Answer.UNKNOWN))
                continue
            results.append(
                evaluate(
                    target,
                    rules,
                    endpoints,
                    destination,
                    from_internet=source.from_internet,
                    contains=getattr(provider, "peer_contains", None),
                    members=member.members,
                )
            )
        best = max((r.answer for r in results), key=lambda a: _RANK[a])
        answers.append(
            ClusterAnswer(cluster.name, cluster.provider, best, tuple(results), tuple(notes))
        )
    if all(a.answer is Answer.NOT_BOUND for a in answers):
        raise InputError(
            f"no selected cluster binds role {destination.role!r}",
            hint="check the role name against the clusters' roles in the config",
        )
    return Explanation(source, destination, tuple(answers), plan_path)
