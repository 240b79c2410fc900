"""Protected rules: live rules portsync never removes or changes, in any mode.

A cluster built by another tool carries rules that tool needs (kops' node-to-node traffic, CAPG's
health-check firewall, an NSG's rules for a bastion). ``protect:`` names them by what the cloud
stores with them — a tag (AWS rules), a description, a native name (GCP firewalls, Azure rules) —
and the plan leaves them alone even in ``exclusive`` mode, listing them as protected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from portsync.model import TargetRule
from portsync.ops import DeleteRuleOp, Op, UpdateRuleOp

__all__ = ["Protector", "protect_ops"]


@dataclass(frozen=True, slots=True)
class Protector:
    """One ``protect:`` entry; a rule matches when every given part matches."""

    tag_key: str | None = None
    tag_value: str | None = None
    description: re.Pattern[str] | None = None
    name: re.Pattern[str] | None = None

    def matches(self, rule: TargetRule) -> bool:
        """Whether ``rule`` (a live rule) is protected by this entry."""
        if self.tag_key is not None:
            tags = dict(rule.tags)
            if self.tag_key not in tags:
                return False
            if self.tag_value is not None and tags[self.tag_key] != self.tag_value:
                return False
        if self.description is not None and not self.description.search(rule.description):
            return False
        return self.name is None or (
            rule.native_id is not None and self.name.search(rule.native_id) is not None
        )


def is_protected(rule: TargetRule, protectors: Sequence[Protector]) -> bool:
    """Whether any protector matches ``rule``."""
    return any(p.matches(rule) for p in protectors)


def protect_ops(
    ops: Iterable[Op], live: Iterable[TargetRule], protectors: Sequence[Protector]
) -> tuple[list[Op], list[TargetRule]]:
    """Drop removals and updates of protected live rules.

    Returns:
        ``(ops, protected)``: the operations left, and every live rule a protector matches (shown
        in the plan as protected, whether or not the plan would have touched it).
    """
    if not protectors:
        return list(ops), []
    protected = [r for r in live if is_protected(r, protectors)]
    kept: list[Op] = []
    for op in ops:
        if isinstance(op, DeleteRuleOp) and is_protected(op.rule, protectors):
            continue
        if isinstance(op, UpdateRuleOp) and is_protected(op.before, protectors):
            continue
        kept.append(op)
    return kept, protected
