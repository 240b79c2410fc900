"""Pure translation between neutral target rules and EC2 security-group shapes (no I/O)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from anyascii import anyascii

from portsync.errors import TranslationError, UnsupportedFeatureError
from portsync.model import (
    IP_PROTOCOLS,
    Direction,
    Endpoint,
    EndpointKind,
    PortRange,
    Protocol,
    RuleSet,
    TargetRule,
    icmp_for,
    parse_protocol,
)
from portsync.resolve import TranslationProblems, describe_rule, resolve_peer, source_endpoint

from .limits import MAX_DESCRIPTION_LENGTH

__all__ = [
    "CLUSTER_TAG",
    "MARKER",
    "OWNER_TAG",
    "OWNER_TAGS",
    "describe",
    "is_default_egress",
    "is_owned",
    "live_rules",
    "owner_tags",
    "permissions_for",
    "rules_from_group",
    "rules_from_sg_rules",
    "sanitize_description",
    "translate_rules",
]

#: Description prefix portsync writes. It tells a reader where the rule came from and is never
#: proof of ownership: anyone can type it. Rules of releases before owner identities carry only
#: this marker (``legacy``).
MARKER = "portsync: "
#: Tag holding the owner identity of a rule portsync created: the only proof of ownership (an IAM
#: policy can keep others from writing it).
OWNER_TAG = "portsync:owner"
#: Tag earlier releases set on every rule they created (still written, for IAM conditions).
MANAGED_TAG = "portsync:managed"
#: Tag naming the cluster whose run created the rule.
CLUSTER_TAG = "portsync:cluster"
#: Every tag portsync writes on a rule.
OWNER_TAGS = (MANAGED_TAG, CLUSTER_TAG, OWNER_TAG)

# The characters EC2 takes in a rule description, per field, as botocore's EC2 model documents
# them: IpRange and Ipv6Range take ``&``, UserIdGroupPair and PrefixListId do not
# (tests/providers/aws/test_aws_api_model.py reads the model and checks every write).
_RANGE_REFUSED = re.compile(r"[^a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]")
_REFERENCE_REFUSED = re.compile(r"[^a-zA-Z0-9 ._\-:/()#,@\[\]+=;{}!$*]")
DEFAULT_PURPOSE = "portsync rule"


def sanitize_description(text: str, peer: EndpointKind = EndpointKind.CIDR) -> str:
    """``text`` as the description field of a rule towards a ``peer`` of this kind takes it.

    Other scripts are transliterated (``Überwachung`` → ``Uberwachung``, ``监控`` →
    ``JianKong``) rather than dropped, ``&`` is spelt ``and`` where the field refuses it, any
    character still refused becomes a space, and the length is capped.
    """
    ascii_text = anyascii(text)
    if peer is EndpointKind.CIDR:
        refused = _RANGE_REFUSED
    else:
        refused = _REFERENCE_REFUSED
        ascii_text = ascii_text.replace("&", " and ")
    cleaned = " ".join(refused.sub(" ", ascii_text).split())
    return cleaned[:MAX_DESCRIPTION_LENGTH].rstrip()


def describe(purpose: str, peer: EndpointKind = EndpointKind.CIDR) -> str:
    """The description portsync writes for a rule with this purpose towards ``peer``; never
    the bare marker (a purpose with nothing left to write reads as the default purpose)."""
    text = sanitize_description(purpose or DEFAULT_PURPOSE, peer) or DEFAULT_PURPOSE
    return sanitize_description(MARKER + text, peer)


def is_owned(description: str | None) -> bool:
    """Whether a live description carries portsync's marker (a look, not an identity)."""
    return bool(description) and str(description).startswith(MARKER.strip())


#: The peers of the egress rules EC2 gives every new security group (IPv6 in dual-stack VPCs).
_DEFAULT_EGRESS_PEERS = frozenset({"0.0.0.0/0", "::/0"})


