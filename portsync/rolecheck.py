"""Role bindings, checked before any cloud call.

A role name is what connects a port table's rules to the cloud objects a cluster binds. A typo
there does not fail loudly by itself: a bound role no table defines simply gets no rules, and
``owned`` mode then removes every rule portsync owns on that target. So every name is checked
here, with a suggestion for the likely intended one:

* role names use ``a-z``, ``0-9`` and ``-`` only (:mod:`portsync.roles`, checked as the config
  is loaded);
* every role a cluster binds must be defined by a port table or by ``extra_rules`` (rules for
  role ``"*"`` define every bound role, except one a letter away from a defined role the
  cluster does not bind);
* every role ``extra_rules`` names must be bound by some cluster (otherwise the rule is written
  nowhere);
* table roles no cluster binds are worth one note (an external-etcd table on clusters that bind
  no ``etcd`` role, say), not an error: catalogs describe more roles than a cluster may have.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable

from portsync.config import EVERY_ROLE, LoadedConfig
from portsync.errors import ConfigError

__all__ = ["check_roles", "unbound_roles_note"]

#: How alike a role given rules only by ``role: "*"`` may be to a defined, unbound one before it
#: counts as a typo of it (difflib's ratio: ``workers``/``worker`` is 0.92, ``app-1``/``worker``
#: 0).
_NEAR_MISS = 0.8


def _suggest(name: str, known: Iterable[str]) -> str:
    candidates = sorted(set(known))
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    if candidates:
        return f" (known roles: {', '.join(candidates)})"
    return ""


def _uses_every_role(loaded: LoadedConfig) -> bool:
    return any(
        item.role == EVERY_ROLE or (isinstance(item.role, list) and EVERY_ROLE in item.role)
        for item in loaded.config.extra_rules
    )


def _extra_role_names(loaded: LoadedConfig) -> list[tuple[int, int | None, str]]:
    """``(rule index, list index or None, role)`` of every role ``extra_rules`` names (``*``
    names none: it stands for the bound roles)."""
    out: list[tuple[int, int | None, str]] = []
    for index, item in enumerate(loaded.config.extra_rules):
        if isinstance(item.role, str):
            if item.role != EVERY_ROLE:
                out.append((index, None, item.role))
        else:
            out.extend(
                (index, pos, role) for pos, role in enumerate(item.role) if role != EVERY_ROLE
            )
    return out


def check_roles(loaded: LoadedConfig, table_roles: Collection[str]) -> None:
    """Refuse bound roles nothing defines, and extra-rule roles no cluster binds.

    Args:
        loaded: the config.
        table_roles: the roles the port tables define (after the ``etcd`` topology is applied).

    Raises:
        ConfigError: one line per problem, each with ``file:line``, the config path and a
            suggestion.
    """
    config = loaded.config
    extra = _extra_role_names(loaded)
    defined = set(table_roles) | {role for _i, _p, role in extra}
    every_role = _uses_every_role(loaded)
    bound = {role for cluster in config.clusters for role in cluster.roles}
    problems: list[str] = []
    for index, cluster in enumerate(config.clusters):
        for role in cluster.roles:
            if role in defined:
                continue
            where = loaded.where("clusters", index, "roles", role)
            head = f"{where}: clusters.{index}.roles.{role}: no port table defines role {role!r}"
            if every_role:
                # Rules written for role "*" give every bound role rules, so a role of its own
                # (an application tier) is fine; one a letter away from a defined role that
                # this cluster leaves unbound is a typo of it (app-2 next to a bound app-1 is not).
                unbound = sorted(defined - set(cluster.roles))
                close = difflib.get_close_matches(role, unbound, n=1, cutoff=_NEAR_MISS)
                if close:
                    problems.append(
                        f"{head}, only rules for role '*' would apply to it (did you mean "
                        f"{close[0]!r}?)"
                    )
                continue
            problems.append(f"{head}{_suggest(role, defined)}")
    if config.clusters:
        for index, pos, role in extra:
            if role in bound:
                continue
            loc: tuple[str | int, ...] = ("extra_rules", index, "role")
            dotted = f"extra_rules.{index}.role"
            if pos is not None:
                loc, dotted = (*loc, pos), f"{dotted}.{pos}"
            problems.append(
                f"{loaded.where(*loc)}: {dotted}: no cluster binds role {role!r}, so this rule "
                f"would be written nowhere{_suggest(role, bound)}"
            )
    if problems:
        raise ConfigError(
            "\n".join(problems),
            hint="fix the role name; a role a cluster binds needs rules from a port table or "
            "extra_rules",
        )


def unbound_roles_note(loaded: LoadedConfig, table_roles: Collection[str]) -> str | None:
    """One line naming the port-table roles no cluster binds (their rules are written nowhere),
    or None when every table role is bound or no cluster is configured."""
    clusters = loaded.config.clusters
    if not clusters:
        return None
    bound = {role for cluster in clusters for role in cluster.roles}
    unbound = sorted(set(table_roles) - bound)
    if not unbound:
        return None
    names = ", ".join(repr(r) for r in unbound)
    return (
        f"note: the port tables define roles no cluster binds: {names}; their rules are not "
        "written anywhere"
    )
