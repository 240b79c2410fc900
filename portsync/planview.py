"""One way to print a plan, shared by ``portsync plan`` and ``portsync show PLAN.json``.

Both commands hand the plan to :func:`emit_plan`, so ``show`` prints exactly what ``plan`` printed
when it made the file, in every format, without a cloud call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from portsync.ops import Plan, UpdateRuleOp

if TYPE_CHECKING:
    from portsync.config import LoadedConfig
    from portsync.output import Output

__all__ = ["PLAN_FORMATS", "emit_plan", "render_writes"]

PLAN_FORMATS = ("text", "json", "markdown", "sarif")


def emit_plan(
    out: Output,
    plan: Plan,
    fmt: str,
    *,
    config: LoadedConfig | None = None,
    show_unmanaged: bool = False,
    sign: bool = False,
) -> None:
    """Print ``plan`` on stdout in ``fmt`` (one of :data:`PLAN_FORMATS`).

    ``show_unmanaged`` lists the unmanaged rules in text and Markdown, which otherwise count them
    per target; JSON always holds every rule, and SARIF reports the risky ones.

    ``sign``: JSON is signed when ``PORTSYNC_PLAN_KEY`` is set (``plan`` only: ``show`` must never
    sign a file it merely read).
    """
    from portsync.render import RenderOptions, emit

    options = RenderOptions(show_unmanaged=show_unmanaged, sign=sign, config=config)
    emit(out, "plan", fmt, plan, options)


def render_writes(plan: Plan, data: dict[str, Any]) -> str:
    """The cloud writes the plan holds, in the order apply makes them, one per line.

    A plan file that records its writes (``writes``: the API calls per target) is shown as it is;
    otherwise the writes are the plan's operations per target, additions before updates before
    removals (make-before-break), which is the order apply follows.
    """
    recorded = data.get("writes")
    lines: list[str] = []
    if isinstance(recorded, list) and recorded:
        for item in recorded:
            lines.append(_one_line(item))
        return "\n".join(lines) + "\n"
    for group in plan.groups:
        if group.is_empty():
            continue
        lines.append(f"{group.cluster} ({group.provider}) {group.label or group.target}:")
        for op in group.ops:
            rule = op.rule
            verb = {"add": "create", "remove": "delete", "update": "update"}[op.action.value]
            text = f"  {verb} {rule.direction.value} {rule.protocol.value} {rule.ports_text} "
            text += f"{'from' if rule.direction.value == 'ingress' else 'to'} {rule.peer}"
            if isinstance(op, UpdateRuleOp):
                text += f" (description {op.before.description!r} -> {op.after.description!r})"
            lines.append(text)
    if not lines:
        return "No writes: the plan changes nothing.\n"
    return "\n".join(lines) + "\n"


def _one_line(item: Any) -> str:
    """A recorded write as one line of inert text (it comes from a file)."""
    import json

    if isinstance(item, str):
        return item.replace("\n", " ")
    return json.dumps(item, ensure_ascii=False, sort_keys=True)
