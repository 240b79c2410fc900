"""Read the protocol-and-port cells of upstream requirement tables.

The Kubernetes table keeps the protocol and the port range in two clean columns. Upstream
projects write them in one cell and in prose: ``TCP 179``, ``UDP 51820 (default)``,
``2379-2380/tcp``, ``Often TCP 443 or 6443*``, ``ICMP 8/0``, ``IP-in-IP, often represented by its
protocol number 4``. :func:`read_port_spec` finds every protocol and port such a cell names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PortSpec", "read_port_spec"]


@dataclass(frozen=True, slots=True)
class PortSpec:
    """One protocol a cell names, with its ports (or ICMP type/code) as written."""

    protocol: str  # a protocol word: tcp, udp, sctp, icmp, ipip …
    ports: str | None = None  # "179", "2379-2380"; None for protocols without ports
    icmp_type: int | None = None
    icmp_code: int | None = None


_PORT = r"[0-9]{1,5}(?:\s*[-–]\s*[0-9]{1,5})?"
_LIST = rf"{_PORT}(?:\s*(?:,|\bor\b|\band\b)\s*{_PORT})*"
_PORT_FIRST = re.compile(rf"(?P<ports>{_PORT})\s*/\s*(?P<proto>tcp|udp|sctp)\b")
_PROTO_FIRST = re.compile(rf"\b(?P<proto>tcp|udp|sctp)\s+(?P<ports>{_LIST})")
_ICMP = re.compile(
    r"\bicmp(?:v6)?\b(?:\s*(?:type\s*)?(?P<type>[0-9]{1,3})\s*/\s*(?P<code>[0-9]{1,3}))?"
)
_IPIP = re.compile(r"\bip[- ]?in[- ]?ip\b|\bipip\b|\bipencap\b|protocol number\s*4\b")
_NOTE = re.compile(r"\([^)]*\)")
_LIST_SPLIT = re.compile(r"\s*(?:,|\bor\b|\band\b)\s*")


def read_port_spec(text: str) -> list[PortSpec]:
    """Every protocol and port range named in one cell, in the order written.

    Args:
        text: the cell, cleaned of Markdown (links, footnote marks).

    Returns:
        The specs; empty when the cell names no protocol it can read.

    Raises:
        Nothing.
    """
    cell = _NOTE.sub(" ", text.casefold())
    specs: list[tuple[int, PortSpec]] = []
    for match in _PORT_FIRST.finditer(cell):
        specs.append((match.start(), PortSpec(match.group("proto"), _range(match.group("ports")))))
    if not specs:
        for match in _PROTO_FIRST.finditer(cell):
            for item in _LIST_SPLIT.split(match.group("ports")):
                if item:
                    specs.append((match.start(), PortSpec(match.group("proto"), _range(item))))
    for match in _ICMP.finditer(cell):
        kind = "icmpv6" if match.group(0).startswith("icmpv6") else "icmp"
        icmp_type = int(match.group("type")) if match.group("type") else None
        icmp_code = int(match.group("code")) if match.group("code") else None
        specs.append((match.start(), PortSpec(kind, None, icmp_type, icmp_code)))
    ipip = _IPIP.search(cell)
    if ipip:
        specs.append((ipip.start(), PortSpec("ipip")))
    return [spec for _, spec in sorted(specs, key=lambda item: item[0])]


def _range(text: str) -> str:
    return re.sub(r"\s*[-–]\s*", "-", text.strip())
