"""The GCP provider: roles bound to network tags or service accounts, read and written as VPC
firewall rules through google-cloud-compute.

It works in the three verbs of docs/architecture.md, "The provider contract", and keeps nothing
between them:

- :meth:`GcpProvider.read`: one paginated ``firewalls.list`` (filtered to the network unless
  ``firewall_quota`` makes portsync count the whole project) into an immutable
  :class:`~portsync.writes.Snapshot` whose ``native`` part is a :class:`.Listing`;
- :meth:`GcpProvider.compile`: pure (:func:`.translate.compile_writes`): each changed target's
  final rules packed into firewalls and diffed against the listed ones, every limit checked, and
  the exact ``firewalls.insert``/``patch``/``update``/``delete`` calls returned;
- :meth:`GcpProvider.execute`: one of those calls, retried and paced, waited for.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from portsync.config import Cidr, ClusterConfig, Sources
from portsync.discover import ScopeKey
from portsync.errors import (
    ConflictError,
    NotFoundError,
    ProviderError,
    ProviderLimitError,
)
from portsync.membership import Memberships, check_listed
from portsync.model import Endpoint, RuleSet, TargetRule
from portsync.ops import GroupOps
from portsync.owners import named_owners
from portsync.peers import CloudSyntax
from portsync.provider import LazyClient, Settings, Target
from portsync.tools import ManagingTool
from portsync.writes import Snapshot, Write

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
from .peers import SERVICE_ACCOUNT, SYNTAX, TAG
from .translate import Listing, Writer

__all__ = ["GcpClusterConfig", "GcpProvider", "GcpRoleBinding"]

log = logging.getLogger(__name__)

_RFC1035 = r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$"
_PREFIX = rf"^[a-z](?:[-a-z0-9]{{0,{MAX_NAME_PREFIX_LENGTH - 2}}}[a-z0-9])?$"
_EMAIL = r"^[^@\s:]+@[^@\s:]+\.[^@\s:]+$"
_PROJECT = r"^(?:[a-z][-a-z0-9.]*[a-z0-9]:)?[a-z][-a-z0-9]{4,28}[a-z0-9]$"


class GcpRoleBinding(BaseModel):
    """A role's firewall target: a network tag, every network tag its machines carry (and the
    one written to), or a service account; exactly one of the three."""

    model_config = ConfigDict(extra="forbid")
    target_tag: str | None = Field(default=None, pattern=_RFC1035)
    #: Every network tag the role's machines carry; firewalls are written for ``write_to``
    #: (default: the first), the others are read for coverage, explain and audit.
    target_tags: list[Annotated[str, Field(pattern=_RFC1035)]] | None = None
    write_to: str | None = Field(default=None, pattern=_RFC1035)
    service_account: str | None = Field(default=None, pattern=_EMAIL)

    @model_validator(mode="after")
    def _exactly_one(self) -> GcpRoleBinding:
        given = [v is not None for v in (self.target_tag, self.target_tags, self.service_account)]
        if sum(given) != 1:
            raise ValueError(
                "give exactly one of target_tag (one network tag), target_tags (every network "
                "tag the role's machines carry, with an optional write_to) or service_account"
            )
        check_listed(
            "target_tags",
            self.target_tags,
            self.write_to,
            noun="network tag",
            plural="network tags",
        )
        return self

    @property
    def endpoint(self) -> Endpoint:
        """The binding as an endpoint (``tag:…`` or ``sa:…``): the one firewalls are written
        for."""
        if self.target_tag is not None:
            return Endpoint(TAG, self.target_tag)
        if self.target_tags is not None:
            return Endpoint(TAG, self.write_to or self.target_tags[0])
        return Endpoint(SERVICE_ACCOUNT, str(self.service_account))

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        """Every tag (or the service account) of the role's machines, the written one first."""
        written = self.endpoint
        others = [Endpoint(TAG, t) for t in self.target_tags or () if t != written.value]
        return (written, *others)


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
        # Roles may share a tag their machines carry, but never the one written to: the
        # firewalls of both would apply to every machine of either.
        seen: dict[str, str] = {}
        for role, binding in value.items():
            key = str(binding.endpoint)
            if key in seen:
                raise ValueError(
                    f"roles {seen[key]!r} and {role!r} both write to {key}; bind each role "
                    "to its own network tag or service account to write to (write_to), and "
                    "list shared tags under target_tags"
                )
            seen[key] = role
        return value

    def roles_by_target(self) -> dict[str, str]:
        """Every bound target id (``tag:…``, ``sa:…``) → its role: the written targets, then
        each role's other tags (a tag two roles carry reads as the first one's)."""
        out: dict[str, str] = {}
        others: list[tuple[str, tuple[Endpoint, ...]]] = []
        for role, binding in self.roles.items():
            # Each binding's endpoints made once: a config binds hundreds of roles.
            written, *rest = binding.endpoints
            out[str(written)] = role
            if rest:
                others.append((role, tuple(rest)))
        for role, endpoints in others:
            for endpoint in endpoints:
                out.setdefault(str(endpoint), role)
        return out


