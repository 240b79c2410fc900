"""What every format of a plan or an audit says the same way: one rule in a line, why a rule is
left alone, counts and headlines."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from portsync.model import TargetRule
from portsync.ops import GroupOps

if TYPE_CHECKING:
    from portsync.audit import AuditReport, Severity


def elsewhere(rule: TargetRule, target: str) -> str:
    """`` on <target>`` when ``rule`` lives on another target than ``target`` (another group,
    tag or ASG the role's machines are in), else nothing."""
    return f" on {rule.target}" if rule.target != target else ""


def rule_text(rule: TargetRule) -> str:
    """``tcp 6443 from cidr:203.0.113.0/24 (any)``: one rule in one line."""
    peer = str(rule.peer)
    if rule.origin and rule.origin != peer:
        peer = f"{peer} ({rule.origin})"
    direction = "from" if rule.direction.value == "ingress" else "to"
    return f"{rule.protocol.value} {rule.ports_text} {direction} {peer}"


_LIFELINE_WORDS = {
    "held": "held at every step",
    "opened": "opened by this plan",
    "closed": "closed now and after this plan",
}


def lifelines_text(group: GroupOps) -> str:
    """``lifelines: 'ci' held at every step; 'bastion' closed now and after this plan``."""
    return "lifelines: " + "; ".join(
        f"{status.name!r} {_LIFELINE_WORDS[status.status]}" for status in group.lifelines
    )


def covering_keys(group: GroupOps) -> set[tuple[str, str, str, int, int, str]]:
    return {r.key for item in group.satisfied for r in item.by}


def leave_note(rule: TargetRule) -> str:
    """Why a rule the plan does not touch is left alone."""
    if rule.owner is not None:
        return f"owned by {rule.owner}, left alone"
    if rule.legacy:
        return "written by an earlier portsync release, left alone (adopt with --adopt-legacy)"
    return "unmanaged, left alone"


def foreign_owners(group: GroupOps) -> list[str]:
    """The other owners whose rules a target holds, sorted."""
    return sorted({r.owner for r in group.unmanaged if r.owner is not None})


#: The hint every unmanaged-rule summary ends with.
SHOW_UNMANAGED_HINT = "--show-unmanaged lists them"


def unmanaged_summary(count: int) -> str:
    """``3 unmanaged rules left alone; --show-unmanaged lists them``."""
    return f"{plural(count, 'unmanaged rule')} left alone; {SHOW_UNMANAGED_HINT}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def counts_line(counts: dict[str, int]) -> str:
    return f"{counts['add']} to add, {counts['update']} to update, {counts['remove']} to remove"


def group_counts(groups: Iterable[GroupOps]) -> dict[str, int]:
    counts = {"add": 0, "remove": 0, "update": 0, "unmanaged": 0}
    for group in groups:
        for op in group.ops:
            counts[op.action.value] += 1
        counts["unmanaged"] += len(group.unmanaged)
    return counts


def audit_headline(report: AuditReport, fail_on: Severity) -> str:
    from portsync.audit import Severity

    counts = report.counts()
    if not report.findings:
        return "No findings."
    parts = [f"{counts[s.value]} {s.value}" for s in Severity]
    line = ", ".join(parts)
    if counts["suppressed"]:
        line += f" ({counts['suppressed']} accepted by allow_exposure)"
    failing = len(report.failing(fail_on))
    verdict = (
        f"{plural(failing, 'finding')} at or above {fail_on.value}"
        if failing
        else (f"nothing at or above {fail_on.value}")
    )
    return f"{line}; {verdict}."
