"""The typed Python API behind the CLI: synthesise, plan, apply.

``plan`` and ``apply`` build the same :class:`~portsync.ops.Plan`; only the sink differs
(docs/architecture.md). Providers are created per cluster through the registry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from portsync.config import ClusterConfig, LoadedConfig
from portsync.diff import diff_target, final_state, settle_covered
from portsync.errors import (
    ApplyError,
    ConvergenceError,
    DeadlineExceeded,
    GuardrailError,
    Interrupted,
    LifelineCutDuringApply,
    PlanFileError,
    PortsyncError,
    StalePlanError,
    StopRequested,
)
from portsync.evaluate import access_of
from portsync.history import History
from portsync.lifelines import check_target, flows_by_target
from portsync.membership import memberships
from portsync.model import RuleSet, TargetRule
from portsync.ops import CreateRuleOp, DeleteRuleOp, GroupOps, Op, Plan, Satisfied, fingerprint
from portsync.peers import declared
from portsync.planmatch import check_same, check_writes
from portsync.protect import is_protected, protect_ops
from portsync.provider import (
    Provider,
    Settings,
    Target,
    fixed_defaults,
    split_cloud_defaults,
)
from portsync.recheck import Cut, LifelineWatch
from portsync.session import Session, fan_out, select_clusters
from portsync.synthesis import synthesize, translate_with_advice
from portsync.tools import ManagingTool
from portsync.writes import Phase, Write

__all__ = [
    "ApplyResult",
    "Session",
    "apply",
    "config_digest",
    "final_state",
    "plan",
    "select_clusters",
    "synthesize",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApplyResult:
    """What an apply did."""

    plan: Plan
    applied: tuple[tuple[str, str, Op], ...] = ()
    #: Reads made to re-check lifelines after writes (one per write on a target with lifelines).
    lifeline_reads: int = 0
    #: Lifelines (per target) kept and re-checked after every write.
    lifelines_kept: int = 0

    @property
    def changed(self) -> bool:
        """Whether anything was written."""
        return bool(self.applied)


def config_digest(loaded: LoadedConfig, ruleset: RuleSet) -> str:
    """A digest of everything that shapes a plan: rules, sources, mode, cluster bindings."""
    config = loaded.config
    payload = {
        "sources": config.sources.model_dump(mode="json"),
        "mode": config.mode,
        # Timeouts shape how long a run waits, not what it writes.
        "clusters": [c.model_dump(mode="json", exclude={"timeout"}) for c in config.clusters],
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode())
    # A rule is its identity (role, direction, protocol, the port range or ICMP type and code,
    # peer) and its purpose: the ``repr`` of those strings and ints is unambiguous and several
    # times cheaper than a JSON object for each of thousands of rules.
    digest.update(repr([(r.identity, r.purpose) for r in ruleset]).encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One target's diff before coverage settles it."""

    target: Target
    seen: list[TargetRule]
    current: list[TargetRule]
    ops: list[Op]
    unmanaged: list[TargetRule]
    cloud_defaults: list[TargetRule]
    protected: list[TargetRule]