def _read_scope(config: GcpClusterConfig) -> tuple[str, ...]:
    """What one firewalls.list serves: the project, the client, and the network filter (none
    when ``firewall_quota`` makes portsync count every network)."""
    listed = "*" if config.firewall_quota is not None else config.network
    return ("gcp", config.project, config.endpoint or "", config.credentials, listed)


def make_writer(
    cluster: ClusterConfig,
    settings: Settings,
    config: GcpClusterConfig | None = None,
    roles_by_target: Mapping[str, str] | None = None,
) -> Writer:
    """The :class:`.Writer` of a GCP cluster, from its config alone (``config``: its settings
    already validated, so they are not validated again; ``roles_by_target``: its
    :meth:`GcpClusterConfig.roles_by_target`, when already worked out).

    Raises:
        ConfigError: two owners of the run share a name hash.
    """
    if config is None:
        config = GcpClusterConfig.model_validate(cluster.settings)
    return Writer(
        cluster=cluster.name,
        project=config.project,
        network_name=config.network,
        network=translate.network_url(config.project, config.network),
        owners=named_owners(cluster, settings, config.name_prefix),
        # Read-only tags too: their firewalls are read as the role's (coverage, explain, audit).
        roles_by_target=config.roles_by_target() if roles_by_target is None else roles_by_target,
        priority=config.priority,
        firewall_quota=config.firewall_quota,
        adopt_legacy=settings.adopt_legacy,
        additive=settings.mode == "additive",
    )


