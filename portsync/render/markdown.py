"""GitHub-flavoured Markdown, for a pull-request comment or a CI job summary: plans and audits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from portsync.model import TargetRule
from portsync.ops import Op, Plan, UpdateRuleOp

from .common import (
    audit_headline,
    counts_line,
    group_counts,
    leave_note,
    lifelines_text,
    plural,
    rule_text,
)

if TYPE_CHECKING:
    from portsync.audit import AuditReport, Severity


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
        lines.append(f"**Plan: {counts_line(counts)}.**")
    if counts["unmanaged"]:
        lines.append("")
        where = "listed below" if show_unmanaged else "counted per target below"
        lines.append(f"{plural(counts['unmanaged'], 'unmanaged rule')} left alone ({where}).")
    lines.append("")
    clusters = plan.clusters()
    if clusters:
        lines.append("| cluster | provider | targets | add | update | remove | unmanaged |")
        lines.append("|---|---|--:|--:|--:|--:|--:|")
        for cluster in clusters:
            groups = [g for g in plan.groups if g.cluster == cluster]
            c = group_counts(groups)
            lines.append(
                f"| {_code(cluster)} | {groups[0].provider} | {len(groups)} | {c['add']} | "
                f"{c['update']} | {c['remove']} | {c['unmanaged']} |"
            )
        lines.append("")
    for cluster in clusters:
        groups = [g for g in plan.groups if g.cluster == cluster]
        c = group_counts(groups)
        state = "in sync" if all(g.is_empty() for g in groups) else counts_line(c)
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
                f"{plural(group.live_count, 'live rule')}"
            )
            lines.append("")
            lines.append("| change | direction | protocol | ports | peer | description | why |")
            lines.append("|---|---|---|---|---|---|---|")
            lines.extend(_md_change(op) for op in group.ops)
            lines.append("")
        satisfied = [(g, item) for g in groups for item in g.satisfied]
        lines.extend(
            _md_details(
                f"{plural(len(satisfied), 'wanted rule')} already satisfied by live rules "
                "(not written)",
                ("target", "wanted", "satisfied by"),
                [
                    (
                        _code(g.label or g.target),
                        _code(rule_text(item.rule)),
                        "; ".join(
                            _code(rule_text(r))
                            + (f" on {_code(r.target)}" if r.target != item.rule.target else "")
                            for r in item.by
                        ),
                    )
                    for g, item in satisfied
                ],
            )
        )
        protected = [(g, r) for g in groups for r in g.protected]
        lines.extend(
            _md_details(
                f"{plural(len(protected), 'protected rule')} (named by protect:, never changed)",
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
                        f"{plural(len(group.unmanaged), 'unmanaged rule')} left alone; "
                        "`--show-unmanaged` lists them."
                    )
                    lines.append("")
        if show_unmanaged:
            lines.extend(
                _md_details(
                    f"{plural(len(unmanaged), 'unmanaged rule')} (not this owner's, left alone)",
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


_SEVERITY_MD = {"high": "🔴 high", "warning": "🟠 warning", "info": "🔵 info"}


def render_audit_markdown(report: AuditReport, *, fail_on: Severity | None = None) -> str:
    """An audit as GitHub-flavoured Markdown (job summary, pull-request comment)."""
    from portsync.audit import Severity

    fail_on = fail_on or Severity.HIGH
    lines = ["## portsync audit", ""]
    audited = sum(len(c.targets) for c in report.clusters)
    lines.append(
        f"**{audit_headline(report, fail_on)}** "
        f"Audited {plural(len(report.clusters), 'cluster')}, {plural(audited, 'target')}."
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
