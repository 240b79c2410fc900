"""Owner identities carried in names, for clouds whose rules have no tags (GCP firewalls, Azure
security rules).

Such a rule is named ``<prefix>-<hash>-…``: ``hash`` is a short digest of the owner identity, so
the name the cloud stores says who wrote the rule. Which names a provider writes, and which other
marks a rule of an earlier release carried, stay with the provider; this module only computes the
digest and reads it back.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from portsync.errors import ConfigError

if TYPE_CHECKING:
    from portsync.config import ClusterConfig
    from portsync.provider import Settings

__all__ = ["OWNER_HASH_LENGTH", "NamedOwners", "named_owners", "owner_hash", "owners_by_hash"]

#: Hex digits of the owner digest in a name: 24 bits, so a fleet's owners do not collide by
#: chance (collisions among the configured owners are refused) while names stay short.
OWNER_HASH_LENGTH = 6

_HASH = re.compile(rf"^[0-9a-f]{{{OWNER_HASH_LENGTH}}}$")


@functools.lru_cache(maxsize=1024)  # names are read by the thousand against a few owners
def owner_hash(owner: str) -> str:
    """The short digest of ``owner`` that names carry."""
    return hashlib.sha256(owner.encode("utf-8")).hexdigest()[:OWNER_HASH_LENGTH]


def owners_by_hash(owners: Iterable[str]) -> dict[str, str]:
    """Digest → owner for every owner given.

    Raises:
        ValueError: two different owners share a digest.
    """
    out: dict[str, str] = {}
    for owner in owners:
        digest = owner_hash(owner)
        seen = out.setdefault(digest, owner)
        if seen != owner:
            raise ValueError(
                f"owners {seen!r} and {owner!r} have the same name hash {digest}; rename one"
            )
    return out


@dataclass(frozen=True)
class NamedOwners:
    """Reads and writes the owner digest of names ``<prefix>-<hash>-…``.

    ``owner`` is the current owner; ``known`` maps the digests of the other owners the run knows
    (the fleet's) to their names, so their rules are shown by name. A digest nobody in the run
    has is shown as ``#<hash>``. ``fold_case``: the cloud compares names without case (Azure).
    """

    prefix: str
    owner: str
    known: Mapping[str, str] = field(default_factory=dict)
    fold_case: bool = False

    @property
    def token(self) -> str:
        """The current owner's digest."""
        return owner_hash(self.owner)

    @property
    def stem(self) -> str:
        """What every name the current owner writes starts with: ``<prefix>-<hash>``."""
        return f"{self.prefix}-{self.token}"

    def token_of(self, name: str) -> str | None:
        """The owner digest ``name`` carries, or None when it carries none."""
        text = name.lower() if self.fold_case else name
        prefix = self.prefix.lower() if self.fold_case else self.prefix
        if not text.startswith(f"{prefix}-"):
            return None
        token, sep, _rest = text[len(prefix) + 1 :].partition("-")
        if not sep or not _HASH.fullmatch(token):
            return None
        return token

    def owner_of(self, name: str) -> str | None:
        """The owner ``name`` says wrote the rule: the current owner, a known one, ``#<hash>``
        for an owner the run does not know, or None when the name carries no digest."""
        token = self.token_of(name)
        if token is None:
            return None
        if token == self.token:
            return self.owner
        return self.known.get(token, f"#{token}")


def named_owners(
    cluster: ClusterConfig, settings: Settings, prefix: str, *, fold_case: bool = False
) -> NamedOwners:
    """The cluster's owner, with the owners of the run's other clusters known by name.

    Raises:
        ConfigError: two owners of the run share a name hash.
    """
    owners = [cluster.owner_id, *(c.owner_id for c in settings.fleet)]
    try:
        known = owners_by_hash(dict.fromkeys(owners))
    except ValueError as exc:
        raise ConfigError(
            f"cluster {cluster.name}: {exc}", hint="set a different owner: on one of them"
        ) from exc
    return NamedOwners(prefix=prefix, owner=cluster.owner_id, known=known, fold_case=fold_case)
