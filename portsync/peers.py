"""The hook through which a provider tells the core about its cloud's own spellings.

A config may name peers that are neither an address range nor a role of the cluster: a cloud's
own objects, such as a security group or a service tag. The core knows none of them. Each
provider class declares a :class:`CloudSyntax` as the class attribute ``syntax``: the native
peers a config may write (how each is spelled, how a misspelling is explained, what it stands
for), the other endpoint kinds its rules carry, and the description markers it writes in front
of a rule's purpose. The core asks the registry for every installed provider's declaration, so
adding a cloud needs no edit here.

Only the spelling is checked here, never membership: what a group or tag holds is the cloud's.
Which cloud can write a native peer is checked per cluster, when rules are resolved (see
:mod:`portsync.resolve`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from portsync.errors import ConfigError
from portsync.registry import available_providers, get_provider_class

__all__ = [
    "CORE_PEERS",
    "KIND_RE",
    "CloudSyntax",
    "NativePeer",
    "declared",
    "forget",
    "known_kinds",
    "markers",
    "native_forms",
    "native_kind",
    "native_spec",
    "strip_marker",
    "syntax",
]

#: The neutral peer forms every cloud understands, as error messages list them.
CORE_PEERS = "any, self, load-balancers, role:<name>, cidr:<prefix>"

#: Kind names the core owns: no provider may declare one.
_CORE_KINDS = frozenset({"any", "self", "role", "cidr", "load-balancers", "native"})

#: What an endpoint kind may be spelled with: it is written in every rule key (``kind:value``).
KIND_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


def _spelled_right(_value: str) -> str | None:
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class NativePeer:
    """One kind of cloud-native peer a config may name in ``sources`` and as a rule's peer.

    A config writes it as ``prefix + value`` (``service-tag:VirtualNetwork``), or as the value
    alone when ``prefix`` is empty (``sg-0abc``); it resolves to the endpoint ``kind:value``.
    """

    #: The endpoint kind it resolves to (``sg``): lowercase letters, digits and ``-``.
    kind: str
    #: The cloud that has it, as messages name it (``AWS``).
    cloud: str
    #: How a config writes it, for the list of peer forms in messages (``sg-… or <account>/sg-…``).
    form: str
    #: What it is and where it can be written, for the refusal on another cloud
    #: (``an AWS security group (only AWS security group rules can name one)``).
    what: str
    #: Its short name in notes (``security group``).
    noun: str
    #: Matches every text written as this kind, spelled right or not (``^sg-``), so a
    #: misspelling gets this kind's message rather than a generic one.
    written: re.Pattern[str]
    #: Written in front of the value in a config (``service-tag:``); empty for a bare value.
    prefix: str = ""
    #: Why a value (``prefix`` removed) is not spelled right, or None when it is: the message
    #: says what is wrong and how it is written.
    problem: Callable[[str], str | None] = _spelled_right
    #: Whether it stands for addresses the cloud keeps (a prefix list, a service tag) rather
    #: than for the machines that are its members (a security group).
    addresses: bool = False
    #: For ``addresses`` kinds, why portsync cannot say whether it holds a source; ``{value}``
    #: is replaced by the value.
    unseen: str = ""
    #: Values (lowercase) that hold every address.
    everyone: frozenset[str] = frozenset()
    #: Values (lowercase) that mean anyone on the internet.
    world: frozenset[str] = frozenset()
    #: Values (lowercase) that stand for addresses inside the cloud network only.
    internal: frozenset[str] = frozenset()

    def value_of(self, text: str) -> str:
        """The endpoint value of ``text`` as a config writes it."""
        return text[len(self.prefix) :] if self.prefix and text.startswith(self.prefix) else text

    def text_of(self, value: str) -> str:
        """How a config writes the endpoint value ``value``."""
        return f"{self.prefix}{value}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CloudSyntax:
    """What a provider class declares about its cloud's spellings (``syntax`` class attribute).

    Class-level and stateless: the core reads it without constructing the provider.
    """

    #: The native peers a config may name for this cloud.
    peers: tuple[NativePeer, ...] = ()
    #: The other endpoint kinds its rules carry (a network tag, an application security group).
    kinds: tuple[str, ...] = ()
    #: Description prefixes its rules carry in front of their purpose (``portsync: ``): a plan's
    #: reasons leave them out.
    markers: tuple[str, ...] = ()

    @property
    def writable(self) -> tuple[str, ...]:
        """The native peer kinds this cloud's rules can name: those of its own :attr:`peers`.

        A provider passes them to :func:`portsync.resolve.resolve_peer`, which refuses a native
        peer of any other kind (another cloud's) by name.
        """
        return tuple(peer.kind for peer in self.peers)


@dataclass(frozen=True, slots=True)
class _Known:
    peers: tuple[NativePeer, ...]
    by_kind: dict[str, NativePeer]
    kinds: frozenset[str]
    markers: tuple[str, ...]


def syntax(name: str) -> CloudSyntax:
    """What the provider registered as ``name`` declares (empty when it declares nothing).

    Raises:
        ConfigError: no such provider, or its declaration is not a :class:`CloudSyntax`.
    """
    return declared(get_provider_class(name), name)


def declared(cls: type[Any], name: str = "") -> CloudSyntax:
    """What provider class ``cls`` (registered as ``name``) declares; empty when it declares
    nothing.

    Raises:
        ConfigError: its declaration is not a :class:`CloudSyntax`.
    """
    name = name or getattr(cls, "name", cls.__name__)
    found = getattr(cls, "syntax", None)
    if found is None:
        return CloudSyntax()
    if not isinstance(found, CloudSyntax):
        raise ConfigError(
            f"provider {name!r} declares a syntax that is not a portsync.peers.CloudSyntax",
            hint="declare `syntax: ClassVar[CloudSyntax] = CloudSyntax(...)` on the provider class",
        )
    return found


@cache
def _known() -> _Known:
    peers: list[NativePeer] = []
    by_kind: dict[str, NativePeer] = {}
    kinds: dict[str, str] = {}
    found_markers: list[str] = []
    for name in available_providers():
        declared_syntax = syntax(name)
        declared = [*(p.kind for p in declared_syntax.peers), *declared_syntax.kinds]
        for kind in dict.fromkeys(declared):
            if kind in _CORE_KINDS or not KIND_RE.match(kind):
                raise ConfigError(
                    f"provider {name!r} declares the endpoint kind {kind!r}, which "
                    + ("is the core's own" if kind in _CORE_KINDS else "is not a kind name"),
                    hint="name a provider's kinds with lowercase letters, digits and '-', "
                    "not any, self, role, cidr, load-balancers or native",
                )
            if kind in kinds:
                raise ConfigError(
                    f"providers {kinds[kind]!r} and {name!r} both declare the kind {kind!r}",
                    hint="uninstall one of the packages",
                )
            kinds[kind] = name
        for peer in declared_syntax.peers:
            peers.append(peer)
            by_kind[peer.kind] = peer
        found_markers.extend(m for m in declared_syntax.markers if m and m not in found_markers)
    return _Known(tuple(peers), by_kind, frozenset(kinds), tuple(found_markers))


def native_kind(text: str) -> NativePeer | None:
    """The native peer ``text`` is written as (whether or not it is spelled right), or None
    when it is written as none.

    Raises:
        ValueError: two installed providers' native peers claim ``text``.
    """
    claims = [p for p in _known().peers if p.written.match(text)]
    if len(claims) > 1:
        listed = " and ".join(f"{p.kind} ({p.cloud})" for p in claims)
        raise ValueError(f"peer {text!r} is written as the native peer of two clouds: {listed}")
    return claims[0] if claims else None


def native_spec(kind: str) -> NativePeer | None:
    """The native peer whose endpoint kind is ``kind``, or None (``cidr``, or a kind that no
    config names, such as a network tag)."""
    return _known().by_kind.get(kind)


def known_kinds() -> frozenset[str]:
    """Every endpoint kind an installed provider declares (``cidr`` is the core's, not listed)."""
    return _known().kinds


def markers() -> tuple[str, ...]:
    """The description markers of every installed provider."""
    return _known().markers


def native_forms() -> str:
    """The native peer forms of every installed provider, for messages:
    ``sg-… and pl-… (AWS), service-tag:<Name> (Azure)``."""
    by_cloud: dict[str, list[str]] = {}
    for peer in _known().peers:
        by_cloud.setdefault(peer.cloud, []).append(peer.form)
    return ", ".join(f"{' and '.join(forms)} ({cloud})" for cloud, forms in by_cloud.items())


def strip_marker(text: str, found: Iterable[str]) -> str:
    """``text`` without the first of the markers ``found`` it starts with."""
    for marker in found:
        if marker and text.startswith(marker):
            return text[len(marker) :]
    return text


def forget() -> None:
    """Drop what was learnt from the registry (after a provider is installed in-process, in
    tests)."""
    _known.cache_clear()
