"""The Azure provider: roles bound to network security groups, read and written through
azure-mgmt-network, in the three verbs of the provider contract (docs/architecture.md).

* ``read``: one paged ``networkSecurityGroups.list`` of the resource group (rules, default rules
  and etags come inline) → an immutable :class:`~portsync.writes.Snapshot`
  (:mod:`.snapshot`).
* ``compile``: pure (:func:`.translate.compile_writes`): every change to one NSG, of every role
  and cluster sharing the read, becomes one PUT of the NSG's complete rule list with
  ``If-Match: <the etag read>``; unmanaged rules go back exactly as read, priorities are
  allocated inside ``priority_band`` and every limit is checked. One PUT is atomic, so there is
  never a moment with a wanted rule missing.
* ``execute``: that PUT, paced and retried on throttling and busy NSGs; a 412 means the NSG
  changed since it was read, and is reported as a conflict: plan again.

The provider keeps nothing between verbs.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from portsync.config import Cidr as StrictCidr
from portsync.config import ClusterConfig, Sources
from portsync.discover import ScopeKey
from portsync.errors import ConflictError, GuardrailError, NotFoundError, ProviderError
from portsync.evaluate import admits
from portsync.membership import Memberships, check_listed
from portsync.model import (
    Direction,
    Endpoint,
    EndpointKind,
    RuleSet,
    TargetRule,
    canonical_cidr,
)
from portsync.ops import GroupOps
from portsync.owners import named_owners
from portsync.peers import CloudSyntax
from portsync.provider import LazyClient, Settings, Target
from portsync.tools import ManagingTool
from portsync.writes import Snapshot, Write

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
from .peers import ASG, SERVICE_TAG, SYNTAX
from .snapshot import NsgReader
from .translate import Binding, Change, ClusterLayout, Machines

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

_NSG_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.Network/networkSecurityGroups/(?P<name>[^/]+)$",
    re.IGNORECASE,
)

Cidr = Annotated[str, AfterValidator(canonical_cidr)]


def _check_asg(value: str) -> str:
    if not _ASG_ID.match(value):
        raise ValueError(
            "an application security group is a resource id like /subscriptions/<sub>/"
            "resourceGroups/<rg>/providers/Microsoft.Network/applicationSecurityGroups/<name>"
        )
    return value


AsgId = Annotated[str, AfterValidator(_check_asg)]
NsgName = Annotated[str, Field(pattern=_NAME)]


class AzureRoleBinding(BaseModel):
    """A role's NSG and its side of the rules: address prefixes, an ASG, or every ASG the role's
    machines are in (and the one written to); exactly one of the three."""

    model_config = ConfigDict(extra="forbid")
    #: The NSG portsync writes the role's rules to (default: the first of ``nsgs``).
    nsg: str | None = Field(default=None, pattern=_NAME)
    #: Every NSG on the path of the role's machines (the subnet's and the NICs'); Azure lets a
    #: flow through only when each of them allows it. The ones besides ``nsg`` are read only.
    nsgs: list[NsgName] | None = None
    address_prefixes: list[Cidr] | None = None
    asg: AsgId | None = None
    #: Every application security group the role's machines are in; rules are written with
    #: ``write_to`` (default: the first) as their destination, the rules of the NSG naming the
    #: others are read for coverage, explain and audit.
    asgs: list[AsgId] | None = None
    write_to: AsgId | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> AzureRoleBinding:
        if self.nsg is None and self.nsgs is None:
            raise ValueError(
                "give nsg (the role's network security group) or nsgs (every network security "
                "group on the path of the role's machines, e.g. the subnet's and the NICs')"
            )
        check_listed(
            "nsgs",
            self.nsgs,
            self.nsg if self.nsgs is not None else None,
            noun="network security group",
            plural="network security groups",
            fold_case=True,
            write_key="nsg",
        )
        if self.nsg is None and self.nsgs:
            self.nsg = self.nsgs[0]
        given = [v is not None for v in (self.address_prefixes, self.asg, self.asgs)]
        if sum(given) != 1:
            raise ValueError(
                "give exactly one of address_prefixes, asg (one application security group) or "
                "asgs (every application security group the role's machines are in, with an "
                "optional write_to)"
            )
        if self.address_prefixes is not None:
            if not self.address_prefixes:
                raise ValueError("address_prefixes needs at least one CIDR")
            self.address_prefixes = sorted(
                dict.fromkeys(self.address_prefixes), key=lambda p: (":" in p, p)
            )
        check_listed(
            "asgs",
            self.asgs,
            self.write_to,
            noun="application security group",
            plural="application security groups",
            fold_case=True,
        )
        return self

    @property
    def written_asg(self) -> str | None:
        """The ASG rules are written for (as spelled in ``asgs``), or None for prefixes."""
        if self.asgs is None:
            return self.asg
        if self.write_to is None:
            return self.asgs[0]
        return next(a for a in self.asgs if a.lower() == self.write_to.lower())

    @property
    def written_nsg(self) -> str:
        """The NSG the role's rules are written to."""
        return self.nsg or (self.nsgs or [""])[0]

    @property
    def path_nsgs(self) -> tuple[str, ...]:
        """The other NSGs on the path of the role's machines (read only)."""
        written = self.written_nsg.lower()
        return tuple(n for n in self.nsgs or () if n.lower() != written)

    @property
    def other_asgs(self) -> tuple[str, ...]:
        """The role's ASGs besides the one written for (read only)."""
        written = (self.written_asg or "").lower()
        return tuple(a for a in self.asgs or () if a.lower() != written)


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
            by_nsg.setdefault(binding.written_nsg.lower(), []).append((role, binding))
        for shared in by_nsg.values():
            if len(shared) < 2:
                continue
            seen: dict[str, str] = {}
            for role, binding in shared:
                written = binding.written_asg
                items = [written.lower()] if written else list(binding.address_prefixes or ())
                for item in items:
                    if item in seen:
                        raise ValueError(
                            f"roles {seen[item]!r} and {role!r} share NSG {binding.written_nsg} and both "
                            f"write to {item}; roles sharing an NSG need distinct "
                            "address_prefixes or asg to write to (write_to), so that portsync "
                            "can tell their rules apart; list shared ASGs under asgs"
                        )
                    seen[item] = role
        return value


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


