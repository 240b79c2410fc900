"""TRANSITIONAL (issue #14): providers that still have the verbs of the first contract
(``fetch``, ``check_limits``, ``prepare_apply``, ``apply``), seen through the three verbs.

The session wraps such a provider with :func:`contract`, the one place that tells the two
contracts apart, so the engine has a single path. Delete this module once no provider has
``fetch`` any more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from portsync.diff import final_state
from portsync.model import TargetRule
from portsync.ops import CreateRuleOp, DeleteRuleOp, GroupOps, Op, UpdateRuleOp
from portsync.provider import Provider, Target
from portsync.tools import ManagingTool
from portsync.writes import Phase, Snapshot, Write

if TYPE_CHECKING:
    from portsync.config import ClusterConfig

__all__ = ["API", "contract"]

#: The ``api`` of a write that stands for one target's operations handed to the old ``apply``.
API = "portsync-transitional"


def contract(provider: Any, cluster: ClusterConfig) -> Provider:
    """``provider`` itself when it has ``compile``; otherwise an adapter giving it the three
    verbs (one scope per cluster, one write per changed target)."""
    if hasattr(provider, "compile"):
        found: Provider = provider
        return found
    return cast("Provider", _OldVerbs(provider, cluster))


def _op_to_dict(op: Op) -> dict[str, Any]:
    item: dict[str, Any] = {"action": op.action.value, "rule": op.rule.to_dict()}
    if isinstance(op, UpdateRuleOp):
        item["before"] = op.before.to_dict()
    return item


def _op_from_dict(item: Any) -> Op:
    rule = TargetRule.from_dict(item["rule"])
    if item["action"] == "add":
        return CreateRuleOp(rule)
    if item["action"] == "remove":
        return DeleteRuleOp(rule)
    return UpdateRuleOp(TargetRule.from_dict(item["before"]), rule)


def group_of(write: Write) -> GroupOps:
    """The target's operations a transitional write carries."""
    body = write.body
    return GroupOps(
        cluster=write.cluster,
        provider=str(body["provider"]),
        target=write.target,
        role=str(body["role"]),
        label=str(body["label"]),
        ops=tuple(_op_from_dict(item) for item in body["ops"]),
    )


class _OldVerbs:
    """A first-contract provider behind the three verbs. Holds nothing but the provider."""

    def __init__(self, inner: Any, cluster: ClusterConfig) -> None:
        self.inner = inner
        self.name = inner.name
        self.config_model = inner.config_model
        self.read_scope = ("cluster", cluster.name)

    def __getattr__(self, name: str) -> Any:
        # Optional hooks (is_cloud_default, check_offline, …) come from the provider itself.
        return getattr(self.inner, name)

    def targets(self) -> list[Target]:
        found: list[Target] = self.inner.targets()
        return found

    def translate(self, rules: Any, sources: Any) -> list[TargetRule]:
        found: list[TargetRule] = self.inner.translate(rules, sources)
        return found

    def read(self, targets: Sequence[Target]) -> Snapshot:
        return Snapshot(provider=self.name, rules=self.inner.fetch(list(targets)))

    def managing_tool(self, target: Target, snapshot: Snapshot) -> ManagingTool | None:
        found: ManagingTool | None = self.inner.managing_tool(
            target, list(snapshot.live(target.id))
        )
        return found

    def compile(self, groups: Sequence[GroupOps], snapshot: Snapshot) -> tuple[Write, ...]:
        out: list[Write] = []
        for group in groups:
            target = Target(group.target, group.role, group.label)
            self.inner.check_limits(
                target, final_state(list(snapshot.live(group.target)), group.ops)
            )
            if group.ops:
                body = {
                    "provider": group.provider,
                    "role": group.role,
                    "label": group.label,
                    "ops": [_op_to_dict(op) for op in group.ops],
                }
                out.append(
                    Write(
                        cluster=group.cluster,
                        target=group.target,
                        api=API,
                        method="apply",
                        body=body,
                        phase=Phase.MAKE,
                        removes=len(group.removes),
                        fingerprint=group.fingerprint,
                    )
                )
        return tuple(out)

    def prepare(self, writes: Sequence[Write]) -> None:
        """The old ``prepare_apply`` over every target this cluster's writes change."""
        prepare = getattr(self.inner, "prepare_apply", None)
        if prepare is not None:
            prepare([group_of(w) for w in writes])

    def execute(self, write: Write) -> None:
        self.inner.apply(group_of(write))
