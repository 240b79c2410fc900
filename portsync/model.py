"""The provider-neutral model: what a port table means, independent of any cloud.

Two layers live here:

* :class:`Rule` / :class:`RuleSet` — the neutral rule set synthesised from port tables. Peers are
  abstract (``any``, ``self``, ``role:<name>``, ``cidr:<prefix>``, ``load-balancers``).
* :class:`TargetRule` — one rule resolved for one cluster and bound to one concrete target
  (a security group, a network tag, an NSG), with a concrete :class:`Endpoint` as its peer.
  The diff engine compares desired and live ``TargetRule`` sets; every provider reads into and
  writes from this shape.

Values are normalised on construction so equal things compare equal.
"""

from __future__ import annotations

import functools
import ipaddress
import operator
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

from portsync.peers import CORE_PEERS, KIND_RE, known_kinds, native_forms, native_kind

__all__ = [
    "IP_PROTOCOLS",
    "PROTOCOL_NAMES",
    "Direction",
    "Endpoint",
    "EndpointKind",
    "Peer",
    "PeerKind",
    "PortRange",
    "Protocol",
    "Rule",
    "RuleSet",
    "TargetRule",
    "canonical_cidr",
    "cidr_version",
    "icmp_for",
    "parse_protocol",
    "slugify",
    "strict_cidr",
]


class Direction(str, Enum):
    """Traffic direction, seen from the target."""

    INGRESS = "ingress"
    EGRESS = "egress"

    def __str__(self) -> str:
        return self.value


#: IANA numbers of the protocols portsync knows by name (``all`` has no number).
_PROTOCOL_NUMBERS: dict[str, int] = {
    "icmp": 1,
    "ipip": 4,
    "tcp": 6,
    "udp": 17,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "icmpv6": 58,
    "sctp": 132,
}
_PROTOCOL_NAMES: dict[int, str] = {number: name for name, number in _PROTOCOL_NUMBERS.items()}
_PORTED_NAMES = frozenset({"tcp", "udp", "sctp"})
_ICMP_NAMES = frozenset({"icmp", "icmpv6"})
_PROTOCOL_CHOICES = "tcp, udp, icmp, icmpv6, esp, ah, gre, ipip, sctp, all, or a number 0-255"


class Protocol(str):
    """IP protocol of a rule: a name (``tcp`` … ``sctp``), ``all`` (every protocol, no ports),
    or an IANA protocol number 0-255.

    One value per protocol: ``Protocol("6")``, ``Protocol(6)`` and ``Protocol("TCP")`` are the
    same object as :attr:`Protocol.TCP` (so ``is`` comparisons hold), and a number without a
    name is written as that number (``Protocol(115).value == "115"``). The value is the string
    itself, so a protocol compares equal to its text.

    Raises:
        ValueError: on construction, for anything else.
    """

    TCP: ClassVar[Protocol]
    UDP: ClassVar[Protocol]
    ICMP: ClassVar[Protocol]
    ICMPV6: ClassVar[Protocol]
    ESP: ClassVar[Protocol]
    AH: ClassVar[Protocol]
    GRE: ClassVar[Protocol]
    IPIP: ClassVar[Protocol]
    SCTP: ClassVar[Protocol]
    ALL: ClassVar[Protocol]

    #: The text form: a lowercase name, ``all``, or the number as a string.
    value: str
    #: IANA protocol number; None for ``all``.
    number: int | None
    #: Whether rules of this protocol carry a port range (tcp, udp, sctp).
    has_ports: bool
    #: Whether rules of this protocol may carry an ICMP type and code (icmp, icmpv6).
    is_icmp: bool

    def __new__(cls, value: str | int) -> Protocol:
        if type(value) is cls:
            return value
        known = _PROTOCOLS_BY_TEXT.get(value)
        if known is not None:
            return known
        name = _protocol_name(value)
        known = _PROTOCOLS_BY_TEXT.get(name)
        if known is None:
            known = str.__new__(cls, name)
            known.value = name
            known.number = None if name == "all" else _PROTOCOL_NUMBERS.get(name) or int(name)
            known.has_ports = name in _PORTED_NAMES
            known.is_icmp = name in _ICMP_NAMES
            _PROTOCOLS_BY_TEXT[name] = known
        if isinstance(value, str) and len(_PROTOCOLS_BY_TEXT) < 4096:
            _PROTOCOLS_BY_TEXT[value] = known
        return known

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"Protocol({self.value!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Protocol, (self.value,))

    def __copy__(self) -> Protocol:
        return self

    def __deepcopy__(self, memo: Any) -> Protocol:
        return self


_PROTOCOLS_BY_TEXT: dict[Any, Protocol] = {}