class GcpProvider:
    """GCP VPC firewall rules (see docs/providers/gcp.md)."""

    name: ClassVar[str] = "gcp"
    config_model: ClassVar[type[BaseModel]] = GcpClusterConfig
    #: Its native peers, endpoint kinds and description marker, for the core.
    syntax: ClassVar[CloudSyntax] = SYNTAX
    #: The cluster entry ``portsync init`` shows as an example (YAML).
    init_example: ClassVar[str] = """\
- name: prod-gcp
  provider: gcp
  project: my-project
  network: default
  roles:
    control-plane: {target_tag: prod-control-plane}
    worker: {target_tag: prod-node}
"""
    limits: ClassVar[dict[str, int]] = LIMITS
    demo: ClassVar[str] = "portsync.providers.gcp.demo:GcpDemo"
    discover: ClassVar[str] = "portsync.providers.gcp.discover:discover"
    #: What ``portsync init --discover gcp`` takes (``--project``).
    discover_scope: ClassVar[tuple[ScopeKey, ...]] = (
        ScopeKey(name="project", help="GCP project to read", metavar="PROJECT", required=True),
    )
    #: What ``Write.removes`` counts (for ``--max-deletes``).
    removes_unit: ClassVar[str] = "firewalls"

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
        self.roles_by_target = self.config.roles_by_target()
        self.prefix = self.config.name_prefix
        self.writer = make_writer(cluster, settings, self.config, self.roles_by_target)
        self.owners = self.writer.owners
        #: Every firewall this owner writes is named ``<name_prefix>-<owner hash>-…``.
        self.stem = self.owners.stem
        self.network = self.writer.network
        self._clients = (firewalls_client, operations_client)
        self._client = LazyClient(self._make_adapter)
        #: What one read serves: clusters with equal scopes are read (once a round, by the
        #: session) and compiled together.
        self.read_scope: tuple[str, ...] = _read_scope(self.config)
        # Made once with the provider, however often a plan asks for them.
        self._targets = tuple(
            Target(id=str(ep), role=role, label=f"{ep.value} ({role})")
            for role, ep in self.bindings.items()
        )

    # ------------------------------------------------------------------ plumbing

    @property
    def adapter(self) -> Any:
        """The Compute adapter, created on first use (imports google-cloud-compute only then)."""
        return self._client.get()

    def _make_adapter(self) -> Any:
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
        return GcpAdapter(
            firewalls,
            operations,
            project=self.config.project,
            read_bucket=limiters.get((*scope, "read"), rate=READ_BUCKET[1], burst=READ_BUCKET[0]),
            write_bucket=limiters.get(
                (*scope, "write"), rate=WRITE_BUCKET[1], burst=WRITE_BUCKET[0]
            ),
            connect_timeout=self.cluster.timeout.connect,
            read_timeout=self.cluster.timeout.read,
            cluster=self.cluster.name,
            endpoint=self.config.endpoint,
            control=self.settings.control,
        )

    def _where(self) -> str:
        return self.writer.where

    def _writer_for(self, name: str) -> Writer:
        """The writer of cluster ``name``: this one, or a GCP sibling of the run's fleet (its
        provider's, when the session has one)."""
        if name == self.cluster.name:
            return self.writer
        provider_of = self.settings.provider_of
        if provider_of is not None:
            other = provider_of(name)
            if isinstance(other, GcpProvider):
                return other.writer
        for cluster in self.settings.fleet:
            if cluster.name == name and cluster.provider == self.name:
                return make_writer(cluster, self.settings)
        raise ProviderError(f"{self._where()}: no GCP cluster named {name} in this run")

    # ------------------------------------------------------------------ Provider protocol

    def targets(self) -> list[Target]:
        """One target per role: ``tag:<tag>`` or ``sa:<email>``."""
        return list(self._targets)

    def memberships(self) -> Memberships:
        """The other network tags each role's machines carry (read only)."""
        also: dict[str, tuple[Target, ...]] = {}
        members: dict[Endpoint, frozenset[Endpoint]] = {}
        for role, binding in self.config.roles.items():
            written, *others = binding.endpoints
            if not others:
                continue
            also[str(written)] = tuple(
                Target(
                    id=str(ep),
                    role=self.roles_by_target[str(ep)],
                    label=f"{ep.value} ({role}, read only)",
                )
                for ep in others
            )
            members[written] = frozenset(others)
        return Memberships(also=also, members=members)

    def managing_tool(
        self, target: Target, live: Snapshot | Sequence[TargetRule]
    ) -> ManagingTool | None:
        """CAPG, for a CAPG role tag its own firewalls target (from a snapshot, or the target's
        live rules)."""
        tag = target.id[len("tag:") :]
        # Most tags are not CAPG's: their rules are not looked up.
        if not target.id.startswith("tag:") or not tools.is_capg_tag(tag):
            return None
        rules = live.live(target.id) if isinstance(live, Snapshot) else live
        return tools.managing_tool(tag, rules)

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

    def read(self, targets: Sequence[Target]) -> Snapshot:
        """The live state of ``targets``: one paginated ``firewalls.list`` for the whole project.

        ``targets`` may belong to several clusters of this read scope (``Target.cluster``; empty
        for this one): each firewall is read as the cluster that binds the target, so ownership
        is that cluster's. The list is filtered to the network; with ``firewall_quota`` set it is
        not (the quota counts every network) and the network is picked out here. The snapshot's
        ``native`` part is the :class:`.translate.Listing` that :meth:`compile` works from; its
        ``quotas`` hold ``firewalls``, the count the quota is checked against.

        Raises:
            ProviderError: or a subclass, when the API refuses.
        """
        from .convert import Converted, targets_of_message, view_of_message

        everywhere = self.config.firewall_quota is not None
        list_filter = None if everywhere else f'network = "{self.network}"'
        # Each firewall as its raw message: expanded from its fields, converted whole only when
        # a write needs it (a plan that changes nothing converts none).
        pages: Iterable[list[Any]] = self.adapter.firewall_messages(filter=list_filter)
        wanted: dict[str, set[str]] = {}
        for target in targets:
            # Target.cluster names the binding cluster once the engine reads whole scopes.
            cluster = getattr(target, "cluster", "") or self.cluster.name
            wanted.setdefault(cluster, set()).add(target.id)
        # Per reader: its writer, the targets asked for, and whether those are all it binds
        # (then every rule it expands is wanted).
        readers = [
            (writer, ids, ids.issuperset(writer.roles_by_target))
            for writer, ids in ((self._writer_for(name), ids) for name, ids in wanted.items())
        ]
        # What many firewalls repeat (entries, purposes, peers) is worked out once this read.
        memo = translate.ReadMemo()
        listed: list[tuple[str, list[str]]] = []
        messages: dict[str, Any] = {}
        expanded: dict[str, list[TargetRule]] = {}
        denied: dict[str, list[TargetRule]] = {}
        count = 0
        # Each page is expanded as it arrives, while the next one is on its way.
        for page in pages:
            count += len(page)
            for message in page:
                named = targets_of_message(message)
                view = None
                found: list[TargetRule] = []
                for writer, ids, every in readers:
                    # A firewall none of the reader's targets has is not looked at further.
                    if not writer.binds(named):
                        continue
                    if view is None:
                        view = view_of_message(message, named)
                    if everywhere and not writer.has_network(view.network):
                        continue
                    rules = writer.expand_view(view, memo)
                    if not every:
                        rules = [r for r in rules if r.target in ids]
                    if found:
                        found += rules
                    else:
                        found = rules
                if view is None:
                    name = message.name
                else:
                    name = view.name
                    if found:
                        (denied if view.shape.denying else expanded)[name] = found
                listed.append((name, named))
                messages[name] = message
        live: dict[str, list[TargetRule]] = {t.id: [] for t in targets}
        # Allow rules first, then the rules of denying firewalls: read for the evaluator that
        # explain and lifelines share, kept out of the diff by the engine, never written.
        for found_by_name in (expanded, denied):
            for name in sorted(found_by_name):
                for rule in found_by_name[name]:
                    live[rule.target].append(rule)
        return Snapshot(
            provider=self.name,
            rules={target: tuple(found) for target, found in live.items()},
            native=translate.listing_of(
                listed, Converted(messages), count=count, one_network=not everywhere
            ),
            quotas={"firewalls": count},
        )

    def compile(self, groups: Sequence[GroupOps], snapshot: Snapshot) -> tuple[Write, ...]:
        """The writes that carry out ``groups`` (of every cluster sharing ``snapshot``), in
        execution order; pure (see :func:`.translate.compile_writes`).

        Raises:
            ProviderLimitError: a write would break a GCP limit or the project's quota.
            ConflictError: a firewall name portsync wants belongs to someone else.
        """
        writers = {g.cluster: self._writer_for(g.cluster) for g in groups if g.ops}
        return translate.compile_writes(groups, self._listing(snapshot), writers)

    def execute(self, write: Write) -> None:
        """Send one write: one Compute call, retried and paced, and wait for its operation.

        An insert that finds its firewall already there as wanted (another run of the same
        plan got there first) and a delete that finds it gone are done; nothing else is
        compared.

        Raises:
            ProviderError: or a subclass, when the call fails for good.
        """
        name, body = write.target, dict(write.body)
        if write.api != translate.API:
            raise ProviderError(f"{self._where()}: unknown GCP write api {write.api!r}")
        if write.method == "insert":
            self._insert(name, body)
        elif write.method == "patch":
            self.adapter.patch(name, body)
        elif write.method == "update":
            self.adapter.update(name, body)
        elif write.method == "delete":
            try:
                self.adapter.delete(name)
            except NotFoundError:
                log.info("firewall %s was already deleted", name)
        else:
            raise ProviderError(f"{self._where()}: unknown GCP write method {write.method!r}")

    def _insert(self, name: str, body: Mapping[str, Any]) -> None:
        try:
            self.adapter.insert(body)
            return
        except ConflictError:
            pass
        existing = self.adapter.get_firewall(name)
        if existing is None:
            self.adapter.insert(body)
            return
        if translate.canonical(existing) == translate.canonical(body):
            log.info("firewall %s already exists as wanted", name)
            return
        raise ConflictError(
            f"{self._where()}: firewall {name} was created by someone else since the plan",
            hint="run `portsync plan` again and review the new plan",
        )

    @staticmethod
    def _listing(snapshot: Snapshot) -> Listing:
        native = snapshot.native
        if not isinstance(native, Listing):
            raise ProviderError("a GCP compile needs a snapshot read by the GCP provider")
        return native

    def check_offline(self, desired: Mapping[str, Sequence[TargetRule]]) -> None:
        """``portsync validate``: the desired rules packed into firewalls as on an empty network,
        checked against GCP's limits (names, descriptions, ``firewall_quota``), no cloud read.

        Raises:
            ProviderLimitError: naming the target and the limit.
        """
        total = 0
        for target in self.targets():
            owned = [r for r in desired.get(target.id, ()) if r.owned]
            packed = translate.pack(
                owned, prefix=self.stem, network=self.network, default_priority=self.config.priority
            )
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