def cluster_layout(
    cluster: ClusterConfig, settings: Settings, config: AzureClusterConfig | None = None
) -> ClusterLayout:
    """The layout of an Azure cluster: its bindings (a target per role: the NSG name, or
    ``<nsg>/<role>`` when roles share an NSG), owner and band (``config``: the cluster's
    settings already validated, so they are not validated again).

    Raises:
        pydantic.ValidationError: the cluster's settings are not a valid Azure config.
        ConfigError: two owners of the run share a name hash.
    """
    if config is None:
        config = AzureClusterConfig.model_validate(cluster.settings)
    shared: dict[str, int] = {}
    for spec in config.roles.values():
        shared[spec.written_nsg.lower()] = shared.get(spec.written_nsg.lower(), 0) + 1
    bindings = tuple(
        Binding(
            role=role,
            nsg=spec.written_nsg,
            target=spec.written_nsg
            if shared[spec.written_nsg.lower()] == 1
            else f"{spec.written_nsg}/{role}",
            prefixes=tuple(spec.address_prefixes or ()),
            asg=spec.written_asg,
        )
        for role, spec in config.roles.items()
    )
    return ClusterLayout(
        cluster=cluster.name,
        resource_group=config.resource_group,
        # Every rule this owner writes is named ``<name_prefix>-<owner hash>-…``.
        owners=named_owners(cluster, settings, config.name_prefix, fold_case=True),
        band=config.priority_band,
        bindings=bindings,
        adopt_legacy=settings.adopt_legacy,
        readonly=_readonly_bindings(config, bindings),
        paths=tuple(
            (role, spec.path_nsgs) for role, spec in config.roles.items() if spec.path_nsgs
        ),
        machines=tuple(
            Machines(
                role,
                tuple(spec.address_prefixes or ()),
                tuple(spec.asgs or ([spec.asg] if spec.asg else [])),
                complete=spec.asgs is not None,
            )
            for role, spec in config.roles.items()
        ),
    )


