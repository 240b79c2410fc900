"""Rendering rules and plans as text (rich), JSON and Markdown.

One renderer per op class (STYLE rule 10): a new op kind registers its own line renderer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from portsync.model import Rule, TargetRule
from portsync.ops import CreateRuleOp, DeleteRuleOp, GroupOps, Op, Plan, UpdateRuleOp

__all__ = [
    "register_op_renderer",
    "render_plan_markdown",
    "render_plan_text",
    "render_rules_json",
    "render_rules_table",
    "rule_text",
]


def render_rules_table(rules: Iterable[Rule], *, title: str = "") -> Table:
    """A rich table of neutral rules."""
    table = Table(title=title or None, show_lines=False)
    for column in ("role", "direction", "protocol", "ports", "peer"):
        table.add_column(column, no_wrap=True)
    table.add_column("purpose", ratio=1)
    for rule in rules:
        table.add_row(
            rule.role,
            rule.direction.value,
            rule.protocol.value,
            str(rule.ports) if rule.ports else "all",
            str(rule.peer),
            escape(rule.purpose),
        )
    return table


def render_rules_json(rules: Iterable[Rule]) -> str:
    """A JSON list of rule objects (DESIGN §6)."""
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
    line.append(f"  description {op.before.description!r} -> {op.after.description!r}", style="dim")
    return line


register_op_renderer(CreateRuleOp, _render_create)
register_op_renderer(DeleteRuleOp, _render_delete)
register_op_renderer(UpdateRuleOp, _render_update)


def render_op(op: Op) -> Text:
    """One op as a line of text."""
    return _RENDERERS[type(op)](op)


def _group_header(group: GroupOps) -> Text:
    label = group.label or group.target
    head = Text(f"{label}", style="bold")
    head.append(f"  [{group.role}] {group.live_count} live rules", style="dim")
    return head


def render_plan_text(plan: Plan, *, show_unmanaged: bool = True) -> Group:
    """The human plan: per cluster, per target, +/-/~ lines and unmanaged rules."""
    parts: list[Any] = []
    for cluster in plan.clusters():
        groups = [g for g in plan.groups if g.cluster == cluster]
        provider = groups[0].provider if groups else ""
        parts.append(Text(f"cluster {cluster} ({provider})", style="bold cyan"))
        for group in groups:
            parts.append(_group_header(group))
            if group.is_empty():
                parts.append(Text("  in sync", style="dim green"))
            for op in group.ops:
                parts.append(render_op(op))
            if show_unmanaged:
                for rule in group.unmanaged:
                    line = Text("  ? ", style="magenta")
                    line.append(rule_text(rule), style="magenta")
                    line.append(f"  {rule.description!r}: unmanaged, left alone", style="dim")
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
    if counts["unmanaged"]:
        summary.append(f" {counts['unmanaged']} unmanaged rules left alone.", style="magenta")
    parts.append(summary)
    return Group(*parts)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_plan_markdown(plan: Plan) -> str:
    """A plan as GitHub-flavoured Markdown (pull-request comment, job summary)."""
    counts = plan.summary()
    lines = ["## portsync plan", ""]
    if plan.is_empty():
        lines.append("**No changes.** Live rules match the port tables.")
    else:
        lines.append(
            f"**{counts['add']} to add, {counts['update']} to update, "
            f"{counts['remove']} to remove.**"
        )
    if counts["unmanaged"]:
        lines.append(f"{counts['unmanaged']} unmanaged rules left alone.")
    lines.append("")
    for cluster in plan.clusters():
        groups = [g for g in plan.groups if g.cluster == cluster]
        lines.append(f"### Cluster `{cluster}` ({groups[0].provider})")
        lines.append("")
        for group in groups:
            lines.append(f"#### `{_md(group.label or group.target)}` — {group.role}")
            lines.append("")
            if group.is_empty() and not group.unmanaged:
                lines.append("In sync.")
                lines.append("")
                continue
            lines.append("| | protocol | ports | peer | description | why |")
            lines.append("|---|---|---|---|---|---|")
            for op in group.ops:
                sign = {"add": "➕ add", "remove": "➖ remove", "update": "✏️ update"}[
                    op.action.value
                ]
                r = op.rule
                lines.append(
                    f"| {sign} | {r.protocol.value} | {r.ports_text} | `{_md(str(r.peer))}` | "
                    f"{_md(r.description)} | {_md(op.reason)} |"
                )
            for r in group.unmanaged:
                lines.append(
                    f"| unmanaged | {r.protocol.value} | {r.ports_text} | `{_md(str(r.peer))}` | "
                    f"{_md(r.description)} | left alone |"
                )
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
