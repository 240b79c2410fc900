"""The AWS provider: roles bound to security groups, read and written through boto3.

``read`` lists the groups (DescribeSecurityGroups: existence, names, tags) and their rules
(DescribeSecurityGroupRules: one item per rule, with its id and its tags). The ``portsync:owner``
tag is the owner identity. ``compile`` (in :mod:`.translate`) turns the operations into the EC2
calls themselves; they modify and revoke exactly the rule ids the read saw, never every rule that
happens to share a key. ``execute`` sends one call as compiled.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from portsync.config import ClusterConfig, Sources
from portsync.discover import ScopeKey
from portsync.errors import NotFoundError
from portsync.membership import Memberships, check_listed
from portsync.model import Endpoint, RuleSet, TargetRule
from portsync.ops import GroupOps
from portsync.peers import CloudSyntax
from portsync.provider import LazyClient, Settings, Target
from portsync.tools import ManagingTool
from portsync.writes import Snapshot, Write

from . import tools, translate
from .limits import (
    DESCRIBE_BUCKET,
    MAX_RESULTS_PER_PAGE,
    MAX_RULES_PER_GROUP,
    MIN_RESULTS_PER_PAGE,
    MUTATE_BUCKET,
)
from .peers import GROUP, PREFIX_LIST, SYNTAX

__all__ = ["AwsClusterConfig", "AwsProvider"]

log = logging.getLogger(__name__)


_GROUP_ID = r"^sg-[0-9a-zA-Z]+$"


class AwsRoleBinding(BaseModel):
    """A role's security group, or every group its machines are in and the one written to."""

    model_config = ConfigDict(extra="forbid")
    security_group: str | None = Field(default=None, pattern=_GROUP_ID)
    #: Every group the role's machines are in; rules are written to ``write_to`` (default: the
    #: first), the others are read for coverage, explain and audit.
    security_groups: list[Annotated[str, Field(pattern=_GROUP_ID)]] | None = None
    write_to: str | None = Field(default=None, pattern=_GROUP_ID)

    @model_validator(mode="after")
    def _one_way(self) -> AwsRoleBinding:
        if (self.security_group is None) == (self.security_groups is None):
            raise ValueError(
                "give security_group (one group), or security_groups (every group the role's "
                "machines are in) with an optional write_to"
            )
        check_listed(
            "security_groups", self.security_groups, self.write_to, noun="group", plural="groups"
        )
        return self

    @property
    def target(self) -> str:
        """The group rules are written to."""
        if self.security_group is not None:
            return self.security_group
        assert self.security_groups
        return self.write_to or self.security_groups[0]

    @property
    def groups(self) -> tuple[str, ...]:
        """Every group the role's machines are in, the written one first."""
        others = [g for g in self.security_groups or () if g != self.target]
        return (self.target, *others)


class AwsClusterConfig(BaseModel):
    """Keys of a ``provider: aws`` cluster."""

    model_config = ConfigDict(extra="forbid")
    name: str
    provider: Literal["aws"]
    region: str = Field(min_length=1)
    endpoint: str | None = None
    profile: str | None = None
    credentials: Literal["default", "anonymous"] = "default"
    rules_per_group: int = Field(default=MAX_RULES_PER_GROUP, ge=1, le=1000)
    retry_mode: Literal["standard", "adaptive"] = "adaptive"
    max_attempts: int = Field(default=8, ge=1, le=20)
    #: DescribeSecurityGroups page size; None asks for every group in one request.
    page_size: int | None = Field(default=None, ge=MIN_RESULTS_PER_PAGE, le=MAX_RESULTS_PER_PAGE)
    roles: dict[str, AwsRoleBinding]

    @field_validator("roles")
    @classmethod
    def _distinct(cls, value: dict[str, AwsRoleBinding]) -> dict[str, AwsRoleBinding]:
        # Roles may share a group their machines are in, but never the one written to: the
        # rules of both would land on every machine of either.
        seen: dict[str, str] = {}
        for role, binding in value.items():
            if binding.target in seen:
                raise ValueError(
                    f"roles {seen[binding.target]!r} and {role!r} both write to "
                    f"{binding.target}; give each role its own group to write to (write_to), "
                    "and list shared groups under security_groups"
                )
            seen[binding.target] = role
        return value


