"""The Azure provider: roles bound to network security groups, read and written through
azure-mgmt-network.

Plan lists the resource group's NSGs once (one paged ``networkSecurityGroups.list``: rules and
etags come inline) and keeps the raw NSGs for apply. Apply writes each changed NSG with one PUT
carrying its complete rule list and ``If-Match: <etag>``: unmanaged rules go back exactly as
read, portsync's rules are added, re-rendered or left out, and priorities are allocated inside
``priority_band`` (see :func:`.translate.compose`). One PUT is atomic, so there is never a moment
with a wanted rule missing. On 412 the NSG is re-read and the change composed again.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from portsync.config import Cidr as StrictCidr
from portsync.config import ClusterConfig, Sources
from portsync.diff import untouched
from portsync.errors import ConflictError, NotFoundError, PortsyncError, ProviderError
from portsync.model import RuleKey, RuleSet, TargetRule, canonical_cidr
from portsync.ops import GroupOps
from portsync.owners import named_owners
from portsync.provider import Settings, Target
from portsync.reads import sibling_configs
from portsync.tools import ManagingTool

from . import tools, translate
from .errors import is_precondition_failed
from .limits import (
    DEFAULT_PRIORITY_BAND,
    LIMITS,
    MAX_NAME_PREFIX_LENGTH,
    MAX_PRIORITY,
    MIN_PRIORITY,
    READ_BUCKET,
    RESOURCE_GROUP_PATTERN,
    WRITE_BUCKET,
)
from .translate import Binding, Change, NsgLayout

__all__ = ["AzureClusterConfig", "AzureProvider", "AzureRoleBinding"]

log = logging.getLogger(__name__)

_NAME = r"^\w(?:[\w.-]{0,78}\w)?$"
_PREFIX = rf"^\w(?:[\w.-]{{0,{MAX_NAME_PREFIX_LENGTH - 2}}}\w)?$"
_GUID = r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$"
_ASG_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/"
    r"applicationSecurityGroups/[^/]+$",
    re.IGNORECASE,
)

#: How many times one NSG write is composed again after a 412 (its etag changed under us).
PRECONDITION_RETRIES = 5

Cidr = Annotated[str, AfterValidator(canonical_cidr)]


class AzureRoleBinding(BaseModel):
    """A role's NSG and its side of the rules: address prefixes or an ASG, exactly one."""

    model_config = ConfigDict(extra="forbid")
    nsg: str = Field(pattern=_NAME)
    address_prefixes: list[Cidr] | None = None
    asg: str | None = None

    @field_validator("asg")
    @classmethod
    def _asg_id(cls, value: str | None) -> str | None:
        if value is not None and not _ASG_ID.match(value):
            raise ValueError(
                "asg must be an application security group resource id like /subscriptions/"
                "<sub>/resourceGroups/<rg>/providers/Microsoft.Network/"
                "applicationSecurityGroups/<name>"
            )
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> AzureRoleBinding:
        if (self.address_prefixes is None) == (self.asg is None):
            raise ValueError("give exactly one of address_prefixes or asg")
        if self.address_prefixes is not None:
            if not self.address_prefixes:
                raise ValueError("address_prefixes needs at least one CIDR")
            self.address_prefixes = sorted(
                dict.fromkeys(self.address_prefixes), key=lambda p: (":" in p, p)
            )
        return self