def is_default_egress(rule: TargetRule) -> bool:
    """Whether ``rule`` is the allow-all egress EC2 creates with every security group.

    Recognised by its exact shape as EC2 writes it: egress, every protocol, to ``0.0.0.0/0`` or
    ``::/0``, with no description and not portsync's. A rule of that shape that someone described
    was written by a person, and stays an unmanaged rule.
    """
    return (
        rule.direction is Direction.EGRESS
        and rule.protocol is Protocol.ALL
        and rule.peer.kind is EndpointKind.CIDR
        and rule.peer.value in _DEFAULT_EGRESS_PEERS
        and not rule.description
        and not rule.owned
    )


def owner_tags(owner: str, cluster: str) -> dict[str, str]:
    """The tags portsync writes on each rule it creates or adopts."""
    return {MANAGED_TAG: "true", CLUSTER_TAG: cluster, OWNER_TAG: owner}


#: The native peers EC2 can name: security groups (of this or another account) and prefix lists.
NATIVE_PEERS = frozenset({EndpointKind.GROUP, EndpointKind.PREFIX_LIST})


def group_endpoint(group_id: str, user_id: Any = None, owner_id: Any = None) -> Endpoint:
    """The peer of a group reference: ``sg-…``, or ``<account>/sg-…`` when the referenced
    group's account (``UserId``) is not the account that owns the rule's group (``OwnerId``).
    EC2 fills in ``UserId`` for references within one account too, so only a different account
    is named, exactly as the config writes it."""
    if user_id and owner_id and str(user_id) != str(owner_id):
        return Endpoint(EndpointKind.GROUP, f"{user_id}/{group_id}")
    return Endpoint(EndpointKind.GROUP, str(group_id))


def group_pair(peer: Endpoint) -> dict[str, str]:
    """The UserIdGroupPair fields naming ``peer``: ``GroupId``, and ``UserId`` for a group of
    another account."""
    account, _sep, group = peer.value.rpartition("/")
    return {"UserId": account, "GroupId": group} if account else {"GroupId": group}


def _load_balancers(items: Sequence[str]) -> list[Endpoint]:
    return [source_endpoint(item) for item in items]


def translate_rules(
    rules: RuleSet,
    *,
    cluster: str,
    groups: Mapping[str, str],
    sources_all: Sequence[str],
    load_balancers: Sequence[str],
) -> list[TargetRule]:
    """Resolve neutral rules onto security groups (``groups``: role → group id).

    Rules of roles the cluster does not bind are skipped.

    Raises:
        TranslationError: every rule that needs a source the config does not give, at once.
    """
    out: list[TargetRule] = []
    problems = TranslationProblems()
    endpoints = {role: [Endpoint(EndpointKind.GROUP, gid)] for role, gid in groups.items()}
    balancers = _load_balancers(load_balancers)
    for rule in rules:
        if rule.role not in groups:
            continue
        if rule.ports is not None and rule.protocol not in _NAMED and rule.ports != _EVERY_PORT:
            problems.add(
                UnsupportedFeatureError(
                    f"{describe_rule(rule, cluster)}: AWS security groups cannot limit "
                    f"{rule.protocol.value} to ports; EC2 would open every port",
                    hint="write ports: 0-65535 if every port is meant, or leave the rule out",
                )
            )
            continue
        try:
            peers = resolve_peer(
                rule,
                cluster=cluster,
                bindings=endpoints,
                sources_all=sources_all,
                load_balancers=balancers,
                binding_keys="security_group",
                load_balancers_hint="set sources.load_balancers to the load balancers' security "
                "groups or CIDRs",
                cloud="AWS",
                native=NATIVE_PEERS,
            )
        except TranslationError as exc:
            problems.add(exc)
            continue
        for peer in peers:
            out.append(
                TargetRule.desired(
                    rule,
                    target=groups[rule.role],
                    peer=peer,
                    description=describe(rule.purpose, peer.kind),
                    # EC2 keeps ICMP (1) and ICMPv6 (58) apart: icmp does nothing for IPv6.
                    protocol=icmp_for(rule.protocol, peer),
                )
            )
    problems.raise_if_any()
    return out


_PROTOCOLS = {**IP_PROTOCOLS, "-1": Protocol.ALL}  # EC2 writes "every protocol" as -1


def _protocol(ip_protocol: Any) -> Protocol | None:
    text = str(ip_protocol).strip().lower()
    return _PROTOCOLS.get(text) or parse_protocol(text)


