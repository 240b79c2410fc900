"""Finding providers by name through the ``portsync.providers`` entry-point group.

Built-in clouds register exactly as a third party would. Loading a provider class imports its
``provider`` module only — never a cloud SDK, which adapters import lazily.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from portsync.errors import ConfigError

__all__ = ["ENTRY_POINT_GROUP", "available_providers", "get_provider_class"]

ENTRY_POINT_GROUP = "portsync.providers"


@cache
def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found and found[ep.name].value != ep.value:
            raise ConfigError(
                f"two providers claim the name {ep.name!r}: {found[ep.name].value} and {ep.value}",
                hint="uninstall one of the packages",
            )
        found[ep.name] = ep
    return found


def available_providers() -> list[str]:
    """Names of every installed provider, sorted."""
    return sorted(_entry_points())


@cache
def get_provider_class(name: str) -> type[Any]:
    """The provider class registered under ``name`` (a :class:`portsync.provider.Provider`; the
    registry does not import that module, so config validation, which finds providers here,
    stays below the provider contract in the import graph).

    Raises:
        ConfigError: no provider of that name is installed.
    """
    eps = _entry_points()
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none"
        raise ConfigError(f"unknown provider {name!r}", hint=f"installed providers: {known}")
    cls: type[Any] = eps[name].load()
    return cls
