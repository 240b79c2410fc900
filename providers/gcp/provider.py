"""The GCP provider: roles bound to network tags or service accounts, read and written as VPC
firewall rules through google-cloud-compute.

Plan reads the project's firewalls once (one paginated ``firewalls.list``, filtered to the
network) and keeps the raw firewalls for apply. Apply works per target: it computes the target's
final set of owned rules, packs it into firewalls (see :mod:`.translate`), and makes the live
owned firewalls match — inserts first, then patches, then deletes, so wanted access is never
missing in between.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from portsync.config import Cidr, ClusterConfig, Sources
from portsync.diff import untouched
from portsync.errors import (
    ConflictError,
    NotFoundError,
    PortsyncError,
    ProviderError,
    ProviderLimitError,
)
from portsync.model import Endpoint, EndpointKind, RuleKey, RuleSet, TargetRule
from portsync.ops import GroupOps
from portsync.owners import named_owners
from portsync.provider import Settings, Target
from portsync.reads import sibling_configs
from portsync.tools import ManagingTool

from . import tools, translate
from .limits import (
    DEFAULT_PRIORITY,
    LIMITS,
    MAX_NAME_PREFIX_LENGTH,
    MAX_PRIORITY,
    MIN_PRIORITY,
    READ_BUCKET,
    WRITE_BUCKET,
)

__all__ = ["GcpClusterConfig", "GcpProvider", "GcpRoleBinding"]

log = logging.getLogger(__name__)

_RFC1035 = r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$"
_PREFIX = rf"^[a-z](?:[-a-z0-9]{{0,{MAX_NAME_PREFIX_LENGTH - 2}}}[a-z0-9])?$"
_EMAIL = r"^[^@\s:]+@[^@\s:]+\.[^@\s:]+$"
_PROJECT = r"^(?:[a-z][-a-z0-9.]*[a-z0-9]:)?[a-z][-a-z0-9]{4,28}[a-z0-9]$"


class GcpRoleBinding(BaseModel):
    """A role's firewall target: a network tag or a service account, exactly one."""

    model_config = ConfigDict(extra="forbid")
    target_tag: str | None = Field(default=None, pattern=_RFC1035)
    service_account: str | None = Field(default=None, pattern=_EMAIL)

    @model_validator(mode="after")
    def _exactly_one(self) -> GcpRoleBinding:
        if (self.target_tag is None) == (self.service_account is None):
            raise ValueError("give exactly one of target_tag or service_account")
        return self

    @property
    def endpoint(self) -> Endpoint:
        """The binding as an endpoint (``tag:…`` or ``sa:…``)."""
        if self.target_tag is not None:
            return Endpoint(EndpointKind.TAG, self.target_tag)
        return Endpoint(EndpointKind.SERVICE_ACCOUNT, str(self.service_account))


