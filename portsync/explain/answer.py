"""The pure half of ``portsync explain``: one target's rules against the question, and the shape
of the answer (per target, per cluster, for the whole run) with its JSON form.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from portsync.evaluate import Answer, Contains, EndpointAnswer, decide
from portsync.model import Direction, Endpoint, Protocol, TargetRule
from portsync.provider import Target

from .query import Destination, Source

__all__ = [
    "EXPLAIN_FORMAT_VERSION",
    "RANK",
    "ClusterAnswer",
    "Explanation",
    "TargetAnswer",
    "evaluate",
]

EXPLAIN_FORMAT_VERSION = 1


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
            :func:`~portsync.evaluate.match_peer`).
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
        decide(
            e,
            relevant,
            from_internet=from_internet,
            contains=contains,
            members=members,
            role=target.role,
        )
        for e in endpoints
    )
    return TargetAnswer(
        target=target,
        answer=_combine([a.answer for a in answers]),
        endpoints=answers,
        port_rules=tuple(sorted(relevant, key=lambda r: r.key)),
    )


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


#: How good an answer is for the one asking: a cluster answers with its best target.
RANK = {
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
