"""One way to print a plan, shared by ``portsync plan`` and ``portsync show PLAN.json``.

Both commands hand the plan to :func:`emit_plan`, so ``show`` prints exactly what ``plan`` printed
when it made the file, in every format, without a cloud call.
"""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING

from portsync.ops import Plan
from portsync.writes import Write

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


#: Width of the writes listing: bodies wrap here.
WIDTH = 80


def render_writes(plan: Plan) -> str:
    """The cloud writes the plan holds, as literal text at most :data:`WIDTH` columns wide.

    Writes are listed per write unit in the order apply sends them there (make, then change,
    then break); units run in parallel, in any order. Each body is the exact request, as JSON
    with every non-ASCII or control character escaped (it may come from a file), wrapped.
    """
    units: dict[tuple[str, str], list[Write]] = {}
    for write in plan.writes:
        units.setdefault((write.cluster, write.target), []).append(write)
    if not units:
        if not plan.is_empty():
            return (
                "The plan records no writes (it was made by an earlier portsync); make a new "
                "plan with `portsync plan --out PLAN.json`.\n"
            )
        return "No writes: the plan changes nothing.\n"
    count = len(plan.writes)
    lines = [f"{count} write{'s' if count != 1 else ''}, in the order apply sends them per unit:"]
    for (cluster, target), unit in units.items():
        lines.append("")
        lines.extend(_wrap(f"{cluster} {target}:", "", "    "))
        for number, write in enumerate(sorted(unit, key=lambda w: w.phase), start=1):
            head = f"{number}. {write.phase.name.lower()} {write.api} {write.method}"
            if write.removes:
                head += f" (removes {write.removes})"
            lines.extend(_wrap(head, "  ", "      "))
            body = json.dumps(dict(write.body), sort_keys=True, ensure_ascii=True)
            lines.extend(_wrap(body, "     ", "     "))
    return "\n".join(lines) + "\n"


def _wrap(text: str, first: str, rest: str) -> list[str]:
    """``text`` as lines of at most :data:`WIDTH` columns, long words broken."""
    text = "".join(c if c.isprintable() and c.isascii() else "?" for c in text)
    return textwrap.wrap(
        text,
        width=WIDTH,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=True,
        break_on_hyphens=False,
        drop_whitespace=False,
    ) or [first.rstrip()]
