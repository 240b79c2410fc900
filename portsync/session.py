"""One command's providers, cluster selection, snapshot cache and fan-out.

A :class:`Session` is the only place that caches anything between provider verbs. Providers are
built once per cluster and never change after construction; what they read lives here, as
immutable :class:`~portsync.writes.Snapshot` values, one per read scope and round.

Clusters are planned independently and concurrently, but several of them often live in the same
place: ten clusters in one AWS account and region, three in one GCP project. A provider names
that place as its ``read_scope``; clusters of one cloud with equal scopes are read by one
``read`` of every target they bind (among the clusters selected for the command), and compiled by
one ``compile``, so limits that span a scope (a project's firewall quota, an NSG's priorities)
see everything.

Rounds: the engine starts a new round for each plan, before applying, and for the verification
after apply, so nothing read before a write is ever served after it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from portsync.errors import ConfigError
from portsync.membership import memberships
from portsync.model import TargetRule
from portsync.provider import Provider, Settings, Target
from portsync.registry import get_provider_class
from portsync.writes import Snapshot

if TYPE_CHECKING:
    from portsync.config import ClusterConfig, LoadedConfig

__all__ = ["Session", "fan_out", "select_clusters"]

T = TypeVar("T")
R = TypeVar("R")


def select_clusters(loaded: LoadedConfig, names: Sequence[str] = ()) -> list[ClusterConfig]:
    """The clusters to work on: all of them, or those named.

    Raises:
        ConfigError: a name is unknown, or no cluster is configured.
    """
    if not loaded.config.clusters:
        raise ConfigError(
            f"no clusters configured in {loaded.where()}",
            hint="add a clusters: list (see docs/configuration.md), or try `portsync demo`",
        )
    if not names:
        return list(loaded.config.clusters)
    return [loaded.cluster(n) for n in dict.fromkeys(names)]


def fan_out(
    fn: Callable[[T], R], items: Sequence[T], *, workers: int, name: str = "portsync"
) -> list[R]:
    """``[fn(item) for item in items]``, run on at most ``workers`` threads, results in order.

    The one fan-out of plan, apply, audit and explain (and of a provider's listings that can
    run side by side, such as AWS's rule listings): the first exception raised is re-raised
    once every started call has returned.
    """
    if not items:
        return []
    count = max(1, min(workers, len(items)))
    if count == 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix=name) as pool:
        return list(pool.map(fn, items))


class _Entry:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Snapshot | None = None
        self.error: BaseException | None = None


@dataclass
class Session:
    """Providers opened during one command, reused between plan, apply and verification, and
    the snapshots they read."""

    loaded: LoadedConfig
    settings: Settings
    providers: dict[str, Provider] = field(default_factory=dict)
    #: Reads actually made (one per scope and round), for tests and benchmarks.
    reads: int = 0
    #: Reads made by :meth:`read_back` (apply's lifeline re-checks), for tests and benchmarks.
    read_backs: int = 0
    _selected: tuple[str, ...] = ()
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _snapshots: dict[Hashable, _Entry] = field(default_factory=dict, repr=False)
    _scopes: dict[str, Hashable] = field(default_factory=dict, repr=False)
    _binders: dict[Hashable, dict[str, int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        config = self.loaded.config
        changes: dict[str, Any] = {"provider_of": self._provider_named}
        if not self.settings.fleet:
            changes["fleet"] = tuple(config.clusters)
        if self.settings.sources is None:
            changes["sources"] = config.sources
        # Limiters and control stay the same objects; providers find their scope's siblings
        # among this session's providers.
        self.settings = replace(self.settings, **changes)
        if not self._selected:
            self._selected = tuple(c.name for c in config.clusters)

    # -- providers and clusters ----------------------------------------------------------------

    def provider(self, cluster: ClusterConfig) -> Provider:
        """The provider for ``cluster``, created on first use."""
        with self._lock:
            found = self.providers.get(cluster.name)
        if found is not None:
            return found
        cls = get_provider_class(cluster.provider)
        if not callable(getattr(cls, "compile", None)):
            raise ConfigError(
                f"cluster {cluster.name}: provider {cluster.provider} ({cls.__module__}) does not "
                "implement read, compile and execute",
                hint="upgrade the provider package to one written for this portsync release",
            )
        made: Provider = cls(cluster, settings=self.settings)
        with self._lock:
            return self.providers.setdefault(cluster.name, made)

    def _provider_named(self, name: str) -> Provider:
        """The provider of the configured cluster ``name`` (``Settings.provider_of``).

        Raises:
            ConfigError: no cluster of that name is configured.
        """
        with self._lock:
            found = self.providers.get(name)
        return found if found is not None else self.provider(self.loaded.cluster(name))

    def select(self, names: Sequence[str] = ()) -> list[ClusterConfig]:
        """Select the clusters of the next rounds (all when ``names`` is empty) and start a new
        round. Reads cover the targets of the selected clusters only.

        Raises:
            ConfigError: a name is unknown, or no cluster is configured.
        """
        selected = select_clusters(self.loaded, names)
        with self._lock:
            self._selected = tuple(c.name for c in selected)
            self._binders = {}
        self.new_round()
        return selected

    def new_round(self) -> None:
        """Forget every snapshot: the next read of each scope reads again."""
        with self._lock:
            self._snapshots = {}

    def scope(self, cluster: ClusterConfig) -> Hashable:
        """The read scope of ``cluster``: its cloud and its provider's ``read_scope`` (a cluster
        whose provider names none is a scope of its own)."""
        found = self._scopes.get(cluster.name)
        if found is None:
            provider = self.provider(cluster)
            found = (cluster.provider, getattr(provider, "read_scope", ("cluster", cluster.name)))
            self._scopes[cluster.name] = found
        return found

    def targets(self, cluster: ClusterConfig) -> list[Target]:
        """The cluster's targets, each naming the cluster and its owner identity."""
        return [
            replace(t, cluster=cluster.name, owner=cluster.owner_id)
            for t in self.provider(cluster).targets()
        ]

    def read_targets(self, cluster: ClusterConfig) -> list[Target]:
        """The cluster's targets and the read-only ones its roles' machines are also in (see
        :mod:`portsync.membership`), each naming the cluster and its owner identity."""
        return [
            replace(t, cluster=cluster.name, owner=cluster.owner_id)
            for t in memberships(self.provider(cluster)).read_targets(
                self.provider(cluster).targets()
            )
        ]

    def members(self, cluster: ClusterConfig) -> list[ClusterConfig]:
        """The selected clusters that share ``cluster``'s read scope, ``cluster`` included."""
        scope = self.scope(cluster)
        with self._lock:
            selected = self._selected
        out = [
            self.loaded.cluster(name)
            for name in selected
            if name != cluster.name and self.scope(self.loaded.cluster(name)) == scope
        ]
        out.append(cluster)
        return out

    # -- reads ---------------------------------------------------------------------------------

    def snapshot(self, cluster: ClusterConfig) -> Snapshot:
        """This round's snapshot of ``cluster``'s read scope: read now by this caller, or by
        another caller of this round (which this one waits for).

        Raises:
            Whatever the read raised, in every caller that waited for it.
        """
        key = self.scope(cluster)
        with self._lock:
            entry = self._snapshots.get(key)
            owner = entry is None
            if entry is None:
                entry = self._snapshots[key] = _Entry()
                self.reads += 1
        if owner:
            try:
                targets = [t for member in self.members(cluster) for t in self.read_targets(member)]
                entry.value = self.provider(cluster).read(targets)
            except BaseException as exc:
                entry.error = exc
            finally:
                entry.done.set()
        else:
            entry.done.wait()
        if entry.error is not None:
            raise entry.error
        assert entry.value is not None
        return entry.value

    def read_back(self, cluster: ClusterConfig, targets: Sequence[Target]) -> Snapshot:
        """A fresh read of ``targets`` (of ``cluster``) outside the rounds, for apply's re-check
        after a write: never served from a snapshot read before that write, and never kept for
        another caller.

        Raises:
            ProviderError: the cloud refused the read.
        """
        with self._lock:
            self.read_backs += 1
        return self.provider(cluster).read(list(targets))

    def live(
        self, cluster: ClusterConfig, targets: Iterable[Target] | None = None
    ) -> dict[str, list[TargetRule]]:
        """The live rules of ``targets`` (default: all of the cluster's), by target id, with
        ownership as ``cluster`` sees it."""
        wanted = list(self.targets(cluster) if targets is None else targets)
        snapshot = self.snapshot(cluster)
        shared = self._shared_targets(cluster)
        out: dict[str, list[TargetRule]] = {}
        for target in wanted:
            rules = list(snapshot.live(target.id))
            if target.id in shared:
                rules = [_seen_by(rule, cluster.owner_id) for rule in rules]
            out[target.id] = rules
        return out

    def _shared_targets(self, cluster: ClusterConfig) -> set[str]:
        """Target ids ``cluster`` binds that another selected cluster of its scope binds too."""
        scope = self.scope(cluster)
        with self._lock:
            counts = self._binders.get(scope)
        if counts is None:
            counts = {}
            for member in self.members(cluster):
                for target_id in {t.id for t in self.provider(member).targets()}:
                    counts[target_id] = counts.get(target_id, 0) + 1
            with self._lock:
                self._binders[scope] = counts
        return {t.id for t in self.provider(cluster).targets() if counts.get(t.id, 0) > 1}


def _seen_by(rule: TargetRule, owner: str) -> TargetRule:
    """``rule`` with ``owned`` as ``owner`` sees it: a snapshot marks a target's rules for one
    of the clusters binding it; a rule carrying an owner identity is another's when that is not
    ``owner``."""
    if rule.owner is None or rule.owned == (rule.owner == owner):
        return rule
    return rule.replace(owned=rule.owner == owner)