def _ports(protocol: Protocol, from_port: Any, to_port: Any) -> PortRange | None:
    if not protocol.has_ports:
        return None
    if protocol not in _NAMED:
        return _EVERY_PORT  # SCTP: EC2 admits every port whatever the rule says
    if from_port is None:
        return None
    return PortRange(int(from_port), int(to_port))


def _icmp(protocol: Protocol, from_port: Any, to_port: Any) -> tuple[int | None, int | None]:
    """ICMP type and code, which EC2 writes in FromPort and ToPort (-1: every type or code)."""
    if not protocol.is_icmp or from_port is None or int(from_port) < 0:
        return None, None
    code = int(to_port) if to_port is not None and int(to_port) >= 0 else None
    return int(from_port), code


def _numbers(rule: TargetRule) -> tuple[int, int] | None:
    """FromPort and ToPort as EC2 wants them for ``rule`` (None for every protocol, -1 for
    protocols EC2 does not limit to ports: it ignores them, and writing them keeps every
    implementation of the API content)."""
    if rule.protocol is Protocol.ALL:
        return None
    if rule.protocol not in _NAMED:
        return -1, -1
    if rule.ports is not None:
        return rule.ports.from_port, rule.ports.to_port
    if rule.protocol.is_icmp:
        return (
            -1 if rule.icmp_type is None else rule.icmp_type,
            -1 if rule.icmp_code is None else rule.icmp_code,
        )
    return None


def _label(peer: Endpoint, target: str, roles_by_group: Mapping[str, str]) -> str | None:
    if peer.kind is EndpointKind.GROUP and peer.value in roles_by_group:
        return "self" if peer.value == target else f"role:{roles_by_group[peer.value]}"
    return None


def rules_from_group(
    group: Mapping[str, Any], roles_by_group: Mapping[str, str]
) -> list[TargetRule]:
    """Expand one DescribeSecurityGroups item into one target rule per source, none of them
    owned: ownership lives in rule tags, which this item does not carry (see :func:`live_rules`)."""
    target = str(group["GroupId"])
    owner_id = group.get("OwnerId")
    out: list[TargetRule] = []
    for direction, key in (
        (Direction.INGRESS, "IpPermissions"),
        (Direction.EGRESS, "IpPermissionsEgress"),
    ):
        for perm in group.get(key, []):
            protocol = _protocol(perm.get("IpProtocol", ""))
            if protocol is None:
                continue  # not an IP protocol at all: nothing portsync could compare
            ports = _ports(protocol, perm.get("FromPort"), perm.get("ToPort"))
            icmp_type, icmp_code = _icmp(protocol, perm.get("FromPort"), perm.get("ToPort"))
            sources: list[tuple[Endpoint, str]] = []
            sources += [
                (Endpoint.cidr(r["CidrIp"]), r.get("Description", ""))
                for r in perm.get("IpRanges", [])
            ]
            sources += [
                (Endpoint.cidr(r["CidrIpv6"]), r.get("Description", ""))
                for r in perm.get("Ipv6Ranges", [])
            ]
            sources += [
                (group_endpoint(p["GroupId"], p.get("UserId"), owner_id), p.get("Description", ""))
                for p in perm.get("UserIdGroupPairs", [])
            ]
            sources += [
                (Endpoint(EndpointKind.PREFIX_LIST, p["PrefixListId"]), p.get("Description", ""))
                for p in perm.get("PrefixListIds", [])
            ]
            for peer, description in sources:
                out.append(
                    TargetRule(
                        target=target,
                        role=roles_by_group.get(target),
                        direction=direction,
                        protocol=protocol,
                        ports=ports,
                        peer=peer,
                        icmp_type=icmp_type,
                        icmp_code=icmp_code,
                        description=description or "",
                        origin=_label(peer, target, roles_by_group),
                    )
                )
    return out