def _protocol_name(value: str | int) -> str:
    """The canonical text of a protocol given by name or number (see :class:`Protocol`)."""
    if isinstance(value, bool):
        raise ValueError(f"protocol {value!r} is not one of {_PROTOCOL_CHOICES}")
    text = str(value).strip().lower()
    if text == "all" or text in _PROTOCOL_NUMBERS:
        return text
    if text.isdigit() and text.isascii():
        number = int(text)
        if 0 <= number <= 255:
            return _PROTOCOL_NAMES.get(number, str(number))
    raise ValueError(f"protocol {value!r} is not one of {_PROTOCOL_CHOICES}")


for _name in ("tcp", "udp", "icmp", "icmpv6", "esp", "ah", "gre", "ipip", "sctp", "all"):
    setattr(Protocol, _name.upper(), Protocol(_name))
del _name

#: The protocols portsync knows by name, in the order documentation lists them.
PROTOCOL_NAMES: tuple[str, ...] = (
    "tcp",
    "udp",
    "icmp",
    "icmpv6",
    "esp",
    "ah",
    "gre",
    "ipip",
    "sctp",
    "all",
)

#: How cloud APIs write the named protocols: by name or by IANA protocol number (lower case).
#: Any other number 0-255 is read with ``Protocol(number)``; a cloud's own spellings (AWS's
#: ``-1`` for every protocol) are added by its provider.
IP_PROTOCOLS: dict[str, Protocol] = {
    **{name: Protocol(name) for name in PROTOCOL_NAMES},
    **{str(number): Protocol(number) for number in _PROTOCOL_NAMES},
}


def parse_protocol(value: Any) -> Protocol | None:
    """The protocol a cloud wrote (name or number), or None when it is none of them."""
    try:
        return Protocol(value)
    except (ValueError, TypeError):
        return None


def icmp_for(protocol: Protocol, peer: Endpoint) -> Protocol:
    """``icmp`` towards an IPv6 peer is ICMPv6, for clouds that keep the two apart."""
    if protocol is Protocol.ICMP and peer.ip_version == 6:
        return Protocol.ICMPV6
    return protocol


def _check_icmp(protocol: Protocol, icmp_type: int | None, icmp_code: int | None) -> None:
    for name, number in (("icmp_type", icmp_type), ("icmp_code", icmp_code)):
        if number is None:
            continue
        if isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"{name} must be an int, got {number!r}")
        if not protocol.is_icmp:
            raise ValueError(f"a {protocol.value} rule carries no {name} (only icmp and icmpv6)")
        if not 0 <= number <= 255:
            raise ValueError(f"{name} {number} is outside 0-255")
    if icmp_code is not None and icmp_type is None:
        raise ValueError("icmp_code needs an icmp_type (a code only means something for a type)")


_PORT_RANGE_RE = re.compile(r"^\s*([0-9]{1,5})\s*(?:[-–—~]\s*([0-9]{1,5}))?\s*$")


@dataclass(frozen=True, slots=True, order=True)
class PortRange:
    """An inclusive port range; one port has ``from_port == to_port``."""

    from_port: int
    to_port: int

    def __post_init__(self) -> None:
        for port in (self.from_port, self.to_port):
            if isinstance(port, bool) or not isinstance(port, int):
                raise TypeError(f"port must be an int, got {port!r}")
            if not 0 <= port <= 65535:
                raise ValueError(f"port {port} is outside 0-65535")
        if self.from_port > self.to_port:
            raise ValueError(f"port range {self.from_port}-{self.to_port} is reversed")

    @classmethod
    def parse(cls, text: str | int) -> PortRange:
        """Parse ``"6443"``, ``"2379-2380"`` or an int.

        Raises:
            ValueError: the text is not a port or a port range.
        """
        if not isinstance(text, str | int):
            # A list or mapping from a hostile file: refused like any other bad text.
            raise ValueError(f"{text!r} is not a port or a port range like 30000-32767")
        if cls is PortRange:
            return _parse_port_range(text)
        return cls._parse(text)

    @classmethod
    def _parse(cls, text: str | int) -> PortRange:
        if isinstance(text, int) and not isinstance(text, bool):
            return cls(text, text)
        match = _PORT_RANGE_RE.match(str(text))
        if not match:
            raise ValueError(f"{text!r} is not a port or a port range like 30000-32767")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        return cls(low, high)

    def __str__(self) -> str:
        if self.from_port == self.to_port:
            return str(self.from_port)
        return f"{self.from_port}-{self.to_port}"

    def contains(self, port: int) -> bool:
        """Whether ``port`` lies in the range."""
        return self.from_port <= port <= self.to_port

    def overlaps(self, other: PortRange) -> bool:
        """Whether the two ranges share at least one port."""
        return self.from_port <= other.to_port and other.from_port <= self.to_port


# Port ranges are immutable and a fleet's config repeats the same few: parse each text once.
# typed=True keeps True (refused) apart from 1 (port 1).
@functools.lru_cache(maxsize=8192, typed=True)
def _parse_port_range(text: str | int) -> PortRange:
    return PortRange._parse(text)


