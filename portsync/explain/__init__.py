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

The package has three parts: :mod:`.query` parses the question, :mod:`.answer` evaluates rules
against it (pure) and holds the answer's shape, and :mod:`.run` reads each cluster and asks.
Rendering is :mod:`portsync.render`'s.
"""

from __future__ import annotations

from portsync.evaluate import Answer, EndpointAnswer, Match, RuleMatch, match_peer

from .answer import (
    EXPLAIN_FORMAT_VERSION,
    ClusterAnswer,
    Explanation,
    TargetAnswer,
    evaluate,
)
from .query import Destination, Source, parse_destination, parse_source
from .run import explain

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
