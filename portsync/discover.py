"""``portsync init --discover``: find the groups an existing cluster already uses.

Cluster builders leave recognisable marks — kops tags and names its security groups, Cluster API
providers tag theirs with the cluster and a role, EKS and AKS name or tag the groups they create.
Each provider package that can read those marks names a function (``discover = "module:function"``
on the provider class) taking the scope to read and returning :class:`Found` clusters, and
declares the scope keys that function reads (``discover_scope``, a tuple of :class:`ScopeKey`:
a region, a project, a resource group, …). ``portsync init --discover NAME`` takes one option per
declared key (``--region eu-west-1``), so a provider installed from another package is
discovered with no edit here. The read is read-only: one listing of the groups in that scope.

The core knows only this small protocol, never a cloud.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from portsync.errors import ConfigError, InputError
from portsync.registry import available_providers, get_provider_class

__all__ = [
    "CONNECTION_KEYS",
    "Found",
    "ScopeKey",
    "discover",
    "discoverable_providers",
    "parse_scope",
    "pick",
    "scope_keys",
    "where",
]

#: Scope keys every discovery takes besides its declared ones: how to reach the API, not where
#: to read (``init --endpoint``, ``init --anonymous``).
CONNECTION_KEYS = ("endpoint", "credentials")

#: A scope key's name (the key of the scope mapping and of the config entry it proposes).
_KEY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
#: A scope key's option on the command line, without the leading ``--``.
_FLAG = re.compile(r"^[a-z][a-z0-9-]{0,40}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScopeKey:
    """One key of the scope a provider's discovery reads, declared on the provider class in
    ``discover_scope``; ``portsync init --discover`` takes it as ``--<flag> VALUE``."""

    #: The key in the scope mapping the discover function gets (``subscription_id``).
    name: str
    #: One line for ``portsync init --help`` (``Azure subscription id to read``).
    help: str
    #: What the value is, in help and messages (``ID``).
    metavar: str = "VALUE"
    #: The option without its ``--`` when it is not the name with ``-`` for ``_``
    #: (``subscription`` for ``subscription_id``).
    flag: str = ""
    #: Whether discovery cannot read without it (``init`` refuses before any cloud call).
    required: bool = False
    #: Whether it says where the listing is read (a region, a project), so messages name it;
    #: False for how to connect (a CA bundle, a profile).
    locates: bool = True

    @property
    def option(self) -> str:
        """The command-line option: ``--region``."""
        return f"--{self.flag or self.name.replace('_', '-')}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    """One cluster found in a cloud, as a proposed config entry.

    ``entry`` is the cluster's config entry (name, provider, scope keys, roles); ``evidence``
    says, per role, which group was bound and why (the convention recognised); ``load_balancers``
    are the API-server and load-balancer groups, for ``sources.load_balancers``.
    """

    name: str
    tool: str
    entry: dict[str, Any]
    evidence: dict[str, str] = field(default_factory=dict)
    load_balancers: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


Discoverer = Callable[[Mapping[str, Any]], Sequence[Found]]


def _discoverer(provider: str) -> Discoverer:
    spec = getattr(get_provider_class(provider), "discover", None)
    module, _, attr = str(spec).partition(":")
    fn: Discoverer = getattr(importlib.import_module(module), attr)
    return fn


def discoverable_providers() -> list[str]:
    """The installed providers that can discover clusters."""
    return [
        name
        for name in available_providers()
        if getattr(get_provider_class(name), "discover", None)
    ]


def _can_discover(provider: str) -> None:
    """Refuse a provider that is not installed or declares no discovery.

    Raises:
        InputError: naming the providers that can.
    """
    able = discoverable_providers()
    if provider in able:
        return
    installed = provider in available_providers()
    raise InputError(
        f"--discover {provider}: "
        + (
            f"provider {provider} cannot discover clusters"
            if installed
            else f"no provider named {provider!r} is installed"
        ),
        hint=f"providers that can: {', '.join(able) or 'none installed'}"
        + ("" if installed else "; a provider from another package is found once pip-installed"),
    )


def scope_keys(provider: str, *, reserved: Collection[str] = ()) -> tuple[ScopeKey, ...]:
    """The scope keys ``provider``'s discovery declares (``discover_scope``), checked.

    Args:
        provider: an installed provider that can discover.
        reserved: options the command line already uses (``--out``), which no key may take.

    Raises:
        InputError: the provider is not installed or cannot discover.
        ConfigError: the declaration is not a tuple of well-named :class:`ScopeKey`.
    """
    _can_discover(provider)
    declared = getattr(get_provider_class(provider), "discover_scope", ())
    fix = (
        "declare `discover_scope: ClassVar[tuple[ScopeKey, ...]] = (ScopeKey(name=..., "
        "help=...), ...)` on the provider class, with lowercase names and options no other "
        "init option takes"
    )
    if not isinstance(declared, tuple) or not all(isinstance(k, ScopeKey) for k in declared):
        raise ConfigError(
            f"provider {provider!r} declares a discover_scope that is not a tuple of "
            "portsync.discover.ScopeKey",
            hint=fix,
        )
    seen: dict[str, str] = {}
    for key in declared:
        flag = key.option[2:]
        if not _KEY_NAME.match(key.name) or not _FLAG.match(flag):
            problem = f"the scope key {key.name!r} (option {key.option!r}) is not well named"
        elif key.name in CONNECTION_KEYS:
            problem = f"the scope key {key.name!r} is one every discovery takes already"
        elif key.option in reserved:
            problem = f"the scope key {key.name!r} takes the option {key.option}, init's own"
        elif key.option in seen or key.name in seen.values():
            problem = f"two scope keys take {key.option} or the name {key.name!r}"
        else:
            seen[key.option] = key.name
            continue
        raise ConfigError(f"provider {provider!r}: {problem}", hint=fix)
    return declared


def _takers(option: str, *, reserved: Collection[str]) -> list[str]:
    """The discoverable providers that take ``option`` (for a hint)."""
    takers = []
    for name in discoverable_providers():
        try:
            keys = scope_keys(name, reserved=reserved)
        except (ConfigError, InputError):
            continue
        if any(key.option == option for key in keys):
            takers.append(name)
    return takers


def parse_scope(
    provider: str, args: Sequence[str], *, reserved: Collection[str] = ()
) -> dict[str, str]:
    """The scope that the options ``args`` (``["--region", "eu-west-1"]``, or
    ``--region=eu-west-1``) give ``provider``'s discovery, checked against its declaration.

    Raises:
        InputError: an option the provider does not take, one without a value, one given twice,
            or a required one missing; the message names the options the provider takes.
        ConfigError: the provider's declaration is wrong.
    """
    keys = scope_keys(provider, reserved=reserved)
    by_option = {key.option: key for key in keys}
    takes = ", ".join(f"{k.option} {k.metavar}" for k in keys) or "no scope option"
    scope: dict[str, str] = {}
    i = 0
    while i < len(args):
        token = str(args[i])
        option, eq, value = token.partition("=")
        key = by_option.get(option) if option.startswith("--") else None
        if key is None:
            others = _takers(option, reserved=reserved) if option.startswith("--") else []
            raise InputError(
                f"--discover {provider}: {token!r} is not an option {provider} discovery reads"
                + (f" ({option} is read by {', '.join(others)})" if others else ""),
                hint=f"{provider} takes {takes}; see `portsync init --help`",
            )
        if not eq:
            following = str(args[i + 1]) if i + 1 < len(args) else ""
            if not following or following.startswith("-"):
                raise InputError(
                    f"--discover {provider}: {option} needs a value",
                    hint=f"e.g. {option} {key.metavar}",
                )
            value, i = following, i + 1
        if key.name in scope:
            raise InputError(f"--discover {provider}: {option} is given twice", hint="give it once")
        if not value:
            raise InputError(
                f"--discover {provider}: {option} is empty", hint=f"e.g. {option} {key.metavar}"
            )
        scope[key.name] = value
        i += 1
    _check_required(provider, keys, scope)
    return scope


def _check_required(provider: str, keys: Sequence[ScopeKey], scope: Mapping[str, Any]) -> None:
    missing = [key for key in keys if key.required and not scope.get(key.name)]
    if missing:
        raise InputError(
            f"--discover {provider} needs {' and '.join(k.option for k in missing)}",
            hint="add " + "; ".join(f"{k.option} {k.metavar} ({k.help})" for k in missing),
        )


def where(provider: str, scope: Mapping[str, Any]) -> str:
    """Where discovery reads, for messages: ``aws eu-west-1``."""
    located = [
        str(scope[key.name]) for key in scope_keys(provider) if key.locates and scope.get(key.name)
    ]
    return " ".join([provider, *located])


def discover(provider: str, scope: Mapping[str, Any]) -> list[Found]:
    """The clusters ``provider`` finds in ``scope``, sorted by name.

    ``scope`` holds the provider's declared keys (:func:`scope_keys`) and the
    :data:`CONNECTION_KEYS`; it is checked before any cloud call.

    Raises:
        InputError: the provider cannot discover, the scope holds a key it does not read, or
            lacks one it needs.
        ProviderError: the cloud refused the listing.
    """
    keys = scope_keys(provider)
    known = {key.name for key in keys} | set(CONNECTION_KEYS)
    unknown = sorted(k for k, v in scope.items() if k not in known and v is not None)
    if unknown:
        raise InputError(
            f"--discover {provider}: {provider} discovery does not read {', '.join(unknown)}",
            hint=f"it reads {', '.join(sorted(known))}",
        )
    _check_required(provider, keys, scope)
    return sorted(_discoverer(provider)(scope), key=lambda found: found.name)


def pick(found: Sequence[Found], name: str | None, *, where: str) -> Found:
    """The one cluster to write: the only one found, or the one ``--cluster`` names.

    Raises:
        InputError: nothing found, several found and no name given, or the name is not among them.
    """
    listing = ", ".join(f"{f.name} ({f.tool})" for f in found)
    if not found:
        raise InputError(
            f"no cluster found in {where}: nothing there carries the marks of a cluster builder "
            "this provider recognises",
            hint="check the scope options (`portsync init --help`), or run `portsync init` "
            "without --discover and fill the bindings in",
        )
    if name is None:
        if len(found) == 1:
            return found[0]
        raise InputError(
            f"{len(found)} clusters found in {where}: {listing}",
            hint="pick one with --cluster NAME",
        )
    for candidate in found:
        if candidate.name == name:
            return candidate
    raise InputError(f"no cluster {name!r} in {where}", hint=f"found: {listing}")