def _item_peer(item: Mapping[str, Any], owner_id: Any) -> Endpoint | None:
    """The peer of one DescribeSecurityGroupRules item (None when it names none portsync
    knows). ``owner_id``: the account owning the rule's group (see :func:`group_endpoint`)."""
    if item.get("CidrIpv4"):
        return Endpoint.cidr(item["CidrIpv4"])
    if item.get("CidrIpv6"):
        return Endpoint.cidr(item["CidrIpv6"])
    if item.get("PrefixListId"):
        return Endpoint(EndpointKind.PREFIX_LIST, item["PrefixListId"])
    referenced = item.get("ReferencedGroupInfo") or {}
    if referenced.get("GroupId"):
        return group_endpoint(
            referenced["GroupId"], referenced.get("UserId"), owner_id or item.get("GroupOwnerId")
        )
    return None


def sg_rule_key(
    item: Mapping[str, Any], owner_id: Any = None
) -> tuple[str, str, str, int, int, str] | None:
    """The diff key of one DescribeSecurityGroupRules item (None when it is not an IP rule)."""
    protocol = _protocol(item.get("IpProtocol", ""))
    if protocol is None:
        return None
    ports = _ports(protocol, item.get("FromPort"), item.get("ToPort"))
    icmp_type, icmp_code = _icmp(protocol, item.get("FromPort"), item.get("ToPort"))
    peer = _item_peer(item, owner_id)
    if peer is None:
        return None
    rule = TargetRule(
        target=str(item["GroupId"]),
        direction=Direction.EGRESS if item.get("IsEgress") else Direction.INGRESS,
        protocol=protocol,
        ports=ports,
        peer=peer,
        icmp_type=icmp_type,
        icmp_code=icmp_code,
    )
    return rule.key


def _sg_rule(item: Mapping[str, Any], owner_id: Any = None) -> TargetRule | None:
    """One DescribeSecurityGroupRules item as a target rule (None when it is not an IP rule)."""
    protocol = _protocol(item.get("IpProtocol", ""))
    if protocol is None:
        return None
    peer = _item_peer(item, owner_id)
    if peer is None:
        return None
    icmp_type, icmp_code = _icmp(protocol, item.get("FromPort"), item.get("ToPort"))
    return TargetRule(
        target=str(item["GroupId"]),
        direction=Direction.EGRESS if item.get("IsEgress") else Direction.INGRESS,
        protocol=protocol,
        ports=_ports(protocol, item.get("FromPort"), item.get("ToPort")),
        peer=peer,
        icmp_type=icmp_type,
        icmp_code=icmp_code,
        description=str(item.get("Description") or ""),
        native_id=str(item["SecurityGroupRuleId"]),
    )


def live_rules(
    group: Mapping[str, Any],
    items: Iterable[Mapping[str, Any]],
    roles_by_group: Mapping[str, str],
    *,
    owner: str,
    cluster: str,
    adopt_legacy: bool = False,
) -> list[TargetRule]:
    """A group's live rules: one per DescribeSecurityGroupRules item of the group, with its rule
    id and its owner read from its tags.

    A rule is owned when its ``portsync:owner`` tag is ``owner``; a rule tagged with another owner
    is that owner's. A rule with portsync's description marker but no owner tag was written by an
    earlier release (``legacy``): unmanaged, or owned when ``adopt_legacy`` — unless its
    ``portsync:cluster`` tag names another cluster, whose rule it then is. Descriptions the rule items lack (moto leaves
    them out for group references) come from the DescribeSecurityGroups item; a permission only
    that item shows is kept, unmanaged and without an id.
    """
    target = str(group["GroupId"])
    described = rules_from_group(group, roles_by_group)
    by_key: dict[tuple[str, str, str, int, int, str], str] = {}
    for seen_rule in described:
        by_key.setdefault(seen_rule.key, seen_rule.description)
    out: list[TargetRule] = []
    seen: set[tuple[str, str, str, int, int, str]] = set()
    for item in items:
        if str(item.get("GroupId")) != target:
            continue
        rule = _sg_rule(item, group.get("OwnerId"))
        if rule is None:
            continue
        tags = {
            str(t.get("Key")): str(t.get("Value"))
            for t in item.get("Tags") or ()
            if isinstance(t, Mapping)
        }
        description = rule.description if "Description" in item else by_key.get(rule.key, "")
        tagged = tags.get(OWNER_TAG)
        legacy = tagged is None and is_owned(description)
        made_by = tags.get(CLUSTER_TAG, cluster)
        if legacy and made_by != cluster:
            # Another cluster's run wrote it (the tag says so): that cluster's to adopt.
            legacy, tagged = False, made_by
        out.append(
            rule.replace(
                role=roles_by_group.get(target),
                description=description,
                owner=tagged,
                owned=tagged == owner or (legacy and adopt_legacy),
                legacy=legacy,
                origin=_label(rule.peer, target, roles_by_group),
                tags=tuple(sorted(tags.items())),
            )
        )
        seen.add(rule.key)
    out.extend(r for r in described if r.key not in seen)
    return out


