"""What an audit reports: findings (check, severity, reach, where), per-cluster summaries and
the report, with their stable JSON form."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

from portsync.exposure import (
    Check,
    Severity,
)
from portsync.model import (
    Direction,
    PortRange,
    Protocol,
    TargetRule,
)
from portsync.provider import Target

AUDIT_FORMAT_VERSION = 1


class Reach(str, Enum):
    """Who a live peer lets in."""

    WORLD = "world"
    UNKNOWN = "unknown"
    INTERNAL = "internal"

    def __str__(self) -> str:
        return self.value


# --- findings ----------------------------------------------------------------------------------


def rule_slug(rule: TargetRule) -> str:
    """A rule's stable short name: ``tcp-6443-cidr:0.0.0.0/0``, ``egress-all-sg:sg-1``.

    Args:
        rule: a live or desired rule.

    Returns:
        The slug (used in logical locations and fingerprints).

    Raises:
        Nothing.
    """
    ports = f"-{rule.ports.from_port}" if rule.ports else ""
    if rule.ports and rule.ports.to_port != rule.ports.from_port:
        ports += f"-{rule.ports.to_port}"
    head = "egress-" if rule.direction is Direction.EGRESS else ""
    return f"{head}{rule.protocol.value}{ports}-{rule.peer}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One exposure on one live rule of one target."""

    check: Check
    cluster: str
    provider: str
    target: str
    label: str
    role: str | None
    rule: TargetRule
    reach: Reach
    message: str
    component: str | None = None
    exposed: tuple[Protocol, PortRange] | None = None
    suppressed: bool = False

    @property
    def id(self) -> str:
        """The check id, e.g. ``PS-EXPOSED-ETCD``."""
        return self.check.id

    @property
    def severity(self) -> Severity:
        """The check's severity."""
        return self.check.severity

    @property
    def location(self) -> str:
        """``aws/prod-aws/sg-0aaa/tcp-6443-cidr:0.0.0.0/0``."""
        return f"{self.provider}/{self.cluster}/{self.target}/{rule_slug(self.rule)}"

    @property
    def fingerprint(self) -> str:
        """Stable across runs while the finding stays the same (for dashboards)."""
        exposed = f"{self.exposed[0].value}/{self.exposed[1]}" if self.exposed else ""
        blob = "|".join((self.id, self.location, exposed))
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def to_dict(self) -> dict[str, Any]:
        """The JSON finding object (see portsync/schemas/audit.schema.json)."""
        return {
            "id": self.id,
            "sarif_rule_id": self.check.sarif_id,
            "severity": self.severity.value,
            "title": self.check.title,
            "message": self.message,
            "cluster": self.cluster,
            "provider": self.provider,
            "target": self.target,
            "label": self.label,
            "role": self.role,
            "rule": self.rule.to_dict(),
            "reach": self.reach.value,
            "component": self.component,
            "exposed": (
                {
                    "protocol": self.exposed[0].value,
                    "from_port": self.exposed[1].from_port,
                    "to_port": self.exposed[1].to_port,
                }
                if self.exposed
                else None
            ),
            "why": self.check.why,
            "fix": self.check.fix,
            "help_uri": self.check.help_uri,
            "location": self.location,
            "fingerprint": self.fingerprint,
            "suppressed": self.suppressed,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterAudit:
    """What the audit looked at on one cluster."""

    cluster: str
    provider: str
    targets: tuple[tuple[Target, int], ...] = ()  # each target with its live rule count
    notes: tuple[str, ...] = ()
    declared_peers_checked: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditReport:
    """Every finding of one audit run, in a stable order."""

    findings: tuple[Finding, ...] = ()
    clusters: tuple[ClusterAudit, ...] = ()
    created_at: str = ""
    config_path: str | None = None

    def counts(self) -> dict[str, int]:
        """Unsuppressed findings by severity, plus the number suppressed."""
        counts = {s.value: 0 for s in Severity}
        counts["suppressed"] = 0
        for finding in self.findings:
            if finding.suppressed:
                counts["suppressed"] += 1
            else:
                counts[finding.severity.value] += 1
        return counts

    def failing(self, fail_on: Severity) -> list[Finding]:
        """Unsuppressed findings at or above ``fail_on``."""
        return [f for f in self.findings if not f.suppressed and f.severity.at_least(fail_on)]

    @property
    def notes(self) -> list[str]:
        """Every cluster's notes, prefixed with the cluster name."""
        return [f"{c.cluster}: {note}" for c in self.clusters for note in c.notes]

    def to_dict(self, *, fail_on: Severity = Severity.HIGH) -> dict[str, Any]:
        """The JSON object of ``audit --output json`` (portsync/schemas/audit.schema.json)."""
        return {
            "format_version": AUDIT_FORMAT_VERSION,
            "kind": "audit",
            "created_at": self.created_at,
            "fail_on": fail_on.value,
            "failed": bool(self.failing(fail_on)),
            "summary": self.counts(),
            "clusters": [
                {
                    "cluster": c.cluster,
                    "provider": c.provider,
                    "declared_peers_checked": c.declared_peers_checked,
                    "notes": list(c.notes),
                    "targets": [
                        {
                            "target": t.id,
                            "role": t.role,
                            "label": t.label,
                            "live_count": count,
                        }
                        for t, count in c.targets
                    ],
                }
                for c in self.clusters
            ],
            "findings": [f.to_dict() for f in self.findings],
        }

    def to_json(self, *, fail_on: Severity = Severity.HIGH) -> str:
        """Pretty, stable JSON."""
        return json.dumps(self.to_dict(fail_on=fail_on), indent=2, ensure_ascii=False) + "\n"


def finding_order(finding: Finding) -> tuple[Any, ...]:
    return (
        -finding.severity.rank,
        finding.cluster,
        finding.target,
        finding.id,
        finding.rule.key,
        str(finding.exposed[1]) if finding.exposed else "",
    )
