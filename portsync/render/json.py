"""JSON for machines: rules, plans, audits and explanations."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from portsync.model import Rule
from portsync.ops import Plan

if TYPE_CHECKING:
    from portsync.audit import AuditReport, Severity
    from portsync.explain import Explanation


def render_rules_json(rules: Iterable[Rule]) -> str:
    """A JSON list of neutral rule objects."""
    return json.dumps([r.to_dict() for r in rules], indent=2, ensure_ascii=False) + "\n"


def render_plan_json(plan: Plan, *, sign: bool = False) -> str:
    """The plan file's own JSON (what ``apply`` reads); signed with ``sign`` when
    ``PORTSYNC_PLAN_KEY`` is set."""
    return plan.to_json(sign=sign)


def render_audit_json(report: AuditReport, *, fail_on: Severity) -> str:
    """The audit report's JSON (docs/schemas/audit.schema.json)."""
    return report.to_json(fail_on=fail_on)


def render_explain_json(explanation: Explanation) -> str:
    """The answer of ``portsync explain`` as JSON."""
    return explanation.to_json()
