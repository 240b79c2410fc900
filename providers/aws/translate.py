"""Pure translation between neutral target rules and EC2 security-group shapes (no I/O)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import Any

from anyascii import anyascii

from portsync.diff import final_state
from portsync.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    ProviderLimitError,
    TranslationError,
    UnsupportedFeatureError,
)
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
from portsync.ops import GroupOps
from portsync.resolve import TranslationProblems, describe_rule, resolve_peer, source_endpoint
from portsync.writes import Phase, Snapshot, Write

from .limits import MAX_DESCRIPTION_LENGTH
from .peers import GROUP, MARKER, PREFIX_LIST, SYNTAX

__all__ = [
    "API",
    "CLUSTER_TAG",
    "MARKER",
    "OWNER_TAG",
    "OWNER_TAGS",
    "AwsNative",
    "check_counts",
    "check_own_account",
    "compile_writes",
    "describe",
    "is_default_egress",
    "is_owned",
    "live_rules",
    "owner_tags",
    "permissions_for",
    "rules_from_group",
    "sanitize_description",
    "translate_rules",
]

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


def group_endpoint(group_id: str, user_id: Any = None, owner_id: Any = None) -> Endpoint:
    """The peer of a group reference: ``sg-…``, or ``<account>/sg-…`` when the referenced
    group's account (``UserId``) is not the account that owns the rule's group (``OwnerId``).
    EC2 fills in ``UserId`` for references within one account too, so only a different account
    is named, exactly as the config writes it."""
    if user_id and owner_id and str(user_id) != str(owner_id):
        return Endpoint(GROUP, f"{user_id}/{group_id}")
    return Endpoint(GROUP, str(group_id))


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
    endpoints = {role: [Endpoint(GROUP, gid)] for role, gid in groups.items()}
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
                native=SYNTAX.writable,
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
    if peer.kind is GROUP and peer.value in roles_by_group:
        return "self" if peer.value == target else f"role:{roles_by_group[peer.value]}"
    return None


def rules_from_group(
    group: Mapping[str, Any], roles_by_group: Mapping[str, str]
) -> list[TargetRule]:
    """Expand one DescribeSecurityGroups item into one target rule per source, none of them
    owned: ownership lives in rule tags, which this item does not carry (see :func:`live_rules`)."""
    target = str(group["GroupId"])
    role = roles_by_group.get(target)
    owner_id = group.get("OwnerId")
    out: list[TargetRule] = []
    for direction, key in (
        (Direction.INGRESS, "IpPermissions"),
        (Direction.EGRESS, "IpPermissionsEgress"),
    ):
        for perm in group.get(key, []):
            protocol = _protocol(perm.get("IpProtocol"))
            if protocol is None:
                continue  # not an IP protocol at all: nothing portsync could compare
            ports = _ports(protocol, perm.get("FromPort"), perm.get("ToPort"))
            icmp_type, icmp_code = _icmp(protocol, perm.get("FromPort"), perm.get("ToPort"))
            sources: list[tuple[Endpoint, str | None]] = [
                *(
                    (Endpoint.cidr(r["CidrIp"]), r.get("Description"))
                    for r in perm.get("IpRanges", ())
                ),
                *(
                    (Endpoint.cidr(r["CidrIpv6"]), r.get("Description"))
                    for r in perm.get("Ipv6Ranges", ())
                ),
                *(
                    (group_endpoint(p["GroupId"], p.get("UserId"), owner_id), p.get("Description"))
                    for p in perm.get("UserIdGroupPairs", ())
                ),
                *(
                    (Endpoint(PREFIX_LIST, p["PrefixListId"]), p.get("Description"))
                    for p in perm.get("PrefixListIds", ())
                ),
            ]
            for peer, description in sources:
                out.append(
                    TargetRule.made(
                        target=target,
                        role=role,
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
        return Endpoint(PREFIX_LIST, item["PrefixListId"])
    referenced = item.get("ReferencedGroupInfo") or {}
    if referenced.get("GroupId"):
        return group_endpoint(
            referenced["GroupId"], referenced.get("UserId"), owner_id or item.get("GroupOwnerId")
        )
    return None


def _item_fields(item: Mapping[str, Any], owner_id: Any) -> dict[str, Any] | None:
    """The fields of a target rule that one DescribeSecurityGroupRules item states (None when
    it is not an IP rule portsync can compare)."""
    protocol = _protocol(item.get("IpProtocol"))
    if protocol is None:
        return None
    peer = _item_peer(item, owner_id)
    if peer is None:
        return None
    icmp_type, icmp_code = _icmp(protocol, item.get("FromPort"), item.get("ToPort"))
    return {
        "target": str(item["GroupId"]),
        "direction": Direction.EGRESS if item.get("IsEgress") else Direction.INGRESS,
        "protocol": protocol,
        "ports": _ports(protocol, item.get("FromPort"), item.get("ToPort")),
        "peer": peer,
        "icmp_type": icmp_type,
        "icmp_code": icmp_code,
        "native_id": str(item["SecurityGroupRuleId"]),
    }


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
    role = roles_by_group.get(target)
    owner_id = group.get("OwnerId")
    described = rules_from_group(group, roles_by_group)
    by_key: dict[tuple[str, str, str, int, int, str], str] = {}
    for seen_rule in described:
        by_key.setdefault(seen_rule.key, seen_rule.description)
    out: list[TargetRule] = []
    seen: set[tuple[str, str, str, int, int, str]] = set()
    for item in items:
        if str(item.get("GroupId")) != target:
            continue
        fields = _item_fields(item, owner_id)
        if fields is None:
            continue
        tags = {
            str(t.get("Key")): str(t.get("Value"))
            for t in item.get("Tags") or ()
            if isinstance(t, Mapping)
        }
        if "Description" in item:
            description = str(item.get("Description") or "")
        else:
            # EC2 leaves the field out of a rule without a description, and moto out of group
            # references: the groups' listing may hold the text, found by the rule's key.
            description = by_key.get(TargetRule.made(**fields, role=role).key, "")
        tagged = tags.get(OWNER_TAG)
        legacy = tagged is None and is_owned(description)
        made_by = tags.get(CLUSTER_TAG, cluster)
        if legacy and made_by != cluster:
            # Another cluster's run wrote it (the tag says so): that cluster's to adopt.
            legacy, tagged = False, made_by
        rule = TargetRule.made(
            **fields,
            role=role,
            description=description,
            owner=tagged,
            owned=tagged == owner or (legacy and adopt_legacy),
            legacy=legacy,
            origin=_label(fields["peer"], target, roles_by_group),
            tags=tuple(sorted(tags.items())),
        )
        out.append(rule)
        seen.add(rule.key)
    out.extend(r for r in described if r.key not in seen)
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
        elif peer.kind is GROUP:
            perm.setdefault("UserIdGroupPairs", []).append(
                {**group_pair(peer), "Description": rule.description}
            )
        elif peer.kind is PREFIX_LIST:
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
    elif peer.kind is GROUP:
        body["ReferencedGroupId"] = group_pair(peer)["GroupId"]
    elif peer.kind is PREFIX_LIST:
        body["PrefixListId"] = peer.value
    return {"SecurityGroupRuleId": rule_id, "SecurityGroupRule": body}


# -- compile: operations to EC2 calls (pure) ----------------------------------------------------

#: The ``api`` of every AWS write: the botocore service name the method belongs to.
API = "ec2"


@dataclass(frozen=True, slots=True)
class AwsNative:
    """What an AWS read keeps besides the neutral rules (``Snapshot.native``), read-only.

    ``groups``: each group's id, name, account (``OwnerId``) and tags (how kops, CAPA and EKS
    are recognised);
    ``weights``: each prefix list's address family and weight (its max entries); ``owners``:
    each cluster's owner identity (the tags new rules get); ``region``: for messages.
    """

    region: str = ""
    groups: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    weights: Mapping[str, tuple[str, int]] = field(default_factory=lambda: MappingProxyType({}))
    owners: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        groups = {
            gid: MappingProxyType(
                {
                    "GroupId": str(item.get("GroupId", gid)),
                    "GroupName": str(item.get("GroupName", "")),
                    "OwnerId": str(item.get("OwnerId", "")),
                    "Tags": tuple(
                        MappingProxyType({"Key": str(t.get("Key")), "Value": str(t.get("Value"))})
                        for t in item.get("Tags") or ()
                        if isinstance(t, Mapping)
                    ),
                }
            )
            for gid, item in self.groups.items()
        }
        object.__setattr__(self, "groups", MappingProxyType(groups))
        weights = {k: (str(f), int(w)) for k, (f, w) in self.weights.items()}
        object.__setattr__(self, "weights", MappingProxyType(weights))
        object.__setattr__(self, "owners", MappingProxyType(dict(self.owners)))


def check_counts(
    where: str,
    final: Sequence[TargetRule],
    *,
    limit: int,
    weights: Mapping[str, tuple[str, int]] | None = None,
) -> None:
    """Refuse more than ``limit`` rules per direction and IP family, counting every rule
    whatever its protocol or owner, a prefix-list reference as its weight (its max entries) in
    its own family, and a group reference in both, as EC2 counts them. With ``weights`` None
    (offline), a prefix list counts one rule of each family.

    Raises:
        ProviderLimitError: naming ``where``, the count and the quota.
    """
    for direction in (Direction.INGRESS, Direction.EGRESS):
        v4 = v6 = 0
        for rule in final:
            if rule.direction is not direction:
                continue
            peer = rule.peer
            if peer.kind is PREFIX_LIST:
                family, weight = (weights or {}).get(peer.value, ("", 1))
                v4 += weight if family != "IPv6" else 0
                v6 += weight if family != "IPv4" else 0
            elif peer.kind is EndpointKind.CIDR:
                v4 += peer.ip_version == 4
                v6 += peer.ip_version == 6
            else:  # a group reference counts in both families
                v4 += 1
                v6 += 1
        for family, count in (("IPv4", v4), ("IPv6", v6)):
            if count > limit:
                raise ProviderLimitError(
                    f"{where} would hold {count} {family} {direction.value} rules, over the AWS "
                    f"quota of {limit} per group",
                    hint="remove rules, use prefix lists, or set rules_per_group after raising "
                    "the quota",
                )


def check_own_account(where: str, gid: str, final: Sequence[TargetRule], owner_id: str) -> None:
    """Refuse a peer that names the group's own account (``<own account>/sg-…``): EC2 stores a
    reference within one account as the group alone, so the rule would be added again on every
    run.

    Raises:
        ConfigError: naming the peer and the account.
    """
    for rule in final:
        account, _sep, group = rule.peer.value.rpartition("/")
        if rule.peer.kind is GROUP and account and account == owner_id:
            raise ConfigError(
                f"{where}: peer {rule.peer.value} names the account {owner_id} that owns {gid} "
                "itself",
                hint=f"write {group} alone; name the account only for a group of another account",
            )


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _rule_id(where: str, rule: TargetRule) -> str:
    """The rule id the read saw for ``rule``; a rule without one is refused (a permission
    DescribeSecurityGroupRules did not list)."""
    if rule.native_id:
        return rule.native_id
    raise ConflictError(
        f"{where}: no rule id was read for {rule.direction.value} {rule.protocol.value}/"
        f"{rule.ports_text} {rule.peer}; portsync changes rules by id only",
        hint="run `portsync plan` again and apply the new plan",
    )


_AUTHORIZE = {
    Direction.INGRESS: "AuthorizeSecurityGroupIngress",
    Direction.EGRESS: "AuthorizeSecurityGroupEgress",
}
_REVOKE = {
    Direction.INGRESS: "RevokeSecurityGroupIngress",
    Direction.EGRESS: "RevokeSecurityGroupEgress",
}


def _append(
    out: list[Write],
    cluster: str,
    gid: str,
    method: str,
    body: dict[str, Any],
    phase: Phase,
    removes: int = 0,
    *,
    fingerprint: str = "",
) -> None:
    out.append(
        Write(
            cluster=cluster,
            target=gid,
            api=API,
            method=method,
            body=body,
            phase=phase,
            removes=removes,
            fingerprint=fingerprint,
        )
    )


def compile_writes(groups: Sequence[GroupOps], snapshot: Snapshot) -> tuple[Write, ...]:
    """The EC2 calls that carry out ``groups`` on the state ``snapshot`` read, each body exactly
    the request's parameters (botocore shape names).

    Per security group: one authorize per direction carrying every new rule, tagged with the
    owner (make); one ModifySecurityGroupRules for changed descriptions and one CreateTags for
    adopted rules, by rule id (change); one revoke per direction by rule id (break). Every limit
    is checked first, on the state after the writes, counting every live rule.

    Raises:
        ProviderLimitError: a group would exceed its quota.
        NotFoundError: a rule references a prefix list the read did not find.
        ConflictError: a rule to change or remove has no rule id.
    """
    native = snapshot.native if isinstance(snapshot.native, AwsNative) else AwsNative()
    limit = int(snapshot.quotas.get("rules_per_group", 60))
    out: list[Write] = []
    for group in groups:
        gid = group.target
        where = f"cluster {group.cluster}: {group.label or gid}"
        final = final_state(list(snapshot.live(gid)), group.ops)
        lists = sorted({r.peer.value for r in final if r.peer.kind is PREFIX_LIST})
        absent = [pl for pl in lists if pl not in native.weights]
        if absent:
            region = f" in {native.region}" if native.region else ""
            raise NotFoundError(
                f"cluster {group.cluster}: prefix list {', '.join(absent)} does not exist{region}",
                hint="check sources.load_balancers and the region in the config",
            )
        check_counts(where, final, limit=limit, weights=native.weights)
        account = str(native.groups.get(gid, {}).get("OwnerId") or "")
        if account:
            check_own_account(where, gid, final, account)
        if not group.ops:
            continue
        owner = native.owners.get(group.cluster, group.cluster)
        tags = _tag_list(owner_tags(owner, group.cluster))
        # EC2 has no etag: the group's live rules as read stand for its state.
        write = partial(_append, out, group.cluster, gid, fingerprint=group.fingerprint)

        for direction in (Direction.INGRESS, Direction.EGRESS):
            adds = [op.rule for op in group.adds if op.rule.direction is direction]
            if adds:
                write(
                    _AUTHORIZE[direction],
                    {
                        "GroupId": gid,
                        "IpPermissions": permissions_for(adds),
                        "TagSpecifications": [
                            {"ResourceType": "security-group-rule", "Tags": tags}
                        ],
                    },
                    Phase.MAKE,
                )
        entries = [
            modify_request(op.after, _rule_id(where, op.before))
            for op in group.updates
            if op.before.description != op.after.description
        ]
        if entries:
            write(
                "ModifySecurityGroupRules",
                {"GroupId": gid, "SecurityGroupRules": entries},
                Phase.CHANGE,
            )
        adopted = sorted({_rule_id(where, op.before) for op in group.updates if op.before.legacy})
        if adopted:
            write("CreateTags", {"Resources": adopted, "Tags": tags}, Phase.CHANGE)
        for direction in (Direction.INGRESS, Direction.EGRESS):
            ids = sorted(
                {_rule_id(where, op.rule) for op in group.removes if op.rule.direction is direction}
            )
            if ids:
                write(
                    _REVOKE[direction],
                    {"GroupId": gid, "SecurityGroupRuleIds": ids},
                    Phase.BREAK,
                    removes=len(ids),
                )
    return tuple(out)
