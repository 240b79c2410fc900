"""Every report in every format, from one table.

A report (``rules``, ``plan``, ``audit``, ``explain``) in a format (``text``, ``json``,
``markdown``, ``sarif``) is rendered by the function :data:`RENDERERS` holds for that pair; the
commands look it up instead of branching on the format. One module per format:
:mod:`.text` (rich, for a terminal), :mod:`.markdown` (pull-request comments and job summaries),
:mod:`.json` (machines) and :mod:`.sarif` (code-scanning dashboards); :mod:`.common` says what
every format says the same way.

A renderer returns either text, printed as it is, or a rich renderable, printed through the
console (literal: nothing in it is read as markup).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import RenderableType

from . import json, markdown, sarif, text
from .text import register_op_renderer

if TYPE_CHECKING:
    from portsync.audit import Severity
    from portsync.config import LoadedConfig
    from portsync.output import Output

__all__ = [
    "RENDERERS",
    "RenderOptions",
    "emit",
    "register_op_renderer",
    "render",
]


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """What a command passes to every renderer; each takes the options it needs.

    Attributes:
        title: the heading of a rules table.
        show_unmanaged: list the unmanaged rules of a plan (text and Markdown count them
            otherwise).
        sign: sign a plan's JSON when ``PORTSYNC_PLAN_KEY`` is set (``plan`` only: ``show``
            must never sign a file it merely read).
        fail_on: the severity at which an audit fails (its headline says so).
        config: the loaded config, whose lines SARIF results point at.
    """

    title: str = ""
    show_unmanaged: bool = False
    sign: bool = False
    fail_on: Severity | None = None
    config: LoadedConfig | None = None


Rendered = str | RenderableType
Renderer = Callable[[Any, RenderOptions], Rendered]


def _fail_on(options: RenderOptions) -> Severity:
    from portsync.audit import Severity

    return options.fail_on or Severity.HIGH


#: (report, format) → renderer of that report in that format.
RENDERERS: dict[tuple[str, str], Renderer] = {
    ("rules", "text"): lambda rules, o: text.render_rules_table(rules, title=o.title),
    ("rules", "json"): lambda rules, o: json.render_rules_json(rules),
    ("plan", "text"): lambda plan, o: text.render_plan_text(plan, show_unmanaged=o.show_unmanaged),
    ("plan", "json"): lambda plan, o: json.render_plan_json(plan, sign=o.sign),
    ("plan", "markdown"): lambda plan, o: markdown.render_plan_markdown(
        plan, show_unmanaged=o.show_unmanaged
    ),
    ("plan", "sarif"): lambda plan, o: sarif.to_json(sarif.plan_to_sarif(plan, config=o.config)),
    ("audit", "text"): lambda report, o: text.render_audit_text(report, fail_on=_fail_on(o)),
    ("audit", "json"): lambda report, o: json.render_audit_json(report, fail_on=_fail_on(o)),
    ("audit", "markdown"): lambda report, o: markdown.render_audit_markdown(
        report, fail_on=_fail_on(o)
    ),
    ("audit", "sarif"): lambda report, o: sarif.to_json(
        sarif.audit_to_sarif(report, config=o.config)
    ),
    ("explain", "text"): lambda answer, o: text.render_explain_text(answer),
    ("explain", "json"): lambda answer, o: json.render_explain_json(answer),
}


def render(report: str, fmt: str, subject: Any, options: RenderOptions | None = None) -> Rendered:
    """``subject`` (a rule set, plan, audit report or explanation) as ``report`` in ``fmt``.

    Raises:
        KeyError: no renderer for that pair (a programming error: the commands offer only the
            formats the table holds).
    """
    return RENDERERS[report, fmt](subject, options or RenderOptions())


def emit(
    out: Output, report: str, fmt: str, subject: Any, options: RenderOptions | None = None
) -> None:
    """Render and print on stdout: text as it is, a rich renderable through the console."""
    rendered = render(report, fmt, subject, options)
    if isinstance(rendered, str):
        out.raw(rendered)
    else:
        out.print(rendered)
