"""The question ``portsync explain`` answers: who asks (SOURCE) and about what (ROLE:PORT/PROTO).

Both arguments are parsed here, and a bad one is refused with what was wrong and how it is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from portsync.errors import InputError
from portsync.model import Peer, PeerKind, PortRange, Protocol, slugify

__all__ = ["WORLD_WORDS", "Destination", "Source", "parse_destination", "parse_source"]


@dataclass(frozen=True, slots=True)
class Source:
    """Who asks: a CIDR, a role, or the load balancers."""

    text: str
    peer: Peer  # cidr:…, role:X or load-balancers

    @property
    def kind(self) -> str:
        """``cidr``, ``role`` or ``load-balancers``."""
        return self.peer.kind.value

    @property
    def from_internet(self) -> bool:
        """Whether the source was asked as ``any`` / ``internet``: traffic from the internet."""
        return self.text.strip().lower() in WORLD_WORDS

    def __str__(self) -> str:
        if self.peer.kind is PeerKind.CIDR and self.text != self.peer.value:
            return f"{self.text} ({self.peer})"
        return str(self.peer)


@dataclass(frozen=True, slots=True)
class Destination:
    """What is asked about: one port of one role."""

    role: str
    port: int
    protocol: Protocol

    def __str__(self) -> str:
        return f"{self.role}:{self.port}/{self.protocol.value}"


#: Words that ask about traffic from the public internet (``0.0.0.0/0``).
WORLD_WORDS = ("any", "internet", "world", "all")


def parse_source(text: str) -> Source:
    """Parse the SOURCE argument.

    Args:
        text: an IP or CIDR, ``any`` / ``internet``, ``role:X`` or ``load-balancers``.

    Returns:
        The source.

    Raises:
        InputError: the text is none of those.
    """
    raw = (text or "").strip()
    low = raw.lower()
    hint = "SOURCE is an IP or CIDR, any / internet, role:<name> or load-balancers"
    if low in WORLD_WORDS:
        return Source(raw, Peer(PeerKind.CIDR, "0.0.0.0/0"))
    if low in ("load-balancers", "load-balancer", "lb"):
        return Source(raw, Peer(PeerKind.LOAD_BALANCERS))
    if low.startswith("role:"):
        name = raw.split(":", 1)[1].strip()
        if not name or slugify(name) != name:
            raise InputError(f"source {raw!r}: role names are lowercase slugs", hint=hint)
        return Source(raw, Peer(PeerKind.ROLE, name))
    try:
        return Source(raw, Peer(PeerKind.CIDR, low.removeprefix("cidr:")))
    except ValueError:
        raise InputError(
            f"source {raw!r} is not a source portsync understands", hint=hint
        ) from None


def parse_destination(text: str) -> Destination:
    """Parse ``ROLE:PORT/PROTO`` (``/tcp`` may be left out).

    Args:
        text: for example ``control-plane:6443/tcp`` or ``worker:30080``.

    Returns:
        The destination.

    Raises:
        InputError: the text is not of that form.
    """
    hint = "write ROLE:PORT/PROTO, e.g. control-plane:6443/tcp or worker:53/udp"
    role, sep, rest = (text or "").strip().rpartition(":")
    if not sep or not role:
        raise InputError(f"destination {text!r} has no role", hint=hint)
    port_text, _, proto_text = rest.partition("/")
    try:
        protocol = Protocol((proto_text or "tcp").strip().lower())
    except ValueError:
        raise InputError(f"destination {text!r}: unknown protocol", hint=hint) from None
    if not protocol.has_ports:
        raise InputError(f"destination {text!r}: explain answers for tcp or udp ports", hint=hint)
    try:
        port = PortRange.parse(port_text.strip())
    except ValueError:
        raise InputError(f"destination {text!r}: {port_text!r} is not a port", hint=hint) from None
    if port.from_port != port.to_port:
        raise InputError(f"destination {text!r}: ask about one port, not a range", hint=hint)
    if slugify(role) != role:
        raise InputError(f"destination {text!r}: role {role!r} is not a lowercase slug", hint=hint)
    return Destination(role, port.from_port, protocol)
