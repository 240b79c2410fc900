"""Pure translation between neutral target rules and Compute Engine firewall rules (no I/O).

The native shape is the firewall JSON of the compute v1 REST API (camelCase keys, exactly as
``firewalls.get`` returns it). A target is a network tag (``tag:<tag>``) or a service account
(``sa:<email>``).

Packing: portsync writes one firewall per (target, direction, protocol, peer) and puts every port
of those rules into its single ``allowed`` entry. The firewall's name is derived from those four
values, so the same rules always land in the same firewall. Its description lists each port's
purpose — ``[portsync] 10250 kubelet API; 10257 kube-controller-manager`` — and reading splits it
back, so each rule's description is ``[portsync] <its own purpose>`` again and a clean state stays
clean (no perpetual diff). One peer per firewall also means a firewall never mixes IPv4 and IPv6
ranges and never has an empty source (which GCP would read as 0.0.0.0/0).
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from portsync.diff import final_state
from portsync.errors import (
    ConflictError,
    ProviderLimitError,
    TranslationError,
    UnsupportedFeatureError,
)
from portsync.model import (
    IP_PROTOCOLS,
    Direction,
    Endpoint,
    EndpointKind,
    PeerKind,
    PortRange,
    Protocol,
    Rule,
    RuleKey,
    RuleSet,
    TargetRule,
    canonical_cidr,
    icmp_for,
    parse_protocol,
)
from portsync.owners import NamedOwners
from portsync.resolve import TranslationProblems, describe_rule, resolve_peer
from portsync.writes import Phase, Write

if TYPE_CHECKING:
    from portsync.ops import GroupOps

from .limits import (
    DEFAULT_PRIORITY,
    HEALTH_CHECK_RANGES,
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    NAME_HASH_LENGTH,
    NAME_PATTERN,
)
from .peers import MARKER, SERVICE_ACCOUNT, SYNTAX, TAG

__all__ = [
    "ACCESS",
    "ALL_INSTANCES",
    "API",
    "APPLIES_TO",
    "MARKER",
    "PRIORITY",
    "FirewallShape",
    "FirewallView",
    "Listing",
    "ReadMemo",
    "Writer",
    "api_protocol",
    "canonical",
    "check_firewall",
    "check_quota",
    "clean_purpose",
    "compile_writes",
    "delete_body",
    "describe",
    "drop_writes",
    "expand",
    "expand_denied",
    "firewall_name",
    "group_of",
    "is_egress",
    "is_owned",
    "listing",
    "listing_of",
    "network_matches",
    "network_url",
    "ownership",
    "pack",
    "parse_description",
    "patch_for",
    "target_writes",
    "targets_of",
    "translate_rules",
    "view_of",
    "write_order",
]

#: Purpose written when a rule has none.
DEFAULT_PURPOSE = "portsync rule"
#: ``TargetRule.extra`` key holding the firewall priority (compared by the diff).
PRIORITY = "priority"
#: ``TargetRule.extra`` key of the rules of denying firewalls (``deny``); a ``live.`` key, read by
#: the evaluator only.
ACCESS = "live.access"
#: ``TargetRule.extra`` key marking rules of firewalls with no target at all.
APPLIES_TO = "applies_to"
#: Value of :data:`APPLIES_TO` for a firewall that applies to every instance of the network.
ALL_INSTANCES = "all-instances"

_API_ROOT = "https://www.googleapis.com/compute/v1/"
_NETWORK_TAIL = re.compile(r"(?:^|/)projects/(?P<project>[^/]+)/global/networks/(?P<name>[^/]+)$")
_PROTOCOLS = IP_PROTOCOLS
#: Protocols the firewall API takes by name; every other one is written as its number.
_API_NAMES = frozenset({"tcp", "udp", "icmp", "esp", "ah", "ipip", "sctp", "all"})
_LIST_FIELDS = (
    "sourceRanges",
    "destinationRanges",
    "sourceTags",
    "sourceServiceAccounts",
    "targetTags",
    "targetServiceAccounts",
)
_RANGE_FIELDS = frozenset({"sourceRanges", "destinationRanges"})
_TAG = f"{TAG.value}:"
_ACCOUNT = f"{SERVICE_ACCOUNT.value}:"


# --------------------------------------------------------------------------- small helpers


def network_url(project: str, network: str) -> str:
    """The full network URL the API returns in ``firewall.network``."""
    return f"{_API_ROOT}projects/{project}/global/networks/{network}"


def network_matches(value: str | None, project: str, network: str) -> bool:
    """Whether a firewall's ``network`` field names ``project``'s ``network``."""
    match = _NETWORK_TAIL.search(str(value or ""))
    if match is None:
        return False
    return match.group("project") == project and match.group("name") == network


def clean_purpose(purpose: str) -> str:
    """A purpose as portsync writes it: one line, no ``;`` (the packing separator)."""
    return " ".join(str(purpose or "").replace(";", ",").split()) or DEFAULT_PURPOSE


def describe(purpose: str) -> str:
    """The per-rule description portsync wants for a rule with this purpose."""
    text = f"{MARKER} {clean_purpose(purpose)}"
    return text[:MAX_DESCRIPTION_LENGTH].rstrip()


def _purpose_of(description: str) -> str:
    text = description[len(MARKER) :] if description.startswith(MARKER) else description
    return clean_purpose(text)


def targets_of(firewall: Mapping[str, Any]) -> list[str]:
    """Target ids (``tag:…``, ``sa:…``) a firewall applies to; empty when it applies to all."""
    tags = firewall.get("targetTags")
    accounts = firewall.get("targetServiceAccounts")
    out = [_TAG + t for t in tags] if tags else []
    if accounts:
        out += [_ACCOUNT + a for a in accounts]
    return out


def ownership(
    firewall: Mapping[str, Any], owners: NamedOwners, *, adopt_legacy: bool = False
) -> tuple[bool, str | None, bool]:
    """``(owned, owner, legacy)`` of a firewall, from its name.

    The owner is the one whose digest the name carries (``<prefix>-<hash>-…``). A firewall is
    owned when that is the current owner and it has exactly one target: portsync only writes
    single-target firewalls, so one with several (or none) was edited by someone else and is
    left alone, and so is its owner's claim. A firewall without a digest but with the marks of an
    earlier release is ``legacy``: owned only when ``adopt_legacy``.
    """
    return _ownership(firewall, len(targets_of(firewall)) == 1, owners, adopt_legacy)


def _ownership(
    firewall: Mapping[str, Any], single: bool, owners: NamedOwners, adopt_legacy: bool
) -> tuple[bool, str | None, bool]:
    """:func:`ownership`, given whether the firewall has exactly one target."""
    return _owner_marks(
        str(firewall.get("name", "")),
        str(firewall.get("description") or ""),
        single,
        owners,
        adopt_legacy,
    )


def _owner_marks(
    name: str, description: str, single: bool, owners: NamedOwners, adopt_legacy: bool
) -> tuple[bool, str | None, bool]:
    """:func:`ownership` of a firewall with this name and description."""
    owner = owners.owner_of(name) if single else None
    if owner is not None:
        return owner == owners.owner, owner, False
    legacy = single and name.startswith(f"{owners.prefix}-") and description.startswith(MARKER)
    return legacy and adopt_legacy, None, legacy


def is_owned(firewall: Mapping[str, Any], owners: NamedOwners) -> bool:
    """Whether the current owner's digest names a single-target firewall (never a legacy one)."""
    return (
        len(targets_of(firewall)) == 1
        and owners.owner_of(str(firewall.get("name", ""))) == owners.owner
    )