class AzureClusterConfig(BaseModel):
    """Keys of a ``provider: azure`` cluster."""

    model_config = ConfigDict(extra="forbid")
    name: str
    provider: Literal["azure"]
    subscription_id: str = Field(pattern=_GUID)
    resource_group: str = Field(pattern=RESOURCE_GROUP_PATTERN)
    endpoint: str | None = None
    ca_bundle: str | None = None
    credentials: Literal["default", "anonymous"] = "default"
    priority_band: tuple[int, int] = DEFAULT_PRIORITY_BAND
    polling_interval: float = Field(default=1.0, gt=0, le=60)
    name_prefix: str = Field(default="portsync", pattern=_PREFIX)
    max_workers: int = Field(default=8, ge=1, le=64)
    #: The cluster's pod ranges, added to ``self`` and ``role:`` peers (ASGs do not match pod
    #: addresses of CNIs that give pods addresses outside the nodes' NICs).
    pod_ranges: list[StrictCidr] = Field(default_factory=list)
    roles: dict[str, AzureRoleBinding]

    @field_validator("endpoint")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith("https://"):
            raise ValueError(
                "the Azure endpoint must be an https:// URL (azure-core refuses to send "
                "credentials over plain http; the local emulator speaks TLS)"
            )
        return value

    @field_validator("priority_band")
    @classmethod
    def _band(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not MIN_PRIORITY <= low <= high <= MAX_PRIORITY:
            raise ValueError(
                f"priority_band [{low}, {high}] must satisfy {MIN_PRIORITY} <= low <= high <= "
                f"{MAX_PRIORITY}"
            )
        return value

    @field_validator("roles")
    @classmethod
    def _distinct(cls, value: dict[str, AzureRoleBinding]) -> dict[str, AzureRoleBinding]:
        if not value:
            raise ValueError("bind at least one role, e.g. control-plane: {nsg: ..., ...}")
        by_nsg: dict[str, list[tuple[str, AzureRoleBinding]]] = {}
        for role, binding in value.items():
            by_nsg.setdefault(binding.nsg.lower(), []).append((role, binding))
        for shared in by_nsg.values():
            if len(shared) < 2:
                continue
            seen: dict[str, str] = {}
            for role, binding in shared:
                items = (
                    [binding.asg.lower()] if binding.asg else list(binding.address_prefixes or ())
                )
                for item in items:
                    if item in seen:
                        raise ValueError(
                            f"roles {seen[item]!r} and {role!r} share NSG {binding.nsg} and both "
                            f"name {item}; roles sharing an NSG need distinct address_prefixes "
                            "or asg, so that portsync can tell their rules apart"
                        )
                    seen[item] = role
        return value


class _Round:
    """What one plan read fetched, and the final states check_limits has seen so far."""

    def __init__(self, targets: Sequence[str]) -> None:
        self.fetched = set(targets)
        self.finals: dict[str, list[TargetRule]] = {}
        #: Every live rule by target, as handed to the engine, to skip NSGs the plan leaves
        #: exactly as they are.
        self.live: dict[str, list[TargetRule]] = {}


def _read_scope(config: AzureClusterConfig) -> tuple[str, ...]:
    """What one networkSecurityGroups.list serves: the resource group, through the same client."""
    return (
        "azure",
        config.subscription_id.lower(),
        config.resource_group.lower(),
        config.endpoint or "",
        config.ca_bundle or "",
        config.credentials,
    )


class AzureProvider:
    """Azure network security groups (see docs/providers/azure.md)."""

    name: ClassVar[str] = "azure"
    config_model: ClassVar[type[BaseModel]] = AzureClusterConfig
    limits: ClassVar[dict[str, int]] = LIMITS
    demo: ClassVar[str] = "portsync.providers.azure.demo:AzureDemo"
    discover: ClassVar[str] = "portsync.providers.azure.discover:discover"

    def __init__(self, cluster: ClusterConfig, *, settings: Settings, client: Any = None) -> None:
        self.cluster = cluster
        self.settings = settings
        self.config = AzureClusterConfig.model_validate(cluster.settings)
        #: Every rule this owner writes is named ``<name_prefix>-<owner hash>-…``.
        self.owners = named_owners(cluster, settings, self.config.name_prefix, fold_case=True)
        shared: dict[str, int] = {}
        for binding in self.config.roles.values():
            shared[binding.nsg.lower()] = shared.get(binding.nsg.lower(), 0) + 1
        self.bindings: dict[str, Binding] = {}
        for role, spec in self.config.roles.items():
            target = spec.nsg if shared[spec.nsg.lower()] == 1 else f"{spec.nsg}/{role}"
            self.bindings[role] = Binding(
                role=role,
                nsg=spec.nsg,
                target=target,
                prefixes=tuple(spec.address_prefixes or ()),
                asg=spec.asg,
            )
        self.by_target = {b.target: b for b in self.bindings.values()}
        # The roles bound to each NSG (lower-cased name), in config order: one lookup per NSG
        # instead of a scan of every binding, which made large fleets quadratic.
        self.by_nsg: dict[str, tuple[Binding, ...]] = {}
        for b in self.bindings.values():
            self.by_nsg[b.nsg.lower()] = (*self.by_nsg.get(b.nsg.lower(), ()), b)
        self.asg_names = {b.asg.lower(): b.asg for b in self.bindings.values() if b.asg}
        self.origins: dict[str, str] = {}
        for role, b in self.bindings.items():
            for endpoint in b.endpoints():
                self.origins.setdefault(str(endpoint), role)
        self._client = client
        self._adapter: Any = None
        self._lock = threading.Lock()
        self._writes = threading.BoundedSemaphore(self.config.max_workers)
        self._raw: dict[str, dict[str, Any]] | None = None
        self._round: _Round | None = None
        self._wanted: frozenset[RuleKey] = frozenset()
        self._wanted_by_target: dict[str, frozenset[RuleKey]] = {}
        self._nsg_locks: dict[str, threading.Lock] = {}
        self._pending: dict[str, list[GroupOps]] = {}
        self._done: dict[str, PortsyncError | None] = {}
        # Clusters of one resource group share one list of its NSGs per plan.
        scope = _read_scope(self.config)
        siblings = any(
            _read_scope(other) == scope
            for other in sibling_configs(
                settings.fleet, cluster, AzureClusterConfig, shared=settings.reads
            )
        )
        self._read_key: tuple[str, ...] | None = scope if siblings else None

    # ------------------------------------------------------------------ plumbing

    @property
    def adapter(self) -> Any:
        """The NSG adapter, created on first use (imports the Azure SDK only then)."""
        with self._lock:
            if self._adapter is None:
                from .adapter import AzureAdapter, make_client

                client = self._client or make_client(
                    subscription_id=self.config.subscription_id,
                    endpoint=self.config.endpoint,
                    ca_bundle=self.config.ca_bundle,
                    anonymous=self.config.credentials == "anonymous",
                    polling_interval=self.config.polling_interval,
                    connect_timeout=self.cluster.timeout.connect,
                    read_timeout=self.cluster.timeout.read,
                    cluster=self.cluster.name,
                    control=self.settings.control,
                )
                scope = ("azure", self.config.subscription_id, self.config.endpoint or "")
                limiters = self.settings.limiters
                self._adapter = AzureAdapter(
                    client,
                    resource_group=self.config.resource_group,
                    polling_interval=self.config.polling_interval,
                    read_bucket=limiters.get(
                        (*scope, "read"), rate=READ_BUCKET[1], burst=READ_BUCKET[0]
                    ),
                    write_bucket=limiters.get(
                        (*scope, "write"), rate=WRITE_BUCKET[1], burst=WRITE_BUCKET[0]
                    ),
                    cluster=self.cluster.name,
                    endpoint=self.config.endpoint,
                    control=self.settings.control,
                )
            return self._adapter

    def _where(self, nsg: str | None = None) -> str:
        where = f"cluster {self.cluster.name} (resource group {self.config.resource_group})"
        return f"{where}: NSG {nsg}" if nsg else where

    def _layout(self, nsg: str) -> NsgLayout:
        """The layout of the NSG whose lower-cased name is ``nsg``."""
        bindings = self.by_nsg[nsg]
        with self._lock:
            by_target = self._wanted_by_target
        wanted: set[RuleKey] = set()
        for binding in bindings:
            wanted |= by_target.get(binding.target, frozenset())
        return NsgLayout(
            nsg=bindings[0].nsg,
            where=self._where(bindings[0].nsg),
            owners=self.owners,
            band=self.config.priority_band,
            bindings=bindings,
            wanted=frozenset(wanted),
            asg_names=self.asg_names,
            origins=self.origins,
            adopt_legacy=self.settings.adopt_legacy,
        )

    def _nsg_of(self, target: str) -> str:
        binding = self.by_target.get(target)
        if binding is None:
            raise ValueError(f"{target!r} is not a target of cluster {self.cluster.name}")
        return binding.nsg.lower()

    @staticmethod
    def _rules(nsg: dict[str, Any]) -> list[dict[str, Any]]:
        return list((nsg.get("properties") or {}).get("securityRules") or [])

    # ------------------------------------------------------------------ Provider protocol

    def targets(self) -> list[Target]:
        """One target per role: the NSG name, or ``<nsg>/<role>`` when roles share an NSG."""
        return [
            Target(id=b.target, role=role, label=f"{b.nsg} ({role})")
            for role, b in self.bindings.items()
        ]

    def managing_tool(self, target: Target, live: Sequence[TargetRule]) -> ManagingTool | None:
        """CAPZ or AKS, recognised by the NSG's name."""
        binding = self.bindings.get(target.role)
        return tools.managing_tool(binding.nsg) if binding is not None else None

    def translate(self, rules: RuleSet, sources: Sources) -> list[TargetRule]:
        """Neutral rules → rules on NSGs (peer side resolved, role side in ``extra``).

        Raises:
            TranslationError: a rule needs a missing source or binding, or no peer of the role's
                IP families.
        """
        wanted = translate.translate_rules(
            rules,
            cluster=self.cluster.name,
            bindings=self.bindings,
            sources_all=sources.all,
            pod_ranges=self.config.pod_ranges,
        )
        by_target: dict[str, set[RuleKey]] = {}
        for rule in wanted:
            by_target.setdefault(rule.target, set()).add(rule.key)
        with self._lock:
            self._wanted = frozenset(r.key for r in wanted)
            self._wanted_by_target = {t: frozenset(k) for t, k in by_target.items()}
        return wanted

    def fetch(self, targets: Sequence[Target]) -> dict[str, list[TargetRule]]:
        """Live rules of ``targets``: one paged ``networkSecurityGroups.list`` of the resource
        group (rules and etags inline, never a GET per NSG). The raw NSGs are kept for apply.

        Raises:
            NotFoundError: a bound NSG does not exist in the resource group.
            ProviderError: or another subclass, when ARM refuses.
        """
        wanted_nsgs = {self._nsg_of(t.id) for t in targets}
        found: dict[str, dict[str, Any]] = {}
        out: dict[str, list[TargetRule]] = {}
        # Deny rules are returned for explain and lifelines, and kept out of what apply sees.
        denied: dict[str, list[TargetRule]] = {}
        pages: Iterable[list[dict[str, Any]]]
        if self._read_key is None:
            pages = self.adapter.nsg_pages()
        else:
            pages = self.settings.reads.get(self._read_key, lambda: list(self.adapter.nsg_pages()))
        # Each page of NSGs is expanded as it arrives, while the next one is on its way.
        for page in pages:
            for body in page:
                nsg = str(body.get("name") or "").lower()
                found[nsg] = body
                if nsg in wanted_nsgs:
                    out.update(self._layout(nsg).live(self._rules(body)))
                    denied.update(self._layout(nsg).live(self._rules(body), denied=True))
        missing = sorted(
            f"{b.nsg} (role {b.role})"
            for b in self.bindings.values()
            if b.nsg.lower() in wanted_nsgs and b.nsg.lower() not in found
        )
        if missing:
            raise NotFoundError(
                f"{self._where()}: network security group {', '.join(missing)} does not exist "
                f"in subscription {self.config.subscription_id}",
                hint="check the nsg names, resource_group and subscription_id in the config",
            )
        raw = {nsg: found[nsg] for nsg in wanted_nsgs}
        with self._lock:
            self._raw = {**(self._raw or {}), **raw}
            self._round = _Round([t.id for t in targets])
        result = {t.id: out.get(t.id, []) for t in targets}
        with self._lock:
            if self._round is not None:
                self._round.live = dict(result)
        return {t: [*rules, *denied.get(t, [])] for t, rules in result.items()}

    def check_limits(self, target: Target, final: Sequence[TargetRule]) -> None:
        """Refuse, at plan time, a final state Azure would refuse or portsync could not write.

        Once every target of an NSG has been checked, the NSG's write is composed dry: it fails
        when ``priority_band`` has too few free priorities in a direction (priorities of rules
        portsync does not own are never reused), when the NSG would hold more than 1,000 rules,
        or when mode exclusive would remove only part of an unmanaged rule.

        Raises:
            ProviderLimitError: naming the NSG, the band or limit, and how much is missing.
        """
        nsg = self._nsg_of(target.id)
        layout = self._layout(nsg)
        with self._lock:
            state, raw = self._round, (self._raw or {}).get(nsg)
            if state is None or raw is None or target.id not in state.fetched:
                return
            state.finals[target.id] = list(final)
            members = [b.target for b in layout.bindings if b.target in state.fetched]
            if any(t not in state.finals for t in members):
                return
            finals = {t: state.finals.pop(t) for t in members}
            unchanged = all(untouched(after, state.live.get(t)) for t, after in finals.items())
        if unchanged:
            return  # the plan leaves this NSG exactly as it is: nothing to place or count
        rules = self._rules(raw)
        live = layout.live(rules)
        changes = []
        for t, rules_after in finals.items():
            kept = {(r.key, r.native_id) for r in rules_after}
            changes.append(
                Change(
                    t,
                    adds=tuple(r for r in rules_after if r.native_id is None),
                    removes=tuple(r for r in live[t] if (r.key, r.native_id) not in kept),
                )
            )
        translate.compose(rules, changes, layout)

    def check_offline(self, desired: Mapping[str, Sequence[TargetRule]]) -> None:
        """``portsync validate``: each NSG's rules composed as if it were empty (priorities in
        ``priority_band``, at most 1,000 rules), no cloud read. Call after :meth:`translate`.

        Raises:
            ProviderLimitError: naming the NSG, the band or limit, and how much is missing.
        """
        for nsg in self.by_nsg:
            layout = self._layout(nsg)
            changes = [
                Change(b.target, adds=tuple(desired.get(b.target, ()))) for b in layout.bindings
            ]
            translate.compose([], changes, layout)

    def prepare_apply(self, groups: Sequence[GroupOps]) -> None:
        """Note which targets share an NSG (their changes go into one PUT) and make sure the raw
        NSGs are at hand (plan normally read them already)."""
        with self._lock:
            self._pending = {}
            self._done = {}
            for group in groups:
                self._pending.setdefault(self._nsg_of(group.target), []).append(group)
            missing = self._raw is None or any(n not in self._raw for n in self._pending)
        if groups and missing:
            self.fetch(self.targets())

    def apply(self, ops: GroupOps) -> None:
        """Write the target's NSG once: its complete rule list, with ``If-Match: <etag>``.

        Changes of every pending target of the same NSG go into that one PUT (the later
        ``apply`` calls for them return at once). Writes to one NSG are serialised; different
        NSGs are written in parallel, at most ``max_workers`` at a time. On 412 the NSG is read
        again and the change composed again, up to five times.

        Raises:
            ProviderError: or a subclass; the NSG is left as it was, or as written, and the next
                run converges.
        """
        nsg = self._nsg_of(ops.target)
        with self._lock:
            lock = self._nsg_locks.setdefault(nsg, threading.Lock())
        with lock:
            with self._lock:
                if ops.target in self._done:
                    failure = self._done.pop(ops.target)
                    batch = None
                else:
                    others = [g for g in self._pending.pop(nsg, []) if g.target != ops.target]
                    batch = [ops, *others]
            if batch is None:
                if failure is not None:
                    where = self._where(self.by_target[ops.target].nsg)
                    raise ProviderError(
                        f"{where}: the changes for {ops.label or ops.target} were not written; "
                        f"the NSG's one write, shared with other roles, failed: {failure}",
                    ) from failure
                return
            try:
                self._write(nsg, batch)
            except PortsyncError as exc:
                with self._lock:
                    self._done.update({g.target: exc for g in batch[1:]})
                raise
            with self._lock:
                self._done.update({g.target: None for g in batch[1:]})

    # ------------------------------------------------------------------ apply helpers

    def _raw_nsg(self, nsg: str) -> dict[str, Any]:
        with self._lock:
            raw = (self._raw or {}).get(nsg)
        if raw is None:
            self.fetch([t for t in self.targets() if self._nsg_of(t.id) == nsg])
            with self._lock:
                raw = (self._raw or {})[nsg]
        return raw

    def _write(self, nsg: str, batch: Sequence[GroupOps]) -> None:
        layout = self._layout(nsg)
        changes = [
            Change(
                g.target,
                adds=tuple(op.rule for op in g.adds),
                removes=tuple(op.rule for op in g.removes),
                updates=tuple((op.before, op.after) for op in g.updates),
            )
            for g in batch
        ]
        raw = self._raw_nsg(nsg)
        with self._writes:
            for attempt in range(1, PRECONDITION_RETRIES + 1):
                rules = translate.compose(self._rules(raw), changes, layout)
                if rules is None:
                    log.info("%s already as wanted; nothing to write", layout.where)
                    return
                name = str(raw.get("name") or layout.nsg)
                body = translate.nsg_body(raw, rules)
                try:
                    written = self.adapter.put_nsg(name, body, etag=str(raw.get("etag") or "*"))
                except ConflictError as exc:
                    if not is_precondition_failed(exc):
                        raise
                    log.info(
                        "%s changed since it was read (412, attempt %d of %d); reading it again",
                        layout.where,
                        attempt,
                        PRECONDITION_RETRIES,
                    )
                    raw = self.adapter.get_nsg(name)
                    with self._lock:
                        self._raw = {**(self._raw or {}), nsg: raw}
                    continue
                with self._lock:
                    self._raw = {**(self._raw or {}), nsg: written}
                return
        raise ConflictError(
            f"{layout.where}: the NSG changed under portsync on each of {PRECONDITION_RETRIES} "
            "attempts to write it (412 PreconditionFailed every time)",
            hint="another writer keeps changing this NSG; stop it or run apply again later",
        )
