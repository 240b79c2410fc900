"""Rendering rules, plans, audits and explanations as text (rich), JSON and Markdown.

One renderer per op class: a new op kind registers its own line renderer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.text import Text

from portsync.model import Rule, TargetRule
from portsync.ops import CreateRuleOp, DeleteRuleOp, GroupOps, Op, Plan, Satisfied, UpdateRuleOp
from portsync.ruletable import RulesTable

if TYPE_CHECKING:
    from portsync.audit import AuditReport, Severity
    from portsync.explain import Explanation

__all__ = [
    "register_op_renderer",
    "render_audit_markdown",
    "render_audit_text",
    "render_explain_text",
    "render_plan_markdown",
    "render_plan_text",
    "render_rules_json",
    "render_rules_table",
    "rule_text",
]


def render_rules_table(rules: Iterable[Rule], *, title: str = "") -> RulesTable:
    """The neutral rules as a table that fits the terminal (see :mod:`portsync.ruletable`)."""
    return RulesTable(tuple(rules), title=title)


def render_rules_json(rules: Iterable[Rule]) -> str:
    """A JSON list of neutral rule objects."""
    return json.dumps([r.to_dict() for r in rules], indent=2, ensure_ascii=False) + "\n"


def rule_text(rule: TargetRule) -> str:
    """``tcp 6443 from cidr:203.0.113.0/24 (any)``: one rule in one line."""
    peer = str(rule.peer)
    if rule.origin and rule.origin != peer:
        peer = f"{peer} ({rule.origin})"
    direction = "from" if rule.direction.value == "ingress" else "to"
    return f"{rule.protocol.value} {rule.ports_text} {direction} {peer}"


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
    """``tcp 10250 from sg:sg-1 (self)  satisfied by 'all all from sg:sg-9'``."""
    by = ", ".join(f"'{rule_text(r)}'" for r in item.by)
    return f"{rule_text(item.rule)}  satisfied by {by}"


def render_satisfied(item: Satisfied) -> Text:
    """One satisfied rule as a line of text (``=``: wanted, already admitted, not written)."""
    line = Text("  = ", style="cyan")
    line.append(satisfied_text(item), style="cyan")
    return line


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


def _covering(group: GroupOps) -> set[tuple[str, str, str, int, int, str]]:
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


def _group_header(group: GroupOps) -> Text:
    label = group.label or group.target
    head = Text(f"{label}", style="bold")
    head.append(f"  [{group.role}] {group.live_count} live rules", style="dim")
    return head


#: The hint every unmanaged-rule summary ends with.
SHOW_UNMANAGED_HINT = "--show-unmanaged lists them"


def unmanaged_summary(count: int) -> str:
    """``3 unmanaged rules left alone; --show-unmanaged lists them``."""
    return f"{_plural(count, 'unmanaged rule')} left alone; {SHOW_UNMANAGED_HINT}"


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
            covering = _covering(group)
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


_MD_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "|": "\\|",
        "*": "\\*",
        "_": "\\_",
        "`": "\\`",
        "[": "\\[",
        "]": "\\]",
        "<": "&lt;",
        ">": "&gt;",
        "@": "&#64;",
        "\n": " ",
        "\r": " ",
    }
)


def _md(text: str) -> str:
    """Live text (descriptions come from the cloud) made inert inside a Markdown table cell."""
    return text.translate(_MD_ESCAPES)


def _code(text: str) -> str:
    """``text`` as a Markdown code span that survives table cells."""
    return "`" + text.replace("`", "'").replace("|", "\\|").replace("\n", " ") + "`"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _counts_line(counts: dict[str, int]) -> str:
    return f"{counts['add']} to add, {counts['update']} to update, {counts['remove']} to remove"


def _md_peer(rule: TargetRule) -> str:
    peer = _code(str(rule.peer))
    if rule.origin and rule.origin != str(rule.peer):
        peer += f" ({_md(rule.origin)})"
    return peer


_MD_ACTIONS = {"add": "➕ add", "remove": "➖ remove", "update": "✏️ update"}


def _md_change(op: Op) -> str:
    rule = op.rule
    if isinstance(op, UpdateRuleOp):
        description = f"{_md(op.before.description)} → {_md(op.after.description)}"
    else:
        description = _md(rule.description)
    return (
        f"| {_MD_ACTIONS[op.action.value]} | {rule.direction.value} | {rule.protocol.value} | "
        f"{rule.ports_text} | {_md_peer(rule)} | {description} | {_md(op.reason)} |"
    )


def _md_details(summary: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """A collapsed ``<details>`` block holding a table; nothing when there are no rows. Cells
    are already escaped."""
    if not rows:
        return []
    lines = [f"<details><summary>{summary}</summary>", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    lines.extend(["", "</details>", ""])
    return lines


def render_plan_markdown(plan: Plan, *, show_unmanaged: bool = False) -> str:
    """A plan as GitHub-flavoured Markdown, for a pull-request comment or a CI job summary.

    Layout: a headline with the counts, a table of counts per cluster, then per cluster the
    changes grouped by target, the targets in sync on one line, and the unmanaged rules counted
    per target (listed in a collapsed ``<details>`` block with ``show_unmanaged``). Rules the
    cloud puts on every target by itself are not reported. Text read from the cloud
    (descriptions) is escaped, so a rule description cannot inject Markdown, HTML or @-mentions
    into the comment.
    """
    counts = plan.summary()
    lines = ["## portsync plan", ""]
    if plan.is_empty():
        lines.append("**No changes.** Live rules match the port tables.")
    else:
        lines.append(f"**Plan: {_counts_line(counts)}.**")
    if counts["unmanaged"]:
        lines.append("")
        where = "listed below" if show_unmanaged else "counted per target below"
        lines.append(f"{_plural(counts['unmanaged'], 'unmanaged rule')} left alone ({where}).")
    for error in plan.errors:
        lines.extend(["", f"> ⚠️ {_md(error)}"])
    lines.append("")
    clusters = plan.clusters()
    if clusters:
        lines.append("| cluster | provider | targets | add | update | remove | unmanaged |")
        lines.append("|---|---|--:|--:|--:|--:|--:|")
        for cluster in clusters:
            groups = [g for g in plan.groups if g.cluster == cluster]
            c = _group_counts(groups)
            lines.append(
                f"| {_code(cluster)} | {groups[0].provider} | {len(groups)} | {c['add']} | "
                f"{c['update']} | {c['remove']} | {c['unmanaged']} |"
            )
        lines.append("")
    for cluster in clusters:
        groups = [g for g in plan.groups if g.cluster == cluster]
        c = _group_counts(groups)
        state = "in sync" if all(g.is_empty() for g in groups) else _counts_line(c)
        lines.append(f"### {_code(cluster)} ({groups[0].provider}): {state}")
        lines.append("")
        for group in groups:
            if group.managed_by is not None:
                lines.append(
                    f"> ⚠️ {_code(group.label or group.target)} {_md(group.managed_by.note())}"
                )
                lines.append("")
            if group.fight is not None:
                lines.append(f"> ⚠️ {_code(group.label or group.target)} {_md(group.fight.note())}")
                lines.append("")
            if group.lifelines:
                lines.append(f"{_code(group.label or group.target)}: {_md(lifelines_text(group))}")
                lines.append("")
            if group.is_empty():
                continue
            lines.append(
                f"#### {_code(group.label or group.target)}: {group.role}, "
                f"{_plural(group.live_count, 'live rule')}"
            )
            lines.append("")
            lines.append("| change | direction | protocol | ports | peer | description | why |")
            lines.append("|---|---|---|---|---|---|---|")
            lines.extend(_md_change(op) for op in group.ops)
            lines.append("")
        satisfied = [(g, item) for g in groups for item in g.satisfied]
        lines.extend(
            _md_details(
                f"{_plural(len(satisfied), 'wanted rule')} already satisfied by live rules "
                "(not written)",
                ("target", "wanted", "satisfied by"),
                [
                    (
                        _code(g.label or g.target),
                        _code(rule_text(item.rule)),
                        "; ".join(_code(rule_text(r)) for r in item.by),
                    )
                    for g, item in satisfied
                ],
            )
        )
        protected = [(g, r) for g in groups for r in g.protected]
        lines.extend(
            _md_details(
                f"{_plural(len(protected), 'protected rule')} (named by protect:, never changed)",
                ("target", "rule", "description"),
                [
                    (_code(g.label or g.target), _code(rule_text(r)), _md(r.description))
                    for g, r in protected
                ],
            )
        )
        in_sync = [g for g in groups if g.is_empty()]
        if in_sync:
            names = ", ".join(_code(g.label or g.target) for g in in_sync)
            lines.append(f"In sync: {names}.")
            lines.append("")
        unmanaged = [(g, r) for g in groups for r in g.unmanaged]
        if unmanaged and not show_unmanaged:
            for group in groups:
                if group.unmanaged:
                    lines.append(
                        f"{_code(group.label or group.target)}: "
                        f"{_plural(len(group.unmanaged), 'unmanaged rule')} left alone; "
                        "`--show-unmanaged` lists them."
                    )
                    lines.append("")
        if show_unmanaged:
            lines.extend(
                _md_details(
                    f"{_plural(len(unmanaged), 'unmanaged rule')} (not this owner's, left alone)",
                    ("target", "direction", "protocol", "ports", "peer", "description", "note"),
                    [
                        (
                            _code(g.label or g.target),
                            r.direction.value,
                            r.protocol.value,
                            r.ports_text,
                            _md_peer(r),
                            _md(r.description),
                            _md(leave_note(r)),
                        )
                        for g, r in unmanaged
                    ],
                )
            )
    footer = [f"mode `{plan.mode}`"]
    if plan.created_at:
        footer.append(f"read {plan.created_at}")
    lines.append(f"<sub>portsync plan, {', '.join(footer)}.</sub>")
    return "\n".join(lines).rstrip() + "\n"


def _group_counts(groups: Iterable[GroupOps]) -> dict[str, int]:
    counts = {"add": 0, "remove": 0, "update": 0, "unmanaged": 0}
    for group in groups:
        for op in group.ops:
            counts[op.action.value] += 1
        counts["unmanaged"] += len(group.unmanaged)
    return counts


# --- audit -------------------------------------------------------------------------------------

_SEVERITY_STYLE = {"high": "bold red", "warning": "yellow", "info": "cyan"}
_SEVERITY_MD = {"high": "🔴 high", "warning": "🟠 warning", "info": "🔵 info"}


def _audit_headline(report: AuditReport, fail_on: Severity) -> str:
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
        f"{_plural(failing, 'finding')} at or above {fail_on.value}"
        if failing
        else (f"nothing at or above {fail_on.value}")
    )
    return f"{line}; {verdict}."


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
        f"Audited {_plural(len(report.clusters), 'cluster')}, {_plural(audited, 'target')}: ",
        style="bold",
    )
    failing = report.failing(fail_on)
    summary.append(
        _audit_headline(report, fail_on),
        style="bold red" if failing else "bold green" if not report.findings else "bold",
    )
    parts.append(summary)
    return Group(*parts)


def render_audit_markdown(report: AuditReport, *, fail_on: Severity | None = None) -> str:
    """An audit as GitHub-flavoured Markdown (job summary, pull-request comment)."""
    from portsync.audit import Severity

    fail_on = fail_on or Severity.HIGH
    lines = ["## portsync audit", ""]
    audited = sum(len(c.targets) for c in report.clusters)
    lines.append(
        f"**{_audit_headline(report, fail_on)}** "
        f"Audited {_plural(len(report.clusters), 'cluster')}, {_plural(audited, 'target')}."
    )
    lines.append("")
    if report.findings:
        lines.append("| severity | check | cluster | target | live rule | finding |")
        lines.append("|---|---|---|---|---|---|")
        for f in report.findings:
            severity = _SEVERITY_MD[f.severity.value]
            if f.suppressed:
                severity = f"~~{severity}~~ accepted"
            lines.append(
                f"| {severity} | {_code(f.id)} | {_code(f.cluster)} | {_code(f.label)} | "
                f"{_code(rule_text(f.rule))} | {_md(f.message)} |"
            )
        lines.append("")
        lines.append("<details><summary>Why these matter and how to fix them</summary>")
        lines.append("")
        for check in dict.fromkeys(f.check for f in report.findings):
            lines.append(f"- **{check.id}** ({check.severity.value}): {_md(check.why)}")
            lines.append(f"  *Fix:* {_md(check.fix)} [Docs]({check.help_uri})")
        lines.append("")
        lines.append("</details>")
        lines.append("")
    for note in report.notes:
        lines.append(f"> ℹ️ {_md(note)}")
        lines.append("")
    if report.created_at:
        lines.append(f"<sub>portsync audit, read {report.created_at}.</sub>")
    return "\n".join(lines).rstrip() + "\n"


# --- explain -----------------------------------------------------------------------------------

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
                    text = Text(f"      {item.access} rule {verb}: {rule_text(item.rule)}")
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