class GcpClusterConfig(BaseModel):
    """Keys of a ``provider: gcp`` cluster."""

    model_config = ConfigDict(extra="forbid")
    name: str
    provider: Literal["gcp"]
    project: str = Field(pattern=_PROJECT)
    network: str = Field(default="default", pattern=_RFC1035)
    endpoint: str | None = None
    credentials: Literal["default", "anonymous"] = "default"
    priority: int = Field(default=DEFAULT_PRIORITY, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    name_prefix: str = Field(default="portsync", pattern=_PREFIX)
    max_workers: int = Field(default=8, ge=1, le=64)
    firewall_quota: int | None = Field(default=None, ge=1)
    #: The cluster's pod ranges, added to ``self`` and ``role:`` peers (pods on VPC-native
    #: clusters send from alias IPs, which network tags do not match).
    pod_ranges: list[Cidr] = Field(default_factory=list)
    roles: dict[str, GcpRoleBinding]

    @field_validator("roles")
    @classmethod
    def _distinct(cls, value: dict[str, GcpRoleBinding]) -> dict[str, GcpRoleBinding]:
        seen: dict[str, str] = {}
        for role, binding in value.items():
            key = str(binding.endpoint)
            if key in seen:
                raise ValueError(
                    f"roles {seen[key]!r} and {role!r} are both bound to {key}; bind each role "
                    "to its own network tag or service account"
                )
            seen[key] = role
        return value


def _read_scope(config: GcpClusterConfig) -> tuple[str, ...]:
    """What one firewalls.list serves: the project, the client, and the network filter (none
    when ``firewall_quota`` makes portsync count every network)."""
    listed = "*" if config.firewall_quota is not None else config.network
    return ("gcp", config.project, config.endpoint or "", config.credentials, listed)


class _Tally:
    """Firewalls the clusters of one plan insert into one project, added up as they report."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0

    def add(self, inserts: int) -> int:
        """Add one cluster's inserts; the total so far, this cluster's included."""
        with self._lock:
            self.total += inserts
            return self.total


class _Round:
    """What one plan read saw, for the project-wide quota check across targets."""

    def __init__(self, targets: Sequence[str], count: int) -> None:
        self.pending = set(targets)
        self.count = count
        self.inserts: dict[str, int] = {}


class GcpProvider:
    """GCP VPC firewall rules (see docs/providers/gcp.md)."""

    name: ClassVar[str] = "gcp"
    config_model: ClassVar[type[BaseModel]] = GcpClusterConfig
    limits: ClassVar[dict[str, int]] = LIMITS
    demo: ClassVar[str] = "portsync.providers.gcp.demo:GcpDemo"
    discover: ClassVar[str] = "portsync.providers.gcp.discover:discover"

    def __init__(
        self,
        cluster: ClusterConfig,
        *,
        settings: Settings,
        firewalls_client: Any = None,
        operations_client: Any = None,
    ) -> None:
        self.cluster = cluster
        self.settings = settings
        self.config = GcpClusterConfig.model_validate(cluster.settings)
        self.bindings = {role: b.endpoint for role, b in self.config.roles.items()}
        self.roles_by_target = {str(ep): role for role, ep in self.bindings.items()}
        self.prefix = self.config.name_prefix
        self.owners = named_owners(cluster, settings, self.prefix)
        #: Every firewall this owner writes is named ``<name_prefix>-<owner hash>-…``.
        self.stem = self.owners.stem
        self.network = translate.network_url(self.config.project, self.config.network)
        self._clients = (firewalls_client, operations_client)
        self._adapter: Any = None
        self._lock = threading.Lock()
        self._raw: dict[str, dict[str, Any]] | None = None
        # Per read (set with _raw by fetch): firewall names by target ("" = applies to every
        # instance) and each firewall expanded once, so per-target checks stay linear.
        self._index_value: tuple[dict[str, list[str]], dict[str, list[TargetRule]]] = ({}, {})
        self._round: _Round | None = None
        self._live: dict[str, list[TargetRule]] = {}
        # Clusters of one project that list the same firewalls share one list per plan.
        scope = _read_scope(self.config)
        siblings = any(
            _read_scope(other) == scope
            for other in sibling_configs(
                settings.fleet, cluster, GcpClusterConfig, shared=settings.reads
            )
        )
        self._read_key: tuple[str, ...] | None = scope if siblings else None
        self._name_locks: dict[str, threading.Lock] = {}

    # ------------------------------------------------------------------ plumbing

    @property
    def adapter(self) -> Any:
        """The Compute adapter, created on first use (imports google-cloud-compute only then)."""
        with self._lock:
            if self._adapter is None:
                from .adapter import GcpAdapter, make_clients

                firewalls, operations = self._clients
                if firewalls is None or operations is None:
                    made = make_clients(
                        endpoint=self.config.endpoint,
                        anonymous=self.config.credentials == "anonymous",
                        cluster=self.cluster.name,
                    )
                    firewalls = firewalls or made[0]
                    operations = operations or made[1]
                scope = ("gcp", self.config.project, self.config.endpoint or "")
                limiters = self.settings.limiters
                self._adapter = GcpAdapter(
                    firewalls,
                    operations,
                    project=self.config.project,
                    read_bucket=limiters.get(
                        (*scope, "read"), rate=READ_BUCKET[1], burst=READ_BUCKET[0]
                    ),
                    write_bucket=limiters.get(
                        (*scope, "write"), rate=WRITE_BUCKET[1], burst=WRITE_BUCKET[0]
                    ),
                    connect_timeout=self.cluster.timeout.connect,
                    read_timeout=self.cluster.timeout.read,
                    cluster=self.cluster.name,
                    endpoint=self.config.endpoint,
                    control=self.settings.control,
                )
            return self._adapter

    def _where(self) -> str:
        return f"cluster {self.cluster.name} (project {self.config.project})"

    def _expand(self, firewall: Mapping[str, Any]) -> list[TargetRule]:
        return translate.expand(
            firewall,
            owners=self.owners,
            roles_by_target=self.roles_by_target,
            adopt_legacy=self.settings.adopt_legacy,
        )

    def _owned(self, firewall: Mapping[str, Any]) -> bool:
        """Whether apply may delete ``firewall``: this owner's, or an adopted legacy one."""
        owned, _owner, _legacy = translate.ownership(
            firewall, self.owners, adopt_legacy=self.settings.adopt_legacy
        )
        return owned

    def _index(self) -> tuple[dict[str, list[str]], dict[str, list[TargetRule]]]:
        """Firewall names by target and expanded rules by firewall, for the last read."""
        with self._lock:
            return self._index_value

    def _names_for(self, target: str, raw: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Names of the firewalls of ``raw`` that apply to ``target`` (or to every instance)."""
        by_target, _ = self._index()
        return sorted(n for n in (*by_target.get(target, ()), *by_target.get("", ())) if n in raw)

    def _pack(
        self, rules: Sequence[TargetRule], raw: Mapping[str, Mapping[str, Any]], target: str
    ) -> dict[str, dict[str, Any]]:
        """Pack ``target``'s owned rules, keeping the names of portsync's live firewalls."""
        by_target, _ = self._index()
        reuse = [
            raw[name]
            for name in by_target.get(target, ())
            if name in raw
            and translate.is_owned(raw[name], self.owners)
            and translate.targets_of(raw[name]) == [target]
        ]
        return translate.pack(
            rules,
            prefix=self.stem,
            network=self.network,
            default_priority=self.config.priority,
            reuse=reuse,
        )

    # ------------------------------------------------------------------ Provider protocol

    def targets(self) -> list[Target]:
        """One target per role: ``tag:<tag>`` or ``sa:<email>``."""
        return [
            Target(id=str(ep), role=role, label=f"{ep.value} ({role})")
            for role, ep in self.bindings.items()
        ]

    def managing_tool(self, target: Target, live: Sequence[TargetRule]) -> ManagingTool | None:
        """CAPG, for a CAPG role tag its own firewalls target."""
        if not target.id.startswith("tag:"):
            return None
        return tools.managing_tool(target.id[len("tag:") :], live)

    def translate(self, rules: RuleSet, sources: Sources) -> list[TargetRule]:
        """Neutral rules → rules on tags and service accounts.

        Raises:
            TranslationError: a rule needs a missing source or an impossible combination.
        """
        return translate.translate_rules(
            rules,
            cluster=self.cluster.name,
            bindings=self.bindings,
            sources_all=sources.all,
            priority=self.config.priority,
            pod_ranges=self.config.pod_ranges,
        )

    def fetch(self, targets: Sequence[Target]) -> dict[str, list[TargetRule]]:
        """Live rules of ``targets``: one paginated ``firewalls.list`` for the whole project.

        The list is filtered to the network; with ``firewall_quota`` set it is not (the quota
        counts every network) and the network is picked out here. The raw firewalls are kept for
        apply.

        Raises:
            ProviderError: or a subclass, when the API refuses.
        """
        project, network = self.config.project, self.config.network
        everywhere = self.config.firewall_quota is not None
        list_filter = None if everywhere else f'network = "{self.network}"'
        pages: Iterable[list[dict[str, Any]]]
        if self._read_key is None:
            pages = self.adapter.firewall_pages(filter=list_filter)
        else:
            pages = self.settings.reads.get(
                self._read_key, lambda: list(self.adapter.firewall_pages(filter=list_filter))
            )
        raw: dict[str, dict[str, Any]] = {}
        by_target: dict[str, list[str]] = {}
        expanded: dict[str, list[TargetRule]] = {}
        count = 0
        # Each page is expanded as it arrives, while the next one is on its way.
        for page in pages:
            count += len(page)
            for firewall in page:
                if everywhere and not translate.network_matches(
                    firewall.get("network"), project, network
                ):
                    continue
                name = str(firewall["name"])
                raw[name] = firewall
                expanded[name] = self._expand(firewall)
                for target in translate.targets_of(firewall) or [""]:
                    by_target.setdefault(target, []).append(name)
        with self._lock:
            self._raw = raw
            self._index_value = (by_target, expanded)
            self._round = _Round([t.id for t in targets], count)
        live = self._live_rules(raw, [t.id for t in targets])
        with self._lock:
            self._live = live
        return self._with_denied(raw, live)

    def _with_denied(
        self, raw: Mapping[str, Mapping[str, Any]], live: Mapping[str, list[TargetRule]]
    ) -> dict[str, list[TargetRule]]:
        """``live`` plus the rules of denying firewalls on the same targets (for explain and
        lifelines; the engine keeps them out of the diff, and apply never sees them)."""
        out = {t: list(rules) for t, rules in live.items()}
        for name in sorted(raw):
            for rule in translate.expand_denied(raw[name], roles_by_target=self.roles_by_target):
                if rule.target in out:
                    out[rule.target].append(rule)
        return out

    def _live_rules(
        self, raw: Mapping[str, Mapping[str, Any]], targets: Sequence[str]
    ) -> dict[str, list[TargetRule]]:
        out: dict[str, list[TargetRule]] = {t: [] for t in targets}
        _, expanded = self._index()  # each firewall expanded once per read, reused by the checks
        for name in sorted(raw):
            for rule in expanded[name]:
                if rule.target in out:
                    out[rule.target].append(rule)
        return out

    def _raw_snapshot(self) -> Mapping[str, Mapping[str, Any]]:
        """The firewalls of the last read, read now if there was none. A read replaces the whole
        mapping and nothing mutates it, so callers share it without copying."""
        with self._lock:
            raw = self._raw
        if raw is None:
            self.fetch(self.targets())
            with self._lock:
                raw = self._raw
        return raw or {}

    def check_limits(self, target: Target, final: Sequence[TargetRule]) -> None:
        """Refuse, at plan time, a final state GCP would refuse or that cannot be applied safely.

        Checks the names and descriptions of the packed firewalls, exclusive-mode removals from
        unmanaged firewalls, and ``firewall_quota`` over the whole project (inserts happen before
        deletes, so the peak is the current count plus every insert of the plan).

        Raises:
            ProviderLimitError: naming the target, the firewall and the limit.
        """
        raw = self._raw_snapshot()
        where = f"{self._where()}: {target}"
        with self._lock:
            live = self._live.get(target.id)
        if untouched(final, live):
            # The final state is the one GCP holds and accepted: nothing to name, describe,
            # insert or remove, so the packing below would only re-derive the live firewalls.
            self._check_quota(target, 0)
            return
        owned = [r for r in final if r.owned and r.target == target.id]
        desired = self._pack(owned, raw, target.id)
        problems = [p for body in desired.values() for p in translate.check_firewall(body)]
        if problems:
            raise ProviderLimitError(
                f"{where}: " + "; ".join(problems),
                hint="shorten the purposes or name_prefix, or split the rules over more roles",
            )
        self._check_unmanaged_removals(target, final, raw, where)
        self._check_quota(target, sum(1 for name in desired if name not in raw))

    def _check_unmanaged_removals(
        self,
        target: Target,
        final: Sequence[TargetRule],
        raw: Mapping[str, Mapping[str, Any]],
        where: str,
    ) -> None:
        kept: dict[str, int] = {}
        for rule in final:
            if not rule.owned and rule.native_id:
                kept[rule.native_id] = kept.get(rule.native_id, 0) + 1
        _, expanded = self._index()
        for name in self._names_for(target.id, raw):
            firewall = raw[name]
            rules = [r for r in expanded[name] if r.target == target.id and not r.owned]
            if not rules or kept.get(name, 0) >= len(rules):
                continue
            if kept.get(name, 0) > 0:
                raise ProviderLimitError(
                    f"{where}: mode exclusive would remove only some of the rules of the "
                    f"unmanaged firewall {name}; portsync does not rewrite other people's "
                    "firewalls",
                    hint=f"split or delete firewall {name} by hand, or use mode owned",
                )
            if not translate.targets_of(firewall):
                raise ProviderLimitError(
                    f"{where}: mode exclusive would remove the unmanaged firewall {name}, which "
                    "applies to every instance of the network, not only this target",
                    hint=f"give firewall {name} target tags or delete it by hand, or use mode "
                    "owned",
                )

    def _check_quota(self, target: Target, inserts: int) -> None:
        quota = self.config.firewall_quota
        with self._lock:
            state = self._round
            if quota is None or state is None or target.id not in state.pending:
                return
            state.inserts[target.id] = inserts
            state.pending.discard(target.id)
            if state.pending:
                return
            count, inserts = state.count, sum(state.inserts.values())
        together = ""
        if self._read_key is not None:
            # Other clusters of this plan insert into the same project: their inserts count too.
            # Whichever cluster adds the last share sees the project's whole peak.
            tally = self.settings.reads.get((*self._read_key, "inserts"), _Tally)
            inserts = tally.add(inserts)
            together = " (with the other clusters of this plan in the project)"
        peak = count + inserts
        if peak > quota:
            raise ProviderLimitError(
                f"{self._where()}: the plan would need {peak} firewall rules in the project"
                f"{together} while it applies (inserts come before deletes), over firewall_quota "
                f"{quota}",
                hint="raise the project's FIREWALLS quota and firewall_quota, or remove rules",
            )

    def check_offline(self, desired: Mapping[str, Sequence[TargetRule]]) -> None:
        """``portsync validate``: the desired rules packed into firewalls as on an empty network,
        checked against GCP's limits (names, descriptions, ``firewall_quota``), no cloud read.

        Raises:
            ProviderLimitError: naming the target and the limit.
        """
        total = 0
        for target in self.targets():
            owned = [r for r in desired.get(target.id, ()) if r.owned]
            packed = self._pack(owned, {}, target.id)
            total += len(packed)
            problems = [p for body in packed.values() for p in translate.check_firewall(body)]
            if problems:
                raise ProviderLimitError(
                    f"{self._where()}: {target}: " + "; ".join(problems),
                    hint="shorten the purposes or name_prefix, or split the rules over more roles",
                )
        quota = self.config.firewall_quota
        if quota is not None and total > quota:
            raise ProviderLimitError(
                f"{self._where()}: the cluster's rules need {total} firewalls, more than "
                f"firewall_quota {quota} before counting any other firewall of the project",
                hint="raise the project's firewall quota (and firewall_quota), or bind fewer roles",
            )

    def prepare_apply(self, groups: Sequence[GroupOps]) -> None:
        """Make sure the raw firewalls are at hand (plan normally read them already)."""
        if groups:
            self._raw_snapshot()

    def apply(self, ops: GroupOps) -> None:
        """Make one target's owned firewalls match its final rule set.

        Inserts run first, then patches that only add access, then patches that take some away,
        then deletes; each phase runs in parallel (``max_workers``) and a failed phase stops the
        apply before anything is removed.

        Raises:
            ProviderError: or a subclass; what was done stays done and the next run converges.
        """
        raw = self._raw_snapshot()
        target = ops.target
        by_target, expanded = self._index()
        mine = {name: raw[name] for name in by_target.get(target, ()) if name in raw}
        live = [r for name in mine for r in expanded[name] if r.target == target]
        owned_live = [r for r in live if r.owned]
        removed = {(op.rule.key, op.rule.native_id) for op in ops.removes if op.rule.owned}
        updated = {(op.before.key, op.before.native_id): op.after for op in ops.updates}
        final: list[TargetRule] = []
        for rule in owned_live:
            ident = (rule.key, rule.native_id)
            if ident in removed:
                continue
            final.append(updated.get(ident, rule))
        # Updates whose rule vanished since the plan are re-created from their new state.
        present = {(r.key, r.native_id) for r in owned_live}
        final.extend(after for ident, after in updated.items() if ident not in present)
        final.extend(op.rule for op in ops.adds)
        desired = self._pack(final, raw, target)

        inserts: list[Callable[[], None]] = []
        growing: list[Callable[[], None]] = []
        shrinking: list[Callable[[], None]] = []
        deletes: list[Callable[[], None]] = []
        for name, body in sorted(desired.items()):
            current = raw.get(name)
            if current is None:
                inserts.append(partial(self._insert, target, body))
                continue
            self._ensure_ours(target, name, current)
            fields, replace = translate.patch_for(current, body)
            if not fields:
                continue
            task = self._patcher(target, _keep_logging(body, current), fields, replace)
            if self._coverage(body) >= self._coverage(current):
                growing.append(task)
            else:
                shrinking.append(task)
        for name, firewall in sorted(mine.items()):
            if name in desired or not self._owned(firewall):
                continue
            if self.settings.mode == "additive":
                continue  # additive never deletes, not even a duplicate of a kept firewall
            if any(r.owned for r in self._expand(firewall)):
                deletes.append(partial(self._delete, name))
        foreign = {op.rule.native_id for op in ops.removes if not op.rule.owned}
        for name in sorted(n for n in foreign if n):
            deletes.append(partial(self._drop_target, name, target))

        for phase in (inserts, growing, shrinking, deletes):
            self._run(phase)

    # ------------------------------------------------------------------ apply helpers

    def _coverage(self, firewall: Mapping[str, Any]) -> set[RuleKey]:
        return {r.key for r in self._expand(firewall)}

    def _ensure_ours(self, target: str, name: str, firewall: Mapping[str, Any]) -> None:
        if translate.is_owned(firewall, self.owners) and translate.targets_of(firewall) == [target]:
            return
        raise ConflictError(
            f"{self._where()}: a firewall named {name} exists but is not portsync's firewall for "
            f"{target}; portsync will not overwrite it",
            hint=f"rename or delete firewall {name}, or change name_prefix",
        )

    def _patcher(
        self, target: str, body: Mapping[str, Any], fields: Mapping[str, Any], replace: bool
    ) -> Callable[[], None]:
        name = str(body["name"])

        def run() -> None:
            try:
                if replace:
                    self.adapter.update(name, body)
                else:
                    self.adapter.patch(name, fields)
            except NotFoundError:
                log.info("firewall %s vanished before its patch; inserting it", name)
                self._insert(target, body)

        return run

    def _insert(self, target: str, body: Mapping[str, Any]) -> None:
        name = str(body["name"])
        try:
            self.adapter.insert(body)
            return
        except ConflictError:
            pass
        # Another run got there first (or a retried insert landed twice): check what is there.
        existing = self.adapter.get_firewall(name)
        if existing is None:
            self.adapter.insert(body)
            return
        self._ensure_ours(target, name, existing)
        fields, replace = translate.patch_for(existing, body)
        if not fields:
            log.info("firewall %s already exists as wanted", name)
            return
        if replace:
            self.adapter.update(name, _keep_logging(body, existing))
        else:
            self.adapter.patch(name, fields)

    def _delete(self, name: str) -> None:
        try:
            self.adapter.delete(name)
        except NotFoundError:
            log.info("firewall %s was already deleted", name)

    def _drop_target(self, name: str, target: str) -> None:
        """Exclusive mode: stop an unmanaged firewall from applying to ``target``.

        A firewall that applies to ``target`` only is deleted; one that also applies elsewhere
        loses ``target`` from its target list. Serialised per firewall, on a fresh read.
        """
        with self._lock:
            lock = self._name_locks.setdefault(name, threading.Lock())
        with lock:
            firewall = self.adapter.get_firewall(name)
            if firewall is None:
                return
            targets = translate.targets_of(firewall)
            if target not in targets:
                return
            rest = [t for t in targets if t != target]
            if not rest:
                self._delete(name)
                return
            kind = target.partition(":")[0]
            field = "targetTags" if kind == EndpointKind.TAG.value else "targetServiceAccounts"
            remaining = [t.partition(":")[2] for t in rest if t.partition(":")[0] == kind]
            if remaining:
                self.adapter.patch(name, {field: remaining})
            else:
                # The other targets are of the other kind: a merge patch cannot empty a list.
                body = {k: v for k, v in firewall.items() if k not in _OUTPUT_ONLY}
                body.pop(field, None)
                self.adapter.update(name, body)

    def _run(self, tasks: Sequence[Callable[[], None]]) -> None:
        """Run one phase's mutations in parallel; raise the first failure after all finish."""
        if not tasks:
            return
        errors: list[BaseException] = []
        workers = max(1, min(self.config.max_workers, len(tasks)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gcp-apply") as pool:
            futures = [pool.submit(task) for task in tasks]
            for future in futures:
                exc = future.exception()
                if exc is not None:
                    errors.append(exc)
        if errors:
            first = errors[0]
            if isinstance(first, PortsyncError):
                raise first
            raise ProviderError(f"{self._where()}: apply failed: {first}") from first


_OUTPUT_ONLY = frozenset({"id", "kind", "creationTimestamp", "selfLink"})


def _keep_logging(body: Mapping[str, Any], live: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with the live firewall's ``logConfig``: portsync does not manage logging, and a
    full replace (``firewalls.update``) must not switch it off."""
    out = dict(body)
    if live.get("logConfig"):
        out["logConfig"] = live["logConfig"]
    return out
