"""Reads shared by the clusters of one plan round.

Clusters are planned independently and concurrently, but several of them often live in the
same place: ten clusters in one AWS account and region, three in one GCP project, two in one
Azure resource group. Each cloud lists such a place in one paged call, so one read serves them
all. A provider whose cluster has siblings in its read scope asks :class:`SharedReads` for the
listing by a key naming that scope; the first asker reads, the others wait for its answer.

Entries live for one round: the engine starts a new round for each plan, before applying, and
for the verification after apply, so nothing read before a write is ever served after it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from portsync.config import ClusterConfig

__all__ = ["SharedReads", "sibling_configs"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class _Entry:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class SharedReads:
    """A once-per-round cache of listings, keyed by read scope. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Hashable, _Entry] = {}
        self._memo: dict[Hashable, Any] = {}
        self.reads = 0  # listings actually made, for tests and benchmarks

    def new_round(self) -> None:
        """Forget every listing: the next ``get`` of each key reads again."""
        with self._lock:
            self._entries = {}

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once for the whole run (rounds do not forget it): facts about the
        fleet's configuration, not about the cloud."""
        with self._lock:
            if key not in self._memo:
                self._memo[key] = compute()
            value: T = self._memo[key]
        return value

    def get(self, key: Hashable, read: Callable[[], T]) -> T:
        """The listing for ``key``: read now by this caller, or by another caller of this round.

        Raises:
            Whatever ``read`` raised, in every caller that waited for it.
        """
        with self._lock:
            entry = self._entries.get(key)
            owner = entry is None
            if entry is None:
                entry = self._entries[key] = _Entry()
                self.reads += 1
        if owner:
            try:
                entry.value = read()
            except BaseException as exc:
                entry.error = exc
            finally:
                entry.done.set()
        else:
            entry.done.wait()
        if entry.error is not None:
            raise entry.error
        value: T = entry.value
        return value


def sibling_configs(
    fleet: Sequence[ClusterConfig],
    me: ClusterConfig,
    model: type[M],
    *,
    shared: SharedReads | None = None,
) -> list[M]:
    """The other clusters of the run on ``me``'s cloud, validated with that cloud's ``model``.

    A sibling whose config does not validate is left out (config loading reports it anyway).
    With ``shared``, the fleet is validated once for the run instead of once per cluster, which
    a fleet of hundreds of clusters would otherwise pay hundreds of times over.
    """

    def validate() -> list[tuple[str, M]]:
        out: list[tuple[str, M]] = []
        for cluster in fleet:
            if cluster.provider != me.provider:
                continue
            try:
                out.append((cluster.name, model.model_validate(cluster.settings)))
            except ValidationError:
                continue
        return out

    every = (
        validate()
        if shared is None
        else shared.memo(("fleet", id(fleet), me.provider, model), validate)
    )
    return [config for name, config in every if name != me.name]
