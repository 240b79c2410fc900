"""Pure translation between neutral target rules and Azure NSG security rules (no I/O).

The native shape is the ARM JSON of a security rule (``{"name", "properties": {...}}`` with
camelCase keys), exactly as ``networkSecurityGroups.list`` returns it inline in each NSG.

One portsync rule is one security rule: the rule's peer is the *peer side* (the source of an
inbound rule, the destination of an outbound one) and the role's binding is the *role side* —
the role's address prefixes of the peer's IP family (Azure refuses a rule mixing IPv4 and IPv6),
or the role's application security group. The role side is carried in
``TargetRule.extra["role_addresses"]``, so a rule whose role side drifted is an in-place update.

Priorities are deliberately **not** part of a rule as the diff sees it: they are allocated by
:func:`compose` when the NSG is written. A live portsync rule keeps its priority; a new one takes
the lowest priority of ``priority_band`` that no rule of the same direction uses. Only a portsync
rule sitting outside the band carries ``extra["priority"]`` (so it is moved into the band once).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from portsync.errors import (
    ConflictError,
    ProviderLimitError,
    TranslationError,
    UnsupportedFeatureError,
)
from portsync.evaluate import MAY_REACH, REACHES, Match, reach_of
from portsync.model import (
    Direction,
    Endpoint,
    EndpointKind,
    PortRange,
    Protocol,
    Rule,
    RuleKey,
    RuleSet,
    TargetRule,
    canonical_cidr,
    cidr_version,
)
from portsync.ops import GroupOps
from portsync.owners import NamedOwners
from portsync.resolve import TranslationProblems, describe_rule, resolve_peer
from portsync.writes import Phase, Write

from .limits import (
    LOAD_BALANCER_TAG,
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    MAX_RULES_PER_NSG,
    NAME_HASH_LENGTH,
)
from .peers import ASG, MARKER, SERVICE_TAG, SYNTAX

__all__ = [
    "ACCESS",
    "CLOUD_DEFAULT",
    "LIVE_PRIORITY",
    "MARKER",
    "PRIORITY",
    "ROLE_ADDRESSES",
    "SOURCE_PORTS",
    "WRITE_API",
    "WRITE_METHOD",
    "Binding",
    "Change",
    "ClusterLayout",
    "Machines",
    "NsgLayout",
    "RawNsg",
    "compile_writes",
    "compose",
    "describe",
    "expand",
    "expand_defaults",
    "has_legacy_marks",
    "nsg_body",
    "ownership",
    "path_rules",
    "path_target",
    "render",
    "rule_name",
    "strip",
    "translate_rules",
    "unique_name",
]

#: Purpose written when a rule has none.
DEFAULT_PURPOSE = "portsync rule"
#: ``TargetRule.extra`` key: the role side of the rule (prefixes or ASG ids, comma-joined).
ROLE_ADDRESSES = "role_addresses"
#: ``TargetRule.extra`` key, live portsync rules only: a priority outside ``priority_band``.
PRIORITY = "priority"
#: ``TargetRule.extra`` key, live rules only: the rule's priority in its NSG (a ``live.`` key: the
#: diff never compares it).
LIVE_PRIORITY = "live.priority"
#: ``TargetRule.extra`` key of deny rules (``deny``), read by the evaluator only (``denied=True``).
ACCESS = "live.access"
#: ``TargetRule.extra`` key, live rules only: source ports other than ``*``.
SOURCE_PORTS = "source_ports"

_ALL_PORTS = PortRange(0, 65535)
_WRITE_PROTOCOL = {
    Protocol.TCP: "Tcp",
    Protocol.UDP: "Udp",
    Protocol.ICMP: "Icmp",
    Protocol.ESP: "Esp",
    Protocol.AH: "Ah",
    Protocol.ALL: "*",
}
#: What to write instead of a protocol NSGs do not have, for the refusal's hint.
_INSTEAD = {
    Protocol.SCTP: "protocol all (NSGs have no SCTP; all admits every protocol) or leave the "
    "rule out",
}
_WELL_KNOWN_TAGS = {t.lower(): t for t in ("AzureLoadBalancer", "VirtualNetwork", "Internet")}
_READ_ONLY_RULE_KEYS = frozenset({"etag", "type"})
_DIRECTION_NAMES = {Direction.INGRESS: "Inbound", Direction.EGRESS: "Outbound"}


# --------------------------------------------------------------------------- bindings


@dataclass(frozen=True, slots=True)
class Binding:
    """One role's place in an NSG: the target id, the NSG name, and what the role side is."""

    role: str
    nsg: str
    target: str
    prefixes: tuple[str, ...] = ()
    asg: str | None = None

    def endpoints(self) -> list[Endpoint]:
        """The peers this role stands for when another rule names it (``self``, ``role:X``)."""
        if self.asg is not None:
            return [Endpoint(ASG, self.asg)]
        return [Endpoint.cidr(p) for p in self.prefixes]

    def role_side(self, peer: Endpoint) -> tuple[str, ...]:
        """The role side of a rule with ``peer``: the ASG, or the prefixes of the peer's family.

        A CIDR peer pairs with the role's prefixes of the same IP family (empty when the role has
        none: no such traffic can reach the role). A service-tag or ASG peer pairs with the IPv4
        prefixes, or the IPv6 ones when the role has no IPv4 prefix.
        """
        if self.asg is not None:
            return (self.asg,)
        version = peer.ip_version
        if version is None:
            v4 = tuple(p for p in self.prefixes if cidr_version(p) == 4)
            return v4 or self.prefixes
        return tuple(p for p in self.prefixes if cidr_version(p) == version)

    def covers(self, items: Iterable[str]) -> bool:
        """Whether a live rule's role side (``items``) names this role's binding only."""
        items = [i.lower() for i in items]
        if not items:
            return False
        if self.asg is not None:
            return items == [self.asg.lower()]
        return set(items) <= {p.lower() for p in self.prefixes}


