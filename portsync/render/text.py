"""The terminal format (rich): rules tables, plans, audits and explanations for people.

One line renderer per op class: a new op kind registers its own (:func:`register_op_renderer`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.text import Text

from portsync.model import Rule
from portsync.ops import CreateRuleOp, DeleteRuleOp, GroupOps, Op, Plan, Satisfied, UpdateRuleOp
from portsync.ruletable import RulesTable

from .common import (
    audit_headline,
    covering_keys,
    elsewhere,
    foreign_owners,
    leave_note,
    lifelines_text,
    plural,
    rule_text,
    unmanaged_summary,
)

if TYPE_CHECKING:
    from portsync.audit import AuditReport, Severity
    from portsync.explain import Explanation


def render_rules_table(rules: Iterable[Rule], *, title: str = "") -> RulesTable:
    """The neutral rules as a table that fits the terminal (see :mod:`portsync.ruletable`)."""
    return RulesTable(tuple(rules), title=title)


_OpRenderer = Callable[[Any], Text]
_RENDERERS: dict[type, _OpRenderer] = {}


def register_op_renderer(op_type: type, fn: _OpRenderer, *, replace: bool = False) -> None:
    """Register the one-line renderer of an op class.

    Raises:
        ValueError: ``op_type`` already has a renderer and ``replace`` is false.
    """
    if op_type in _RENDERERS and not replace:
        raise ValueError(f"{op_type.__name__} already has a renderer; pass replace=True")
    _RENDERERS[op_type] = fn


def _render_create(op: CreateRuleOp) -> Text:
    line = Text("  + ", style="green")
    line.append(rule_text(op.rule), style="green")
    line.append(f"  {op.rule.description}", style="dim")
    return line


def _render_delete(op: DeleteRuleOp) -> Text:
    line = Text("  - ", style="red")
    line.append(rule_text(op.rule), style="red")
    line.append(f"  {op.rule.description!r}: {op.reason}", style="dim")
    return line


def _render_update(op: UpdateRuleOp) -> Text:
    line = Text("  ~ ", style="yellow")
    line.append(rule_text(op.after), style="yellow")
    if op.before.legacy:
        line.append(f"  {op.reason}", style="dim")
    else:
        line.append(
            f"  description {op.before.description!r} -> {op.after.description!r}", style="dim"
        )
    return line


register_op_renderer(CreateRuleOp, _render_create)
register_op_renderer(DeleteRuleOp, _render_delete)
register_op_renderer(UpdateRuleOp, _render_update)


def render_op(op: Op) -> Text:
    """One op as a line of text."""
    return _RENDERERS[type(op)](op)


def satisfied_text(item: Satisfied) -> str:
    """``tcp 10250 from sg:sg-1 (self)  satisfied by 'all all from sg:sg-9'``, with `` on
    <target>`` after a covering rule of another of the role's groups."""
    by = ", ".join(f"'{rule_text(r)}'{elsewhere(r, item.rule.target)}" for r in item.by)
    return f"{rule_text(item.rule)}  satisfied by {by}"


def render_satisfied(item: Satisfied) -> Text:
    """One satisfied rule as a line of text (``=``: wanted, already admitted, not written)."""
    line = Text("  = ", style="cyan")
    line.append(satisfied_text(item), style="cyan")
    return line


def _group_header(group: GroupOps) -> Text:
    label = group.label or group.target
    head = Text(f"{label}", style="bold")
    head.append(f"  [{group.role}] {group.live_count} live rules", style="dim")
    return head


def render_plan_text(plan: Plan, *, show_unmanaged: bool = False) -> Group:
    """The human plan: per cluster, per target, +/-/~/= lines and the unmanaged rules.

    Unmanaged rules are one summary line per target unless ``show_unmanaged`` lists them. Rules
    the cloud puts on every target by itself (``GroupOps.cloud_defaults``) are not reported.
    """
    parts: list[Any] = []
    for cluster in plan.clusters():
        groups = [g for g in plan.groups if g.cluster == cluster]
        provider = groups[0].provider if groups else ""
        parts.append(Text(f"cluster {cluster} ({provider})", style="bold cyan"))
        for group in groups:
            parts.append(_group_header(group))
            if group.managed_by is not None:
                parts.append(Text(f"  ! {group.managed_by.note()}", style="yellow"))
            if group.fight is not None:
                parts.append(Text(f"  ! {group.fight.note()}", style="bold yellow"))
            if group.lifelines:
                parts.append(Text(f"  ~ {lifelines_text(group)}", style="dim"))
            if group.is_empty():
                parts.append(Text("  in sync", style="dim green"))
            for op in group.ops:
                parts.append(render_op(op))
            for item in group.satisfied:
                parts.append(render_satisfied(item))
            for rule in group.protected:
                line = Text("  # ", style="blue")
                line.append(rule_text(rule), style="blue")
                line.append(f"  {rule.description!r}: protected, never changed", style="dim")
                parts.append(line)
            others = foreign_owners(group)
            if others:
                parts.append(
                    Text(
                        f"  warning: {group.label or group.target} is also bound by owner "
                        f"{', '.join(others)}; two owners on one target each keep only their own "
                        "rules (give each config its own target, or one owner)",
                        style="yellow",
                    )
                )
            if not group.unmanaged:
                continue
            if not show_unmanaged:
                parts.append(
                    Text(f"  ? {unmanaged_summary(len(group.unmanaged))}", style="magenta")
                )
                legacy = sum(1 for r in group.unmanaged if r.legacy)
                if legacy:
                    # Upgrades must not hide the migration behind --show-unmanaged.
                    parts.append(
                        Text(
                            f"  ? {legacy} of them written by an earlier portsync release: "
                            "adopt them with --adopt-legacy",
                            style="magenta",
                        )
                    )
                continue
            covering = covering_keys(group)
            for rule in group.unmanaged:
                line = Text("  ? ", style="magenta")
                line.append(rule_text(rule), style="magenta")
                note = leave_note(rule)
                if rule.key in covering:
                    note += "; covers a wanted rule"
                line.append(f"  {rule.description!r}: {note}", style="dim")
                parts.append(line)
    counts = plan.summary()
    if plan.is_empty():
        summary = Text("No changes. Live rules match the port tables.", style="bold green")
    else:
        summary = Text(
            f"Plan: {counts['add']} to add, {counts['update']} to update, "
            f"{counts['remove']} to remove.",
            style="bold",
        )
    if counts["satisfied"]:
        summary.append(
            f" {counts['satisfied']} wanted rules already satisfied by live rules.", style="dim"
        )
    if counts["protected"]:
        summary.append(f" {counts['protected']} protected rules left alone.", style="blue")
    if counts["unmanaged"]:
        summary.append(f" {counts['unmanaged']} unmanaged rules left alone.", style="magenta")
    parts.append(summary)
    return Group(*parts)


