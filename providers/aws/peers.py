"""How AWS's own peers are spelled, declared to the core (see :mod:`portsync.peers`).

A config may name a security group (``sg-0abc…``, or ``123456789012/sg-0abc…`` for a group of
another account, written as the ``UserIdGroupPair``'s ``UserId``) and a managed prefix list
(``pl-0abc…``). Only the spelling is checked here; whether the account is the group's own is
checked at plan time, against what EC2 says.
"""

from __future__ import annotations

import re

from portsync.model import EndpointKind
from portsync.peers import CloudSyntax, NativePeer

__all__ = [
    "GROUP",
    "GROUP_RE",
    "MARKER",
    "PREFIX_LIST",
    "PREFIX_LIST_RE",
    "SYNTAX",
    "group_problem",
]

#: Description prefix portsync writes. It tells a reader where the rule came from and is never
#: proof of ownership: anyone can type it. Rules of releases before owner identities carry only
#: this marker (``legacy``).
MARKER = "portsync: "

#: A security group as a rule's peer: ``sg:sg-0abc``.
GROUP = EndpointKind("sg")
#: A managed prefix list as a rule's peer: ``pl:pl-0abc``.
PREFIX_LIST = EndpointKind("pl")

#: An AWS security group, optionally of another account (12-digit account id).
GROUP_RE = re.compile(r"^(?:(?P<account>[0-9]{12})/)?(?P<group>sg-[0-9a-zA-Z]{1,40})$")

#: An AWS managed prefix list.
PREFIX_LIST_RE = re.compile(r"^pl-[0-9a-zA-Z]{1,40}$")


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


def _prefix_list_problem(text: str) -> str | None:
    if PREFIX_LIST_RE.match(text):
        return None
    return f"{text!r} is not a managed prefix list id like pl-0abc…"


SYNTAX = CloudSyntax(
    peers=(
        NativePeer(
            kind=GROUP,
            cloud="AWS",
            form="sg-… or <account>/sg-…",
            what="an AWS security group (only AWS security group rules can name one)",
            noun="security group",
            # Anything before a slash counts, so a wrong account gets the account message.
            written=re.compile(r"^(?:sg-|[^/:\s]*/sg-)"),
            problem=group_problem,
        ),
        NativePeer(
            kind=PREFIX_LIST,
            cloud="AWS",
            form="pl-…",
            what="an AWS managed prefix list (only AWS security group rules can name one)",
            noun="prefix list",
            written=re.compile(r"^pl-"),
            problem=_prefix_list_problem,
            addresses=True,
            unseen="prefix list {value} is not read by portsync",
        ),
    ),
    markers=(MARKER,),
)