#: Role-side items (lower case) that hold every machine an NSG filters: every address, and the
#: virtual network, where every NIC an NSG applies to has its addresses (what a role's rows are
#: aimed at; a load balancer's floating frontend IP is another destination, not the role's).
_EVERY_MACHINE = frozenset({"*", "any", "virtualnetwork"})
#: Service tags (lower case) that hold no machine's NIC address: the public internet outside
#: the virtual network, and the host's probe address.
_NO_MACHINE = frozenset({"internet", "azureloadbalancer"})

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Machines:
    """What the config says of one role's machines, to tell whether a live rule's role side
    (its destination inbound, its source outbound) holds them.

    ``prefixes``: the role's ``address_prefixes`` (empty for a role bound by ASGs); ``asgs``:
    every ASG the role is bound with; ``complete``: the binding lists every ASG the machines
    are in (``asgs:``), so an ASG it does not list holds none of them.
    """

    role: str
    prefixes: tuple[str, ...] = ()
    asgs: tuple[str, ...] = ()
    complete: bool = False
    _nets: tuple[_Network, ...] = field(init=False, repr=False, compare=False, hash=False)
    _asg_keys: frozenset[str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_nets", tuple(ipaddress.ip_network(p) for p in self.prefixes))
        object.__setattr__(self, "_asg_keys", frozenset(a.lower() for a in self.asgs))

    @classmethod
    def of(cls, binding: Binding) -> Machines:
        """What a binding alone says: its prefixes, or its one ASG (perhaps not the only one)."""
        return cls(binding.role, binding.prefixes, (binding.asg,) if binding.asg else ())

    def _machine_nets(self, version: int | None) -> tuple[_Network, ...]:
        # The machines a rule of a peer of this IP family can reach, as Binding.role_side.
        if version is None:
            return tuple(n for n in self._nets if n.version == 4) or self._nets
        return tuple(n for n in self._nets if n.version == version)

    def reach(self, items: Sequence[str], version: int | None) -> Match:
        """Whether a role side of canonical ``items`` holds the role's machines, for a rule whose
        peer is of IP ``version`` (None: a service tag or ASG): ``YES`` when surely, ``NO`` when
        surely not, ``UNKNOWN`` when portsync cannot tell."""
        # Every rule of an NSG asks this for each role, and most name the same role side: the
        # answer depends on nothing else, and parsing the prefixes each time was most of the
        # Azure plan's own cost.
        return _reach(self, tuple(items), version)

    def _reach(self, items: tuple[str, ...], version: int | None) -> Match:
        if not items:
            return Match.UNKNOWN
        maybe = False
        nets: list[_Network] = []
        for item in items:
            low = item.lower()
            if low in _EVERY_MACHINE:
                return Match.YES
            if item.startswith("/"):
                if low in self._asg_keys:
                    return Match.YES
                # Machines may be in ASGs their binding does not name, unless it names them all.
                maybe = maybe or not self.complete
            elif _is_ip(item):
                nets.append(ipaddress.ip_network(item))
            elif low not in _NO_MACHINE:
                maybe = True  # a service tag whose addresses portsync does not read
        if not nets:
            return Match.UNKNOWN if maybe else Match.NO
        if self.asgs:
            # The machines' addresses are not in the config: only a prefix holding every
            # address of the family (both, for a peer of either) surely holds them.
            families = (version,) if version is not None else (4, 6)
            if all(any(n.version == f and n.prefixlen == 0 for n in nets) for f in families):
                return Match.YES
            return Match.UNKNOWN
        wanted = self._machine_nets(version)
        if not wanted:
            return Match.NO  # the role has no address of that family: no such packet reaches it
        held = list(ipaddress.collapse_addresses(n for n in nets if n.version == 4)) + list(
            ipaddress.collapse_addresses(n for n in nets if n.version == 6)
        )
        if all(any(w.subnet_of(h) for h in held if h.version == w.version) for w in wanted):  # type: ignore[arg-type]
            return Match.YES
        if maybe or any(w.overlaps(n) for w in wanted for n in nets if n.version == w.version):
            return Match.UNKNOWN
        return Match.NO


#: :meth:`Machines.reach`, remembered: a pure function of the role's binding and the rule's
#: role side (Machines compares and hashes by its fields). Bounded, for long-running serve.
_reach = functools.lru_cache(maxsize=4096)(Machines._reach)


def reach_extra(
    machines: Sequence[Machines], items: Sequence[str], version: int | None
) -> tuple[tuple[str, str], ...]:
    """The ``extra`` items saying which roles of ``machines`` a role side of ``items`` surely
    (``live.reaches``) and perhaps (``live.may_reach``) holds; none without ``machines``."""
    if not machines:
        return ()
    found = [(m.role, m.reach(items, version)) for m in machines]
    out = [(REACHES, ",".join(r for r, m in found if m is Match.YES))]
    may = ",".join(r for r, m in found if m is Match.UNKNOWN)
    if may:
        out.append((MAY_REACH, may))
    return tuple(out)


# --------------------------------------------------------------------------- text helpers


def clean_purpose(purpose: str) -> str:
    """A purpose as portsync writes it: one line."""
    return " ".join(str(purpose or "").split()) or DEFAULT_PURPOSE


def describe(purpose: str) -> str:
    """The description portsync writes for a purpose, cut to Azure's 140 characters."""
    text = f"{MARKER} {clean_purpose(purpose)}"
    return text[:MAX_DESCRIPTION_LENGTH].rstrip()


def _name_part(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9_]", "-", text)).strip("-")


def rule_name(prefix: str, rule: TargetRule) -> str:
    """The deterministic name of the security rule holding ``rule``.

    ``<prefix>-<role>-<protocol>-<ports>-<hash8>``, at most 80 characters; the role is shortened
    when needed. The hash covers role, direction, protocol, ports and peer — not the target id,
    so binding a second role to the same NSG renames nothing.
    """
    seed = "\n".join(
        (
            rule.role or "",
            rule.direction.value,
            rule.protocol.value,
            rule.ports_text,
            str(rule.peer),
        )
    )
    digest = hashlib.sha256(seed.encode()).hexdigest()[:NAME_HASH_LENGTH]
    ports = rule.ports_text
    fixed = [rule.protocol.value, ports, digest]
    room = MAX_NAME_LENGTH - len(prefix) - sum(len(p) for p in fixed) - 4
    role = _name_part(rule.role or "rule")[: max(room, 0)].strip("-")
    return "-".join(p for p in (prefix, role, *fixed) if p)


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name`` with a ``-2``, ``-3``… suffix when ``taken`` (lower-cased) has it."""
    if name.lower() not in taken:
        return name
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = name[: MAX_NAME_LENGTH - len(suffix)].rstrip(".-") + suffix
        if candidate.lower() not in taken:
            return candidate
        n += 1


# --------------------------------------------------------------------------- neutral → target rules


def _peers(
    rule: Rule,
    *,
    cluster: str,
    endpoints: Mapping[str, Sequence[Endpoint]],
    sources_all: Sequence[str],
    pods: Sequence[Endpoint] = (),
) -> list[Endpoint]:
    return resolve_peer(
        rule,
        cluster=cluster,
        bindings=endpoints,
        sources_all=sources_all,
        load_balancers=_LOAD_BALANCERS,
        binding_keys="nsg binding",
        cloud="Azure",
        native=SYNTAX.writable,
        pods=pods,
    )


def canonical_tag(peer: Endpoint) -> Endpoint:
    """A service-tag peer in the spelling NSGs read back for the well-known tags (Azure takes
    ``virtualnetwork`` and returns ``VirtualNetwork``); any other endpoint as it is."""
    if peer.kind is not SERVICE_TAG:
        return peer
    spelled = _WELL_KNOWN_TAGS.get(peer.value.lower(), peer.value)
    return peer if spelled == peer.value else Endpoint(SERVICE_TAG, spelled)


_LOAD_BALANCERS = (Endpoint(SERVICE_TAG, LOAD_BALANCER_TAG),)


def translate_rules(
    rules: RuleSet,
    *,
    cluster: str,
    bindings: Mapping[str, Binding],
    sources_all: Sequence[str],
    pod_ranges: Sequence[str] = (),
) -> list[TargetRule]:
    """Resolve neutral rules onto NSG targets (``bindings``: role → binding).

    ``pod_ranges`` are added to ``self`` and ``role:`` peers: an ASG matches only its members'
    NIC addresses, not pods that a CNI addresses from other ranges.

    Rules of roles the cluster does not bind are skipped. Each rule becomes one target rule per
    concrete peer, described ``[portsync] <purpose>`` and carrying its role side in ``extra``. A
    CIDR peer of an IP family the role has no prefix of is left out (no such traffic can reach
    the role); a rule left with no peer at all is an error.

    Raises:
        TranslationError: every rule that needs a missing source or binding, at once.
    """
    out: list[TargetRule] = []
    problems = TranslationProblems()
    # Each role's endpoints once per call, not once per rule: fleets bind thousands of roles.
    endpoints = {role: binding.endpoints() for role, binding in bindings.items()}
    pods = [Endpoint.cidr(c) for c in pod_ranges]
    for rule in rules:
        binding = bindings.get(rule.role)
        if binding is None:
            continue
        try:
            _check_writable(rule, cluster)
            peers = [
                canonical_tag(p)
                for p in _peers(
                    rule, cluster=cluster, endpoints=endpoints, sources_all=sources_all, pods=pods
                )
            ]
            protocols = [_azure_protocol(rule, peer, cluster) for peer in peers]
        except TranslationError as exc:
            problems.add(exc)
            continue
        if not peers:
            continue  # a role peer of "All" this cluster does not bind
        made = 0
        for peer, protocol in zip(peers, protocols, strict=True):
            side = binding.role_side(peer)
            if not side:
                continue
            made += 1
            out.append(
                TargetRule.desired(
                    rule,
                    target=binding.target,
                    peer=peer,
                    description=describe(rule.purpose),
                    extra=((ROLE_ADDRESSES, ",".join(side)),),
                    protocol=protocol,
                )
            )
        if not made:
            problems.add(
                TranslationError(
                    f"{describe_rule(rule, cluster)} from {rule.peer}: none of its peers "
                    f"({', '.join(p.value for p in peers)}) has the IP family of the role's "
                    f"address_prefixes ({', '.join(binding.prefixes)}); Azure rules cannot mix "
                    "IPv4 and IPv6",
                    hint="add address_prefixes of the missing family to the role, or fix the "
                    "sources",
                )
            )
    problems.raise_if_any()
    return out


def _check_writable(rule: Rule, cluster: str) -> None:
    """Refuse what an NSG security rule cannot say, rather than write something wider.

    Raises:
        UnsupportedFeatureError: a protocol NSGs do not have, or an ICMP type or code.
    """
    where = describe_rule(rule, cluster)
    if rule.protocol not in _WRITE_PROTOCOL and rule.protocol is not Protocol.ICMPV6:
        raise UnsupportedFeatureError(
            f"{where}: Azure NSGs take only the protocols Tcp, Udp, Icmp, Esp, Ah and * (any), "
            f"not {rule.protocol.value}",
            hint="write it as "
            + _INSTEAD.get(
                rule.protocol,
                "protocol all (admits every protocol, so also "
                f"{rule.protocol.value}) or leave the rule out on Azure",
            ),
        )
    if rule.icmp_type is not None:
        raise UnsupportedFeatureError(
            f"{where}: Azure NSG rules have no ICMP type or code (icmp_type {rule.icmp_type}); "
            "a rule would admit every ICMP type",
            hint="remove icmp_type and icmp_code to admit all of ICMP, or leave the rule out "
            "on Azure",
        )


def _azure_protocol(rule: Rule, peer: Endpoint, cluster: str) -> Protocol:
    """NSGs write ICMP and ICMPv6 as one protocol, ``Icmp``: an ``icmpv6`` rule is an ``Icmp``
    rule, which only stays as narrow as asked towards IPv6 ranges.

    Raises:
        UnsupportedFeatureError: an ``icmpv6`` rule towards a peer that is not an IPv6 range.
    """
    if rule.protocol is not Protocol.ICMPV6:
        return rule.protocol
    if peer.ip_version == 6:
        return Protocol.ICMP
    raise UnsupportedFeatureError(
        f"{describe_rule(rule, cluster)} towards {peer}: Azure writes ICMP and ICMPv6 as one "
        "protocol, Icmp, so an icmpv6 rule towards anything but IPv6 ranges would also admit "
        "ICMP",
        hint="use protocol icmp, or cidr: peers of IPv6 ranges",
    )


# --------------------------------------------------------------------------- security rules → target rules


def _props(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    props = raw.get("properties")
    return props if isinstance(props, Mapping) else {}


def has_legacy_marks(raw: Mapping[str, Any], prefix: str) -> bool:
    """Whether a security rule has what a release before owner identities took for ownership:
    the name prefix and the description marker."""
    name = str(raw.get("name") or "")
    description = str(_props(raw).get("description") or "")
    return name.lower().startswith(f"{prefix.lower()}-") and description.startswith(MARKER)


def ownership(
    raw: Mapping[str, Any], owners: NamedOwners, *, shaped: bool, adopt_legacy: bool = False
) -> tuple[bool, str | None, bool]:
    """``(owned, owner, legacy)`` of a security rule, from its name.

    The owner is the one whose digest the name carries (``<prefix>-<hash>-…``), when the rule
    has portsync's shape (``shaped``: one Allow, one peer, one port range); a rule edited out of
    that shape is nobody's. Owned means the owner is the current one. A rule without a digest
    but with the marks of an earlier release is ``legacy``: owned only when ``adopt_legacy``.
    The description is never proof: anyone can type it.
    """
    if not shaped:
        return False, None, False
    owner = owners.owner_of(str(raw.get("name") or ""))
    if owner is not None:
        return owner == owners.owner, owner, False
    legacy = has_legacy_marks(raw, owners.prefix)
    return legacy and adopt_legacy, None, legacy


def _items(props: Mapping[str, Any], side: str) -> list[str]:
    """Address items of one side: the prefix, the prefixes and the ASG ids, as written."""
    out: list[str] = []
    single = props.get(f"{side}AddressPrefix")
    if single:
        out.append(str(single))
    out += [str(p) for p in props.get(f"{side}AddressPrefixes") or () if p]
    for asg in props.get(f"{side}ApplicationSecurityGroups") or ():
        if isinstance(asg, Mapping) and asg.get("id"):
            out.append(str(asg["id"]))
    return out


def _is_ip(text: str) -> bool:
    return cidr_version(text) is not None


def _canonical_item(text: str, asg_names: Mapping[str, str]) -> str:
    if text.startswith("/"):
        return asg_names.get(text.lower(), text)
    if text == "*":
        return text
    if _is_ip(text):
        return canonical_cidr(text)
    return _WELL_KNOWN_TAGS.get(text.lower(), text)


def _endpoints(item: str) -> list[Endpoint]:
    if item.startswith("/"):
        return [Endpoint(ASG, item)]
    if item == "*":
        return [Endpoint.cidr("0.0.0.0/0"), Endpoint.cidr("::/0")]
    if _is_ip(item):
        return [Endpoint.cidr(item)]
    return [Endpoint(SERVICE_TAG, item)]


def _port_texts(props: Mapping[str, Any], side: str) -> list[str]:
    out: list[str] = []
    single = props.get(f"{side}PortRange")
    if single:
        out.append(str(single).strip())
    out += [str(p).strip() for p in props.get(f"{side}PortRanges") or () if p]
    return out


def _parse_port(text: str) -> PortRange | None:
    if text == "*":
        return _ALL_PORTS
    try:
        return PortRange.parse(text)
    except ValueError:
        return None


def _protocols(
    protocol: str, ranges: Sequence[PortRange]
) -> list[tuple[Protocol, PortRange | None]]:
    name = protocol.strip().lower()
    if name in ("tcp", "udp"):
        proto = Protocol(name)
        return [(proto, r) for r in ranges]
    if name == "icmp":
        return [(Protocol.ICMP, None)]
    if name in ("esp", "ah"):
        return [(Protocol(name), None)]
    if name == "*":
        if all(r == _ALL_PORTS for r in ranges):
            return [(Protocol.ALL, None)]
        return [(p, r) for p in (Protocol.TCP, Protocol.UDP) for r in ranges]
    return []  # not a protocol NSGs have: nothing portsync could compare


def _direction(props: Mapping[str, Any]) -> Direction | None:
    value = str(props.get("direction") or "").lower()
    if value == "inbound":
        return Direction.INGRESS
    if value == "outbound":
        return Direction.EGRESS
    return None


def _sides(direction: Direction) -> tuple[str, str]:
    """(peer side, role side) of a rule in ``direction``."""
    return (
        ("source", "destination") if direction is Direction.INGRESS else ("destination", "source")
    )


def role_items(raw: Mapping[str, Any], asg_names: Mapping[str, str] | None = None) -> list[str]:
    """The canonical role side of a security rule (empty for a rule of unknown direction)."""
    props = _props(raw)
    direction = _direction(props)
    if direction is None:
        return []
    side = _sides(direction)[1]
    return sorted({_canonical_item(i, asg_names or {}) for i in _items(props, side)})


def expand(
    raw: Mapping[str, Any],
    *,
    binding: Binding,
    owners: NamedOwners,
    band: tuple[int, int],
    asg_names: Mapping[str, str] | None = None,
    origins: Mapping[str, str] | None = None,
    adopt_legacy: bool = False,
    denied: bool = False,
    machines: Sequence[Machines] = (),
) -> list[TargetRule]:
    """Expand one security rule into target rules of ``binding``'s target: one per peer
    (source of an inbound rule, destination of an outbound one) × destination port range.

    With ``machines`` (the roles bound to the rule's NSG), each rule says which roles its role
    side surely or perhaps holds (``live.reaches``, ``live.may_reach``; see
    :func:`portsync.evaluate.reach_of`), for the peer's IP family: only those roles' rows can it
    cover.

    Deny rules yield nothing: a deny rule grants no access and must never satisfy a wanted allow
    rule. With ``denied`` it is the other way round: only deny rules yield rules, never owned and
    with ``extra`` ``live.access=deny``, for the evaluator ``explain`` and lifelines share (the
    diff and apply never see them). ``*`` as the peer means every
    IPv4 and IPv6 address; protocol ``*`` with ports means TCP and UDP on those ports.

    Ownership comes from the name (:func:`ownership`); a rule has portsync's shape when it
    expands into exactly one target rule. An owned rule outside ``band`` carries
    ``extra["priority"]``.
    """
    asg_names = asg_names or {}
    origins = origins or {}
    props = _props(raw)
    if str(props.get("access") or "").lower() != ("deny" if denied else "allow"):
        return []
    direction = _direction(props)
    if direction is None:
        return []
    peer_side, role_side = _sides(direction)
    ranges = [r for r in (_parse_port(t) for t in _port_texts(props, "destination")) if r]
    pairs = _protocols(str(props.get("protocol") or ""), ranges or [_ALL_PORTS])
    peers: list[Endpoint] = []
    for item in _items(props, peer_side):
        for endpoint in _endpoints(_canonical_item(item, asg_names)):
            if endpoint not in peers:
                peers.append(endpoint)
    side = sorted({_canonical_item(i, asg_names) for i in _items(props, role_side)})
    extra_items = [(ROLE_ADDRESSES, ",".join(side))]
    source_ports = sorted(
        t for t in _port_texts(props, "source") if _parse_port(t) not in (_ALL_PORTS,)
    )
    if source_ports:
        extra_items.append((SOURCE_PORTS, ",".join(source_ports)))
    count = len(pairs) * len(peers)
    owned, owner, legacy = ownership(raw, owners, shaped=count == 1, adopt_legacy=adopt_legacy)
    if denied:
        # portsync writes no deny rule: whatever its name, a deny rule is nobody's to change.
        owned, owner, legacy = False, None, False
        extra_items.append((ACCESS, "deny"))
    priority = props.get("priority")
    if owned and not (isinstance(priority, int) and band[0] <= priority <= band[1]):
        extra_items.append((PRIORITY, f"{priority} (outside priority_band {band[0]}-{band[1]})"))
    if isinstance(priority, int) and not isinstance(priority, bool):
        # What the rule's place in the NSG is (explain and export read it); never compared.
        extra_items.append((LIVE_PRIORITY, str(priority)))
    name = str(raw.get("name") or "")
    description = str(props.get("description") or "")
    out: list[TargetRule] = []
    seen: set[RuleKey] = set()
    extras: dict[int | None, tuple[tuple[str, str], ...]] = {}
    for protocol, ports in pairs:
        for peer in peers:
            version = peer.ip_version
            extra = extras.get(version)
            if extra is None:
                extra = extras[version] = tuple(
                    sorted((*extra_items, *reach_extra(machines, side, version)))
                )
            rule = TargetRule(
                target=binding.target,
                role=binding.role,
                direction=direction,
                protocol=protocol,
                ports=ports,
                peer=peer,
                description=description,
                owned=owned,
                owner=owner,
                legacy=legacy,
                native_id=name,
                origin=_origin(peer, binding, origins),
                extra=extra,
            )
            if rule.key not in seen:
                seen.add(rule.key)
                out.append(rule)
    return out


def _origin(peer: Endpoint, binding: Binding, origins: Mapping[str, str]) -> str | None:
    if peer.kind is SERVICE_TAG and peer.value == LOAD_BALANCER_TAG:
        return "load-balancers"
    role = origins.get(str(peer))
    if role is None:
        return None
    return "self" if role == binding.role else f"role:{role}"


# --------------------------------------------------------------------------- target rules → security rules


def _side_fields(side: str, items: Sequence[str]) -> dict[str, Any]:
    if items and all(i.startswith("/") for i in items):
        return {f"{side}ApplicationSecurityGroups": [{"id": i} for i in items]}
    if len(items) == 1:
        return {f"{side}AddressPrefix": items[0]}
    return {f"{side}AddressPrefixes": list(items)}


def _peer_item(rule: TargetRule) -> str:
    peer = rule.peer
    if peer.kind in (EndpointKind.CIDR, SERVICE_TAG, ASG):
        return peer.value
    raise UnsupportedFeatureError(
        f"Azure security rules cannot name peer {peer} (target {rule.target})",
        hint="use a cidr: peer, the load-balancers peer, or a role bound by asg",
    )


def render(rule: TargetRule, *, name: str, priority: int) -> dict[str, Any]:
    """The security rule portsync writes for ``rule`` (ARM JSON, ``{"name", "properties"}``).

    The role side comes from ``rule.extra["role_addresses"]``.

    Raises:
        UnsupportedFeatureError: the peer is of a kind Azure does not have, or the rule has no
            role side.
    """
    role_side = [i for i in dict(rule.extra).get(ROLE_ADDRESSES, "").split(",") if i]
    if not role_side:
        raise UnsupportedFeatureError(f"rule {rule.key} has no role side to write ({name})")
    peer_side, role_key = _sides(rule.direction)
    props: dict[str, Any] = {
        "description": rule.description,
        "protocol": _WRITE_PROTOCOL[rule.protocol],
        "sourcePortRange": "*",
        "destinationPortRange": str(rule.ports) if rule.ports else "*",
    }
    props.update(_side_fields(peer_side, [_peer_item(rule)]))
    props.update(_side_fields(role_key, role_side))
    props.update(
        {"access": "Allow", "priority": priority, "direction": _DIRECTION_NAMES[rule.direction]}
    )
    # Keep ARM's key order stable: source fields before destination fields.
    ordered = {k: props[k] for k in sorted(props, key=_field_order)}
    return {"name": name, "properties": ordered}


_FIELD_ORDER = (
    "description",
    "protocol",
    "sourcePortRange",
    "destinationPortRange",
    "sourceAddressPrefix",
    "sourceAddressPrefixes",
    "sourceApplicationSecurityGroups",
    "destinationAddressPrefix",
    "destinationAddressPrefixes",
    "destinationApplicationSecurityGroups",
    "access",
    "priority",
    "direction",
)


def _field_order(key: str) -> int:
    return _FIELD_ORDER.index(key) if key in _FIELD_ORDER else len(_FIELD_ORDER)


def strip(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A live security rule as it goes back into an NSG PUT: every field as read, minus the
    read-only ``etag``, ``type`` and ``properties.provisioningState``."""
    out = {k: copy.deepcopy(v) for k, v in raw.items() if k not in _READ_ONLY_RULE_KEYS}
    props = out.get("properties")
    if isinstance(props, dict):
        props.pop("provisioningState", None)
    return out


def _semantic(raw: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a security rule means, normalised (singular vs plural fields, case, order)."""
    props = _props(raw)

    def addresses(side: str) -> tuple[str, ...]:
        return tuple(sorted(i.lower() for i in _items(props, side)))

    def ports(side: str) -> tuple[str, ...]:
        return tuple(sorted(_port_texts(props, side)))

    return (
        str(raw.get("name") or "").lower(),
        str(props.get("description") or ""),
        str(props.get("protocol") or "").lower(),
        str(props.get("access") or "").lower(),
        str(props.get("direction") or "").lower(),
        props.get("priority"),
        ports("source"),
        ports("destination"),
        addresses("source"),
        addresses("destination"),
    )


def nsg_body(nsg: Mapping[str, Any], rules: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The body of an NSG PUT that replaces the rule list of ``nsg`` with ``rules`` and keeps
    the NSG's location, tags and ``flushConnection`` as they are."""
    body: dict[str, Any] = {"location": nsg.get("location")}
    if nsg.get("tags") is not None:
        body["tags"] = copy.deepcopy(nsg["tags"])
    properties: dict[str, Any] = {"securityRules": [dict(r) for r in rules]}
    flush = _props(nsg).get("flushConnection")
    if flush is not None:
        properties["flushConnection"] = flush
    body["properties"] = properties
    return body


# --------------------------------------------------------------------------- composing an NSG


@dataclass(frozen=True, slots=True)
class Change:
    """What the plan wants done to one target of an NSG (the ops of one ``GroupOps``)."""

    target: str
    adds: tuple[TargetRule, ...] = ()
    removes: tuple[TargetRule, ...] = ()
    updates: tuple[tuple[TargetRule, TargetRule], ...] = ()


@dataclass(frozen=True)
class NsgLayout:
    """Everything :func:`compose` needs to know about one NSG besides its rules.

    ``bindings`` are the roles bound to the NSG, in config order; ``wanted`` the keys of the
    desired rules of those targets; ``asg_names`` maps lower-cased ASG ids to their configured
    spelling; ``origins`` maps an endpoint (``cidr:…``, ``asg:…``) to the role it stands for.
    """

    nsg: str
    where: str
    owners: NamedOwners
    band: tuple[int, int]
    bindings: tuple[Binding, ...]
    wanted: frozenset[RuleKey] = frozenset()
    asg_names: Mapping[str, str] = field(default_factory=dict)
    origins: Mapping[str, str] = field(default_factory=dict)
    adopt_legacy: bool = False
    #: Read-only bindings on this NSG (see :attr:`ClusterLayout.readonly`).
    readonly: tuple[Binding, ...] = ()
    #: What the config says of the machines of each role bound to the NSG (default: what the
    #: bindings say).
    machines: tuple[Machines, ...] = ()

    def __post_init__(self) -> None:
        if not self.machines:
            object.__setattr__(self, "machines", tuple(Machines.of(b) for b in self.bindings))

    def attribute(self, raw: Mapping[str, Any]) -> Binding:
        """The binding (target) a security rule is listed under: the first role whose binding
        its role side names, else a read-only binding it names, else the NSG's first role.

        Listing is not coverage: a rule counts for a role only as far as its role side holds
        the role's machines (:class:`Machines`), whatever target lists it; a rule listed under
        the first role because it names no binding covers nothing of that role unless it
        reaches it."""
        if len(self.bindings) > 1 or self.readonly:
            items = role_items(raw, self.asg_names)
            for binding in (*self.bindings, *self.readonly):
                if binding.covers(items):
                    return binding
        return self.bindings[0]

    def expand(self, raw: Mapping[str, Any], *, denied: bool = False) -> list[TargetRule]:
        """:func:`expand` with this layout's settings, for the rule's own target."""
        return expand(
            raw,
            binding=self.attribute(raw),
            owners=self.owners,
            band=self.band,
            asg_names=self.asg_names,
            origins=self.origins,
            adopt_legacy=self.adopt_legacy,
            denied=denied,
            machines=self.machines,
        )

    def live(
        self, rules: Iterable[Mapping[str, Any]], *, denied: bool = False
    ) -> dict[str, list[TargetRule]]:
        """Target rules of every binding's target, in NSG order (the deny rules alone with
        ``denied``)."""
        out: dict[str, list[TargetRule]] = {b.target: [] for b in (*self.bindings, *self.readonly)}
        for raw in rules:
            for rule in self.expand(raw, denied=denied):
                out[rule.target].append(rule)
        return out


@dataclass
class _Entry:
    raw: Mapping[str, Any]
    name: str
    target: str
    rules: list[TargetRule]
    owned: bool
    direction: str
    priority: int | None
    #: An adopted rule of an earlier release: its name carries no owner yet, so writing it
    #: means a new rule under the owner's name in its place.
    legacy: bool = False

    @property
    def keys(self) -> set[RuleKey]:
        return {r.key for r in self.rules}


def _entries(current: Sequence[Mapping[str, Any]], layout: NsgLayout) -> list[_Entry]:
    out = []
    for raw in current:
        props = _props(raw)
        rules = layout.expand(raw)
        priority = props.get("priority")
        out.append(
            _Entry(
                raw=raw,
                name=str(raw.get("name") or ""),
                target=layout.attribute(raw).target,
                rules=rules,
                owned=bool(rules) and rules[0].owned,
                direction=str(props.get("direction") or "").capitalize(),
                priority=priority if isinstance(priority, int) else None,
                legacy=bool(rules) and rules[0].owned and rules[0].legacy,
            )
        )
    return out


def compose(
    current: Sequence[Mapping[str, Any]],
    changes: Sequence[Change],
    layout: NsgLayout,
) -> list[dict[str, Any]] | None:
    """The complete rule list of an NSG after ``changes``, or None when nothing changes.

    Idempotent by key, so it can be re-run on a fresh read after a concurrent write:

    * every rule portsync does not touch is kept exactly as read (read-only fields aside);
    * a removal drops the portsync rule it names (or, when that rule is gone and the key is not
      wanted, every portsync rule with that key); an unmanaged rule (mode exclusive) is dropped
      only when every rule it expands to is removed;
    * an update re-renders the portsync rule holding its key, keeping name and priority (an
      adopted legacy rule is replaced by a new rule under the owner's name);
    * an addition already satisfied by a live rule is skipped; otherwise it becomes a new rule
      with its deterministic name and the lowest free priority of the band;
    * a portsync rule outside the band moves to the lowest free priority inside it.

    Raises:
        ProviderLimitError: the band has too few free priorities in a direction, the NSG would
            hold more than 1,000 rules, or an unmanaged rule would be removed only in part.
        ConflictError: two changes name the same target twice (programming error upstream).
    """
    entries = _entries(current, layout)
    drop: set[int] = set()
    replace: dict[int, TargetRule] = {}
    new: list[TargetRule] = []
    seen_targets: set[str] = set()

    def owned_holder(target: str, key: RuleKey, name: str | None = None) -> int | None:
        fallback = None
        for i, e in enumerate(entries):
            if i in drop or not e.owned or e.target != target or key not in e.keys:
                continue
            if name is None or e.name.lower() == name.lower():
                return i
            if fallback is None:
                fallback = i
        return fallback if name is not None else None

    for change in changes:
        if change.target in seen_targets:
            raise ConflictError(f"{layout.where}: target {change.target} changed twice")
        seen_targets.add(change.target)
        partial: dict[int, set[RuleKey]] = {}
        for rule in change.removes:
            named = (rule.native_id or "").lower()
            hits = [
                i
                for i, e in enumerate(entries)
                if e.target == change.target and e.name.lower() == named and rule.key in e.keys
            ]
            if rule.owned:
                hits = [i for i in hits if entries[i].owned]
                if not hits and rule.key not in layout.wanted:
                    hits = [
                        i
                        for i, e in enumerate(entries)
                        if e.owned and e.target == change.target and rule.key in e.keys
                    ]
                drop.update(hits)
            else:
                for i in hits:
                    if not entries[i].owned:
                        partial.setdefault(i, set()).add(rule.key)
        for i, keys in partial.items():
            if keys >= entries[i].keys:
                drop.add(i)
            else:
                raise ProviderLimitError(
                    f"{layout.where}: mode exclusive would remove only some of what the "
                    f"unmanaged rule {entries[i].name} allows; portsync does not rewrite other "
                    "people's rules",
                    hint=f"split or delete rule {entries[i].name} by hand, or use mode owned",
                )
        for before, after in change.updates:
            holder = owned_holder(change.target, before.key, before.native_id)
            if holder is not None and entries[holder].legacy:
                drop.add(holder)  # adopted: re-created under the owner's name
                holder = None
            if holder is None:
                new.append(after)
            else:
                replace[holder] = after
        for rule in change.adds:
            holder = owned_holder(change.target, rule.key)
            if holder is not None and entries[holder].legacy:
                drop.add(holder)
                holder = None
            if holder is not None:
                replace.setdefault(holder, rule)
                continue
            # Someone else's rule of the same key stands for it only when aimed at the role.
            satisfied = any(
                live.key == rule.key and (live.owned or reach_of(live, rule.role) is Match.YES)
                for j, e in enumerate(entries)
                if j not in drop and e.target == change.target
                for live in e.rules
            )
            if not satisfied and all(r.key != rule.key for r in new):
                new.append(rule)

    # Priorities: every kept rule keeps its own; moves and new rules take free band slots.
    low, high = layout.band
    moving = {
        i
        for i, e in enumerate(entries)
        if i not in drop and e.owned and not (e.priority is not None and low <= e.priority <= high)
    }
    used: dict[str, set[int]] = {"Inbound": set(), "Outbound": set()}
    foreign: dict[str, int] = {"Inbound": 0, "Outbound": 0}
    for i, e in enumerate(entries):
        if i in drop or i in moving or e.priority is None:
            continue
        used.setdefault(e.direction, set()).add(e.priority)
        if not e.owned and low <= e.priority <= high:
            foreign[e.direction] = foreign.get(e.direction, 0) + 1
    requests: list[tuple[str, RuleKey, int]] = []  # (direction, key, handle)
    for i in sorted(moving, key=lambda i: entries[i].rules[0].key):
        rule = replace.get(i, entries[i].rules[0])
        requests.append((_DIRECTION_NAMES[rule.direction], rule.key, i))
    new.sort(key=lambda r: r.key)
    for n, rule in enumerate(new):
        requests.append((_DIRECTION_NAMES[rule.direction], rule.key, -1 - n))
    allocated: dict[int, int] = {}
    for direction in ("Inbound", "Outbound"):
        wanted = [r for r in requests if r[0] == direction]
        if not wanted:
            continue
        free = [p for p in range(low, high + 1) if p not in used.get(direction, set())]
        if len(wanted) > len(free):
            raise ProviderLimitError(
                f"{layout.where}: priority_band {low}-{high} has {len(free)} free "
                f"{direction.lower()} priorities but portsync needs {len(wanted)} "
                f"({len(wanted) - len(free)} missing); {foreign.get(direction, 0)} of the band's "
                f"priorities are taken by rules portsync does not own",
                hint="widen priority_band, move the other rules out of the band, or remove rules",
            )
        for (_d, _k, handle), priority in zip(wanted, free, strict=False):
            allocated[handle] = priority

    out: list[dict[str, Any]] = []
    for i, e in enumerate(entries):
        if i in drop:
            continue
        kept = strip(e.raw)
        if i in replace or i in moving:
            rule = replace.get(i, e.rules[0])
            slot = allocated[i] if i in moving else e.priority
            body = render(rule, name=e.name, priority=slot if slot is not None else low)
            out.append(kept if _semantic(body) == _semantic(kept) else body)
        else:
            out.append(kept)
    taken = {str(r.get("name") or "").lower() for r in out}
    for n, rule in enumerate(new):
        name = unique_name(rule_name(layout.owners.stem, rule), taken)
        taken.add(name.lower())
        out.append(render(rule, name=name, priority=allocated[-1 - n]))
    if len(out) > MAX_RULES_PER_NSG:
        raise ProviderLimitError(
            f"{layout.where}: the NSG would hold {len(out)} security rules, over Azure's limit "
            f"of {MAX_RULES_PER_NSG} per network security group",
            hint="remove rules, or bind some roles to another NSG",
        )
    if out == [strip(r) for r in current]:
        return None
    return out


# --------------------------------------------------------------------------- the provider contract

#: ``Write.api`` and ``Write.method`` of every Azure write: one NSG create-or-update.
WRITE_API = "network.networkSecurityGroups"
WRITE_METHOD = "PUT"
#: ``TargetRule.extra`` key carried only by the rules read from an NSG's
#: ``defaultSecurityRules`` (the rules Azure puts in every NSG): their priority. Set by the read
#: path, never by a rule's name or description, so a custom rule named ``AllowVnetInBound`` is
#: not mistaken for one.
CLOUD_DEFAULT = "azure_default_priority"


@dataclass(frozen=True)
class RawNsg:
    """One NSG exactly as the listing returned it, read-only: the name, id and etag at hand, the
    rest only as copies (:meth:`body`, :attr:`text`). The listing's own dict is held privately
    and never handed out, so nothing can change what was read; only NSGs that a write changes
    are ever copied."""

    name: str
    id: str
    etag: str
    _body: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> RawNsg:
        """The read-only holder of ``body`` (an NSG in ARM JSON, which the caller gives up)."""
        return cls(
            name=str(body.get("name") or ""),
            id=str(body.get("id") or ""),
            etag=str(body.get("etag") or ""),
            _body=body,
        )

    def body(self) -> dict[str, Any]:
        """A fresh, mutable copy of the NSG as read."""
        return copy.deepcopy(dict(self._body))

    @property
    def text(self) -> str:
        """The NSG as read, as sorted-key JSON."""
        return json.dumps(self._body, sort_keys=True)


@dataclass(frozen=True)
class ClusterLayout:
    """One cluster's side of a resource group: its role bindings, owner and priority band.

    Built once per cluster from its config; ``read`` and ``compile`` take the layouts of every
    cluster sharing the listing, so one NSG bound by several clusters (or several roles) is
    written once, with all their changes.
    """

    cluster: str
    resource_group: str
    owners: NamedOwners
    band: tuple[int, int]
    bindings: tuple[Binding, ...]
    adopt_legacy: bool = False
    #: Read-only bindings: the other ASGs of roles bound to several, in their roles' NSGs; the
    #: rules naming them are read as targets of their own and never written.
    readonly: tuple[Binding, ...] = ()
    #: What the config says of each role's machines (default: what its binding says).
    machines: tuple[Machines, ...] = ()
    #: ``(role, NSGs)``: the other NSGs on the path of a role's machines (``nsgs`` besides the
    #: one written to), read only; a flow reaches the machines only when each of them allows it.
    paths: tuple[tuple[str, tuple[str, ...]], ...] = ()
    by_target: Mapping[str, Binding] = field(init=False, repr=False, compare=False)
    by_nsg: Mapping[str, tuple[Binding, ...]] = field(init=False, repr=False, compare=False)
    asg_names: Mapping[str, str] = field(init=False, repr=False, compare=False)
    origins: Mapping[str, str] = field(init=False, repr=False, compare=False)
    _nsg_machines: Mapping[str, tuple[Machines, ...]] = field(init=False, repr=False, compare=False)
    _role_machines: Mapping[str, Machines] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_nsg: dict[str, tuple[Binding, ...]] = {}
        for b in self.bindings:
            by_nsg[b.nsg.lower()] = (*by_nsg.get(b.nsg.lower(), ()), b)
        origins: dict[str, str] = {}
        asg_names: dict[str, str] = {}
        for b in (*self.bindings, *self.readonly):
            for endpoint in b.endpoints():
                origins.setdefault(str(endpoint), b.role)
            if b.asg:
                asg_names.setdefault(b.asg.lower(), b.asg)
        object.__setattr__(
            self, "by_target", {b.target: b for b in (*self.bindings, *self.readonly)}
        )
        object.__setattr__(self, "by_nsg", by_nsg)
        object.__setattr__(self, "asg_names", asg_names)
        object.__setattr__(self, "origins", origins)
        given = {m.role: m for m in self.machines}
        object.__setattr__(
            self,
            "_role_machines",
            {b.role: given.get(b.role) or Machines.of(b) for b in self.bindings},
        )
        object.__setattr__(
            self,
            "_nsg_machines",
            {
                nsg: tuple(given.get(b.role) or Machines.of(b) for b in bindings)
                for nsg, bindings in by_nsg.items()
            },
        )

    def where(self, nsg: str | None = None) -> str:
        """``cluster X (resource group Y)``, with ``: NSG Z`` when given."""
        where = f"cluster {self.cluster} (resource group {self.resource_group})"
        return f"{where}: NSG {nsg}" if nsg else where

    def nsg_of(self, target: str) -> str:
        """The lower-cased name of the NSG holding ``target``.

        Raises:
            ValueError: ``target`` is not one of this cluster's targets.
        """
        binding = self.by_target.get(target)
        if binding is None:
            raise ValueError(f"{target!r} is not a target of cluster {self.cluster}")
        return binding.nsg.lower()

    def nsg_layout(self, nsg: str, wanted: frozenset[RuleKey] = frozenset()) -> NsgLayout:
        """The :class:`NsgLayout` of this cluster's roles on the NSG named ``nsg`` (lower case)."""
        bindings = self.by_nsg[nsg]
        return NsgLayout(
            nsg=bindings[0].nsg,
            where=self.where(bindings[0].nsg),
            owners=self.owners,
            band=self.band,
            bindings=bindings,
            wanted=wanted,
            readonly=tuple(b for b in self.readonly if b.nsg.lower() == nsg),
            asg_names=self.asg_names,
            origins=self.origins,
            adopt_legacy=self.adopt_legacy,
            machines=self._nsg_machines[nsg],
        )

    def path_nsgs(self, role: str) -> tuple[str, ...]:
        """The other NSGs on the path of ``role``'s machines (none for most roles)."""
        return next((nsgs for r, nsgs in self.paths if r == role), ())

    def path_layout(self, role: str, nsg: str) -> NsgLayout:
        """An :class:`NsgLayout` that reads every rule of ``nsg``, an NSG on the path of
        ``role``'s machines, as rules of one read-only target (:func:`path_target`)."""
        binding = next(b for b in self.bindings if b.role == role)
        path = Binding(role, nsg, path_target(nsg, role), binding.prefixes, binding.asg)
        return NsgLayout(
            nsg=nsg,
            where=self.where(nsg),
            owners=self.owners,
            band=self.band,
            bindings=(path,),
            asg_names=self.asg_names,
            origins=self.origins,
            machines=(self._role_machines[role],),
        )


def path_target(nsg: str, role: str) -> str:
    """The read-only target of an NSG on the path of ``role``'s machines: ``<nsg>/path:<role>``."""
    return f"{nsg}/path:{role}"


def path_rules(layout: NsgLayout, raw: RawNsg) -> list[TargetRule]:
    """Every rule of the NSG ``raw`` as ``layout`` (a :meth:`ClusterLayout.path_layout`) reads
    it: the allow rules, the deny rules and the allow rules of its default security rules."""
    body = raw.body()
    rules = _security_rules(body)
    defaults = list(_props(body).get("defaultSecurityRules") or ())
    out: list[TargetRule] = []
    for found in (
        layout.live(rules),
        layout.live(rules, denied=True),
        expand_defaults(defaults, layout),
    ):
        for listed in found.values():
            out.extend(listed)
    return out


def expand_defaults(
    defaults: Iterable[Mapping[str, Any]],
    layout: NsgLayout,
    cache: dict[tuple[Any, ...], list[TargetRule]] | None = None,
) -> dict[str, list[TargetRule]]:
    """An NSG's ``defaultSecurityRules`` as live rules of every target of ``layout`` (the
    defaults hold for every role bound to the NSG).

    Each carries ``extra["azure_default_priority"]`` and is never owned: no API call can change
    or remove it. Only the allow defaults are returned: ``DenyAllInBound`` and
    ``DenyAllOutBound`` deny what no rule allows, which the evaluator answers anyway, and as live
    rules they would sort ahead of the rules a plan adds (those have no priority until written).
    ``cache`` (one per read) keeps each distinct default rule's expansion: every NSG has the
    same six, so a listing of thousands of NSGs expands them once.
    """
    cache = {} if cache is None else cache
    out: dict[str, list[TargetRule]] = {b.target: [] for b in layout.bindings}
    first = layout.bindings[0]
    for raw in defaults:
        props = _props(raw)
        if str(props.get("access") or "").lower() != "allow":
            continue
        key = (
            id(layout.origins),
            layout.machines,
            str(raw.get("name") or ""),
            *(_hashable(props.get(f)) for f in _DEFAULT_KEY_FIELDS),
        )
        templates = cache.get(key)
        if templates is None:
            extra_item = (CLOUD_DEFAULT, str(props.get("priority")))
            # A template lends its fields to each target's rule below, which is built afresh:
            # with no owner (no call changes a default rule) and the origin of its own role.
            templates = cache[key] = [
                rule.replace(extra=tuple(sorted((*rule.extra, extra_item))))
                for rule in expand(
                    raw,
                    binding=first,
                    owners=layout.owners,
                    band=layout.band,
                    asg_names=layout.asg_names,
                    machines=layout.machines,
                )
            ]
        for binding in layout.bindings:
            out[binding.target].extend(
                TargetRule(
                    target=binding.target,
                    role=binding.role,
                    direction=rule.direction,
                    protocol=rule.protocol,
                    ports=rule.ports,
                    peer=rule.peer,
                    description=rule.description,
                    native_id=rule.native_id,
                    origin=_origin(rule.peer, binding, layout.origins),
                    extra=rule.extra,
                )
                for rule in templates
            )
    return out


#: What an expanded security rule depends on, besides its name (see :func:`expand`).
_DEFAULT_KEY_FIELDS = (
    "access",
    "direction",
    "priority",
    "protocol",
    "description",
    "sourceAddressPrefix",
    "sourceAddressPrefixes",
    "sourceApplicationSecurityGroups",
    "sourcePortRange",
    "sourcePortRanges",
    "destinationAddressPrefix",
    "destinationAddressPrefixes",
    "destinationApplicationSecurityGroups",
    "destinationPortRange",
    "destinationPortRanges",
)


def _hashable(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
    return value


def _security_rules(nsg: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(_props(nsg).get("securityRules") or [])


def _change_of(group: GroupOps) -> Change:
    return Change(
        group.target,
        adds=tuple(op.rule for op in group.adds),
        removes=tuple(op.rule for op in group.removes),
        updates=tuple((op.before, op.after) for op in group.updates),
    )


def _phase(before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]) -> Phase:
    """``make`` for a PUT that only adds rules, ``break`` for one that only removes rules,
    ``change`` otherwise (one PUT is atomic, so within it nothing is ever missing)."""
    old = {str(r.get("name") or "").lower(): strip(r) for r in before}
    new = {str(r.get("name") or "").lower(): r for r in after}
    added = any(n not in old for n in new)
    removed = any(n not in new for n in old)
    changed = any(n in new and new[n] != old[n] for n in old)
    if changed or (added and removed):
        return Phase.CHANGE
    return Phase.BREAK if removed else Phase.MAKE


def compile_writes(
    changes: Sequence[tuple[ClusterLayout, GroupOps]], native: Mapping[str, RawNsg]
) -> tuple[Write, ...]:
    """The NSG PUTs that carry out ``changes`` on the NSGs of ``native`` (a snapshot's raw NSGs
    by lower-cased name), in phase order, then by NSG id. Pure.

    Every change to one NSG, whatever the role or cluster, goes into one PUT of the NSG's whole
    rule list with ``If-Match`` set to the etag the snapshot read: the clusters' changes are
    composed one after the other (each keeps the priorities the others take), and one PUT is
    atomic, so no wanted rule is ever missing. An NSG the changes leave as read gets no write.

    Raises:
        ProviderLimitError: an NSG would exceed a limit (see :func:`compose`).
        ValueError: a group's target is not one of its cluster's targets, or its NSG was not
            read (a programming error upstream).
    """
    by_nsg: dict[str, list[tuple[ClusterLayout, GroupOps]]] = {}
    for layout, group in changes:
        if group.ops:
            by_nsg.setdefault(layout.nsg_of(group.target), []).append((layout, group))
    writes: list[Write] = []
    for nsg, items in by_nsg.items():
        raw = native.get(nsg)
        if raw is None:
            raise ValueError(f"NSG {nsg} was not read; it cannot be compiled")
        body = raw.body()
        original = _security_rules(body)
        current: list[dict[str, Any]] = original
        touched = False
        clusters: dict[str, ClusterLayout] = {}
        per_cluster: dict[str, list[GroupOps]] = {}
        for layout, group in items:
            clusters.setdefault(layout.cluster, layout)
            per_cluster.setdefault(layout.cluster, []).append(group)
        for name, groups in per_cluster.items():
            layout = clusters[name]
            wanted = frozenset(
                r.key
                for g in groups
                for r in (*(op.rule for op in g.adds), *(op.after for op in g.updates))
            )
            composed = compose(
                current, [_change_of(g) for g in groups], layout.nsg_layout(nsg, wanted)
            )
            if composed is not None:
                current, touched = composed, True
        if not touched:
            continue
        final = [strip(r) for r in current]
        if final == [strip(r) for r in original]:
            continue
        kept = {str(r.get("name") or "").lower() for r in final}
        removes = sum(1 for r in original if str(r.get("name") or "").lower() not in kept)
        writes.append(
            Write(
                cluster=items[0][0].cluster,
                target=raw.id or raw.name,
                api=WRITE_API,
                method=WRITE_METHOD,
                body=nsg_body(body, final),
                phase=_phase(original, final),
                removes=removes,
                headers={"If-Match": raw.etag or "*"},
            )
        )
    return tuple(sorted(writes, key=lambda w: (w.phase, w.target.lower())))