def _plan_cluster(
    session: Session,
    cluster: ClusterConfig,
    ruleset: RuleSet,
    *,
    only_targets: set[str] | None = None,
    history: History | None = None,
) -> list[GroupOps]:
    config = session.loaded.config
    provider = session.provider(cluster)
    targets: list[Target] = session.targets(cluster)
    if only_targets is not None:
        targets = [t for t in targets if t.id in only_targets]
    desired_by_target: dict[str, list[TargetRule]] = {}
    # Only the cluster's own roles: providers skip the others anyway, and a fleet's rule set
    # holds every cluster's roles.
    own = ruleset.for_roles(cluster.roles)
    for rule in translate_with_advice(provider, session.loaded, own):
        desired_by_target.setdefault(rule.target, []).append(rule)
    lifelines = _lifeline_flows(session, provider, cluster)
    member = memberships(provider)
    # The other groups of roles bound to several are read too (the session reads them with the
    # scope): their rules cover.
    live = session.live(cluster, member.read_targets(targets))
    snapshot = session.snapshot(cluster)
    protectors = config.protectors()
    prepared: list[_Prepared] = []
    markers = declared(type(provider)).markers
    for target in targets:
        wanted = desired_by_target.get(target.id, [])
        # Deny rules (GCP, Azure) are read for the evaluator only: portsync writes none, and the
        # diff must never take one for a rule it wants.
        seen = live.get(target.id, [])
        current = [r for r in seen if access_of(r) != "deny"]
        ops, found = diff_target(
            wanted, current, mode=config.mode, owner=cluster.owner_id, markers=markers
        )
        ops, fixed = fixed_defaults(provider, ops)
        unmanaged, cloud_defaults = split_cloud_defaults(provider, [*found, *fixed])
        ops, protected = protect_ops(ops, current, protectors)
        if protected:
            unmanaged = [r for r in unmanaged if not is_protected(r, protectors)]
        prepared.append(_Prepared(target, seen, current, ops, unmanaged, cloud_defaults, protected))
    # Another role's target covers a role whose machines it also holds only with the rules that
    # stay there: those this plan removes from it (owned and no longer wanted, or unmanaged in
    # exclusive mode) admit nothing once it is applied.
    staying = dict(live)
    for item in prepared:
        changes = [op for op in item.ops if not isinstance(op, CreateRuleOp)]
        if changes:
            staying[item.target.id] = final_state(live.get(item.target.id, []), changes)
    groups = []
    for item in prepared:
        target, seen, current, ops = item.target, item.seen, item.current, item.ops
        unmanaged, cloud_defaults, protected = item.unmanaged, item.cloud_defaults, item.protected
        satisfied: list[Satisfied] = []
        if cluster.covered == "satisfy" and any(isinstance(op, CreateRuleOp) for op in ops):
            fixed_hook = getattr(provider, "is_fixed_default", None)
            # Deny rules count too: a flow one of them may touch is not covered.
            covering = [r for r in seen if fixed_hook is None or not fixed_hook(r)]
            also = [
                r
                for r in member.also_rules(target, staying)
                if fixed_hook is None or not fixed_hook(r)
            ]
            ops, satisfied = settle_covered(ops, covering, members=member.members, also=also)
        others = sorted({r.owner for r in unmanaged if r.owner is not None})
        if others:
            log.warning(
                "cluster %s: %s also holds rules of owner %s; two owners are bound to one target",
                cluster.name,
                target,
                ", ".join(others),
            )
        tool = provider.managing_tool(target, snapshot)
        group = GroupOps(
            cluster=cluster.name,
            provider=cluster.provider,
            target=target.id,
            role=target.role,
            label=target.label,
            ops=tuple(ops),
            unmanaged=tuple(unmanaged),
            cloud_defaults=tuple(cloud_defaults),
            satisfied=tuple(satisfied),
            protected=tuple(protected),
            managed_by=tool,
            fight=history.fight(cluster.name, target.id, ops, _writer(tool)) if history else None,
            fingerprint=fingerprint(current),
            live_count=len(current),
        )
        statuses = check_target(
            f"{cluster.name}/{target.label or target.id}",
            lifelines.get(target.id, {}),
            seen,
            group.ops,
        )
        groups.append(replace(group, lifelines=tuple(statuses)) if statuses else group)
    # A provider whose machines sit behind several rule sets (an Azure subnet's NSG and the
    # NICs') refuses a plan that counts a flow open, written or already in place, that another
    # of them stops.
    check_path = getattr(provider, "check_path", None)
    if check_path is not None:
        check_path([(g, desired_by_target.get(g.target, [])) for g in groups], snapshot)
    return groups


def compile_writes(session: Session, groups: Sequence[GroupOps]) -> tuple[Write, ...]:
    """The writes that carry out ``groups``: one ``compile`` per read scope, handed every group
    of every cluster of that scope (a project's quota or an NSG's priorities span clusters).

    Raises:
        ProviderLimitError: a write unit would exceed a quota.
    """
    by_scope: dict[Hashable, list[GroupOps]] = {}
    first: dict[Hashable, ClusterConfig] = {}
    for group in groups:
        cluster = session.loaded.cluster(group.cluster)
        scope = session.scope(cluster)
        first.setdefault(scope, cluster)
        by_scope.setdefault(scope, []).append(group)
    writes: list[Write] = []
    for scope, members in by_scope.items():
        cluster = first[scope]
        writes.extend(session.provider(cluster).compile(members, session.snapshot(cluster)))
    return tuple(writes)


def _lifeline_flows(
    session: Session, provider: Provider, cluster: ClusterConfig
) -> dict[str, dict[str, list[TargetRule]]]:
    """Each lifeline of a role this cluster binds, as the concrete flows it stands for, by
    target and lifeline name (translated like any rule: no cloud call)."""
    return flows_by_target(session.loaded.config, provider, cluster)


