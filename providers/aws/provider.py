"""The AWS provider: roles bound to security groups, read and written through boto3.

Plan reads the groups (DescribeSecurityGroups: existence, and descriptions) and their rules
(DescribeSecurityGroupRules: one item per rule, with its id and its tags). The ``portsync:owner``
tag is the owner identity; apply modifies and revokes exactly the rule ids the plan read, never
every rule that happens to share a key.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from portsync.config import ClusterConfig, Sources
from portsync.errors import ConfigError, ConflictError, NotFoundError, ProviderLimitError
from portsync.membership import Memberships
from portsync.model import Direction, Endpoint, EndpointKind, RuleSet, TargetRule
from portsync.ops import GroupOps
from portsync.provider import Settings, Target
from portsync.reads import sibling_configs
from portsync.tools import ManagingTool

from . import tools, translate
from .limits import (
    DESCRIBE_BUCKET,
    LIMITS,
    MAX_RESULTS_PER_PAGE,
    MAX_RULES_PER_GROUP,
    MIN_RESULTS_PER_PAGE,
    MUTATE_BUCKET,
)

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
        if self.security_groups is not None:
            if not self.security_groups:
                raise ValueError("security_groups needs at least one group")
            if len(set(self.security_groups)) != len(self.security_groups):
                raise ValueError("security_groups lists a group twice")
            if self.write_to is not None and self.write_to not in self.security_groups:
                raise ValueError(
                    f"write_to {self.write_to} is not one of security_groups; list it there too"
                )
        elif self.write_to is not None:
            raise ValueError("write_to goes with security_groups (a list of the role's groups)")
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
    """What one DescribeSecurityGroups can serve: the same account, region and client."""
    return (
        "aws",
        config.profile or "",
        config.region,
        config.endpoint or "",
        config.credentials,
        str(config.page_size or ""),
    )


class AwsProvider:
    """AWS security groups (see docs/providers/aws.md)."""

    name: ClassVar[str] = "aws"
    config_model: ClassVar[type[BaseModel]] = AwsClusterConfig
    limits: ClassVar[dict[str, int]] = LIMITS
    demo: ClassVar[str] = "portsync.providers.aws.demo:AwsDemo"
    discover: ClassVar[str] = "portsync.providers.aws.discover:discover"

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
        self._client = client
        self._adapter: Any = None
        self._lock = threading.Lock()
        self._rule_ids: dict[tuple[str, str, str, int, int, str], list[str]] = {}
        self._weights: dict[str, tuple[str, int]] = {}
        self.owner = cluster.owner_id
        # Clusters in the same account and region share one DescribeSecurityGroups per plan,
        # covering every group any of them binds.
        scope = _read_scope(self.config)
        shared = {
            gid
            for other in sibling_configs(
                settings.fleet, cluster, AwsClusterConfig, shared=settings.reads
            )
            if _read_scope(other) == scope
            for binding in other.roles.values()
            for gid in binding.groups
        }
        # Always through the round's shared reads, so managing_tool finds the listing fetch
        # made (the group's tags) without reading again.
        self._read_key: tuple[Any, ...] = (
            *scope,
            tuple(sorted(shared | {g for gids in self.member_groups.values() for g in gids})),
        )

    @property
    def adapter(self) -> Any:
        """The EC2 adapter, created on first use (imports boto3 only then)."""
        with self._lock:
            if self._adapter is None:
                from .adapter import Ec2Adapter, make_client

                client = self._client or make_client(
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
                scope = (
                    "aws",
                    self.config.profile or "",
                    self.config.region,
                    self.config.endpoint or "",
                )
                limiters = self.settings.limiters
                self._adapter = Ec2Adapter(
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
            return self._adapter

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
            members[Endpoint(EndpointKind.GROUP, written)] = frozenset(
                Endpoint(EndpointKind.GROUP, gid) for gid in others
            )
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

    def fetch(self, targets: Sequence[Target]) -> dict[str, list[TargetRule]]:
        """Live rules of ``targets``: one (paginated) DescribeSecurityGroups for all of them."""
        ids = [t.id for t in targets]
        found = self._groups()
        every = list(self._read_key[-1])
        items = self.settings.reads.get(
            (*self._read_key, "rules"), lambda: self.adapter.describe_rules(every)
        )
        missing = [t for t in targets if t.id not in found]
        if missing:
            names = ", ".join(f"{t.id} (role {t.role})" for t in missing)
            raise NotFoundError(
                f"cluster {self.cluster.name}: security group {names} does not exist in "
                f"{self.config.region}",
                hint="check the security_group ids and the region in the config",
            )
        by_group: dict[str, list[Any]] = {gid: [] for gid in ids}
        for item in items:
            if item.get("GroupId") in by_group:
                by_group[item["GroupId"]].append(item)
        return {
            gid: translate.live_rules(
                found[gid],
                by_group[gid],
                self.roles_by_group,
                owner=self.owner,
                cluster=self.cluster.name,
                adopt_legacy=self.settings.adopt_legacy,
            )
            for gid in ids
        }

    def _groups(self) -> dict[str, Any]:
        """This round's DescribeSecurityGroups items of every group the read scope binds."""
        every = list(self._read_key[-1])
        groups = self.settings.reads.get(
            self._read_key, lambda: self.adapter.describe_groups(every)
        )
        return {g["GroupId"]: g for g in groups}

    def managing_tool(self, target: Target, live: Sequence[TargetRule]) -> ManagingTool | None:
        """kops, CAPA or EKS, recognised by the group's tags and name (from fetch's read)."""
        group = self._groups().get(target.id)
        return tools.managing_tool(group) if group is not None else None

    def check_limits(self, target: Target, final: Sequence[TargetRule]) -> None:
        """Refuse more than ``rules_per_group`` per direction and IP family, counting every rule
        whatever its protocol, and a prefix-list reference as its weight (its max entries, read
        from the cloud) in its own family, as EC2 counts them."""
        lists = sorted({r.peer.value for r in final if r.peer.kind is EndpointKind.PREFIX_LIST})
        self._check_count(target, final, self._prefix_list_weights(lists))
        group = self._groups().get(target.id)
        if group is not None:
            self._check_own_account(target, final, str(group.get("OwnerId") or ""))

    def _check_own_account(
        self, target: Target, final: Sequence[TargetRule], owner_id: str
    ) -> None:
        """Refuse a peer that names the group's own account (``<own account>/sg-…``): EC2 stores
        a reference within one account as the group alone, so the rule would be added again on
        every run."""
        for rule in final:
            account, _sep, group = rule.peer.value.rpartition("/")
            if rule.peer.kind is EndpointKind.GROUP and account and account == owner_id:
                raise ConfigError(
                    f"cluster {self.cluster.name}: {target}: peer {rule.peer.value} names the "
                    f"account {owner_id} that owns {target.id} itself",
                    hint=f"write {group} alone; name the account only for a group of another "
                    "account",
                )

    def _prefix_list_weights(self, ids: Sequence[str]) -> dict[str, tuple[str, int]]:
        """Weights of ``ids``, read once per provider (see ``Ec2Adapter.prefix_list_weights``).

        Raises:
            NotFoundError: a referenced prefix list does not exist in the region.
        """
        with self._lock:
            missing = [i for i in ids if i not in self._weights]
        if missing:
            read = self.adapter.prefix_list_weights(missing)
            absent = [i for i in missing if i not in read]
            if absent:
                raise NotFoundError(
                    f"cluster {self.cluster.name}: prefix list {', '.join(absent)} does not "
                    f"exist in {self.config.region}",
                    hint="check sources.load_balancers and the region in the config",
                )
            with self._lock:
                self._weights.update(read)
        return {i: self._weights[i] for i in ids}

    def _check_count(
        self,
        target: Target,
        final: Sequence[TargetRule],
        weights: Mapping[str, tuple[str, int]],
    ) -> None:
        limit = self.config.rules_per_group
        for direction in (Direction.INGRESS, Direction.EGRESS):
            v4 = v6 = 0
            for rule in final:
                if rule.direction is not direction:
                    continue
                peer = rule.peer
                if peer.kind is EndpointKind.PREFIX_LIST:
                    # Unknown offline (portsync validate): at least one rule of each family.
                    family, weight = weights.get(peer.value, ("", 1))
                    v4 += weight if family != "IPv6" else 0
                    v6 += weight if family != "IPv4" else 0
                elif peer.kind is EndpointKind.CIDR:
                    v4 += peer.ip_version == 4
                    v6 += peer.ip_version == 6
                else:  # a group reference counts in both families
                    v4 += 1
                    v6 += 1
            for family, count in (("IPv4", v4), ("IPv6", v6)):
                if count > limit:
                    raise ProviderLimitError(
                        f"cluster {self.cluster.name}: {target} would hold {count} {family} "
                        f"{direction.value} rules, over the AWS quota of {limit} per group",
                        hint="remove rules, use prefix lists, or set rules_per_group after "
                        "raising the quota",
                    )

    def check_offline(self, desired: Mapping[str, Sequence[TargetRule]]) -> None:
        """``portsync validate``: the plan-time limits of the desired rules alone, no cloud read.

        Raises:
            ProviderLimitError: a group would exceed ``rules_per_group`` with these rules alone.
        """
        for target in self.targets():
            self._check_count(target, desired.get(target.id, ()), {})

    def prepare_apply(self, groups: Sequence[GroupOps]) -> None:
        """Nothing to batch: the plan read carries every rule id apply names."""

    def _id_of(self, group_id: str, rule: TargetRule) -> str:
        """The rule id the plan read for ``rule``; a rule without one is refused (a plan from an
        older release, or a permission DescribeSecurityGroupRules did not list)."""
        if rule.native_id:
            return rule.native_id
        raise ConflictError(
            f"cluster {self.cluster.name}: {group_id}: the plan names no rule id for "
            f"{rule.direction.value} {rule.protocol.value}/{rule.ports_text} {rule.peer}; "
            "portsync changes rules by id only",
            hint="run `portsync plan` again and apply the new plan",
        )

    def apply(self, ops: GroupOps) -> None:
        """Authorize (one call per direction, tagged with the owner), modify descriptions and
        tag adopted rules by id, then revoke by id."""
        gid = ops.target
        tags = translate.owner_tags(self.owner, self.cluster.name)
        for direction in (Direction.INGRESS, Direction.EGRESS):
            adds = [op.rule for op in ops.adds if op.rule.direction is direction]
            if adds:
                self._authorize(gid, direction, adds, tags)
        entries = [
            translate.modify_request(op.after, self._id_of(gid, op.before))
            for op in ops.updates
            if op.before.description != op.after.description
        ]
        if entries:
            self.adapter.modify(gid, entries)
        adopted = [self._id_of(gid, op.before) for op in ops.updates if op.before.legacy]
        if adopted:
            self.adapter.tag(adopted, tags)
        for direction in (Direction.INGRESS, Direction.EGRESS):
            ids = sorted(
                {self._id_of(gid, op.rule) for op in ops.removes if op.rule.direction is direction}
            )
            if ids:
                try:
                    self.adapter.revoke(gid, direction is Direction.EGRESS, ids)
                except NotFoundError:
                    # Another run removed some already: revoke what is still there.
                    current = translate.rules_from_sg_rules(self.adapter.describe_rules([gid]))
                    still = {r for rids in current.values() for r in rids} & set(ids)
                    if still:
                        self.adapter.revoke(gid, direction is Direction.EGRESS, sorted(still))

    def _authorize(
        self, gid: str, direction: Direction, adds: list[TargetRule], tags: dict[str, str]
    ) -> None:
        egress = direction is Direction.EGRESS
        pending = adds
        for _attempt in range(3):
            try:
                self.adapter.authorize(gid, egress, translate.permissions_for(pending), tags)
                return
            except ConflictError:
                # InvalidPermission.Duplicate: another run added some of these first. The call is
                # atomic on AWS, so re-read and add only what is still missing.
                current = translate.rules_from_sg_rules(
                    self.adapter.describe_rules([gid]), self._groups().get(gid, {}).get("OwnerId")
                )
                pending = [r for r in pending if r.key not in current]
                log.info("duplicate on %s; %d rules still missing", gid, len(pending))
                if not pending:
                    return
        raise ConflictError(
            f"cluster {self.cluster.name}: {gid} kept changing while rules were added",
            hint="another writer is racing portsync; run apply again",
        )