def canonical_cidr(text: str) -> str:
    """Return ``text`` as a canonical network: host bits zeroed, IPv6 compressed.

    A bare address becomes a /32 (or /128).

    Raises:
        ValueError: ``text`` is not an IPv4 or IPv6 network.
    """
    return _canonical_cidr(str(text).strip())


@functools.lru_cache(maxsize=65536)
def cidr_version(text: str) -> int | None:
    """4 or 6 when ``text`` is an IPv4 or IPv6 network (host bits allowed), None otherwise
    (a service tag, a wildcard, a typo). Cached like :func:`canonical_cidr`."""
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False).version
    except ValueError:
        return None


def strict_cidr(text: str) -> str:
    """Like :func:`canonical_cidr`, but a network written with host bits set is an error rather
    than silently widened: ``203.0.113.7/0`` would otherwise become ``0.0.0.0/0``.

    For the values people type (config, command line); what a cloud returns goes through
    :func:`canonical_cidr`.

    Raises:
        ValueError: not a network, or host bits set (the message suggests the host route and,
            for a prefix that is not itself the world, the network).
    """
    raw = str(text).strip()
    canonical = canonical_cidr(raw)
    if "/" not in raw:
        return canonical
    try:
        ipaddress.ip_network(raw, strict=True)
    except ValueError:
        iface = ipaddress.ip_interface(raw)
        host = f"{iface.ip}/{iface.max_prefixlen}"
        wide = iface.network.prefixlen < (8 if iface.version == 4 else 16)
        suggestion = host if wide else f"{host}, or the network {iface.network}"
        raise ValueError(f"{raw}: host bits set; did you mean {suggestion}?") from None
    return canonical


# A fleet repeats the same few hundred prefixes across thousands of rules, and parsing them with
# ipaddress dominated reading a large project; failures are not cached (they raise).
@functools.lru_cache(maxsize=65536)
def _canonical_cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an IPv4 or IPv6 network like 10.0.0.0/8") from exc


_SLUG_RE = re.compile(r"[^\w]+", re.UNICODE)


@functools.lru_cache(maxsize=8192)
def slugify(text: str) -> str:
    """Lowercase, hyphen-separated form of a heading (``"Database nodes"`` → ``database-nodes``).

    Cached: every rule checks its role name with it, and a fleet has few role names."""
    slug = _SLUG_RE.sub("-", text.strip().lower()).strip("-_")
    return slug.replace("_", "-")


class PeerKind(str, Enum):
    """Kinds of neutral peer."""

    ANY = "any"
    SELF = "self"
    ROLE = "role"
    CIDR = "cidr"
    LOAD_BALANCERS = "load-balancers"
    #: A cloud-native peer (a provider's, see :mod:`portsync.peers`), held as written; each
    #: provider refuses those its cloud does not have.
    NATIVE = "native"


