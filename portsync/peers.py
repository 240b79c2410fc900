"""Cloud-native peers a config may name beside the neutral ones, and how each is spelled.

Three clouds have peers that are neither an address range nor a role of the cluster: an Azure
service tag (``service-tag:VirtualNetwork``), an AWS security group (``sg-0abc…``, or
``123456789012/sg-0abc…`` for a group of another account) and an AWS managed prefix list
(``pl-0abc…``). The config names them in ``sources`` and as ``extra_rules`` peers; each provider
says which kinds its cloud can write and refuses the others (see :mod:`portsync.resolve`).

Only the spelling is checked here, never membership: what a tag or group holds is the cloud's.
"""

from __future__ import annotations

import re

__all__ = [
    "GROUP_RE",
    "PREFIX_LIST_RE",
    "SERVICE_TAG_PREFIX",
    "SERVICE_TAG_RE",
    "group_problem",
    "native_kind",
    "service_tag_problem",
]

#: How a config names a service tag: ``service-tag:<Name>``.
SERVICE_TAG_PREFIX = "service-tag:"

#: An Azure service tag name as Azure publishes them: ``VirtualNetwork``, ``Internet``,
#: ``AzureLoadBalancer``, ``Storage.WestEurope``, ``AzureCloud.eastus2euap``. Letters and digits
#: starting with a letter, with up to two dotted parts (service, region); at most 80 characters.
SERVICE_TAG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,79}(?:\.[A-Za-z0-9]{1,40}){0,2}$")

#: An AWS security group, optionally of another account (12-digit account id).
GROUP_RE = re.compile(r"^(?:(?P<account>[0-9]{12})/)?(?P<group>sg-[0-9a-zA-Z]{1,40})$")

#: An AWS managed prefix list.
PREFIX_LIST_RE = re.compile(r"^pl-[0-9a-zA-Z]{1,40}$")

#: Names that mean "everyone" to an NSG but are not service tags portsync writes as peers: the
#: world is ``cidr:0.0.0.0/0`` (or ``service-tag:Internet``), said so on purpose.
_NOT_TAGS = frozenset({"any", "*"})


def service_tag_problem(name: str) -> str | None:
    """Why ``name`` is not a service tag portsync writes, or None when it is one."""
    if name.lower() in _NOT_TAGS or not SERVICE_TAG_RE.match(name) or len(name) > 80:
        return (
            f"service tag {name!r} is not a service tag name like VirtualNetwork, Internet, "
            "AzureLoadBalancer or Storage.WestEurope (letters and digits, dotted parts)"
        )
    return None


def group_problem(text: str) -> str | None:
    """Why ``text`` is not a security group (``sg-…`` or ``<12-digit account>/sg-…``)."""
    if GROUP_RE.match(text):
        return None
    account, sep, _rest = text.partition("/")
    if sep and not (account.isascii() and account.isdigit() and len(account) == 12):
        return (
            f"{text!r}: the account of a security group in another account is its 12-digit "
            "AWS account id, written 123456789012/sg-0abc…"
        )
    return f"{text!r} is not a security group id like sg-0abc… or 123456789012/sg-0abc…"


def native_kind(text: str) -> str | None:
    """``service-tag``, ``sg`` or ``pl`` when ``text`` is written as a native peer (whether or
    not it is spelled right), else None."""
    if text.startswith(SERVICE_TAG_PREFIX):
        return "service-tag"
    if text.startswith("sg-") or re.match(r"^[^/:\s]*/sg-", text):
        return "sg"
    if text.startswith("pl-"):
        return "pl"
    return None
