"""How Azure's own peers are spelled and what they stand for, declared to the core (see
:mod:`portsync.peers`).

A config may name a service tag (``service-tag:VirtualNetwork``); rules also carry application
security groups (``asg:…``) as the peers of roles bound to one.
"""

from __future__ import annotations

import re

from portsync.model import EndpointKind
from portsync.peers import CloudSyntax, NativePeer

__all__ = [
    "ASG",
    "EVERYONE_TAGS",
    "INTERNAL_TAGS",
    "MARKER",
    "SERVICE_TAG",
    "SERVICE_TAG_PREFIX",
    "SERVICE_TAG_RE",
    "SYNTAX",
    "WORLD_TAGS",
    "service_tag_problem",
]

#: Description prefix of every rule portsync owns (together with the name prefix).
MARKER = "[portsync]"

#: A service tag as a rule's peer: ``service-tag:VirtualNetwork``.
SERVICE_TAG = EndpointKind("service-tag")
#: An application security group as a rule's peer: ``asg:<resource id>``.
ASG = EndpointKind("asg")

#: How a config names a service tag: ``service-tag:<Name>``.
SERVICE_TAG_PREFIX = "service-tag:"

#: A service tag name as Azure publishes them: ``VirtualNetwork``, ``Internet``,
#: ``AzureLoadBalancer``, ``Storage.WestEurope``, ``AzureCloud.eastus2euap``. Letters and digits
#: starting with a letter, with up to two dotted parts (service, region); at most 80 characters.
SERVICE_TAG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,79}(?:\.[A-Za-z0-9]{1,40}){0,2}$")

#: Names that mean "everyone" to an NSG but are not service tags portsync writes as peers: the
#: world is ``cidr:0.0.0.0/0`` (or ``service-tag:Internet``), said so on purpose.
_NOT_TAGS = frozenset({"any", "*"})

#: Tags (lowercase) that hold every address; an NSG also takes a catch-all prefix in their place.
EVERYONE_TAGS = frozenset({"*", "any", "0.0.0.0/0", "::/0"})
#: Tags (lowercase) that mean anyone on the internet.
WORLD_TAGS = frozenset({"internet", "*", "any"})
#: Tags (lowercase) standing for addresses inside the cloud network (the virtual network and
#: its load-balancer probes): never traffic from the public internet.
INTERNAL_TAGS = frozenset({"virtualnetwork", "vnet", "azureloadbalancer"})


def service_tag_problem(name: str) -> str | None:
    """Why ``name`` is not a service tag portsync writes, or None when it is one."""
    if name.lower() in _NOT_TAGS or not SERVICE_TAG_RE.match(name) or len(name) > 80:
        return (
            f"service tag {name!r} is not a service tag name like VirtualNetwork, Internet, "
            "AzureLoadBalancer or Storage.WestEurope (letters and digits, dotted parts)"
        )
    return None


SYNTAX = CloudSyntax(
    peers=(
        NativePeer(
            kind=SERVICE_TAG,
            cloud="Azure",
            form="service-tag:<Name>",
            what="an Azure service tag (only Azure NSG rules can name one)",
            noun="service tag",
            written=re.compile(re.escape(SERVICE_TAG_PREFIX)),
            prefix=SERVICE_TAG_PREFIX,
            problem=service_tag_problem,
            addresses=True,
            unseen="the addresses behind service tag {value} are not visible",
            everyone=EVERYONE_TAGS,
            world=WORLD_TAGS,
            internal=INTERNAL_TAGS,
        ),
    ),
    kinds=(ASG,),
    markers=(f"{MARKER} ",),
)
