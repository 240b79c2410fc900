"""``portsync audit``: exposure findings on the live rules of every bound target.

The audit is Kubernetes-aware (it knows which component listens on which port of which role, from
the catalog rows with the config's overrides applied, plus the catalog's retired ports) and
range-aware (a rule for 10000-11000, or for protocol ``all``, exposes every component port inside
it). What each port means, how bad its exposure is and which ``allow_exposure`` name accepts it
is :mod:`portsync.exposure`'s knowledge, shared with the apply-time guard.

Modules: :mod:`.run` reads the live rules and checks each target; :mod:`.findings` holds what the
audit reports. See :mod:`.run` for the reach classes and the severities.
"""

from portsync.exposure import (
    ALLOW_NAMES,
    CHECKS,
    DOCS_URL,
    Check,
    ComponentPort,
    Severity,
    component_ports,
)

from .findings import AUDIT_FORMAT_VERSION, AuditReport, ClusterAudit, Finding, Reach, rule_slug
from .run import audit, audit_target, classify_peer, empty_report

__all__ = [
    "ALLOW_NAMES",
    "AUDIT_FORMAT_VERSION",
    "CHECKS",
    "DOCS_URL",
    "AuditReport",
    "Check",
    "ClusterAudit",
    "ComponentPort",
    "Finding",
    "Reach",
    "Severity",
    "audit",
    "audit_target",
    "classify_peer",
    "component_ports",
    "empty_report",
    "rule_slug",
]