def _readonly_bindings(
    config: AzureClusterConfig, bindings: Sequence[Binding]
) -> tuple[Binding, ...]:
    """One read-only binding per (NSG, ASG) that a role lists besides its written one and no
    role of that NSG writes to: the rules of the NSG naming that ASG as their role side.

    Its target is ``<nsg>/asg:<name>`` (the full ASG id when two such ASGs share a name).
    """
    written = {(b.nsg.lower(), b.asg.lower()) for b in bindings if b.asg}
    wanted: dict[tuple[str, str], tuple[str, str, str]] = {}
    for role, spec in config.roles.items():
        for asg in spec.other_asgs:
            key = (spec.written_nsg.lower(), asg.lower())
            if key not in written:
                wanted.setdefault(key, (role, spec.written_nsg, asg))
    names: dict[tuple[str, str], int] = {}
    for nsg, asg in wanted:
        short = (nsg, asg.rsplit("/", 1)[-1])
        names[short] = names.get(short, 0) + 1  # keys are lower-cased already
    out = []
    for (nsg_key, _asg), (role, nsg, asg) in wanted.items():
        name = asg.rsplit("/", 1)[-1]
        label = name if names[(nsg_key, name.lower())] == 1 else asg
        out.append(Binding(role=role, nsg=nsg, target=f"{nsg}/asg:{label}", asg=asg))
    return tuple(out)


def _vnet_holds(layout: ClusterLayout, endpoint: Endpoint, rule: TargetRule) -> str | None:
    """Why ``rule``'s peer, the ``VirtualNetwork`` tag, holds ``endpoint`` (a role's ASG or
    addresses within a role's prefixes: the machines of roles bound to NSGs are in the virtual
    network), or None."""
    peer = rule.peer
    if peer.kind is not SERVICE_TAG or peer.value.lower() != "virtualnetwork":
        return None
    role = _role_holding(layout, endpoint)
    if role is None:
        return None
    held = f"the machines of role {role} are in the virtual network"
    if AzureProvider.is_cloud_default(rule):
        return f"Azure's default rule {rule.native_id} admits the virtual network; {held}"
    return held


def _role_holding(layout: ClusterLayout, endpoint: Endpoint) -> str | None:
    for binding in (*layout.bindings, *layout.readonly):
        if endpoint.kind is ASG:
            if binding.asg is not None and binding.asg.lower() == endpoint.value.lower():
                return binding.role
            continue
        if endpoint.kind is not EndpointKind.CIDR:
            return None
        network = ipaddress.ip_network(endpoint.value)
        for prefix in binding.prefixes:
            held = ipaddress.ip_network(prefix)
            if held.version == network.version and network.subnet_of(held):  # type: ignore[arg-type]
                return binding.role
    return None


def _flow_text(rule: TargetRule) -> str:
    side = "from" if rule.direction is Direction.INGRESS else "to"
    return f"{rule.direction.value} {rule.protocol.value} {rule.ports_text} {side} {rule.peer}"


def _path_problems(
    layout: ClusterLayout,
    group: GroupOps,
    flows: Sequence[tuple[TargetRule, str]],
    native: Mapping[str, translate.RawNsg],
) -> list[str]:
    """Each of ``flows`` (a wanted rule of ``group``'s target, and how the plan holds it open:
    ``would be written to NSG …``, ``is satisfied by …``) that another NSG on the path of the
    role's machines does not let through, with that NSG."""
    paths = layout.path_nsgs(group.role)
    if not paths or not flows:
        return []
    problems: list[str] = []
    contains = partial(_vnet_holds, layout)
    for nsg in paths:
        raw = native.get(nsg.lower())
        if raw is None:
            continue  # the read refused a missing NSG already
        path = layout.path_layout(group.role, nsg)
        rules = translate.path_rules(path, raw)
        target = path.bindings[0].target
        for flow, how in flows:
            if not admits(flow.replace(target=target), rules, contains=contains):
                problems.append(
                    f"role {group.role}: {_flow_text(flow)} {how}, but NSG {nsg}, also on the "
                    "path of the role's machines, does not let it through"
                )
    return problems


def _refuse_paths(layout: ClusterLayout, problems: Sequence[str]) -> None:
    """Raise the refusal for ``problems`` (:func:`_path_problems`), if any.

    Raises:
        GuardrailError: every problem, at once.
    """
    if problems:
        raise GuardrailError(
            f"{layout.where()}: Azure lets a flow through only when every NSG on its path (the "
            "subnet's and the NIC's) allows it; portsync would write, or count as open, rules "
            "that open nothing:\n  - " + "\n  - ".join(problems),
            hint="add the rules to those NSGs as well (their owner's way), or remove an NSG "
            "from the role's nsgs if the role's machines are not behind it",
        )