def _read_scope(config: AwsClusterConfig) -> tuple[str, ...]:
    """What one DescribeSecurityGroups can serve: the same account, region and client (and
    the same quota setting, which compile reads from the snapshot)."""
    return (
        "aws",
        config.profile or "",
        config.region,
        config.endpoint or "",
        config.credentials,
        str(config.page_size or ""),
        str(config.rules_per_group),
    )


class AwsProvider:
    """AWS security groups (see docs/providers/aws.md)."""

    name: ClassVar[str] = "aws"
    config_model: ClassVar[type[BaseModel]] = AwsClusterConfig
    #: Its native peers, endpoint kinds and description marker, for the core.
    syntax: ClassVar[CloudSyntax] = SYNTAX
    #: The cluster entry ``portsync init`` shows as an example (YAML).
    init_example: ClassVar[str] = """\
- name: prod-aws
  provider: aws
  region: eu-west-1
  roles:
    control-plane: {security_group: sg-0aaa}
    worker: {security_group: sg-0bbb}
"""
    demo: ClassVar[str] = "portsync.providers.aws.demo:AwsDemo"
    discover: ClassVar[str] = "portsync.providers.aws.discover:discover"
    #: What ``portsync init --discover aws`` takes (``--region``, ``--profile``).
    discover_scope: ClassVar[tuple[ScopeKey, ...]] = (
        ScopeKey(name="region", help="AWS region to read", metavar="REGION", required=True),
        ScopeKey(name="profile", help="AWS profile to sign with", metavar="NAME", locates=False),
    )
    #: What ``Write.removes`` counts (for ``--max-deletes``).
    removes_unit: ClassVar[str] = "security-group rules"

    def __init__(self, cluster: ClusterConfig, *, settings: Settings, client: Any = None) -> None:
        self.cluster = cluster
        self.settings = settings
        self.config = AwsClusterConfig.model_validate(cluster.settings)
        self.groups = {role: b.target for role, b in self.config.roles.items()}
        self.roles_by_group = {gid: role for role, gid in self.groups.items()}
        #: Every group of each role's machines, the written one first.
        self.member_groups = {role: b.groups for role, b in self.config.roles.items()}
        for role, gids in self.member_groups.items():
            for gid in gids:
                self.roles_by_group.setdefault(gid, role)
        self.owner = cluster.owner_id
        # Clusters in the same account and region share one DescribeSecurityGroups per round.
        self.read_scope: tuple[str, ...] = _read_scope(self.config)
        self._client = LazyClient(partial(self._make_adapter, client))

    @property
    def adapter(self) -> Any:
        """The EC2 adapter, created on first use (imports boto3 only then)."""
        return self._client.get()

    def _make_adapter(self, client: Any) -> Any:
        from .adapter import Ec2Adapter, make_client

        client = client or make_client(
            region=self.config.region,
            endpoint=self.config.endpoint,
            profile=self.config.profile,
            anonymous=self.config.credentials == "anonymous",
            max_attempts=self.config.max_attempts,
            retry_mode=self.config.retry_mode,
            connect_timeout=self.cluster.timeout.connect,
            read_timeout=self.cluster.timeout.read,
            cluster=self.cluster.name,
            control=self.settings.control,
        )
        scope = ("aws", self.config.profile or "", self.config.region, self.config.endpoint or "")
        limiters = self.settings.limiters
        return Ec2Adapter(
            client,
            read_bucket=limiters.get(
                (*scope, "describe"), rate=DESCRIBE_BUCKET[1], burst=DESCRIBE_BUCKET[0]
            ),
            write_bucket=limiters.get(
                (*scope, "mutate"), rate=MUTATE_BUCKET[1], burst=MUTATE_BUCKET[0]
            ),
            page_size=self.config.page_size,
            cluster=self.cluster.name,
            control=self.settings.control,
        )

    @staticmethod
    def is_cloud_default(rule: TargetRule) -> bool:
        """The allow-all egress EC2 gives every new group: left alone, not reported unmanaged."""
        return translate.is_default_egress(rule)

    def targets(self) -> list[Target]:
        """One target per bound security group."""
        return [
            Target(id=gid, role=role, label=f"{gid} ({role})") for role, gid in self.groups.items()
        ]

    def memberships(self) -> Memberships:
        """The groups each role's machines are in besides the one written to (read only)."""
        also: dict[str, tuple[Target, ...]] = {}
        members: dict[Endpoint, frozenset[Endpoint]] = {}
        for role, (written, *others) in self.member_groups.items():
            if not others:
                continue
            also[written] = tuple(
                Target(id=gid, role=self.roles_by_group[gid], label=f"{gid} ({role}, read only)")
                for gid in others
            )
            members[Endpoint(GROUP, written)] = frozenset(Endpoint(GROUP, gid) for gid in others)
        return Memberships(also=also, members=members)

    def translate(self, rules: RuleSet, sources: Sources) -> list[TargetRule]:
        """Neutral rules → security-group rules."""
        return translate.translate_rules(
            rules,
            cluster=self.cluster.name,
            groups=self.groups,
            sources_all=sources.all,
            load_balancers=sources.load_balancers,
        )

    def read(self, targets: Sequence[Target]) -> Snapshot:
        """The groups of ``targets`` (of every cluster of the scope): one paged
        DescribeSecurityGroups (existence, names, tags), their rules with ids and tags
        (DescribeSecurityGroupRules), and the weight of every prefix list a live rule or
        ``sources.load_balancers`` names (DescribeManagedPrefixLists), as one snapshot.

        Raises:
            NotFoundError: a target's security group does not exist.
        """
        ids = sorted({t.id for t in targets})
        groups, items = self.adapter.describe_groups_and_rules(ids)
        found = {g["GroupId"]: g for g in groups}
        missing = [t for t in targets if t.id not in found]
        if missing:
            names = ", ".join(f"{t.id} (role {t.role})" for t in missing)
            clusters = ", ".join(dict.fromkeys(t.cluster or self.cluster.name for t in missing))
            raise NotFoundError(
                f"cluster {clusters}: security group {names} does not exist in "
                f"{self.config.region}",
                hint="check the security_group ids and the region in the config",
            )
        by_group: dict[str, list[Any]] = {gid: [] for gid in ids}
        for item in items:
            if item.get("GroupId") in by_group:
                by_group[item["GroupId"]].append(item)
        # Each target's rules as the cluster binding it sees them (its roles, its owner).
        bound: dict[str, Target] = {}
        roles: dict[str, dict[str, str]] = {}
        for t in targets:
            bound.setdefault(t.id, t)
            roles.setdefault(t.cluster or self.cluster.name, {})[t.id] = t.role
        rules: dict[str, list[TargetRule]] = {}
        for gid in ids:
            t = bound[gid]
            cluster = t.cluster or self.cluster.name
            rules[gid] = translate.live_rules(
                found[gid],
                by_group[gid],
                roles[cluster],
                owner=t.owner or self.owner,
                cluster=cluster,
                adopt_legacy=self.settings.adopt_legacy,
            )
        sources = self.settings.sources
        lists = {
            r.peer.value
            for found_rules in rules.values()
            for r in found_rules
            if r.peer.kind is PREFIX_LIST
        }
        lists |= {lb for lb in (sources.load_balancers if sources else ()) if lb.startswith("pl-")}
        weights = self.adapter.prefix_list_weights(sorted(lists)) if lists else {}
        owners = {t.cluster or self.cluster.name: t.owner or self.owner for t in targets}
        return Snapshot(
            provider=self.name,
            rules=rules,
            native=translate.AwsNative(
                region=self.config.region, groups=found, weights=weights, owners=owners
            ),
            quotas={"rules_per_group": self.config.rules_per_group},
        )

    def managing_tool(self, target: Target, snapshot: Snapshot) -> ManagingTool | None:
        """kops, CAPA or EKS, recognised by the group's tags and name (from the read)."""
        native = snapshot.native
        group = native.groups.get(target.id) if isinstance(native, translate.AwsNative) else None
        return tools.managing_tool(group) if group is not None else None

    def compile(self, groups: Sequence[GroupOps], snapshot: Snapshot) -> tuple[Write, ...]:
        """The EC2 calls for ``groups`` (see :func:`.translate.compile_writes`)."""
        return translate.compile_writes(groups, snapshot)

    def execute(self, write: Write) -> None:
        """Make exactly ``write``'s EC2 call, paced to the mutate bucket."""
        self.adapter.call(write.method, write.body)

    def check_offline(self, desired: Mapping[str, Sequence[TargetRule]]) -> None:
        """``portsync validate``: the plan-time limits of the desired rules alone, no cloud read.

        Raises:
            ProviderLimitError: a group would exceed ``rules_per_group`` with these rules alone.
        """
        for target in self.targets():
            translate.check_counts(
                f"cluster {self.cluster.name}: {target}",
                desired.get(target.id, ()),
                limit=self.config.rules_per_group,
            )