_SEVERITY_STYLE = {"high": "bold red", "warning": "yellow", "info": "cyan"}


def render_audit_text(report: AuditReport, *, fail_on: Severity | None = None) -> Group:
    """The human audit: findings by severity, each with why it matters and the fix."""
    from portsync.audit import Severity

    fail_on = fail_on or Severity.HIGH
    parts: list[Any] = []
    for finding in report.findings:
        head = Text(
            f"{finding.severity.value.upper():8}", style=_SEVERITY_STYLE[finding.severity.value]
        )
        head.append(f" {finding.id}", style="bold")
        head.append(f"  {finding.cluster}/{finding.label}")
        if finding.suppressed:
            head.append("  (accepted by allow_exposure)", style="dim")
        parts.append(head)
        parts.append(Text(f"  {finding.message}"))
        parts.append(
            Text(f"  rule: {rule_text(finding.rule)}  {finding.rule.description!r}", style="dim")
        )
        parts.append(Text(f"  why: {finding.check.why}", style="dim"))
        parts.append(Text(f"  fix: {finding.check.fix}", style="dim"))
    for note in report.notes:
        parts.append(Text(f"note: {note}", style="magenta"))
    audited = sum(len(c.targets) for c in report.clusters)
    summary = Text(
        f"Audited {plural(len(report.clusters), 'cluster')}, {plural(audited, 'target')}: ",
        style="bold",
    )
    failing = report.failing(fail_on)
    summary.append(
        audit_headline(report, fail_on),
        style="bold red" if failing else "bold green" if not report.findings else "bold",
    )
    parts.append(summary)
    return Group(*parts)


_ANSWER_STYLE = {
    "allowed": "bold green",
    "denied": "bold red",
    "partial": "bold yellow",
    "unknown": "bold yellow",
    "not-bound": "dim",
    "mixed": "bold yellow",
}


def render_explain_text(explanation: Explanation) -> Group:
    """The human answer of ``portsync explain``: per cluster, the answer and the deciding rules."""
    state = f"the state plan {explanation.plan} would produce" if explanation.plan else "live rules"
    parts: list[Any] = [
        Text(
            f"Can {explanation.source} reach {explanation.destination}? (on {state})", style="bold"
        )
    ]
    for cluster in explanation.clusters:
        line = Text(f"{cluster.cluster} ({cluster.provider}): ")
        line.append(cluster.answer.value.upper(), style=_ANSWER_STYLE[cluster.answer.value])
        parts.append(line)
        for target in cluster.targets:
            parts.append(Text(f"  {target.target}: {target.answer.value}", style="bold"))
            for endpoint in target.endpoints:
                head = f"    from {endpoint.endpoint}: {endpoint.answer.value}"
                if not endpoint.deciding:
                    reason = "no rule lets it in" if endpoint.answer.value == "denied" else ""
                    parts.append(Text(f"{head}{' — ' + reason if reason else ''}"))
                    continue
                parts.append(Text(head))
                for item in endpoint.deciding:
                    verb = {"yes": "matches", "partial": "partly matches", "unknown": "may match"}[
                        item.match.value
                    ]
                    text = Text(
                        f"      {item.access} rule {verb}: {rule_text(item.rule)}"
                        f"{elsewhere(item.rule, target.target.id)}"
                    )
                    if item.rule.description:
                        text.append(f"  {item.rule.description!r}", style="dim")
                    if item.note:
                        text.append(f"  ({item.note})", style="dim")
                    parts.append(text)
            if target.answer.value != "allowed" and target.port_rules:
                opened = ", ".join(str(r.peer) for r in target.port_rules)
                parts.append(Text(f"    rules open on this port: {opened}", style="dim"))
        for note in cluster.notes:
            parts.append(Text(f"  note: {note}", style="magenta"))
    answer = Text("Answer: ", style="bold")
    answer.append(explanation.answer.value, style=_ANSWER_STYLE[explanation.answer.value])
    parts.append(answer)
    return Group(*parts)