@dataclass(frozen=True, slots=True, order=True)
class Peer:
    """Who a neutral rule talks to. String forms: ``any``, ``self``, ``role:X``, ``cidr:P``,
    ``load-balancers``, and the native peers the installed providers declare (see
    :mod:`portsync.peers`), written as the config writes them."""

    kind: PeerKind
    value: str = ""
    #: The string form, computed once: it is part of every rule identity.
    text: str = field(default="", init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.kind is PeerKind.CIDR:
            object.__setattr__(self, "value", canonical_cidr(self.value))
        elif self.kind is PeerKind.ROLE:
            if not self.value or slugify(self.value) != self.value:
                raise ValueError(f"role name {self.value!r} must be a lowercase slug")
        elif self.kind is PeerKind.NATIVE:
            spec = native_kind(self.value)
            if spec is None:
                raise ValueError(f"{self.value!r} is not a native peer of any installed provider")
            problem = spec.problem(spec.value_of(self.value))
            if problem is not None:
                raise ValueError(problem)
        elif self.value:
            raise ValueError(f"peer {self.kind.value!r} takes no value")
        kind = PeerKind(self.kind)._value_
        if self.kind is PeerKind.NATIVE:
            text = self.value
        elif self.value:
            text = f"{kind}:{self.value}"
        else:
            text = kind
        object.__setattr__(self, "text", text)

    @classmethod
    def parse(cls, text: str) -> Peer:
        """Parse the string form of a peer.

        Raises:
            ValueError: unknown peer form.
        """
        if cls is Peer:
            return _parse_peer(str(text).strip())
        return cls._parse(str(text).strip())

    @classmethod
    def _parse(cls, text: str) -> Peer:
        if text in ("any", "self", "load-balancers"):
            return cls(PeerKind(text))
        prefix, sep, rest = text.partition(":")
        if sep and prefix == "role":
            return cls(PeerKind.ROLE, rest)
        if sep and prefix == "cidr":
            return cls(PeerKind.CIDR, rest)
        if native_kind(text) is not None:
            return cls(PeerKind.NATIVE, text)
        natives = native_forms()
        raise ValueError(
            f"peer {text!r} is not one of {CORE_PEERS}" + (f", {natives}" if natives else "")
        )

    def __str__(self) -> str:
        return self.text

    def for_target(self, role: str) -> Peer:
        """``role:X`` where X is the rule's own role is written ``self``."""
        if self.kind is PeerKind.ROLE and self.value == role:
            return Peer(PeerKind.SELF)
        return self


@functools.lru_cache(maxsize=8192)
def _parse_peer(text: str) -> Peer:
    # Peers are immutable and a config repeats the same few: parse each text once.
    return Peer._parse(text)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One neutral rule: ``role`` may be reached over ``protocol``/``ports`` from ``peer``.

    ``ports`` only for tcp, udp and sctp; ``icmp_type`` and ``icmp_code`` only for icmp and
    icmpv6 (None means every type, or every code of the type).
    """

    role: str
    direction: Direction = Direction.INGRESS
    protocol: Protocol
    ports: PortRange | None
    peer: Peer
    purpose: str = ""
    icmp_type: int | None = None
    icmp_code: int | None = None
    #: A role peer that stands for part of "All" (see :func:`portsync.synthesis.expand_all`):
    #: a cluster that does not bind the role simply has no such machines, so the rule is
    #: skipped there instead of refused. Never part of the identity.
    via_all: bool = False
    _identity: tuple[str, str, str, int, int, str] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        # A config of thousands of extra rules builds each of these on every plan: the checks
        # below skip the enum lookups and the writes of values that are already right.
        role = self.role
        if not role or slugify(role) != role:
            raise ValueError(f"role {role!r} must be a lowercase slug like 'control-plane'")
        direction = self.direction
        if type(direction) is not Direction:
            direction = Direction(direction)
            object.__setattr__(self, "direction", direction)
        protocol = self.protocol
        if type(protocol) is not Protocol:
            protocol = Protocol(protocol)
            object.__setattr__(self, "protocol", protocol)
        ports = self.ports
        if protocol.has_ports and ports is None:
            raise ValueError(f"a {protocol.value} rule needs a port range")
        if not protocol.has_ports and ports is not None:
            raise ValueError(f"a {protocol.value} rule carries no ports")
        icmp_type, icmp_code = self.icmp_type, self.icmp_code
        if icmp_type is not None or icmp_code is not None:
            _check_icmp(protocol, icmp_type, icmp_code)
        peer = self.peer
        if peer.kind is PeerKind.ROLE and peer.value == role:
            peer = peer.for_target(role)
            object.__setattr__(self, "peer", peer)
        purpose = self.purpose
        if purpose:
            spaced = " ".join(purpose.split())
            if spaced != purpose:
                object.__setattr__(self, "purpose", spaced)
        if ports is not None:
            low, high = ports.from_port, ports.to_port
        else:
            low, high = _key_numbers(None, icmp_type, icmp_code)
        identity = (role, direction._value_, protocol.value, low, high, peer.text)
        object.__setattr__(self, "_identity", identity)

    @classmethod
    def for_each_role(
        cls,
        roles: Iterable[str],
        *,
        direction: Direction = Direction.INGRESS,
        protocol: Protocol,
        ports: PortRange | None,
        peer: Peer,
        purpose: str = "",
        icmp_type: int | None = None,
        icmp_code: int | None = None,
    ) -> list[Rule]:
        """``[Rule(role=role, ...) for role in roles]``: one rule a role, the same otherwise. A
        config's ``role: "*"`` rule stands for hundreds of roles; the checks that do not depend
        on the role (protocol, ports, ICMP, purpose) run once, on the first rule, and each
        further role's rule is that one with its own role, identity and peer (``role:X`` on
        role X is ``self``), its role name checked as the constructor checks it."""
        first: Rule | None = None
        out: list[Rule] = []
        for role in roles:
            if first is None or cls is not Rule:
                rule = cls(
                    role=role,
                    direction=direction,
                    protocol=protocol,
                    ports=ports,
                    peer=peer,
                    purpose=purpose,
                    icmp_type=icmp_type,
                    icmp_code=icmp_code,
                )
                first = rule
                out.append(rule)
                continue
            if not role or slugify(role) != role:
                raise ValueError(f"role {role!r} must be a lowercase slug like 'control-plane'")
            own_peer = peer.for_target(role) if peer.kind is PeerKind.ROLE else peer
            identity = first._identity
            rule = _new_object(Rule)
            _set_rule_role(rule, role)
            _set_rule_direction(rule, first.direction)
            _set_rule_protocol(rule, first.protocol)
            _set_rule_ports(rule, first.ports)
            _set_rule_peer(rule, own_peer)
            _set_rule_purpose(rule, first.purpose)
            _set_rule_icmp_type(rule, first.icmp_type)
            _set_rule_icmp_code(rule, first.icmp_code)
            _set_rule_via_all(rule, first.via_all)
            _set_rule_identity(rule, (role, *identity[1:5], own_peer.text))
            out.append(rule)
        return out

    @property
    def ports_text(self) -> str:
        """``6443``, ``2379-2380``, ``type 3 code 4`` (ICMP) or ``all``."""
        if self.ports:
            return str(self.ports)
        return icmp_text(self.icmp_type, self.icmp_code) or "all"

    @property
    def identity(self) -> tuple[str, str, str, int, int, str]:
        """What makes two rules the same rule (purpose excluded). The two numbers are the port
        range, or for ICMP the type and code (-1 when absent: every port, type or code)."""
        return self._identity

    def to_dict(self) -> dict[str, Any]:
        """The JSON rule object."""
        return {
            "role": self.role,
            "direction": self.direction.value,
            "protocol": self.protocol.value,
            "from_port": self.ports.from_port if self.ports else None,
            "to_port": self.ports.to_port if self.ports else None,
            "icmp_type": self.icmp_type,
            "icmp_code": self.icmp_code,
            "peer": str(self.peer),
            "purpose": self.purpose,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        """Build a rule from its JSON object.

        Raises:
            ValueError, TypeError, KeyError: the object is malformed.
        """
        protocol = Protocol(data["protocol"])
        ports = None
        if data.get("from_port") is not None:
            ports = PortRange(data["from_port"], data.get("to_port", data["from_port"]))
        return cls(
            role=data["role"],
            direction=Direction(data.get("direction", "ingress")),
            protocol=protocol,
            ports=ports,
            peer=Peer.parse(data["peer"]),
            purpose=str(data.get("purpose") or ""),
            icmp_type=data.get("icmp_type"),
            icmp_code=data.get("icmp_code"),
        )


#: What orders a role's rules in a :class:`RuleSet`.
_IDENTITY = operator.attrgetter("_identity")
#: :meth:`Rule.for_each_role` writes each slot through its descriptor.
_new_object = object.__new__
_RULE_SETTERS = {name: Rule.__dict__[name].__set__ for name in Rule.__dataclass_fields__}
_set_rule_role = _RULE_SETTERS.pop("role")
_set_rule_direction = _RULE_SETTERS.pop("direction")
_set_rule_protocol = _RULE_SETTERS.pop("protocol")
_set_rule_ports = _RULE_SETTERS.pop("ports")
_set_rule_peer = _RULE_SETTERS.pop("peer")
_set_rule_purpose = _RULE_SETTERS.pop("purpose")
_set_rule_icmp_type = _RULE_SETTERS.pop("icmp_type")
_set_rule_icmp_code = _RULE_SETTERS.pop("icmp_code")
_set_rule_via_all = _RULE_SETTERS.pop("via_all")
_set_rule_identity = _RULE_SETTERS.pop("_identity")
if _RULE_SETTERS:  # a field added to Rule that for_each_role would leave unset
    raise TypeError(f"Rule.for_each_role does not write {', '.join(sorted(_RULE_SETTERS))}")


@dataclass(frozen=True, slots=True)
class RuleSet:
    """An ordered, duplicate-free set of neutral rules.

    Rules with the same identity collapse into one; their purposes are joined.
    """

    rules: tuple[Rule, ...] = ()
    _by_role: dict[str, tuple[Rule, ...]] | None = field(
        default=None, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        merged: dict[tuple[str, str, str, int, int, str], Rule] = {}
        for rule in self.rules:
            seen = merged.get(rule.identity)
            if seen is None:
                merged[rule.identity] = rule
            else:
                purpose = seen.purpose
                if rule.purpose and rule.purpose not in seen.purpose.split("; "):
                    purpose = f"{seen.purpose}; {rule.purpose}" if seen.purpose else rule.purpose
                # A rule asked for in its own right stays required even when "All" implies it.
                via_all = seen.via_all and rule.via_all
                if purpose != seen.purpose or via_all != seen.via_all:
                    merged[rule.identity] = Rule(
                        role=seen.role,
                        direction=seen.direction,
                        protocol=seen.protocol,
                        ports=seen.ports,
                        peer=seen.peer,
                        purpose=purpose,
                        icmp_type=seen.icmp_type,
                        icmp_code=seen.icmp_code,
                        via_all=via_all,
                    )
        # Roles keep the order they are declared in (the port tables name the control plane
        # first, then etcd and the workers; extra rules follow in config order); within a role,
        # rules sort by identity so equal sets print alike.
        # (An identity starts with the role: sorting each role's rules by identity, roles in
        # declared order, is sorting by (rank, identity) without a key tuple per rule.)
        by_role: dict[str, list[Rule]] = {}
        for rule in self.rules:
            by_role.setdefault(rule.role, [])
        for rule in merged.values():
            by_role[rule.role].append(rule)
        ordered = [rule for rules in by_role.values() for rule in sorted(rules, key=_IDENTITY)]
        object.__setattr__(self, "rules", tuple(ordered))

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def roles(self) -> tuple[str, ...]:
        """Roles that have at least one rule, sorted."""
        return tuple(sorted({r.role for r in self.rules}))

    def for_role(self, role: str) -> RuleSet:
        """Only the rules that target ``role``."""
        return self.for_roles((role,))

    def for_roles(self, roles: Iterable[str]) -> RuleSet:
        """Only the rules that target one of ``roles``, in this set's order.

        Indexed by role on first use: a fleet of hundreds of clusters each takes its own few
        roles out of one large set, and scanning the whole set for each was quadratic.
        """
        index = self._by_role
        if index is None:
            grouped: dict[str, list[Rule]] = {}
            for rule in self.rules:
                grouped.setdefault(rule.role, []).append(rule)
            index = {role: tuple(rules) for role, rules in grouped.items()}
            object.__setattr__(self, "_by_role", index)
        wanted = set(roles)
        if wanted >= index.keys():
            return self
        # A subset of a merged, sorted set is merged and sorted already: keep this set's order
        # instead of merging and sorting it again.
        picked = object.__new__(RuleSet)
        object.__setattr__(picked, "rules", tuple(r for r in self.rules if r.role in wanted))
        object.__setattr__(picked, "_by_role", None)
        return picked

    def with_rules(self, rules: Iterable[Rule]) -> RuleSet:
        """A new set holding these rules and ``rules``."""
        return RuleSet((*self.rules, *rules))


class EndpointKind(str):
    """The kind of a concrete peer, the part before the colon of ``kind:value``.

    ``cidr`` is the core's (:attr:`CIDR`); every other kind is a provider's (a security group,
    a network tag, a service tag), declared in its :class:`~portsync.peers.CloudSyntax` and
    defined in its own modules. Kinds are interned, so ``kind is EndpointKind.CIDR`` holds for
    every ``cidr`` kind however it was made.
    """

    __slots__ = ()
    CIDR: ClassVar[EndpointKind]
    _interned: ClassVar[dict[str, EndpointKind]] = {}

    def __new__(cls, value: str) -> EndpointKind:
        if type(value) is cls:
            return value
        text = str(value)
        found = cls._interned.get(text)
        if found is None:
            if not KIND_RE.match(text):
                raise ValueError(
                    f"{text!r} is not an endpoint kind (lowercase letters, digits and '-')"
                )
            found = cls._interned.setdefault(text, super().__new__(cls, text))
        return found

    @property
    def value(self) -> str:
        """The kind as a plain string (``sg``)."""
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"EndpointKind({str.__str__(self)!r})"


EndpointKind.CIDR = EndpointKind("cidr")


@dataclass(frozen=True, slots=True, order=True)
class Endpoint:
    """A concrete peer on one cloud, written ``kind:value`` (``cidr:10.0.0.0/8``, ``sg:sg-1``)."""

    kind: EndpointKind
    value: str
    #: The string form, computed once: it is part of every rule key.
    text: str = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        kind = self.kind
        if type(kind) is not EndpointKind:
            kind = EndpointKind(kind)
            object.__setattr__(self, "kind", kind)
        if kind is EndpointKind.CIDR:
            object.__setattr__(self, "value", canonical_cidr(self.value))
        elif not self.value:
            raise ValueError(f"endpoint {kind} needs a value")
        object.__setattr__(self, "text", f"{kind}:{self.value}")

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """Parse ``kind:value``.

        Raises:
            ValueError: unknown kind or bad value.
        """
        kind, sep, value = str(text).partition(":")
        if not sep:
            raise ValueError(f"endpoint {text!r} must be written kind:value")
        if kind != EndpointKind.CIDR and kind not in known_kinds():
            known = ", ".join(sorted({EndpointKind.CIDR.value, *known_kinds()}))
            raise ValueError(
                f"endpoint {text!r}: no installed provider has kind {kind!r} ({known})"
            )
        return cls(EndpointKind(kind), value)

    @classmethod
    def cidr(cls, prefix: str) -> Endpoint:
        """A CIDR endpoint (endpoints are immutable, so equal prefixes share one instance)."""
        if cls is Endpoint:
            return _cidr_endpoint(prefix)
        return cls(EndpointKind.CIDR, prefix)

    @property
    def ip_version(self) -> int | None:
        """4 or 6 for CIDR endpoints, None otherwise."""
        if self.kind is not EndpointKind.CIDR:
            return None
        # The value is canonical: only IPv6 networks are written with colons.
        return 6 if ":" in self.value else 4

    def __str__(self) -> str:
        return self.text


@functools.lru_cache(maxsize=65536)
def _cidr_endpoint(prefix: str) -> Endpoint:
    return Endpoint(EndpointKind.CIDR, prefix)


RuleKey = tuple[str, str, str, int, int, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetRule:
    """One rule bound to a concrete target on one cluster, desired or live.

    ``target`` is the provider's id of what the rule protects (a security group id, a network tag,
    an NSG name). ``key`` — target, direction, protocol, ports (or ICMP type and code), peer — is
    the identity the diff uses; ``description``, ``owned``, ``owner`` and ``native_id`` never take
    part in it.
    """

    target: str
    role: str | None = None
    direction: Direction = Direction.INGRESS
    protocol: Protocol
    ports: PortRange | None = None
    peer: Endpoint
    icmp_type: int | None = None
    icmp_code: int | None = None
    description: str = ""
    #: Whether the rule is the current owner's to change and remove (see ``owner``).
    owned: bool = False
    #: The owner identity the cloud stores with the rule and the provider read back (an AWS
    #: tag, a GCP or Azure name carrying the owner's hash); None when the rule carries none.
    #: A rule with an owner that is not ``owned`` belongs to another portsync owner.
    owner: str | None = None
    #: Carries only the description marker of a portsync release from before owner identities:
    #: unmanaged until adopted (``--adopt-legacy``), then ``owned`` and rewritten with the owner.
    legacy: bool = False
    native_id: str | None = None
    origin: str | None = None  # the neutral peer this was resolved from, e.g. "role:worker"
    extra: tuple[tuple[str, str], ...] = field(default=())
    #: Tags the cloud stores with the rule (AWS security group rules), sorted; read, never
    #: compared by the diff.
    tags: tuple[tuple[str, str], ...] = field(default=())
    _key: RuleKey = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # Providers build tens of thousands of these per plan: skip the enum lookups when the
        # caller already passed members, and read member values without the enum descriptor.
        direction = self.direction
        if type(direction) is not Direction:
            direction = Direction(direction)
            object.__setattr__(self, "direction", direction)
        protocol = self.protocol
        if type(protocol) is not Protocol:
            protocol = Protocol(protocol)
            object.__setattr__(self, "protocol", protocol)
        ports = self.ports
        if ports is not None and not protocol.has_ports:
            ports = None
            object.__setattr__(self, "ports", None)
        if self.icmp_type is not None or self.icmp_code is not None:
            _check_icmp(protocol, self.icmp_type, self.icmp_code)
        low, high = _key_numbers(ports, self.icmp_type, self.icmp_code)
        key = (self.target, direction._value_, protocol.value, low, high, self.peer.text)
        object.__setattr__(self, "_key", key)

    @property
    def key(self) -> RuleKey:
        """The diff identity."""
        return self._key

    @property
    def ports_text(self) -> str:
        """``6443``, ``2379-2380``, ``type 3 code 4`` (ICMP) or ``all``."""
        if self.ports:
            return str(self.ports)
        return icmp_text(self.icmp_type, self.icmp_code) or "all"

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the neutral rule object plus target-level fields."""
        data: dict[str, Any] = {
            "role": self.role,
            "direction": self.direction.value,
            "protocol": self.protocol.value,
            "from_port": self.ports.from_port if self.ports else None,
            "to_port": self.ports.to_port if self.ports else None,
            "icmp_type": self.icmp_type,
            "icmp_code": self.icmp_code,
            "peer": str(self.peer),
            "purpose": self.description,
            "target": self.target,
            "owned": self.owned,
        }
        if self.owner is not None:
            data["owner"] = self.owner
        if self.legacy:
            data["legacy"] = True
        if self.native_id is not None:
            data["native_id"] = self.native_id
        if self.origin is not None:
            data["origin"] = self.origin
        if self.extra:
            data["extra"] = dict(self.extra)
        if self.tags:
            data["tags"] = dict(self.tags)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TargetRule:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError, TypeError, KeyError: the object is malformed.
        """
        ports = None
        if data.get("from_port") is not None:
            ports = PortRange(int(data["from_port"]), int(data["to_port"]))
        extra = data.get("extra") or {}
        if not isinstance(extra, dict):
            raise TypeError("extra must be an object")
        tags = data.get("tags") or {}
        if not isinstance(tags, dict):
            raise TypeError("tags must be an object")
        return cls(
            target=str(data["target"]),
            role=data.get("role"),
            direction=Direction(data["direction"]),
            protocol=Protocol(data["protocol"]),
            ports=ports,
            peer=Endpoint.parse(data["peer"]),
            icmp_type=_optional_int(data.get("icmp_type")),
            icmp_code=_optional_int(data.get("icmp_code")),
            description=str(data.get("purpose") or ""),
            owned=bool(data.get("owned", False)),
            owner=None if data.get("owner") is None else str(data["owner"]),
            legacy=bool(data.get("legacy", False)),
            native_id=data.get("native_id"),
            origin=data.get("origin"),
            extra=tuple(sorted((str(k), str(v)) for k, v in extra.items())),
            tags=tuple(sorted((str(k), str(v)) for k, v in tags.items())),
        )

    @classmethod
    def desired(
        cls,
        rule: Rule,
        *,
        target: str,
        peer: Endpoint,
        description: str,
        extra: tuple[tuple[str, str], ...] = (),
        protocol: Protocol | None = None,
    ) -> TargetRule:
        """What portsync wants on ``target`` for the neutral ``rule`` resolved to ``peer``:
        owned, described as the provider writes it, remembering the neutral peer as its origin.
        ``protocol`` replaces the rule's own when the cloud spells it differently for this peer
        (ICMPv6, see :func:`icmp_for`)."""
        return cls.made(
            target=target,
            role=rule.role,
            direction=rule.direction,
            protocol=protocol or rule.protocol,
            ports=rule.ports,
            peer=peer,
            icmp_type=rule.icmp_type,
            icmp_code=rule.icmp_code,
            description=description,
            owned=True,
            origin=str(rule.peer),
            extra=extra,
        )

    @classmethod
    def made(
        cls,
        *,
        target: str,
        role: str | None,
        direction: Direction,
        protocol: Protocol,
        ports: PortRange | None,
        peer: Endpoint,
        description: str = "",
        owned: bool = False,
        owner: str | None = None,
        legacy: bool = False,
        native_id: str | None = None,
        origin: str | None = None,
        extra: tuple[tuple[str, str], ...] = (),
        tags: tuple[tuple[str, str], ...] = (),
        icmp_type: int | None = None,
        icmp_code: int | None = None,
    ) -> TargetRule:
        """``TargetRule(...)`` with these values, built without the frozen dataclass's generic
        per-field writes: providers build thousands of rules a plan, and those writes were most
        of the cost. The same checks as the constructor apply: a direction or protocol that is
        not the enum member, or an ICMP type or code (checked against the protocol), goes
        through it."""
        if (
            type(direction) is not Direction
            or type(protocol) is not Protocol
            or cls is not TargetRule
            or icmp_type is not None
            or icmp_code is not None
        ):
            return cls(
                target=target,
                role=role,
                direction=direction,
                protocol=protocol,
                ports=ports,
                peer=peer,
                icmp_type=icmp_type,
                icmp_code=icmp_code,
                description=description,
                owned=owned,
                owner=owner,
                legacy=legacy,
                native_id=native_id,
                origin=origin,
                extra=extra,
                tags=tags,
            )
        if ports is None:
            low = high = -1
        elif protocol.has_ports:
            low, high = ports.from_port, ports.to_port
        else:
            ports, low, high = None, -1, -1
        rule = _new_object(TargetRule)
        _set_target(rule, target)
        _set_role(rule, role)
        _set_direction(rule, direction)
        _set_protocol(rule, protocol)
        _set_ports(rule, ports)
        _set_peer(rule, peer)
        _set_icmp_type(rule, None)
        _set_icmp_code(rule, None)
        _set_description(rule, description)
        _set_owned(rule, owned)
        _set_owner(rule, owner)
        _set_legacy(rule, legacy)
        _set_native_id(rule, native_id)
        _set_origin(rule, origin)
        _set_extra(rule, extra)
        _set_tags(rule, tags)
        _set_key(rule, (target, direction._value_, protocol.value, low, high, peer.text))
        return rule

    def replace(self, **changes: Any) -> TargetRule:
        """A copy with ``changes`` applied."""
        values = {
            name: getattr(self, name) for name, f in self.__dataclass_fields__.items() if f.init
        }
        values.update(changes)
        return TargetRule(**values)


#: :meth:`TargetRule.made` writes each slot through its descriptor.
_SETTERS = {name: TargetRule.__dict__[name].__set__ for name in TargetRule.__dataclass_fields__}
_set_target = _SETTERS.pop("target")
_set_role = _SETTERS.pop("role")
_set_direction = _SETTERS.pop("direction")
_set_protocol = _SETTERS.pop("protocol")
_set_ports = _SETTERS.pop("ports")
_set_peer = _SETTERS.pop("peer")
_set_icmp_type = _SETTERS.pop("icmp_type")
_set_icmp_code = _SETTERS.pop("icmp_code")
_set_description = _SETTERS.pop("description")
_set_owned = _SETTERS.pop("owned")
_set_owner = _SETTERS.pop("owner")
_set_legacy = _SETTERS.pop("legacy")
_set_native_id = _SETTERS.pop("native_id")
_set_origin = _SETTERS.pop("origin")
_set_extra = _SETTERS.pop("extra")
_set_tags = _SETTERS.pop("tags")
_set_key = _SETTERS.pop("_key")
if _SETTERS:  # a field added to TargetRule that made() would leave unset
    raise TypeError(f"TargetRule.made does not write {', '.join(sorted(_SETTERS))}")


def _key_numbers(
    ports: PortRange | None, icmp_type: int | None, icmp_code: int | None
) -> tuple[int, int]:
    """The two numbers of a rule identity: the port range, or the ICMP type and code (a rule
    has one or the other, never both); -1 stands for "every"."""
    if ports is not None:
        return ports.from_port, ports.to_port
    return (
        -1 if icmp_type is None else icmp_type,
        -1 if icmp_code is None else icmp_code,
    )


def icmp_text(icmp_type: int | None, icmp_code: int | None) -> str:
    """``type 3 code 4``, ``type 8``, or empty when every type is meant."""
    if icmp_type is None:
        return ""
    return f"type {icmp_type}" + (f" code {icmp_code}" if icmp_code is not None else "")


def _optional_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer or null, got {value!r}")
    return value