def _writer(tool: ManagingTool | None) -> str | None:
    return f"{tool.name}, which {tool.behaviour}" if tool is not None else None


def plan(
    loaded: LoadedConfig,
    *,
    clusters: Sequence[str] = (),
    settings: Settings | None = None,
    session: Session | None = None,
    ruleset: RuleSet | None = None,
    progress: Callable[[str], None] | None = None,
    history: History | None = None,
    adopt_legacy: bool = False,
) -> Plan:
    """Read every selected cluster and compute the plan.

    ``adopt_legacy`` (without ``settings``): adopt the rules an earlier portsync release marked
    by description only (see :attr:`portsync.provider.Settings.adopt_legacy`).

    Clusters are read concurrently (bounded); each provider batches its own reads.

    Raises:
        ConfigError, PortTableError: bad input (nothing is read from a cloud).
        TranslationError: a rule cannot be expressed on a cloud, or a quota would be exceeded.
        ProviderError: a cloud refused.
    """
    settings = settings or Settings(mode=loaded.config.mode, adopt_legacy=adopt_legacy)
    session = session or Session(loaded, settings)
    ruleset = ruleset if ruleset is not None else synthesize(loaded)
    selected = session.select(clusters)

    def one(cluster: ClusterConfig) -> list[GroupOps]:
        if progress:
            progress(f"reading {cluster.name} ({cluster.provider})")
        return _plan_cluster(session, cluster, ruleset, history=history)

    results = fan_out(one, selected, workers=session.settings.max_workers, name="plan")
    groups = tuple(g for found in results for g in found)
    return Plan(
        groups=groups,
        writes=compile_writes(session, groups),
        mode=loaded.config.mode,
        config_digest=config_digest(loaded, ruleset),
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def check_fresh(saved: Plan, current: Plan) -> None:
    """Refuse a saved plan whose targets' live rules changed since it was made, even where the
    writes stay the same (a provider whose writes do not carry the state of every target, such
    as a GCP firewall added beside the ones a plan inserts).

    Raises:
        StalePlanError: naming every target that changed.
    """
    now = {(g.cluster, g.target): g.fingerprint for g in current.groups}
    stale = [
        f"{g.cluster}/{g.label or g.target}"
        for g in saved.groups
        if now.get((g.cluster, g.target)) != g.fingerprint
    ]
    if stale:
        raise StalePlanError(
            f"the saved plan is stale: live rules changed on {', '.join(stale)} since it was made",
            hint="run `portsync plan --out PLAN.json` again and review the new plan",
        )


def check_removals(
    the_plan: Plan, *, max_deletes: int, allow_exclusive: bool, removes_unit: str = "cloud objects"
) -> None:
    """Refuse a plan that removes more than ``max_deletes`` rules, or whose writes delete more
    than ``max_deletes`` of the cloud's own units (``removes_unit``: a GCP firewall holds several
    rules, so repacking deletes firewalls while removing no rule), or removes rules portsync
    does not own without ``allow_exclusive``.

    Raises:
        GuardrailError: naming the count and the flag that would allow it.
    """
    # The exclusive refusal first: its message is the one that names --exclusive, and a plan
    # refused for it would otherwise be reported as merely too large.
    foreign = [
        op for _g, op in the_plan.changes if isinstance(op, DeleteRuleOp) and not op.rule.owned
    ]
    if foreign and not allow_exclusive:
        raise GuardrailError(
            f"mode exclusive would remove {len(foreign)} rules portsync does not own",
            hint="pass --exclusive to allow removing unmanaged rules",
        )
    removes = the_plan.summary()["remove"]
    if removes > max_deletes:
        raise GuardrailError(
            f"the plan removes {removes} rules, more than --max-deletes {max_deletes}",
            hint="review the plan, then pass --max-deletes N to allow it",
        )
    deleted = sum(write.removes for write in the_plan.writes)
    if deleted > max_deletes:
        raise GuardrailError(
            f"the plan's writes delete {deleted} {removes_unit}, more than --max-deletes "
            f"{max_deletes}",
            hint="review the plan (`portsync show --writes PLAN.json`), then pass --max-deletes N "
            "to allow it",
        )


def check_managed(the_plan: Plan, *, exclusive_on_managed: Collection[str] = ()) -> None:
    """Refuse exclusive removals on targets another tool manages, unless each such target is
    named in ``exclusive_on_managed`` (by target id or label).

    Raises:
        GuardrailError: naming each target, its tool, and the flag.
    """
    named = set(exclusive_on_managed)
    bad = [
        g
        for g in the_plan.groups
        if g.managed_by is not None
        and g.target not in named
        and (g.label or g.target) not in named
        and any(not op.rule.owned for op in g.removes)
    ]
    if bad:
        where = "; ".join(
            f"{g.cluster}/{g.label or g.target} is managed by {g.managed_by.name}"
            for g in bad
            if g.managed_by is not None
        )
        raise GuardrailError(
            f"mode exclusive would remove rules another tool created: {where}",
            hint="protect the tool's rules (protect:), use mode owned there, or name each target "
            "with --exclusive-on-managed TARGET if you really mean it",
        )


def check_empty_targets(loaded: LoadedConfig, the_plan: Plan) -> None:
    """Refuse a plan that removes every rule portsync owns on a target and adds none there.

    That is what a typo in a role binding, an emptied port table or a catalog that no longer
    names a role looks like; when it is meant, ``--allow-empty-target`` says so.

    Raises:
        GuardrailError: naming every such target and the config binding behind it.
    """
    emptied = []
    for group in the_plan.groups:
        # Live rules portsync does not own: unmanaged ones and the cloud's own defaults left
        # alone, and unmanaged ones removed (exclusive mode lists each rule once: as removed).
        foreign_removed = sum(1 for op in group.removes if not op.rule.owned)
        owned_live = (
            group.live_count - len(group.unmanaged) - len(group.cloud_defaults) - foreign_removed
        )
        removed = sum(1 for op in group.removes if op.rule.owned)
        if owned_live <= 0 or removed < owned_live or group.adds:
            continue
        index = loaded.cluster_index(group.cluster)
        binding = f"clusters.{index}.roles.{group.role}"
        where = loaded.where("clusters", index, "roles", group.role) if index >= 0 else ""
        emptied.append(
            f"{group.cluster}/{group.label or group.target}: removes all {removed} rules portsync "
            f"owns there and adds none (bound as {binding}" + (f" at {where})" if where else ")")
        )
    if emptied:
        raise GuardrailError(
            "the plan would leave targets without any portsync rule: " + "; ".join(emptied),
            hint="check the role binding and the port tables; pass --allow-empty-target if the "
            "targets really should lose every rule portsync wrote",
        )


def check_exposure(loaded: LoadedConfig, the_plan: Plan) -> None:
    """Refuse to open etcd, kubelet, scheduler, controller-manager, retired or catalog-sensitive
    ports to the world, on any role, unless ``allow_exposure`` names them.

    The ports are the audit's high checks: the exposure floor (2379-2380, 10250, 10255, 10257,
    10259), which no catalog, override or ``etcd`` topology can lower, plus the ports the
    catalogs name for those components (moved by ``overrides``) and mark sensitive or retired.
    The role is not consulted: what a port means does not depend on which role a rule claims.

    Raises:
        GuardrailError: listing every such addition or update.
    """
    from portsync.exposure import guarded_ports, is_world

    guarded = guarded_ports(loaded)
    allowed = set(loaded.config.allow_exposure)
    bad: dict[tuple[object, str], TargetRule] = {}
    for _g, op in the_plan.changes:
        rule = op.rule
        if (
            op.action.value not in ("add", "update")
            or rule.direction.value != "ingress"
            or not is_world(rule.peer)
        ):
            continue
        for port, name in guarded:
            if name not in allowed and port.reached_by(rule):
                bad.setdefault((rule.key, name), rule)
    if bad:
        lines = "; ".join(
            f"{rule.target} {rule.protocol.value}/{rule.ports_text} from {rule.peer} ({name})"
            for (_key, name), rule in list(bad.items())[:10]
        )
        names = ", ".join(sorted({name for _key, name in bad}))
        raise GuardrailError(
            f"apply would open sensitive ports to the internet: {lines}",
            hint=f"narrow the source, or list {names} under allow_exposure: in the config if you "
            "really mean it",
        )


def _removes_unit(session: Session, the_plan: Plan) -> str:
    """What the plan's writes delete, named by each provider that deletes something."""
    names = []
    for name in dict.fromkeys(w.cluster for w in the_plan.writes if w.removes):
        provider = session.provider(session.loaded.cluster(name))
        names.append(str(getattr(provider, "removes_unit", "cloud objects")))
    return " and ".join(dict.fromkeys(names)) or "cloud objects"


def _interrupted(
    the_plan: Plan,
    done: Sequence[tuple[str, str, Op]],
    partly: Sequence[GroupOps],
    skipped: Sequence[GroupOps],
    *,
    deadline: bool,
) -> Interrupted:
    """The error of an apply stopped between writes: how much was applied, and where."""
    total = sum(len(g.ops) for g in the_plan.groups)
    complete = len({(c, t) for c, t, _ in done})

    def names(groups: Sequence[GroupOps]) -> str:
        shown = ", ".join(f"{g.cluster}/{g.label or g.target}" for g in groups[:5])
        return shown + (f" and {len(groups) - 5} more" if len(groups) > 5 else "")

    parts = [f"{complete} target{'s' if complete != 1 else ''} complete"]
    if partly:
        parts.append(f"stopped part way on {names(partly)}")
    if skipped:
        parts.append(f"not started: {names(skipped)}")
    why = "deadline passed" if deadline else "interrupted"
    return Interrupted(
        f"{why}: {len(done)} of {total} changes applied ({'; '.join(parts)}); "
        "run portsync plan to see what remains",
        done=done,
        total=total,
        deadline=deadline,
    )


def _units(session: Session, writes: Sequence[Write]) -> list[tuple[Hashable, list[Write]]]:
    """``writes`` by write unit, with the unit's read scope, each in compile order."""
    units: dict[tuple[Hashable, str], list[Write]] = {}
    for write in writes:
        scope = session.scope(session.loaded.cluster(write.cluster))
        units.setdefault((scope, write.target), []).append(write)
    return [(key[0], unit) for key, unit in units.items()]


def _outcomes(
    groups: Sequence[GroupOps], writes: Sequence[Write], status: dict[tuple[str, str], str]
) -> dict[tuple[str, str], str]:
    """How each changed target fared: ``done``, ``failed``, ``partly`` or ``skipped``.

    A target that is itself a write unit (an AWS security group) fares as its unit. A target
    whose rules live in other units (GCP firewalls, an Azure NSG shared by roles) fares as the
    worst of its cluster's units.
    """
    rank = {"done": 0, "skipped": 1, "partly": 2, "failed": 3}
    units = {(w.cluster, w.target) for w in writes}
    worst: dict[str, str] = {}
    for (cluster, _unit), state in status.items():
        if rank[state] > rank[worst.get(cluster, "done")]:
            worst[cluster] = state
    out: dict[tuple[str, str], str] = {}
    for group in groups:
        key = (group.cluster, group.target)
        out[key] = status.get(key, "skipped") if key in units else worst.get(group.cluster, "done")
    return out


def _lifeline_cut(
    cut: Cut, index: int, total: int, sent: int, write: Write, done: Sequence[tuple[str, str, Op]]
) -> LifelineCutDuringApply:
    """The error of an apply stopped because a lifeline was found cut after write ``index``."""
    more = sent - index
    inflight = f" ({more} already in flight on other targets)" if more > 0 else ""
    return LifelineCutDuringApply(
        f"lifeline {cut.lifeline!r} is cut after write {index} of {total} on {cut.where}: "
        f"{cut.reason}",
        hint=f"apply stopped after write {index} ({write.method} on {write.target}): {sent} of "
        f"{total} writes sent{inflight}, none after it; restore the flow (`portsync explain` "
        "shows the rule that decides it), then run `portsync plan` to see what remains",
        lifeline=cut.lifeline,
        where=cut.where,
        write=index,
        total=total,
        sent=sent,
        reason=cut.reason,
        unit=write.target,
        method=write.method,
        done=done,
    )


def _recheck_failed(
    write: Write,
    index: int,
    total: int,
    sent: int,
    exc: PortsyncError,
    done: Sequence[tuple[str, str, Op]],
) -> ApplyError:
    """The error of an apply stopped because the read back after write ``index`` failed."""
    return ApplyError(
        f"apply stopped after write {index} of {total} ({write.method} on {write.target}): "
        f"reading it back to re-check lifelines failed: {exc.message}",
        hint=f"{sent} of {total} writes sent, none after it; fix the cause and run apply again "
        "to converge",
        done=done,
        op=write,
    )


def apply(
    loaded: LoadedConfig,
    *,
    saved: Plan | None = None,
    clusters: Sequence[str] = (),
    settings: Settings | None = None,
    max_deletes: int | None = None,
    allow_exclusive: bool = False,
    exclusive_on_managed: Collection[str] = (),
    allow_empty_target: bool = False,
    confirm: Callable[[Plan], bool] | None = None,
    progress: Callable[[str], None] | None = None,
    history: History | None = None,
    adopt_legacy: bool = False,
    session: Session | None = None,
) -> ApplyResult:
    """Make the live state match: a fresh plan, or exactly a saved one.

    A saved plan is never executed as written: the plan is recomputed from the config and the
    live state, the saved one must hold exactly the same operations, and the recomputed
    operations are the ones applied.

    ``adopt_legacy`` as for :func:`plan` (a saved plan made with it needs it again).
    ``session``: the session to read and write through (a new one by default).

    Raises:
        PlanFileError: the saved plan was made from another config, or its operations differ
            from the recomputed ones.
        StalePlanError: the saved plan's writes differ from the recomputed ones (the live state
            moved since it was made).
        GuardrailError: too many deletions, exclusive removals not allowed, a target emptied of
            every portsync rule without ``allow_empty_target``, or not confirmed.
        ApplyError: a write failed; ``done`` lists what was applied.
        ConvergenceError: after apply, the live state still differs.
    """
    settings = settings or Settings(mode=loaded.config.mode, adopt_legacy=adopt_legacy)
    session = session or Session(loaded, settings)
    settings = session.settings
    ruleset = synthesize(loaded)
    if saved is not None:
        digest = config_digest(loaded, ruleset)
        if saved.config_digest != digest:
            raise PlanFileError(
                "the saved plan was made from a different config (rules, sources, mode or "
                "cluster bindings changed)",
                hint="run `portsync plan --out PLAN.json` again with this config",
            )
        names = saved.clusters()
        current = plan(
            loaded,
            clusters=names,
            settings=settings,
            session=session,
            ruleset=ruleset,
            history=history,
        )
        # The writes first: what would be sent must be what was reviewed (a moved live state
        # changes them); then the neutral level (targets, roles, ownership of every operation).
        check_writes(saved, current)
        check_fresh(saved, current)
        check_same(saved, current)
        # What is executed is the recomputed plan: target, role, ownership and peer of every
        # operation come from the config and the live read, never from the file.
        the_plan = current
    else:
        the_plan = plan(
            loaded,
            clusters=clusters,
            settings=settings,
            session=session,
            ruleset=ruleset,
            progress=progress,
            history=history,
        )
    if the_plan.is_empty():
        return ApplyResult(the_plan)

    check_exposure(loaded, the_plan)
    if not allow_empty_target:
        check_empty_targets(loaded, the_plan)
    limit = loaded.config.max_deletes if max_deletes is None else max_deletes
    check_removals(
        the_plan,
        max_deletes=limit,
        allow_exclusive=allow_exclusive,
        removes_unit=_removes_unit(session, the_plan),
    )
    check_managed(the_plan, exclusive_on_managed=exclusive_on_managed)
    if confirm is not None and not confirm(the_plan):
        raise GuardrailError("apply cancelled; nothing was changed")

    changed = [g for g in the_plan.groups if not g.is_empty()]
    # The lifelines to keep, with the rules the plan read (before the round ends: no read).
    watch = LifelineWatch(session, the_plan)
    session.new_round()  # a read during apply must not see the plan's listings
    control = session.settings.control
    control.begin_writes()
    units = _units(session, the_plan.writes)
    status: dict[tuple[str, str], str] = {}
    failures: list[tuple[Write, PortsyncError]] = []
    #: Read scopes where a write failed or was stopped: no later phase runs there, so nothing
    #: is closed after something meant to open failed (a GCP target's rules span firewalls).
    halted: set[Hashable] = set()
    #: A lifeline found cut after a write (or not re-checked: the read back failed) stops every
    #: scope: no write starts after it.
    cuts: list[tuple[Cut, int, Write]] = []
    unchecked: list[tuple[Write, int, PortsyncError]] = []
    everywhere = threading.Event()
    sent = [0]
    total = len(the_plan.writes)
    lock = threading.Lock()

    def run(job: tuple[Hashable, list[Write]]) -> None:
        scope, writes = job
        key = (writes[0].cluster, writes[0].target)
        if scope in halted or everywhere.is_set() or control.stopping or control.expired():
            status.setdefault(key, "skipped")
            return
        if progress:
            progress(f"applying {len(writes)} writes to {key[0]}/{key[1]}")
        status[key] = "partly"
        for write in writes:
            if everywhere.is_set():
                return
            try:
                session.provider(loaded.cluster(write.cluster)).execute(write)
            except (StopRequested, DeadlineExceeded):
                with lock:
                    halted.add(scope)
                return
            except PortsyncError as exc:
                # A failed write stops its scope: no later write there (no removal) is sent.
                status[key] = "failed"
                with lock:
                    failures.append((write, exc))
                    halted.add(scope)
                return
            with lock:
                sent[0] += 1
                index = sent[0]
            try:
                cut = watch.after(write)
            except PortsyncError as exc:
                # Without the read back no lifeline can be vouched for: stop as if cut.
                with lock:
                    unchecked.append((write, index, exc))
                everywhere.set()
                return
            if cut is not None:
                with lock:
                    cuts.append((cut, index, write))
                everywhere.set()
                return
        status[key] = "done" if writes is units_last[key] else "partly"

    # Phase by phase across every unit (make, then change, then break); units run in parallel
    # within a phase, each unit's writes of the phase one after the other.
    units_last: dict[tuple[str, str], list[Write]] = {}
    jobs_by_phase: list[list[tuple[Hashable, list[Write]]]] = []
    for phase in Phase:
        jobs: list[tuple[Hashable, list[Write]]] = []
        for scope, unit in units:
            mine = [w for w in unit if w.phase is phase]
            if mine:
                jobs.append((scope, mine))
                units_last[(mine[0].cluster, mine[0].target)] = mine
        jobs_by_phase.append(jobs)
    for jobs in jobs_by_phase:
        fan_out(run, jobs, workers=session.settings.max_workers, name="apply")
    outcome = _outcomes(changed, the_plan.writes, status)

    def fared(group: GroupOps) -> str:
        return outcome[(group.cluster, group.target)]

    done = [(g.cluster, g.target, op) for g in changed if fared(g) == "done" for op in g.ops]
    partly = [g for g in changed if fared(g) == "partly"]
    skipped = [g for g in changed if fared(g) == "skipped"]
    if cuts:
        # The first found (fewest writes sent), whatever else happened since in flight.
        cut, index, write = min(cuts, key=lambda item: item[1])
        raise _lifeline_cut(cut, index, total, sent[0], write, done)
    if unchecked:
        write, index, exc = min(unchecked, key=lambda item: item[1])
        raise _recheck_failed(write, index, total, sent[0], exc, done)
    if control.stopping or ((partly or skipped) and not failures):
        # A stop request is reported even when every write had already started: the run was
        # asked to end, so it does not go on to verify.
        raise _interrupted(the_plan, done, partly, skipped, deadline=not control.stopping)
    if failures:
        write, first = failures[0]
        failed = [g for g in changed if fared(g) == "failed"]
        where = ", ".join(f"{g.cluster}/{g.label or g.target}" for g in failed)
        raise ApplyError(
            f"apply failed on {where or write.cluster + '/' + write.target}: {first}",
            hint="nothing wanted was removed; fix the cause and run apply again to converge",
            done=done,
            op=failed[0] if failed else write,
        ) from first

    # Verify: re-read only the touched targets and re-diff.
    touched: dict[str, set[str]] = {}
    for group in changed:
        touched.setdefault(group.cluster, set()).add(group.target)
    session.select(list(touched))
    remaining: list[str] = []
    for name, targets in touched.items():
        cluster = loaded.cluster(name)
        for group in _plan_cluster(session, cluster, ruleset, only_targets=targets):
            for op in group.ops:
                if isinstance(op, DeleteRuleOp) and not op.rule.owned and not allow_exclusive:
                    continue
                remaining.append(
                    f"{group.cluster}/{group.label or group.target}: {op.action.value} {op.rule.key}"
                )
    if remaining:
        raise ConvergenceError(
            "apply finished but the live state still differs: " + "; ".join(remaining[:10]),
            hint="another writer may be changing these targets; run plan to see the drift",
            done=done,
        )
    if history is not None:
        history.record(
            datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            ((c, t, op.rule.key) for c, t, op in done if isinstance(op, CreateRuleOp)),
        )
    return ApplyResult(
        the_plan, tuple(done), lifeline_reads=watch.reads, lifelines_kept=watch.lifelines()
    )