def _name_part(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", text.lower())).strip("-")


def firewall_name(
    prefix: str,
    role: str | None,
    target: str,
    direction: Direction,
    protocol: Protocol,
    peer: Endpoint,
) -> str:
    """The deterministic name of the firewall holding (target, direction, protocol, peer).

    ``<prefix>-<role>-<protocol>-<hash8>``; the role is shortened so the name fits in 63
    characters, and the hash is taken over all four values. portsync passes the owner's name
    stem (``<name_prefix>-<owner hash>``, see :class:`portsync.owners.NamedOwners`) as
    ``prefix``.
    """
    seed = "\n".join((target, direction.value, protocol.value, str(peer)))
    digest = hashlib.sha256(seed.encode()).hexdigest()[:NAME_HASH_LENGTH]
    short = _name_part(role or target.partition(":")[2])
    room = MAX_NAME_LENGTH - len(prefix) - len(protocol.value) - NAME_HASH_LENGTH - 3
    short = short[: max(room, 0)].strip("-")
    return "-".join(p for p in (prefix, short, protocol.value, digest) if p)


# --------------------------------------------------------------------------- neutral → target rules


def _peers(
    rule: Rule,
    *,
    cluster: str,
    bindings: Mapping[str, Sequence[Endpoint]],
    sources_all: Sequence[str],
    pods: Sequence[Endpoint] = (),
) -> list[Endpoint]:
    return resolve_peer(
        rule,
        cluster=cluster,
        bindings=bindings,
        sources_all=sources_all,
        load_balancers=_HEALTH_CHECKERS,
        binding_keys="target_tag or service_account binding",
        cloud="GCP",
        native=SYNTAX.writable,
        pods=pods,
    )


_HEALTH_CHECKERS = tuple(Endpoint.cidr(c) for c in HEALTH_CHECK_RANGES)


def _check_peer(rule: Rule, target: Endpoint, peer: Endpoint, *, cluster: str) -> None:
    """Refuse combinations a GCP firewall cannot express."""
    if peer.kind is EndpointKind.CIDR:
        return
    where = describe_rule(rule, cluster)
    if rule.direction is Direction.EGRESS:
        raise UnsupportedFeatureError(
            f"{where} is an egress rule to {peer}; GCP egress firewalls only take destination "
            "IP ranges, not tags or service accounts",
            hint="use a cidr: peer for egress rules",
        )
    if peer.kind is not target.kind:
        target_how = "network tag" if target.kind is TAG else "service account"
        peer_how = "network tag" if peer.kind is TAG else "service account"
        raise TranslationError(
            f"{where}: the role is bound by {target_how} {target.value} but its peer "
            f"({rule.peer}) is the {peer_how} {peer.value}; GCP cannot combine target tags with "
            "source service accounts, nor target service accounts with source tags",
            hint="bind the roles that talk to each other the same way: all by target_tag or "
            "all by service_account",
        )


def translate_rules(
    rules: RuleSet,
    *,
    cluster: str,
    bindings: Mapping[str, Endpoint],
    sources_all: Sequence[str],
    priority: int = DEFAULT_PRIORITY,
    pod_ranges: Sequence[str] = (),
) -> list[TargetRule]:
    """Resolve neutral rules onto tags or service accounts (``bindings``: role → endpoint).

    ``pod_ranges`` are added to ``self`` and ``role:`` peers of ingress rules: on VPC-native
    clusters pods send from alias IP ranges, which ``sourceTags`` and service accounts do not
    match.

    Rules of roles the cluster does not bind are skipped. Each rule gets one target rule per
    concrete peer, described ``[portsync] <purpose>`` and carrying the priority in ``extra``.

    Raises:
        TranslationError: every rule that needs a missing source or an impossible combination,
            at once.
    """
    out: list[TargetRule] = []
    problems = TranslationProblems()
    extra = ((PRIORITY, str(priority)),)
    peer_bindings = {role: (endpoint,) for role, endpoint in bindings.items()}
    pods = [Endpoint.cidr(c) for c in pod_ranges]
    # A config repeats a few peers and purposes over thousands of rules: each distinct peer is
    # resolved and checked once (a refusal is not kept: its message names the rule), and each
    # purpose described once.
    resolved: dict[tuple[Any, ...], list[Endpoint]] = {}
    described: dict[str, str] = {}
    for rule in rules:
        target = bindings.get(rule.role)
        if target is None:
            continue
        if rule.icmp_type is not None:
            problems.add(
                UnsupportedFeatureError(
                    f"{describe_rule(rule, cluster)}: GCP firewall rules have no ICMP type or "
                    f"code (icmp_type {rule.icmp_type}); a rule would admit every ICMP type",
                    hint="remove icmp_type and icmp_code to admit all of ICMP, or leave the "
                    "rule out on GCP",
                )
            )
            continue
        # What the peers depend on: the peer, the rule's own role for ``self``, the direction
        # (pods, and what _check_peer allows), "All" membership, the target's kind.
        peer = rule.peer
        own = rule.role if peer.kind is PeerKind.SELF else None
        memo = (peer, own, rule.direction, rule.via_all, target.kind)
        peers = resolved.get(memo)
        if peers is None:
            try:
                peers = _peers(
                    rule,
                    cluster=cluster,
                    bindings=peer_bindings,
                    sources_all=sources_all,
                    # Egress to a role names its tag, which GCP refuses either way (below).
                    pods=pods if rule.direction is Direction.INGRESS else (),
                )
                for endpoint in peers:
                    _check_peer(rule, target, endpoint, cluster=cluster)
            except TranslationError as exc:
                problems.add(exc)
                continue
            resolved[memo] = peers
        description = described.get(rule.purpose)
        if description is None:
            description = described[rule.purpose] = describe(rule.purpose)
        target_id = str(target)
        for endpoint in peers:
            out.append(
                TargetRule.desired(
                    rule,
                    target=target_id,
                    peer=endpoint,
                    description=description,
                    extra=extra,
                    # GCP keeps ICMP (1) and ICMPv6 (58) apart: icmp matches no IPv6 packet.
                    protocol=icmp_for(rule.protocol, endpoint),
                )
            )
    problems.raise_if_any()
    return out


# --------------------------------------------------------------------------- target rules → firewalls


def _ports_text(ports: PortRange | None) -> str:
    return str(ports) if ports is not None else ""


def _group_priority(rules: Sequence[TargetRule], default: int) -> int:
    values = {dict(r.extra).get(PRIORITY) for r in rules}
    if len(values) == 1:
        (value,) = values
        if value is not None and value.isdigit():
            return int(value)
    return default


def _packed_description(protocol: Protocol, rules: Sequence[TargetRule]) -> str:
    if not protocol.has_ports:
        return f"{MARKER} {_purpose_of(rules[0].description)}"
    entries = [f"{r.ports} {_purpose_of(r.description)}" for r in rules]
    return f"{MARKER} {'; '.join(entries)}"


Group = tuple[str, str, str, str]
"""(target, direction, protocol, peer): the rules one firewall holds."""


def group_of(firewall: Mapping[str, Any]) -> Group | None:
    """The group a firewall holds when it has portsync's shape (one target, one modelled
    ``allowed`` entry, one source or destination), else None."""
    targets = targets_of(firewall)
    entries = list(firewall.get("allowed") or ())
    if len(targets) != 1 or len(entries) != 1 or firewall.get("denied"):
        return None
    protocol = _protocol(entries[0].get("IPProtocol"))
    if protocol is None:
        return None
    direction = Direction(str(firewall.get("direction") or "INGRESS").lower())
    peers = _peers_of(firewall, direction)
    if len(peers) != 1:
        return None
    return (targets[0], direction.value, protocol.value, str(peers[0]))


def pack(
    rules: Iterable[TargetRule],
    *,
    prefix: str,
    network: str,
    default_priority: int = DEFAULT_PRIORITY,
    reuse: Iterable[Mapping[str, Any]] = (),
) -> dict[str, dict[str, Any]]:
    """Pack target rules into firewall bodies, one per (target, direction, protocol, peer).

    Every port of a group goes into one ``allowed`` entry (sorted; ranges as ``a-b``); rules with
    the same key collapse (the first one wins). ``network`` is the network URL. A group gets its
    deterministic :func:`firewall_name`, unless one of the ``reuse`` firewalls (portsync's own
    live firewalls) already holds exactly that group: then it keeps that firewall's name, so an
    upgrade or a hand-named firewall never causes a rename (the deterministic name is preferred
    when several qualify).

    Returns:
        Firewall bodies by name, ready for ``firewalls.insert``.

    Raises:
        TranslationError: a rule GCP cannot express (an egress rule to a tag, a peer kind GCP
            does not have).
    """
    groups: dict[Group, list[TargetRule]] = {}
    seen: set[tuple[str, str, str, int, int, str]] = set()
    for rule in sorted(rules, key=lambda r: r.key):
        if rule.key in seen:
            continue
        seen.add(rule.key)
        group = (rule.target, rule.direction.value, rule.protocol.value, str(rule.peer))
        groups.setdefault(group, []).append(rule)
    existing: dict[Group, list[str]] = {}
    for firewall in reuse:
        held = group_of(firewall)
        if held is not None:
            existing.setdefault(held, []).append(str(firewall["name"]))
    out: dict[str, dict[str, Any]] = {}
    for group, members in groups.items():
        first = members[0]
        name = firewall_name(
            prefix, first.role, group[0], first.direction, first.protocol, first.peer
        )
        names = existing.get(group, [])
        if names and name not in names:
            name = min(names)
        out[name] = _firewall_body(
            name,
            members,
            network=network,
            priority=_group_priority(members, default_priority),
        )
    return out


def _firewall_body(
    name: str, rules: Sequence[TargetRule], *, network: str, priority: int
) -> dict[str, Any]:
    first = rules[0]
    entry: dict[str, Any] = {"IPProtocol": api_protocol(first.protocol)}
    if first.protocol.has_ports:
        entry["ports"] = [_ports_text(r.ports) for r in rules]  # already sorted by key
    body: dict[str, Any] = {
        "name": name,
        "description": _packed_description(first.protocol, rules),
        "network": network,
        "priority": priority,
        "direction": first.direction.value.upper(),
        "allowed": [entry],
        "disabled": False,
    }
    peer = first.peer
    if first.direction is Direction.EGRESS:
        if peer.kind is not EndpointKind.CIDR:
            raise UnsupportedFeatureError(f"GCP egress firewalls cannot name {peer} ({name})")
        body["destinationRanges"] = [peer.value]
    elif peer.kind is EndpointKind.CIDR:
        body["sourceRanges"] = [peer.value]
    elif peer.kind is TAG:
        body["sourceTags"] = [peer.value]
    elif peer.kind is SERVICE_ACCOUNT:
        body["sourceServiceAccounts"] = [peer.value]
    else:
        raise UnsupportedFeatureError(f"GCP firewalls cannot name peer {peer} ({name})")
    target = Endpoint.parse(first.target)
    if target.kind is TAG:
        body["targetTags"] = [target.value]
    elif target.kind is SERVICE_ACCOUNT:
        body["targetServiceAccounts"] = [target.value]
    else:
        raise UnsupportedFeatureError(f"GCP firewalls cannot target {target} ({name})")
    return body


def check_firewall(body: Mapping[str, Any]) -> list[str]:
    """Problems GCP would refuse in a firewall portsync is about to write (empty when fine)."""
    problems = []
    name = str(body.get("name", ""))
    if len(name) > MAX_NAME_LENGTH or not NAME_PATTERN.fullmatch(name):
        problems.append(f"firewall name {name!r} is not a valid RFC 1035 name of 1-63 characters")
    description = str(body.get("description", ""))
    if len(description) > MAX_DESCRIPTION_LENGTH:
        problems.append(
            f"firewall {name} would need a description of {len(description)} characters, over "
            f"GCP's {MAX_DESCRIPTION_LENGTH}"
        )
    sources = [body.get(f) or [] for f in ("sourceRanges", "sourceTags", "sourceServiceAccounts")]
    if body.get("direction") == "INGRESS" and not any(sources):
        problems.append(f"firewall {name} would have no source (GCP would read it as 0.0.0.0/0)")
    ranges = list(body.get("sourceRanges") or []) + list(body.get("destinationRanges") or [])
    if len({ipaddress.ip_network(r, strict=False).version for r in ranges}) > 1:
        problems.append(f"firewall {name} would mix IPv4 and IPv6 ranges")
    return problems


# --------------------------------------------------------------------------- firewalls → target rules


def parse_description(description: str, tokens: Sequence[str]) -> dict[str, str]:
    """Split a packed description into per-port descriptions (``[portsync] <purpose>``).

    ``tokens`` are the firewall's port texts (``"10250"``, ``"2379-2380"``). Returns an empty
    mapping when the description is not in portsync's packed format.
    """
    if not description.startswith(MARKER) or not tokens:
        return {}
    known = set(tokens)
    body = description[len(MARKER) :].strip()
    # Entries are joined by "; ", but a purpose may contain "; " too: a piece starts a new entry
    # only when its first word is one of the firewall's port texts.
    entries: list[str] = []
    for piece in body.split("; "):
        if entries and piece.partition(" ")[0] not in known:
            entries[-1] = f"{entries[-1]}; {piece}"
        else:
            entries.append(piece)
    out: dict[str, str] = {}
    for entry in entries:
        token, _, purpose = entry.partition(" ")
        if token not in known:
            return {}
        out.setdefault(token, f"{MARKER} {clean_purpose(purpose)}")
    return out


def _protocol(value: Any) -> Protocol | None:
    known = _PROTOCOLS.get(value) if type(value) is str else None
    if known is not None:
        return known
    text = str(value or "").strip().lower()
    return _PROTOCOLS.get(text) or parse_protocol(text)


def api_protocol(protocol: Protocol) -> str:
    """``IPProtocol`` as the firewall API takes it: a name it knows, else the number."""
    return protocol.value if protocol.value in _API_NAMES else str(protocol.number)


#: A modelled ``allowed`` (or ``denied``) entry's port: (protocol, ports, port text).
Entry = tuple[Protocol, PortRange | None, str]
#: ``allowed`` (or ``denied``) as listed: (``IPProtocol`` or ``""``, ports) of each entry.
RawEntries = tuple[tuple[Any, tuple[Any, ...]], ...]


def _raw_entries(entries: Any) -> RawEntries:
    """A JSON ``allowed`` (or ``denied``) list as :data:`RawEntries`. A missing ``IPProtocol``
    reads as ``""``, which :func:`_protocol` takes for no protocol, like every empty value."""
    return tuple((e.get("IPProtocol") or "", tuple(e.get("ports") or ())) for e in entries or ())


def _entry(value: Any, ports: tuple[Any, ...]) -> tuple[Entry, ...]:
    """The modelled ports of one ``allowed`` (or ``denied``) entry; none when its protocol is
    not an IP protocol (nothing portsync could compare)."""
    protocol = _protocol(value)
    if protocol is None:
        return ()
    if not protocol.has_ports:
        return ((protocol, None, ""),)
    texts = [str(p) for p in ports]
    if not texts:
        return ((protocol, PortRange(0, 65535), "0-65535"),)
    out: list[Entry] = []
    for text in texts:
        try:
            out.append((protocol, PortRange.parse(text), text))
        except ValueError:
            continue
    return tuple(out)


def _parsed_entries(raw: RawEntries) -> tuple[tuple[Entry, ...], bool]:
    """Every modelled port of ``raw``, and whether no two of them give the same rule key."""
    entries = tuple(entry for value, ports in raw for entry in _entry(value, ports))
    keys = {
        (p.value, r.from_port, r.to_port) if r is not None else (p.value, -1, -1)
        for p, r, _t in entries
    }
    return entries, len(keys) == len(entries)


def _listed_peers(
    direction: Direction, ranges: Sequence[Any], tags: Sequence[Any], accounts: Sequence[Any]
) -> list[Endpoint]:
    """A firewall's peers: the destination ranges of an egress firewall (``ranges``), else its
    source ranges, tags and service accounts; GCP reads a firewall without any as the whole
    IPv4 internet."""
    if direction is Direction.EGRESS:
        return [Endpoint.cidr(r) for r in ranges or ("0.0.0.0/0",)]
    peers = [Endpoint.cidr(r) for r in ranges]
    peers += [Endpoint(TAG, t) for t in tags]
    peers += [Endpoint(SERVICE_ACCOUNT, a) for a in accounts]
    return peers or [Endpoint.cidr("0.0.0.0/0")]


def _peers_of(firewall: Mapping[str, Any], direction: Direction) -> list[Endpoint]:
    if direction is Direction.EGRESS:
        return _listed_peers(direction, tuple(firewall.get("destinationRanges") or ()), (), ())
    return _listed_peers(
        direction,
        tuple(firewall.get("sourceRanges") or ()),
        tuple(firewall.get("sourceTags") or ()),
        tuple(firewall.get("sourceServiceAccounts") or ()),
    )


def _origin(peer: Endpoint, target: str, roles_by_target: Mapping[str, str]) -> str | None:
    text = peer.text
    if text == target:
        return "self"
    role = roles_by_target.get(text)
    return f"role:{role}" if role else None


_DIRECTIONS = {"INGRESS": Direction.INGRESS, "EGRESS": Direction.EGRESS}


def _direction(value: Any) -> Direction:
    """A listed ``direction`` (``INGRESS`` when empty)."""
    return _DIRECTIONS.get(value) or Direction(str(value).lower())


def is_egress(value: Any) -> bool:
    """Whether a listed ``direction`` (``INGRESS`` when empty) reads as egress: such a firewall's
    peers are its destination ranges, any other's its sources."""
    if value == "EGRESS":
        return True
    return value != "INGRESS" and str(value).lower() == Direction.EGRESS.value


def _extra(value: Any, everywhere: bool, denying: bool) -> tuple[tuple[str, str], ...]:
    """``extra`` of the rules of a firewall of priority ``value``."""
    priority = (PRIORITY, str(int(value)))
    if not (everywhere or denying):
        return (priority,)
    items = [priority]
    if everywhere:
        items.append((APPLIES_TO, ALL_INSTANCES))
    if denying:
        items.append((ACCESS, "deny"))
    return tuple(sorted(items))


class FirewallShape(NamedTuple):
    """What the rules of a firewall take from it besides its name and targets, as listed. The
    firewalls of a project share a few shapes (one per service and peer), and a read works out
    what each shape gives once (:class:`ReadMemo`)."""

    description: str
    #: ``direction`` as listed, ``INGRESS`` when empty.
    direction: Any
    #: ``priority`` as listed, :data:`DEFAULT_PRIORITY` when absent.
    priority: Any
    #: Whether it has ``denied`` entries: ``entries`` are then those, else ``allowed``.
    denying: bool
    entries: RawEntries
    #: The source ranges; the destination ranges of an egress firewall (:func:`is_egress`).
    ranges: tuple[Any, ...]
    #: The source tags and service accounts; none for an egress firewall.
    tags: tuple[Any, ...]
    accounts: tuple[Any, ...]


class FirewallView(NamedTuple):
    """What expanding one firewall into rules looks at: from its JSON shape (:func:`view_of`)
    or straight from a listed message (``convert.view_of_message``). Equal views expand into
    equal rules."""

    name: str
    #: Target ids (``tag:…``, ``sa:…``), as :func:`targets_of` gives them.
    targets: list[str]
    disabled: bool
    #: ``network`` as listed, ``""`` when absent.
    network: Any
    shape: FirewallShape


def view_of(firewall: Mapping[str, Any], targets: list[str] | None = None) -> FirewallView:
    """The :class:`FirewallView` of a firewall in its JSON shape (``targets``: its
    :func:`targets_of`, when already known)."""
    denying = bool(firewall.get("denied"))
    direction = firewall.get("direction") or "INGRESS"
    if is_egress(direction):
        ranges: tuple[Any, ...] = tuple(firewall.get("destinationRanges") or ())
        tags: tuple[Any, ...] = ()
        accounts: tuple[Any, ...] = ()
    else:
        ranges = tuple(firewall.get("sourceRanges") or ())
        tags = tuple(firewall.get("sourceTags") or ())
        accounts = tuple(firewall.get("sourceServiceAccounts") or ())
    return FirewallView(
        str(firewall.get("name", "")),
        targets_of(firewall) if targets is None else targets,
        bool(firewall.get("disabled")),
        firewall.get("network") or "",
        FirewallShape(
            str(firewall.get("description") or ""),
            direction,
            firewall.get("priority", DEFAULT_PRIORITY),
            denying,
            _raw_entries(firewall.get("denied" if denying else "allowed")),
            ranges,
            tags,
            accounts,
        ),
    )


class _ShapeRules:
    """What every firewall of one shape gives its rules; ``purposes`` (the packed description
    split by port) is worked out for the first one whose name marks it portsync's."""

    __slots__ = ("direction", "entries", "extra", "peers", "purposes", "unique")

    def __init__(self, shape: FirewallShape, everywhere: bool, memo: ReadMemo) -> None:
        self.direction = _direction(shape.direction)
        self.extra = _extra(shape.priority, everywhere, shape.denying)
        self.entries, distinct_entries = memo.parsed(shape.entries)
        self.peers, distinct_peers = memo.peers_of(self.direction, shape)
        #: Whether the rules of one target have distinct keys (no repeated port or peer).
        self.unique = distinct_entries and distinct_peers
        self.purposes: Mapping[str, str] | None = None

    def purposes_of(self, description: str) -> Mapping[str, str]:
        if self.purposes is None:
            tokens = tuple(t for _p, _r, t in self.entries if t)
            self.purposes = parse_description(description, tokens)
        return self.purposes


class ReadMemo:
    """What expanding firewalls works out once per distinct listed value: per shape
    (:class:`FirewallShape`), and per entry list and peer list that shapes share. Made for one
    read (or one expansion) and dropped with it, so every plan parses what it reads again."""

    __slots__ = ("entries", "peers", "shapes")

    def __init__(self) -> None:
        self.shapes: dict[tuple[FirewallShape, bool], _ShapeRules] = {}
        self.entries: dict[RawEntries, tuple[tuple[Entry, ...], bool]] = {}
        self.peers: dict[tuple[Any, ...], tuple[list[Endpoint], bool]] = {}

    def shape(self, shape: FirewallShape, everywhere: bool) -> _ShapeRules:
        """What a firewall of ``shape`` (applying to every instance when ``everywhere``) gives
        its rules, worked out once."""
        key = (shape, everywhere)
        try:
            found = self.shapes.get(key)
        except TypeError:  # a value that cannot be a key: not from an API answer
            return _ShapeRules(shape, everywhere, self)
        if found is None:
            found = self.shapes[key] = _ShapeRules(shape, everywhere, self)
        return found

    def parsed(self, raw: RawEntries) -> tuple[tuple[Entry, ...], bool]:
        """:func:`_parsed_entries` of ``raw``, worked out once."""
        try:
            found = self.entries.get(raw)
        except TypeError:
            return _parsed_entries(raw)
        if found is None:
            found = self.entries[raw] = _parsed_entries(raw)
        return found

    def peers_of(self, direction: Direction, shape: FirewallShape) -> tuple[list[Endpoint], bool]:
        """The peers of a firewall of ``shape`` (:func:`_listed_peers`), and whether no two give
        the same rule key; worked out once."""
        key = (direction, shape.ranges, shape.tags, shape.accounts)
        try:
            found = self.peers.get(key)
        except TypeError:
            return _distinct_peers(_listed_peers(*key))
        if found is None:
            found = self.peers[key] = _distinct_peers(_listed_peers(*key))
        return found


def _distinct_peers(peers: list[Endpoint]) -> tuple[list[Endpoint], bool]:
    return peers, len({p.text for p in peers}) == len(peers)


def expand(
    firewall: Mapping[str, Any],
    *,
    owners: NamedOwners,
    roles_by_target: Mapping[str, str],
    adopt_legacy: bool = False,
    memo: ReadMemo | None = None,
) -> list[TargetRule]:
    """Expand one firewall into target rules: one per (allowed entry × port × source × target).

    Only bound targets (keys of ``roles_by_target``) are considered; a firewall with no target
    applies to every instance and is reported on every bound target, unmanaged, with ``extra``
    ``applies_to=all-instances``. Denying or disabled firewalls yield nothing: they grant no
    access, so they must never satisfy a wanted allow rule. ``native_id`` is the firewall name;
    ownership comes from the name (:func:`ownership`).
    """
    if firewall.get("denied") or firewall.get("disabled"):
        return []
    named = targets_of(firewall)
    if not _binds(named, roles_by_target):
        return []
    return _expand(
        view_of(firewall, named), owners, roles_by_target, adopt_legacy, memo or ReadMemo()
    )


def expand_denied(
    firewall: Mapping[str, Any],
    *,
    roles_by_target: Mapping[str, str],
    memo: ReadMemo | None = None,
) -> list[TargetRule]:
    """The rules of a denying firewall on the bound targets, for the evaluator that ``explain``
    and lifelines share: one per denied entry × port × source × target, never owned, with
    ``extra`` ``live.access=deny`` and the firewall's priority. Allowing or disabled firewalls
    yield nothing. The diff never sees these rules: portsync writes no deny rule, and a deny
    rule must never stand in for a wanted allow rule."""
    if not firewall.get("denied") or firewall.get("disabled"):
        return []
    named = targets_of(firewall)
    if not _binds(named, roles_by_target):
        return []
    return _expand(view_of(firewall, named), None, roles_by_target, False, memo or ReadMemo())


def _binds(targets: Sequence[str], roles_by_target: Mapping[str, str]) -> bool:
    """Whether a firewall with these targets applies to a bound target (one without any
    applies to every instance)."""
    if not targets:
        return bool(roles_by_target)
    return not roles_by_target.keys().isdisjoint(targets)


def _expand(
    view: FirewallView,
    owners: NamedOwners | None,
    roles_by_target: Mapping[str, str],
    adopt_legacy: bool,
    memo: ReadMemo,
    mine: str | None = None,
) -> list[TargetRule]:
    # Called for every firewall of every read (positional arguments: they cost less): what the
    # firewall's shape gives is worked out once a read (``memo``), what its name gives once a
    # firewall, before the loops.
    named = view.targets
    everywhere = not named
    if everywhere:
        bound = list(roles_by_target)
    elif len(named) == 1:
        bound = named if named[0] in roles_by_target else []
    else:
        bound = [t for t in named if t in roles_by_target]
    if not bound:
        return []
    shape = view.shape
    try:
        given = memo.shapes[shape, everywhere]
    except (KeyError, TypeError):
        given = memo.shape(shape, everywhere)
    name = view.name
    description = shape.description
    if owners is None:
        owned, owner, legacy = False, None, False
    elif mine is not None and len(named) == 1 and name.startswith(mine):
        # The current owner's digest (what owners.owner_of reads), without parsing it again.
        owned, owner, legacy = True, owners.owner, False
    else:
        owned, owner, legacy = _owner_marks(
            name, description, len(named) == 1, owners, adopt_legacy
        )
    purposes = given.purposes_of(description) if owned or legacy or owner is not None else {}
    direction = given.direction
    extra = given.extra
    entries = given.entries
    peers = given.peers
    # Rules of one firewall share a key only when it repeats a port, a peer or a target.
    unique = given.unique and (len(bound) == 1 or len(set(bound)) == len(bound))
    out: list[TargetRule] = []
    seen: set[tuple[str, str, str, int, int, str]] = set()
    for target in bound:
        role = roles_by_target[target]
        if len(peers) == 1:
            origins = [(peers[0], _origin(peers[0], target, roles_by_target))]
        else:
            origins = [(peer, _origin(peer, target, roles_by_target)) for peer in peers]
        for protocol, ports, text in entries:
            rule_description = purposes.get(text, description)
            for peer, origin in origins:
                rule = TargetRule.made(
                    target=target,
                    role=role,
                    direction=direction,
                    protocol=protocol,
                    ports=ports,
                    peer=peer,
                    description=rule_description,
                    owned=owned,
                    owner=owner,
                    legacy=legacy,
                    native_id=name,
                    origin=origin,
                    extra=extra,
                )
                if unique:
                    out.append(rule)
                    continue
                key = rule._key
                if key not in seen:
                    seen.add(key)
                    out.append(rule)
    return out


# --------------------------------------------------------------------------- comparing firewalls


def _port_sort_key(text: str) -> tuple[int, int]:
    try:
        ports = PortRange.parse(text)
    except ValueError:
        return (65536, 0)
    return (ports.from_port, ports.to_port)


def _canonical_list(field: str, values: Any) -> tuple[str, ...]:
    items = [str(v) for v in values or ()]
    if field in _RANGE_FIELDS:
        items = [canonical_cidr(v) for v in items]
    return tuple(sorted(set(items)))


def canonical(firewall: Mapping[str, Any]) -> dict[str, Any]:
    """The fields portsync manages, normalised so equal firewalls compare equal.

    ``logConfig``, ``id``, timestamps and links are left out: portsync does not manage them.
    """
    allowed = []
    for entry in firewall.get("allowed") or ():
        raw = str(entry.get("IPProtocol", "")).strip().lower()
        protocol = _protocol(raw)
        ports = sorted({str(p) for p in entry.get("ports") or ()}, key=_port_sort_key)
        allowed.append((protocol.value if protocol else raw, tuple(ports)))
    out: dict[str, Any] = {
        "description": str(firewall.get("description") or ""),
        "priority": int(firewall.get("priority", DEFAULT_PRIORITY)),
        "direction": str(firewall.get("direction") or "INGRESS"),
        "allowed": tuple(sorted(allowed)),
        "denied": bool(firewall.get("denied")),
        "disabled": bool(firewall.get("disabled", False)),
    }
    for field in _LIST_FIELDS:
        out[field] = _canonical_list(field, firewall.get(field))
    if out["direction"] == "EGRESS" and not out["destinationRanges"]:
        out["destinationRanges"] = ("0.0.0.0/0",)
    return out


def patch_for(live: Mapping[str, Any], desired: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """What turns ``live`` into ``desired``.

    Returns:
        ``(fields, replace)``: the changed fields for a ``firewalls.patch`` (empty when nothing
        differs), and whether a patch cannot do it because a field must be cleared (a merge
        patch from the client can only set fields), so the whole firewall must be replaced
        with ``firewalls.update``.
    """
    have, want = canonical(live), canonical(desired)
    fields: dict[str, Any] = {}
    for field in ("description", "priority", "allowed", "disabled", *_LIST_FIELDS):
        if have[field] != want[field] and field in desired:
            fields[field] = desired[field]
    replace = have["denied"] or any(
        have[field] and field not in desired and have[field] != want[field]
        for field in _LIST_FIELDS
    )
    if replace:
        fields = {k: v for k, v in desired.items() if k != "name"}
    return fields, replace


# --------------------------------------------------------------------------- compile: the writes

#: The ``api`` of every GCP write: the Compute Engine v1 firewalls collection.
API = "compute.firewalls"
#: Fields the API sets on a firewall; a full replace (``firewalls.update``) leaves them out.
_OUTPUT_ONLY = frozenset({"id", "kind", "creationTimestamp", "selfLink"})


@dataclass(frozen=True, slots=True)
class Listing:
    """What one ``firewalls.list`` saw: the raw firewalls (read-only) by name, the names of the
    firewalls applying to each target (``""``: to every instance), and how many firewalls the
    listing counted (the whole project when it was not filtered to one network)."""

    firewalls: Mapping[str, Mapping[str, Any]]
    by_target: Mapping[str, tuple[str, ...]]
    count: int
    #: Whether the list was filtered to the readers' network (else: every network's firewalls,
    #: kept because firewall names are unique in the whole project).
    one_network: bool = True


def listing(
    firewalls: Iterable[Mapping[str, Any]], *, count: int | None = None, one_network: bool = True
) -> Listing:
    """A :class:`Listing` of ``firewalls`` (in the JSON shape, such as a test's or a rehearsal's
    firewalls); ``count`` defaults to how many there are."""
    # Read-only views: a listing is shared by the clusters of a read scope and never changes.
    raw = {
        str(fw["name"]): fw if isinstance(fw, MappingProxyType) else MappingProxyType(fw)
        for fw in firewalls
    }
    return listing_of(
        ((name, targets_of(fw)) for name, fw in raw.items()),
        MappingProxyType(raw),
        count=count,
        one_network=one_network,
    )


def listing_of(
    targets: Iterable[tuple[str, Sequence[str]]],
    whole: Mapping[str, Mapping[str, Any]],
    *,
    count: int | None = None,
    one_network: bool = True,
) -> Listing:
    """A :class:`Listing` of the firewalls ``whole`` gives by name (read-only, in the JSON
    shape), from each one's name and :func:`targets_of` in listed order (``targets``)."""
    by_target: dict[str, list[str]] = {}
    for name, named in targets:
        for target in named or [""]:
            by_target.setdefault(target, []).append(name)
    return Listing(
        firewalls=whole,
        by_target=MappingProxyType({t: tuple(n) for t, n in by_target.items()}),
        count=len(whole) if count is None else count,
        one_network=one_network,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Writer:
    """Who writes: one cluster's settings that decide its firewalls (all from its config)."""

    cluster: str
    project: str
    #: The network's name and URL; firewalls on other networks are never read as this cluster's.
    network_name: str
    network: str
    owners: NamedOwners
    roles_by_target: Mapping[str, str]
    priority: int = DEFAULT_PRIORITY
    firewall_quota: int | None = None
    adopt_legacy: bool = False
    #: Mode ``additive`` never deletes, not even a duplicate of a kept firewall.
    additive: bool = False
    #: What the names of this owner's firewalls start with: ``<name stem>-``.
    mine: str = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mine", f"{self.owners.stem}-")

    @property
    def where(self) -> str:
        """How messages name the cluster."""
        return f"cluster {self.cluster} (project {self.project})"

    def on_network(self, firewall: Mapping[str, Any]) -> bool:
        """Whether ``firewall`` is on this cluster's network."""
        return self.has_network(firewall.get("network"))

    def has_network(self, value: Any) -> bool:
        """Whether a firewall's ``network`` field names this cluster's network."""
        return value == self.network or network_matches(value, self.project, self.network_name)

    def binds(self, targets: Sequence[str]) -> bool:
        """Whether a firewall with these target ids applies to a target of this cluster."""
        return _binds(targets, self.roles_by_target)

    def expand(self, firewall: Mapping[str, Any], memo: ReadMemo | None = None) -> list[TargetRule]:
        """``firewall`` as this cluster's target rules (see :func:`expand`)."""
        return expand(
            firewall,
            owners=self.owners,
            roles_by_target=self.roles_by_target,
            adopt_legacy=self.adopt_legacy,
            memo=memo,
        )

    def expand_view(self, view: FirewallView, memo: ReadMemo) -> list[TargetRule]:
        """The firewall ``view`` shows as this cluster's rules: as :func:`expand` gives them,
        or :func:`expand_denied` for a denying firewall (the ``mine`` shortcut aside, the same
        rules)."""
        if view.disabled:
            return []
        # Called for every firewall a read lists: straight to _expand.
        owners = None if view.shape.denying else self.owners
        return _expand(view, owners, self.roles_by_target, self.adopt_legacy, memo, self.mine)


@dataclass(frozen=True, slots=True)
class _TargetWrites:
    writes: tuple[Write, ...]
    inserts: int
    #: Unmanaged firewalls this target leaves (exclusive mode): name → target dropped.
    drops: tuple[tuple[str, str], ...]


def _names(writer: Writer, found: Listing, target: str, *, everywhere: bool) -> list[str]:
    names = list(found.by_target.get(target, ()))
    if everywhere:
        names += found.by_target.get("", ())
    unique = dict.fromkeys(names)
    if found.one_network:
        return sorted(unique)
    return sorted(n for n in unique if writer.on_network(found.firewalls[n]))


def _coverage(writer: Writer, firewall: Mapping[str, Any]) -> set[RuleKey]:
    return {r.key for r in writer.expand(firewall)}


def _keep_logging(body: Mapping[str, Any], live: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with the live firewall's ``logConfig``: portsync does not manage logging, and a
    full replace (``firewalls.update``) must not switch it off."""
    out = dict(body)
    if live.get("logConfig"):
        out["logConfig"] = live["logConfig"]
    return out


def _write(writer: Writer, name: str, method: str, body: Mapping[str, Any], **kw: Any) -> Write:
    return Write(cluster=writer.cluster, target=name, api=API, method=method, body=body, **kw)


def delete_body(project: str, name: str) -> dict[str, str]:
    """The body of a delete write: the firewall the call names (it sends no request body)."""
    return {"project": project, "firewall": name}


def target_writes(
    writer: Writer,
    found: Listing,
    *,
    target: str,
    label: str,
    final: Sequence[TargetRule],
    live: Sequence[TargetRule],
) -> _TargetWrites:
    """The writes that turn ``target``'s firewalls into ``final`` (the rules the target holds
    after the plan, from :func:`portsync.diff.final_state`), checked against GCP's limits.

    Raises:
        ProviderLimitError: a firewall GCP would refuse, or an exclusive-mode removal portsync
            cannot make without rewriting someone else's firewall.
        ConflictError: a firewall with a name portsync wants exists and is not its own.
    """
    where = f"{writer.where}: {label}"
    owned = [r for r in final if r.owned and r.target == target]
    mine = _names(writer, found, target, everywhere=False)
    reuse = [
        found.firewalls[n]
        for n in mine
        if is_owned(found.firewalls[n], writer.owners)
        and targets_of(found.firewalls[n]) == [target]
    ]
    desired = pack(
        owned,
        prefix=writer.owners.stem,
        network=writer.network,
        default_priority=writer.priority,
        reuse=reuse,
    )
    problems = [p for body in desired.values() for p in check_firewall(body)]
    if problems:
        raise ProviderLimitError(
            f"{where}: " + "; ".join(problems),
            hint="shorten the purposes or name_prefix, or split the rules over more roles",
        )
    drops = _unmanaged_drops(found, target, where, final, live)
    writes: list[Write] = []
    inserts = 0
    for name, body in sorted(desired.items()):
        current = found.firewalls.get(name)
        if current is None:
            inserts += 1
            writes.append(_write(writer, name, "insert", body, phase=Phase.MAKE))
            continue
        if not (is_owned(current, writer.owners) and targets_of(current) == [target]):
            raise ConflictError(
                f"{where}: a firewall named {name} exists but is not portsync's firewall for "
                f"{target}; portsync will not overwrite it",
                hint=f"rename or delete firewall {name}, or change name_prefix",
            )
        fields, replace = patch_for(current, body)
        if not fields:
            continue
        phase = (
            Phase.CHANGE if _coverage(writer, body) >= _coverage(writer, current) else Phase.BREAK
        )
        if replace:
            writes.append(_write(writer, name, "update", _keep_logging(body, current), phase=phase))
        else:
            # The compute v1 discovery document marks Firewall.name required for patch.
            writes.append(_write(writer, name, "patch", {"name": name, **fields}, phase=phase))
    if not writer.additive:
        for name in mine:
            firewall = found.firewalls[name]
            if name in desired or targets_of(firewall) != [target]:
                continue
            owned_here, _owner, _legacy = ownership(
                firewall, writer.owners, adopt_legacy=writer.adopt_legacy
            )
            if owned_here and any(r.owned for r in writer.expand(firewall)):
                writes.append(
                    _write(
                        writer,
                        name,
                        "delete",
                        delete_body(writer.project, name),
                        phase=Phase.BREAK,
                        removes=1,
                    )
                )
    return _TargetWrites(tuple(writes), inserts, tuple((name, target) for name in drops))


def _unmanaged_drops(
    found: Listing,
    target: str,
    where: str,
    final: Sequence[TargetRule],
    live: Sequence[TargetRule],
) -> list[str]:
    """Unmanaged firewalls the plan takes ``target`` out of (mode exclusive), checked: portsync
    removes a whole firewall's rules on a target or none, and never one that applies to every
    instance."""
    kept: dict[str, int] = {}
    for rule in final:
        if not rule.owned and rule.native_id and rule.target == target:
            kept[rule.native_id] = kept.get(rule.native_id, 0) + 1
    held: dict[str, int] = {}
    for rule in live:
        if not rule.owned and rule.native_id and rule.target == target:
            held[rule.native_id] = held.get(rule.native_id, 0) + 1
    out: list[str] = []
    for name, count in sorted(held.items()):
        firewall = found.firewalls.get(name)
        if firewall is None or kept.get(name, 0) >= count:
            continue
        if kept.get(name, 0) > 0:
            raise ProviderLimitError(
                f"{where}: mode exclusive would remove only some of the rules of the "
                f"unmanaged firewall {name}; portsync does not rewrite other people's firewalls",
                hint=f"split or delete firewall {name} by hand, or use mode owned",
            )
        if not targets_of(firewall):
            raise ProviderLimitError(
                f"{where}: mode exclusive would remove the unmanaged firewall {name}, which "
                "applies to every instance of the network, not only this target",
                hint=f"give firewall {name} target tags or delete it by hand, or use mode owned",
            )
        out.append(name)
    return out


def drop_writes(writer: Writer, found: Listing, name: str, dropped: Iterable[str]) -> Write | None:
    """The one write that takes the ``dropped`` targets out of the unmanaged firewall ``name``:
    a delete when no target is left, else a patch of its target list (a replace when only
    targets of the other kind are left, since a merge patch cannot empty a list)."""
    firewall = found.firewalls[name]
    targets = targets_of(firewall)
    gone = set(dropped)
    rest = [t for t in targets if t not in gone]
    if rest == targets:
        return None
    if not rest:
        body: Mapping[str, Any] = delete_body(writer.project, name)
        return _write(writer, name, "delete", body, phase=Phase.BREAK, removes=1)
    tags = [t.partition(":")[2] for t in rest if t.startswith(f"{TAG.value}:")]
    accounts = [t.partition(":")[2] for t in rest if t.startswith(f"{SERVICE_ACCOUNT.value}:")]
    had_tags = bool(firewall.get("targetTags"))
    had_accounts = bool(firewall.get("targetServiceAccounts"))
    if (had_tags and not tags) or (had_accounts and not accounts):
        full = {k: v for k, v in firewall.items() if k not in _OUTPUT_ONLY}
        full.pop("targetTags", None)
        full.pop("targetServiceAccounts", None)
        if tags:
            full["targetTags"] = tags
        if accounts:
            full["targetServiceAccounts"] = accounts
        return _write(writer, name, "update", full, phase=Phase.BREAK)
    fields: dict[str, Any] = {"name": name}
    if had_tags:
        fields["targetTags"] = tags
    if had_accounts:
        fields["targetServiceAccounts"] = accounts
    return _write(writer, name, "patch", fields, phase=Phase.BREAK)


def compile_writes(
    groups: Iterable[GroupOps], found: Listing, writers: Mapping[str, Writer]
) -> tuple[Write, ...]:
    """Every write the ``groups`` of one read scope need, from one listing: per target, the
    packed firewalls inserted, patched or deleted; the unmanaged firewalls that exclusive mode
    takes targets out of (one write per firewall, whichever groups drop it); then the project's
    firewall quota over every insert of every cluster (inserts run before deletes, so the peak
    is the listed count plus every insert).

    ``writers`` holds each group's cluster by name; a target's live rules are expanded from the
    listing as that cluster reads them.

    Returns:
        The writes in execution order: phase (make, change, break), then firewall name.

    Raises:
        ProviderLimitError: a limit a write would break, naming the cluster, target and limit.
        ConflictError: a firewall name portsync wants belongs to someone else.
    """
    writes: list[Write] = []
    inserts = 0
    drops: dict[str, tuple[Writer, list[str]]] = {}
    clusters: list[Writer] = []
    for group in groups:
        if not group.ops:
            continue
        writer = writers[group.cluster]
        if writer not in clusters:
            clusters.append(writer)
        current = [
            rule
            for name in _names(writer, found, group.target, everywhere=True)
            for rule in writer.expand(found.firewalls[name])
            if rule.target == group.target
        ]
        done = target_writes(
            writer,
            found,
            target=group.target,
            label=group.label or group.target,
            final=final_state(current, group.ops),
            live=current,
        )
        writes.extend(done.writes)
        inserts += done.inserts
        for name, target in done.drops:
            drops.setdefault(name, (writer, []))[1].append(target)
    for name, (writer, targets) in sorted(drops.items()):
        write = drop_writes(writer, found, name, targets)
        if write is not None:
            writes.append(write)
    check_quota(found, clusters, inserts)
    return tuple(sorted(writes, key=write_order))


def write_order(write: Write) -> tuple[int, str, str]:
    """Execution order: phase (make, change, break), then firewall name."""
    return (write.phase, write.target, write.method)


def check_quota(found: Listing, writers: Sequence[Writer], inserts: int) -> None:
    """Refuse a plan whose inserts would take the project over a cluster's ``firewall_quota``
    (the peak: inserts run before deletes).

    Raises:
        ProviderLimitError: naming the cluster, the peak and the quota.
    """
    peak = found.count + inserts
    many = len(writers) > 1
    for writer in writers:
        quota = writer.firewall_quota
        if quota is not None and peak > quota:
            also = " (with the other clusters of this plan in the project)" if many else ""
            raise ProviderLimitError(
                f"{writer.where}: the plan would need {peak} firewall rules in the project"
                f"{also} while it applies (inserts come before deletes), over firewall_quota "
                f"{quota}",
                hint="raise the project's FIREWALLS quota and firewall_quota, or remove rules",
            )