def rules_from_sg_rules(
    items: Iterable[Mapping[str, Any]], owner_id: Any = None
) -> dict[tuple[str, str, str, int, int, str], list[str]]:
    """Map diff keys to rule ids from DescribeSecurityGroupRules items."""
    out: dict[tuple[str, str, str, int, int, str], list[str]] = defaultdict(list)
    for item in items:
        key = sg_rule_key(item, owner_id)
        if key is not None:
            out[key].append(str(item["SecurityGroupRuleId"]))
    return out


def _ip_protocol(protocol: Protocol) -> str:
    """EC2's IpProtocol: -1 for every protocol, the name for tcp, udp, icmp and icmpv6, else the
    number (EC2 documents names only for those four)."""
    if protocol is Protocol.ALL:
        return "-1"
    if protocol in _NAMED:
        return protocol.value
    return str(protocol.number)


#: The protocols EC2 takes by name; it limits only these to ports or ICMP types.
_NAMED = frozenset({Protocol.TCP, Protocol.UDP, Protocol.ICMP, Protocol.ICMPV6})
_EVERY_PORT = PortRange(0, 65535)


def permissions_for(rules: Iterable[TargetRule]) -> list[dict[str, Any]]:
    """Group rules into the fewest IpPermissions (one per protocol and port range)."""
    grouped: dict[tuple[str, int, int], dict[str, Any]] = {}
    for rule in sorted(rules, key=lambda r: r.key):
        numbers = _numbers(rule)
        low, high = numbers if numbers is not None else (-1, -1)
        perm = grouped.setdefault(
            (_ip_protocol(rule.protocol), low, high),
            {"IpProtocol": _ip_protocol(rule.protocol)},
        )
        if numbers is not None:
            perm["FromPort"], perm["ToPort"] = low, high
        peer = rule.peer
        if peer.kind is EndpointKind.CIDR and peer.ip_version == 4:
            perm.setdefault("IpRanges", []).append(
                {"CidrIp": peer.value, "Description": rule.description}
            )
        elif peer.kind is EndpointKind.CIDR:
            perm.setdefault("Ipv6Ranges", []).append(
                {"CidrIpv6": peer.value, "Description": rule.description}
            )
        elif peer.kind is EndpointKind.GROUP:
            perm.setdefault("UserIdGroupPairs", []).append(
                {**group_pair(peer), "Description": rule.description}
            )
        elif peer.kind is EndpointKind.PREFIX_LIST:
            perm.setdefault("PrefixListIds", []).append(
                {"PrefixListId": peer.value, "Description": rule.description}
            )
        else:
            raise TranslationError(f"AWS cannot express peer {peer}")
    return list(grouped.values())


def modify_request(rule: TargetRule, rule_id: str) -> dict[str, Any]:
    """One ModifySecurityGroupRules entry changing ``rule`` (identified by ``rule_id``)."""
    body: dict[str, Any] = {
        "IpProtocol": _ip_protocol(rule.protocol),
        "Description": rule.description,
    }
    low, high = _numbers(rule) or (-1, -1)
    body["FromPort"], body["ToPort"] = low, high
    peer = rule.peer
    if peer.kind is EndpointKind.CIDR:
        body["CidrIpv4" if peer.ip_version == 4 else "CidrIpv6"] = peer.value
    elif peer.kind is EndpointKind.GROUP:
        body["ReferencedGroupId"] = group_pair(peer)["GroupId"]
    elif peer.kind is EndpointKind.PREFIX_LIST:
        body["PrefixListId"] = peer.value
    return {"SecurityGroupRuleId": rule_id, "SecurityGroupRule": body}
