"""Role names: what a role name may be made of.

A role name connects a port table's rules to the cloud objects a cluster binds, so it must be
exactly what it looks like: ``a-z``, ``0-9`` and ``-`` only, so a look-alike letter from another
script (a Cyrillic ``о`` in ``wоrker``) cannot pass for the real name. Whether the names a config
uses fit together is :mod:`portsync.rolecheck`'s job.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["ROLE_NAME_CHARS", "role_name_problem"]

#: What a role name may be made of, as the error messages say it.
ROLE_NAME_CHARS = "a-z, 0-9 and '-'"

_ROLE_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def role_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid role name, or None when it is.

    The message names the first character outside ``a-z0-9-`` by its Unicode name, so a
    look-alike letter is visible in a terminal that renders it identically.
    """
    if _ROLE_NAME.fullmatch(name):
        return None
    for char in name:
        if char not in _ALLOWED:
            what = unicodedata.name(char, "unnamed character")
            return (
                f"role {name!r} may hold only {ROLE_NAME_CHARS}: {char!r} (U+{ord(char):04X} "
                f"{what}) is not one of them"
            )
    return (
        f"role {name!r} must be words of {ROLE_NAME_CHARS} joined by single hyphens, like "
        "'control-plane'"
    )
