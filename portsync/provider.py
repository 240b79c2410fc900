"""The narrow boundary between the core and a cloud (docs/architecture.md, "The provider contract").

A provider is constructed for one cluster and keeps no mutable state after construction: the
run's :class:`~portsync.session.Session` is the only cache. It names the cluster's targets,
translates neutral rules onto them, and then works in three verbs that pass only data
(:mod:`portsync.writes`):

- ``read(targets) -> Snapshot``: one immutable listing of a read scope;
- ``compile(groups, snapshot) -> tuple[Write, ...]``: pure; every limit is checked here;
- ``execute(write)``: one native call, paced and retried, with no diffing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from portsync.control import RunControl
from portsync.model import RuleSet, TargetRule
from portsync.ops import DeleteRuleOp, Op
from portsync.ratelimit import LimiterRegistry
from portsync.tools import ManagingTool
from portsync.writes import Snapshot, Write

if TYPE_CHECKING:
    from portsync.config import ClusterConfig, Sources
    from portsync.ops import GroupOps

__all__ = [
    "LazyClient",
    "Provider",
    "Settings",
    "Target",
    "fixed_defaults",
    "split_cloud_defaults",
]


@dataclass(frozen=True, slots=True)
class Target:
    """One thing rules are attached to: a security group, a network tag, an NSG.

    ``cluster`` and ``owner`` name the cluster that binds the target and its owner identity.
    Providers leave them empty in :meth:`Provider.targets`; the session fills them in before
    :meth:`Provider.read`, so one read of a scope shared by several clusters can tell, per
    target, whose rules are whose. They take no part in equality.
    """

    id: str
    role: str
    label: str = ""
    cluster: str = field(default="", compare=False)
    owner: str = field(default="", compare=False)

    def __str__(self) -> str:
        return self.label or self.id


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Run-wide knobs handed to providers (no module globals)."""

    mode: str = "owned"
    #: ``--adopt-legacy``: providers read rules that carry only the description marker of a
    #: portsync release from before owner identities as owned (``legacy``), so the plan adopts
    #: them (writes the owner identity) or removes them when no longer wanted.
    adopt_legacy: bool = False
    max_workers: int = 8
    #: Client-side rate limiters shared by every provider of the run (see portsync.ratelimit).
    limiters: LimiterRegistry = field(default_factory=LimiterRegistry, compare=False)
    #: Every cluster of the run, so a provider can find the siblings it shares a read with.
    fleet: tuple[ClusterConfig, ...] = field(default=(), compare=False)
    #: The config's sources: what a read may need to look up beyond the targets themselves
    #: (AWS reads the weight of every prefix list ``sources.load_balancers`` names).
    sources: Sources | None = field(default=None, compare=False)
    #: The run's deadline, stop request and retry notices (see portsync.control).
    control: RunControl = field(default_factory=RunControl, compare=False)
    #: The provider of the run's cluster ``name``, as the session built it (set by
    #: :class:`~portsync.session.Session`; None outside one). A provider that reads or compiles
    #: for the other clusters of its read scope takes their owners and bindings from their own
    #: providers rather than building them again for every read.
    provider_of: Callable[[str], Provider] | None = field(default=None, compare=False, repr=False)


class LazyClient:
    """A provider's cloud adapter, built on first use and never replaced.

    Providers import their cloud SDK only when a verb first talks to the cloud (the CLI's start
    stays free of SDKs). The adapter is a connection, not state between verbs: everything read
    lives in the session's snapshots. Thread-safe: verbs of one provider run in parallel.
    """

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._adapter: Any = None

    def get(self) -> Any:
        """The adapter, built now if this is the first call."""
        with self._lock:
            if self._adapter is None:
                self._adapter = self._build()
            return self._adapter


@runtime_checkable
class Provider(Protocol):
    """What every cloud implements. See ``docs/extending.md``.

    ``read_scope`` is set at construction: clusters of one cloud whose providers have equal
    scopes are read together, once per round, and compiled together.
    """

    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    read_scope: Hashable

    def __init__(self, cluster: ClusterConfig, *, settings: Settings) -> None: ...

    def targets(self) -> list[Target]:
        """The targets the cluster's role bindings name, in config order."""
        ...

    def translate(self, rules: RuleSet, sources: Sources) -> list[TargetRule]:
        """Resolve neutral rules onto this cluster's targets (desired state).

        Raises:
            TranslationError: a rule cannot be expressed (missing source, unsupported field).
        """
        ...

    def read(self, targets: Sequence[Target]) -> Snapshot:
        """Read ``targets`` (of every cluster of the read scope) in as few calls as the API
        allows. ``Snapshot.rules`` holds each target's live rules, ownership marked for the
        cluster the target names.

        Raises:
            ProviderError: the cloud refused or a target does not exist.
        """
        ...

    def managing_tool(self, target: Target, snapshot: Snapshot) -> ManagingTool | None:
        """The tool that manages ``target`` (kops, a Cluster API provider, EKS, AKS), recognised
        by the marks it leaves, from what ``snapshot`` holds; None for none."""
        ...

    def compile(self, groups: Sequence[GroupOps], snapshot: Snapshot) -> tuple[Write, ...]:
        """The native calls that carry out ``groups`` (every group of every cluster that shares
        ``snapshot``), in execution order. Pure: no cloud call, no state.

        Raises:
            ProviderLimitError: the state after the writes would exceed a quota.
        """
        ...

    def execute(self, write: Write) -> None:
        """Make exactly ``write``'s native call (paced, retried on throttling and 5xx).

        Raises:
            ProviderError: the cloud refused; the state left behind converges on the next run.
        """
        ...


def split_cloud_defaults(
    provider: object, rules: Sequence[TargetRule]
) -> tuple[list[TargetRule], list[TargetRule]]:
    """``(unmanaged, cloud_defaults)``: ``rules`` split by the provider's optional hook.

    A provider may define ``is_cloud_default(rule) -> bool`` for the live rules its cloud puts on
    every target by itself (AWS gives each new security group an allow-all egress rule). Those are
    left alone like any unmanaged rule but not reported as unmanaged: a fleet would otherwise list
    one per group. Only the provider knows its cloud's defaults; the core never guesses.
    """
    hook = getattr(provider, "is_cloud_default", None)
    if hook is None:
        return list(rules), []
    unmanaged: list[TargetRule] = []
    defaults: list[TargetRule] = []
    for rule in rules:
        (defaults if not rule.owned and hook(rule) else unmanaged).append(rule)
    return unmanaged, defaults


def fixed_defaults(provider: object, ops: Sequence[Op]) -> tuple[list[Op], list[TargetRule]]:
    """``(ops, kept)``: ``ops`` without removals of the cloud defaults no API call can remove,
    and the rules those removals named.

    A provider may define ``is_fixed_default(rule) -> bool`` for such rules (Azure's default
    security rules, which come with every NSG outside its rule list). Mode exclusive would
    otherwise plan to remove them. They are also evaluated after every other rule, so they never
    count as covering a wanted rule: a rule portsync does not read (a deny) may come first.
    """
    hook = getattr(provider, "is_fixed_default", None)
    if hook is None:
        return list(ops), []
    kept: list[TargetRule] = []
    out: list[Op] = []
    for op in ops:
        if isinstance(op, DeleteRuleOp) and not op.rule.owned and hook(op.rule):
            kept.append(op.rule)
        else:
            out.append(op)
    return out, kept
