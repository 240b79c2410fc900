"""Fleet selection: split many clusters across parallel CI jobs with ``--shard i/n``.

A cluster belongs to shard ``i`` of ``n`` (1-based, like the test runners' ``--shard 1/3``) when
``sha256(name) mod n == i - 1``. The hash depends only on the cluster's name — not on its position
in the config, the machine, or ``PYTHONHASHSEED`` — so adding or reordering clusters never moves
the others between shards, and every job of a CI matrix computes the same split.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from portsync.errors import InputError

__all__ = ["Shard", "parse_shard", "select_shard", "shard_index"]

_SHARD_RE = re.compile(r"^\s*([0-9]+)\s*/\s*([0-9]+)\s*$")
_MAX_SHARDS = 10_000


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise ValueError(f"shard {self.index}/{self.count} is not a shard i/n with 1 <= i <= n")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, cluster: str) -> bool:
        """Whether ``cluster`` belongs to this shard."""
        return shard_index(cluster, self.count) == self.index


def shard_index(cluster: str, count: int) -> int:
    """The 1-based shard of ``cluster`` among ``count`` shards.

    Args:
        cluster: the cluster name from the config.
        count: how many shards there are (at least 1).

    Returns:
        A number from 1 to ``count``.

    Raises:
        ValueError: ``count`` is below 1.
    """
    if count < 1:
        raise ValueError("the shard count must be at least 1")
    digest = hashlib.sha256(cluster.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def parse_shard(text: str) -> Shard:
    """Parse the ``--shard`` value ``i/n``.

    Args:
        text: for example ``"2/8"``.

    Returns:
        The shard.

    Raises:
        InputError: the value is not ``i/n`` with ``1 <= i <= n``.
    """
    match = _SHARD_RE.match(text or "")
    hint = "write --shard i/n with 1 <= i <= n, e.g. --shard 1/4 … --shard 4/4 in a CI matrix"
    if not match:
        raise InputError(f"--shard {text!r} is not of the form i/n", hint=hint)
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or count > _MAX_SHARDS:
        raise InputError(f"--shard {text!r}: n must be between 1 and {_MAX_SHARDS}", hint=hint)
    if not 1 <= index <= count:
        raise InputError(f"--shard {text!r}: i must be between 1 and {count}", hint=hint)
    return Shard(index, count)


def select_shard(names: Iterable[str], shard: Shard | None) -> list[str]:
    """The names (in their order) that belong to ``shard``; all of them when ``shard`` is None.

    Args:
        names: cluster names.
        shard: the shard, or None.

    Returns:
        The selected names.

    Raises:
        Nothing.
    """
    names = list(names)
    if shard is None:
        return names
    return [name for name in names if shard.holds(name)]
