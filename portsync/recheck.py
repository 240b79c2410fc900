"""Apply's re-check of lifelines after each write, against what it reads back (docs/lifelines.md).

``plan`` proves that no state the plan passes through closes a lifeline, but it proves it on the
rules it read before the first write. Between that read and the last write the cloud may do
something else: a write may land differently from what was planned, another writer may remove or
shadow a rule a lifeline uses. So after every write on a cluster that has lifelines to keep, apply
reads back the targets that write can change and judges every such lifeline again, with the same
evaluator as ``plan`` and ``explain``. The first lifeline found cut stops the apply: no write
starts after it.

What is watched: the lifelines the plan found open on the live rules (``held``). A lifeline that
was already closed (``opened`` or ``closed`` in the plan, reported by ``audit``) is not, so an
apply that fixes it is never stopped by it.

What one re-check costs: one ``read`` of the provider, restricted to the targets the write can
change — the write's own target when the write unit is a portsync target (an AWS security group),
else the cluster's watched targets (a GCP firewall or an Azure NSG may carry the rules of any role,
and one listing serves them all). A write on a cluster with no lifeline to keep, or on a security
group with none, costs nothing.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from portsync.evaluate import access_of, admits, priority_of
from portsync.lifelines import flows_by_target
from portsync.model import TargetRule
from portsync.provider import Target

if TYPE_CHECKING:
    from portsync.config import ClusterConfig
    from portsync.ops import Plan
    from portsync.session import Session
    from portsync.writes import Write

__all__ = ["Cut", "LifelineWatch", "why_closed"]


@dataclass(frozen=True, slots=True)
class Cut:
    """A lifeline found cut after a write."""

    lifeline: str
    where: str
    reason: str


def why_closed(flow: TargetRule, rules: Sequence[TargetRule]) -> str:
    """Why ``rules`` do not admit ``flow``: a deny rule that stops it (the first by priority
    whose removal alone would let the flow pass), or else that no live rule admits it."""
    what = f"{flow.protocol.value} {flow.ports_text} from {flow.peer}"
    allows = [r for r in rules if access_of(r) != "deny"]
    if admits(flow, allows):
        denies = sorted(
            (r for r in rules if access_of(r) == "deny" and r.target == flow.target),
            key=lambda r: (priority_of(r), r.key),
        )
        for rule in denies:
            if not admits(flow, [*allows, rule]):
                name = rule.native_id or f"{rule.protocol.value} {rule.ports_text} from {rule.peer}"
                priority = priority_of(rule)
                at = f" (priority {priority:g})" if math.isfinite(priority) else ""
                return f"deny rule {name}{at} stops {what}"
    return f"no live rule admits {what}"


@dataclass
class _Cluster:
    cluster: ClusterConfig
    #: Every target of the cluster, by id (to tell a write unit that is a target).
    all_ids: frozenset[str]
    #: The targets with a lifeline to keep, by id.
    targets: dict[str, Target]
    #: Per watched target, each lifeline to keep as its flows.
    flows: dict[str, dict[str, list[TargetRule]]]
    #: The last rules known per watched target: the plan's read, then each read back.
    known: dict[str, tuple[TargetRule, ...]]


class LifelineWatch:
    """The lifelines an apply keeps, and the re-check after each write.

    Built from the plan before apply's first write, while the session still holds the plan's
    reads (no cloud call). Thread-safe: units of one phase run in parallel.
    """

    def __init__(self, session: Session, the_plan: Plan) -> None:
        self._session = session
        self._lock = threading.Lock()
        #: Reads made to re-check (one per write on a watched unit).
        self.reads = 0
        self._clusters: dict[str, _Cluster] = {}
        held: dict[str, dict[str, set[str]]] = {}
        for group in the_plan.groups:
            names = {s.name for s in group.lifelines if s.status == "held"}
            if names:
                held.setdefault(group.cluster, {})[group.target] = names
        written = {w.cluster for w in the_plan.writes}
        config = session.loaded.config
        for name in sorted(written & held.keys()):
            cluster = session.loaded.cluster(name)
            provider = session.provider(cluster)
            every = session.targets(cluster)
            targets = {t.id: t for t in every if t.id in held[name]}
            flows: dict[str, dict[str, list[TargetRule]]] = {}
            for target_id, lifelines in flows_by_target(config, provider, cluster).items():
                keep = {n: f for n, f in lifelines.items() if n in held[name].get(target_id, ())}
                if keep and target_id in targets:
                    flows[target_id] = keep
            if not flows:
                continue
            live = session.live(cluster, list(targets.values()))
            self._clusters[name] = _Cluster(
                cluster=cluster,
                all_ids=frozenset(t.id for t in every),
                targets={t: targets[t] for t in flows},
                flows=flows,
                known={t: tuple(live.get(t, ())) for t in flows},
            )

    @property
    def active(self) -> bool:
        """Whether any lifeline is kept (otherwise :meth:`after` never reads)."""
        return bool(self._clusters)

    def lifelines(self) -> int:
        """How many (target, lifeline) pairs are kept."""
        return sum(len(f) for c in self._clusters.values() for f in c.flows.values())

    def _affected(self, watch: _Cluster, write: Write) -> list[Target]:
        if write.target in watch.all_ids:
            found = watch.targets.get(write.target)
            return [found] if found is not None else []
        return list(watch.targets.values())

    def after(self, write: Write) -> Cut | None:
        """Read back what ``write`` can have changed and judge every kept lifeline of its
        cluster; the first one found cut, or None.

        Raises:
            ProviderError: the read back failed.
        """
        watch = self._clusters.get(write.cluster)
        if watch is None:
            return None
        wanted = self._affected(watch, write)
        if not wanted:
            return None
        snapshot = self._session.read_back(watch.cluster, wanted)
        with self._lock:
            self.reads += 1
            for target in wanted:
                watch.known[target.id] = tuple(snapshot.live(target.id))
            known: Mapping[str, tuple[TargetRule, ...]] = dict(watch.known)
        for target_id, lifelines in watch.flows.items():
            rules = known.get(target_id, ())
            for name, flows in lifelines.items():
                for flow in flows:
                    if not admits(flow, rules):
                        target = watch.targets[target_id]
                        where = f"{watch.cluster.name}/{target.label or target.id}"
                        return Cut(name, where, why_closed(flow, rules))
        return None