def _written_flows(layout: ClusterLayout, group: GroupOps) -> list[tuple[TargetRule, str]]:
    written = f"would be written to NSG {layout.by_target[group.target].nsg}"
    return [
        *((op.rule, written) for op in group.adds),
        *((op.after, written) for op in group.updates),
    ]


def _check_paths(
    changes: Sequence[tuple[ClusterLayout, GroupOps]], native: Mapping[str, translate.RawNsg]
) -> None:
    """Refuse to write a rule that another NSG on the path of its role's machines does not let
    through: Azure admits a flow only when the subnet's NSG and the NIC's both allow it, so such
    a rule opens nothing, and a plan that counts it as open would be wrong.

    Raises:
        GuardrailError: every such rule, at once, with the NSG that stops it.
    """
    problems: list[str] = []
    for layout, group in changes:
        problems.extend(_path_problems(layout, group, _written_flows(layout, group), native))
    if changes:
        _refuse_paths(changes[0][0], problems)


class AzureProvider:
    """Azure network security groups (see docs/providers/azure.md)."""

    name: ClassVar[str] = "azure"
    config_model: ClassVar[type[BaseModel]] = AzureClusterConfig
    #: Its native peers, endpoint kinds and description marker, for the core.
    syntax: ClassVar[CloudSyntax] = SYNTAX
    #: The cluster entry ``portsync init`` shows as an example (YAML).
    init_example: ClassVar[str] = """\
- name: prod-azure
  provider: azure
  subscription_id: 00000000-0000-0000-0000-000000000000
  resource_group: prod
  roles:
    control-plane: {nsg: prod-controlplane-nsg, address_prefixes: [10.0.0.0/16]}
    worker: {nsg: prod-node-nsg, address_prefixes: [10.1.0.0/16]}
"""
    limits: ClassVar[dict[str, int]] = LIMITS
    demo: ClassVar[str] = "portsync.providers.azure.demo:AzureDemo"
    discover: ClassVar[str] = "portsync.providers.azure.discover:discover"
    #: What ``portsync init --discover azure`` takes (``--subscription``, ``--resource-group``,
    #: ``--ca-bundle``).
    discover_scope: ClassVar[tuple[ScopeKey, ...]] = (
        ScopeKey(
            name="subscription_id",
            flag="subscription",
            help="Azure subscription id",
            metavar="ID",
            required=True,
        ),
        ScopeKey(
            name="resource_group",
            help="Azure resource group to read",
            metavar="NAME",
            required=True,
        ),
        ScopeKey(
            name="ca_bundle",
            help="CA bundle of a private endpoint",
            metavar="PEM",
            locates=False,
        ),
    )

    def __init__(self, cluster: ClusterConfig, *, settings: Settings, client: Any = None) -> None:
        self.cluster = cluster
        self.settings = settings
        self.config = AzureClusterConfig.model_validate(cluster.settings)
        self.layout = cluster_layout(cluster, settings, self.config)
        self.owners = self.layout.owners
        self.bindings: Mapping[str, Binding] = {b.role: b for b in self.layout.bindings}
        #: Clusters of the run whose providers have the same scope share one listing.
        self.read_scope: tuple[str, ...] = _read_scope(self.config)
        self._client = LazyClient(partial(self._make_adapter, client))
        #: At most ``max_workers`` NSG writes of this cluster in flight.
        self._writes = threading.BoundedSemaphore(self.config.max_workers)

    # ------------------------------------------------------------------ plumbing

    def _make_adapter(self, client: Any) -> Any:
        from .adapter import AzureAdapter, make_client

        client = client or make_client(
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
        return AzureAdapter(
            client,
            subscription_id=self.config.subscription_id,
            resource_group=self.config.resource_group,
            polling_interval=self.config.polling_interval,
            read_bucket=limiters.get((*scope, "read"), rate=READ_BUCKET[1], burst=READ_BUCKET[0]),
            write_bucket=limiters.get(
                (*scope, "write"), rate=WRITE_BUCKET[1], burst=WRITE_BUCKET[0]
            ),
            cluster=self.cluster.name,
            endpoint=self.config.endpoint,
            control=self.settings.control,
        )

    @property
    def adapter(self) -> Any:
        """The NSG adapter, created on first use (imports the Azure SDK only then)."""
        return self._client.get()

    def _where(self, nsg: str | None = None) -> str:
        return self.layout.where(nsg)

    def _layout_of(self, cluster: str) -> ClusterLayout:
        """The layout of ``cluster`` (this one, or a sibling of the run sharing the read: its
        provider's, when the session has one)."""
        if not cluster or cluster == self.cluster.name:
            return self.layout
        provider_of = self.settings.provider_of
        if provider_of is not None:
            other = provider_of(cluster)
            if isinstance(other, AzureProvider):
                return other.layout
        config = next((c for c in self.settings.fleet if c.name == cluster), None)
        if config is None or config.provider != self.name:
            raise ValueError(f"cluster {cluster} is not an Azure cluster of this run")
        return cluster_layout(config, self.settings)

    # ------------------------------------------------------------------ the contract

    def targets(self) -> list[Target]:
        """One target per role: the NSG name, or ``<nsg>/<role>`` when roles share an NSG."""
        return [
            Target(id=b.target, role=role, label=f"{b.nsg} ({role})")
            for role, b in self.bindings.items()
        ]

    def memberships(self) -> Memberships:
        """The other ASGs each role's machines are in (read only): for each, the target whose
        rules name it in the role's NSG (another role's, when that role writes to it there).

        Every other target of a role's NSG comes too: a rule is listed under one target of its
        NSG, but counts for each role whose machines its role side holds (a rule for every
        machine, listed under the first role, covers the others' rows as well)."""
        also: dict[str, tuple[Target, ...]] = {}
        members: dict[Endpoint, frozenset[Endpoint]] = {}
        names = self.layout.asg_names
        # Each role looks only at the bindings of its own NSG: grouped once, not scanned per
        # role (a resource group of a thousand NSGs made that a million comparisons).
        by_nsg: dict[str, list[Binding]] = {}
        for b in (*self.layout.bindings, *self.layout.readonly):
            by_nsg.setdefault(b.nsg.lower(), []).append(b)
        for role, spec in self.config.roles.items():
            written = self.bindings[role]
            others = spec.other_asgs if written.asg is not None else ()
            holders = [self._holder(written.nsg, asg) for asg in others]
            found = [
                Target(
                    id=b.target,
                    role=b.role,
                    label=f"{b.nsg} {str(b.asg).rsplit('/', 1)[-1]} ({role}, read only)",
                )
                for b in holders
            ]
            seen = {written.target, *(t.id for t in found)}
            for b in by_nsg.get(written.nsg.lower(), ()):
                if b.target in seen:
                    continue
                seen.add(b.target)
                label = (
                    f"{b.nsg} ({b.role})"
                    if b in self.layout.bindings
                    else f"{b.nsg} {str(b.asg).rsplit('/', 1)[-1]} (read only)"
                )
                found.append(Target(id=b.target, role=b.role, label=label))
            if found:
                also[written.target] = tuple(found)
            if others and written.asg is not None:
                members[Endpoint(ASG, written.asg)] = frozenset(
                    Endpoint(ASG, names.get(asg.lower(), asg)) for asg in others
                )
        return Memberships(also=also, members=members)

    def _holder(self, nsg: str, asg: str) -> Binding:
        """The binding whose target holds the rules of ``nsg`` naming ``asg``."""
        for binding in (*self.layout.bindings, *self.layout.readonly):
            if (
                binding.nsg.lower() == nsg.lower()
                and binding.asg is not None
                and binding.asg.lower() == asg.lower()
            ):
                return binding
        raise AssertionError(f"no binding reads ASG {asg} of NSG {nsg}")

    @staticmethod
    def is_cloud_default(rule: TargetRule) -> bool:
        """A rule of the NSG's ``defaultSecurityRules`` (AllowVnetInBound,
        AllowAzureLoadBalancerInBound, AllowVnetOutBound, AllowInternetOutBound): Azure puts
        them in every NSG and no API call removes them."""
        return any(key == translate.CLOUD_DEFAULT for key, _ in rule.extra)

    #: No API call removes a default security rule, and Azure evaluates them after every other
    #: rule (see :func:`portsync.provider.fixed_defaults`).
    is_fixed_default = is_cloud_default

    def peer_contains(self, endpoint: Endpoint, rule: TargetRule) -> str | None:
        """For ``explain``: whether ``rule``'s peer, the ``VirtualNetwork`` service tag, holds
        ``endpoint`` although the tag's addresses are not read. It does when the endpoint is a
        role's application security group, or lies within a role's address prefixes: the
        machines of roles bound to NSGs are in the virtual network."""
        peer = rule.peer
        if peer.kind is not SERVICE_TAG or peer.value.lower() != "virtualnetwork":
            return None
        return _vnet_holds(self.layout, endpoint, rule)

    def path_live(
        self, target: Target, snapshot: Snapshot
    ) -> list[tuple[Target, list[TargetRule]]]:
        """For ``explain``: the rules of each other NSG on the path of ``target``'s machines
        (``nsgs``), each as one read-only target: a flow passes only when each lets it through."""
        binding = self.layout.by_target.get(target.id)
        if binding is None or binding not in self.layout.bindings:
            return []
        out: list[tuple[Target, list[TargetRule]]] = []
        for nsg in self.layout.path_nsgs(binding.role):
            raw = (snapshot.native or {}).get(nsg.lower())
            if raw is None:
                continue
            path = self.layout.path_layout(binding.role, nsg)
            label = f"{nsg} ({binding.role}, read only)"
            out.append(
                (
                    Target(id=path.bindings[0].target, role=binding.role, label=label),
                    translate.path_rules(path, raw),
                )
            )
        return out

    def check_path(
        self, planned: Sequence[tuple[GroupOps, Sequence[TargetRule]]], snapshot: Snapshot
    ) -> None:
        """For ``plan``: refuse a plan that counts a wanted rule as open (to be written, already
        satisfied by live rules, or in place) while another NSG on the path of its role's
        machines does not let it through. ``planned``: each target's group with its wanted
        rules.

        Raises:
            GuardrailError: every such rule, at once, with the NSG that stops it.
        """
        problems: list[str] = []
        for group, wanted in planned:
            binding = self.layout.by_target.get(group.target)
            if binding is None or not self.layout.path_nsgs(group.role):
                continue
            flows = _written_flows(self.layout, group)
            flows.extend(
                (s.rule, f"is satisfied by live rules of NSG {binding.nsg}")
                for s in group.satisfied
            )
            held = {rule.key for rule, _ in flows}
            flows.extend(
                (rule, f"is in place in NSG {binding.nsg}")
                for rule in wanted
                if rule.key not in held
            )
            problems.extend(_path_problems(self.layout, group, flows, snapshot.native or {}))
        _refuse_paths(self.layout, problems)

    def managing_tool(self, target: Target, seen: object = None) -> ManagingTool | None:
        """CAPZ or AKS, recognised by the NSG's name."""
        binding = self.bindings.get(target.role)
        return tools.managing_tool(binding.nsg) if binding is not None else None

    def translate(self, rules: RuleSet, sources: Sources) -> list[TargetRule]:
        """Neutral rules → rules on NSGs (peer side resolved, role side in ``extra``).

        Raises:
            TranslationError: a rule needs a missing source or binding, or no peer of the role's
                IP families.
        """
        return translate.translate_rules(
            rules,
            cluster=self.cluster.name,
            bindings=self.bindings,
            sources_all=sources.all,
            pod_ranges=self.config.pod_ranges,
        )

    def _pages(self) -> Iterable[list[dict[str, Any]]]:
        pages: Iterable[list[dict[str, Any]]] = self.adapter.nsg_pages()
        return pages

    def _read(self, targets: Sequence[Target]) -> tuple[Snapshot, list[tuple[ClusterLayout, str]]]:
        wants: dict[str, list[tuple[ClusterLayout, str]]] = {}
        layouts: dict[str, ClusterLayout] = {}
        paths: dict[str, str] = {}  # lower-cased NSG on a role's path -> "NSG (role R)"
        for target in targets:
            name = getattr(target, "cluster", "")
            layout = layouts.get(name) or layouts.setdefault(name, self._layout_of(name))
            wants.setdefault(layout.nsg_of(target.id), []).append((layout, target.id))
            for nsg in layout.path_nsgs(target.role):
                paths.setdefault(nsg.lower(), f"{nsg} (on the path of role {target.role})")
        for nsg in paths:
            # Kept as read, with no target of its own: the compile checks flows against it.
            wants.setdefault(nsg, [])
        reader = NsgReader(wants)
        # Each page of NSGs is expanded as it arrives, while the next one is on its way.
        for page in self._pages():
            for body in page:
                reader.add(body)
        gone = [paths[n] for n in reader.missing_nsgs() if n in paths]
        if gone:
            raise NotFoundError(
                f"{self._where()}: network security group {', '.join(gone)} does not exist in "
                f"subscription {self.config.subscription_id}",
                hint="check the nsgs of the role, resource_group and subscription_id in the config",
            )
        return reader.snapshot(), reader.missing()

    def _not_found(self, missing: Sequence[tuple[ClusterLayout, str]]) -> NotFoundError:
        names = sorted(
            {
                f"{layout.by_target[t].nsg} (role {layout.by_target[t].role})"
                for layout, t in missing
            }
        )
        return NotFoundError(
            f"{self._where()}: network security group {', '.join(names)} does not exist "
            f"in subscription {self.config.subscription_id}",
            hint="check the nsg names, resource_group and subscription_id in the config",
        )

    def read(self, targets: Sequence[Target]) -> Snapshot:
        """The live state of ``targets`` (of this cluster and of clusters sharing the resource
        group): one paged ``networkSecurityGroups.list`` (rules, default rules and etags come
        inline, never a GET per NSG), as an immutable snapshot (see :mod:`.snapshot`).

        Raises:
            NotFoundError: a bound NSG does not exist in the resource group.
            ProviderError: or another subclass, when ARM refuses.
        """
        snapshot, missing = self._read(targets)
        if missing:
            raise self._not_found(missing)
        return snapshot

    def compile(self, groups: Sequence[GroupOps], snapshot: Snapshot) -> tuple[Write, ...]:
        """The NSG PUTs that carry out ``groups`` (of every cluster sharing ``snapshot``): one
        per changed NSG, its whole rule list with ``If-Match`` = the etag read. Pure.

        Raises:
            ProviderLimitError: ``priority_band`` has too few free priorities in a direction
                (priorities of rules portsync does not own are never reused), the NSG would hold
                more than 1,000 rules, or mode exclusive would remove only part of an unmanaged
                rule.
        """
        layouts = {name: self._layout_of(name) for name in {g.cluster for g in groups}}
        changes = [(layouts[g.cluster], g) for g in groups]
        _check_paths(changes, snapshot.native or {})
        return translate.compile_writes(changes, snapshot.native or {})

    def execute(self, write: Write) -> None:
        """Send ``write``: one NSG PUT with its ``If-Match``, waiting (bounded) for the
        long-running operation. Throttling and busy NSGs are retried; nothing is diffed.

        Raises:
            ConflictError: the NSG changed since it was read (412): plan again.
            ProviderError: or another subclass, when ARM refuses; or the write is not an NSG PUT
                of this cluster's resource group.
        """
        name = self._nsg_name(write)
        etag = write.headers.get("If-Match")
        if not etag:
            raise ProviderError(f"{self._where(name)}: the write carries no If-Match etag")
        # The exact bytes of the body: what the plan shows is what ARM receives.
        content = json.dumps(dict(write.body), sort_keys=True).encode()
        with self._writes:
            try:
                self.adapter.put_nsg(name, content, etag=etag)
            except ConflictError as exc:
                if not is_precondition_failed(exc):
                    raise
                raise ConflictError(
                    f"{self._where(name)}: the NSG changed since portsync read it (412 "
                    "PreconditionFailed); nothing was written to it",
                    hint="another writer changed this NSG: run `portsync plan` again and review "
                    "the new plan",
                ) from exc

    def _nsg_name(self, write: Write) -> str:
        """The NSG a write is for, checked to be an NSG PUT in this cluster's resource group."""
        found = _NSG_ID.match(write.target)
        if (
            write.api != translate.WRITE_API
            or write.method != translate.WRITE_METHOD
            or found is None
            or found["sub"].lower() != self.config.subscription_id.lower()
            or found["rg"].lower() != self.config.resource_group.lower()
        ):
            raise ProviderError(
                f"{self._where()}: {write.method} {write.api} on {write.target} is not an NSG "
                "write of this cluster's resource group"
            )
        return found["name"]

    def check_offline(self, desired: Mapping[str, Sequence[TargetRule]]) -> None:
        """``portsync validate``: each NSG's rules composed as if it were empty (priorities in
        ``priority_band``, at most 1,000 rules), no cloud read.

        Raises:
            ProviderLimitError: naming the NSG, the band or limit, and how much is missing.
        """
        for nsg in self.layout.by_nsg:
            layout = self.layout.nsg_layout(nsg)
            changes = [
                Change(b.target, adds=tuple(desired.get(b.target, ()))) for b in layout.bindings
            ]
            translate.compose([], changes, layout)
