"""SARIF 2.1.0 reports of plans (drift) and audits (exposure), for code-scanning dashboards.

Each drift or exposure becomes one ``result`` with a stable ``ruleId`` (``portsync/drift/missing``,
``portsync/exposure/etcd``, …), a ``level`` (``error`` / ``warning`` / ``note``), a logical
location naming cloud / cluster / target / rule (``aws/prod-aws/sg-0aaa/tcp-6443-cidr:0.0.0.0/0``)
and ``partialFingerprints`` that stay the same while the problem does, so dashboards track one
alert across nightly runs. When the config file is known, each result also points at the line of
the cluster's role binding in it: code-scanning services show results on a file and a line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portsync.audit import CHECKS, DOCS_URL, AuditReport, Finding, Severity, rule_slug
from portsync.model import TargetRule
from portsync.ops import CreateRuleOp, DeleteRuleOp, GroupOps, Plan, UpdateRuleOp
from portsync.planrisk import unmanaged_risks

if TYPE_CHECKING:
    from portsync.config import LoadedConfig

__all__ = [
    "DRIFT_RULES",
    "SARIF_SCHEMA",
    "SARIF_VERSION",
    "SECURITY_SEVERITY",
    "audit_to_sarif",
    "plan_to_sarif",
    "to_json",
]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_FINGERPRINT_KEY = "portsyncResult/v1"
_LEVELS = {Severity.HIGH: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


#: ``properties.security-severity`` of each exposure check: the CVSS-like score (0.1-10.0, as a
#: string) code-scanning services rank security alerts by — 9.0 and up is shown as critical,
#: 7.0 high, 4.0 medium, below that low. etcd and the kubelet open to the world are a cluster
#: takeover (critical); retired, sensitive and control-plane-only ports are high; the API server
#: and NodePorts authenticate or are meant to be reached (medium); the rest is low.
SECURITY_SEVERITY: Mapping[str, str] = {
    "PS-EXPOSED-ETCD": "9.8",
    "PS-EXPOSED-KUBELET": "9.8",
    "PS-EXPOSED-CONTROLLER-MANAGER": "8.8",
    "PS-EXPOSED-SCHEDULER": "8.2",
    "PS-EXPOSED-RETIRED-PORT": "8.1",
    "PS-EXPOSED-SENSITIVE-PORT": "7.5",
    "PS-EXPOSED-APISERVER": "5.3",
    "PS-EXPOSED-NODEPORT": "5.3",
    "PS-UNKNOWN-REACH": "4.0",
    "PS-EXPOSED-KUBE-PROXY": "3.1",
    "PS-EXPOSED-TABLE-PORT": "3.1",
    "PS-UNDECLARED-PEER": "2.0",
    # Not an exposure: a flow the operator said must never break is cut (medium, like the
    # warnings above).
    "PS-LIFELINE-CLOSED": "4.0",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class _Descriptor:
    id: str
    name: str
    level: str
    short: str
    full: str
    help: str
    anchor: str
    tags: tuple[str, ...] = ()
    security_severity: str | None = None

    def to_sarif(self) -> dict[str, Any]:
        properties: dict[str, Any] = {"tags": list(self.tags)}
        if self.security_severity is not None:
            properties["security-severity"] = self.security_severity
        return {
            "id": self.id,
            "name": self.name,
            "shortDescription": {"text": self.short},
            "fullDescription": {"text": self.full},
            "help": {"text": self.help, "markdown": self.help},
            "helpUri": f"{DOCS_URL}/{self.anchor}",
            "defaultConfiguration": {"level": self.level},
            "properties": properties,
        }


DRIFT_RULES: Mapping[str, _Descriptor] = {
    d.id: d
    for d in (
        _Descriptor(
            id="portsync/drift/missing",
            name="MissingRule",
            level="warning",
            short="A rule the port tables require is missing",
            full="The desired rule set holds a rule that is not live on the target, so the "
            "traffic it allows is blocked (a node may fail to join, a health check to pass).",
            help="Review the plan, then run `portsync apply` (or apply the saved plan) to add it.",
            anchor="reports.md#portsyncdriftmissing",
            tags=("drift", "kubernetes"),
        ),
        _Descriptor(
            id="portsync/drift/unwanted",
            name="UnwantedRule",
            level="warning",
            short="A live rule is no longer wanted",
            full="A rule portsync owns (or, in exclusive mode, any rule) is live but no longer in "
            "the desired rule set: it opens more than the port tables say.",
            help="Review the plan, then run `portsync apply` to remove it.",
            anchor="reports.md#portsyncdriftunwanted",
            tags=("drift", "kubernetes"),
        ),
        _Descriptor(
            id="portsync/drift/stale",
            name="StaleRule",
            level="note",
            short="A live rule's description or attributes are out of date",
            full="The rule allows the right traffic, but its description (or a provider "
            "attribute) differs from the desired one; apply updates it in place.",
            help="Run `portsync apply`; the update never opens a gap.",
            anchor="reports.md#portsyncdriftstale",
            tags=("drift",),
        ),
        _Descriptor(
            id="portsync/drift/unmanaged",
            name="UnmanagedRule",
            level="note",
            short="A live rule portsync does not own exposes a Kubernetes port",
            full="The rule was not created by portsync and is left alone (except in exclusive "
            "mode). It is reported because `portsync audit` finds it risky: it opens a "
            "component port to the world or to a peer of unknown extent. Unmanaged rules that "
            "expose nothing are not reported (the plan's JSON lists them all).",
            help="Narrow or remove the rule, add it to the port tables (extra_rules) if it is "
            "needed as it is, or accept the exposure with allow_exposure.",
            anchor="reports.md#portsyncdriftunmanaged",
            tags=("drift", "review"),
        ),
    )
}


def _exposure_descriptor(check_id: str) -> _Descriptor:
    check = CHECKS[check_id]
    return _Descriptor(
        id=check.sarif_id,
        name="".join(part.capitalize() for part in check.id.split("-")[1:]),
        level=_LEVELS[check.severity],
        short=check.title[0].upper() + check.title[1:],
        full=f"{check.why} (portsync check {check.id}, severity {check.severity.value}.)",
        help=check.fix,
        anchor=f"audit.md#{check.id.lower()}",
        tags=("security", "exposure", "kubernetes", check.severity.value),
        security_severity=SECURITY_SEVERITY[check_id],
    )


def _version() -> str:
    try:
        return metadata.version("portsync")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def _driver(rules: Sequence[_Descriptor]) -> dict[str, Any]:
    version = _version()
    return {
        "name": "portsync",
        "fullName": "portsync — cloud firewalls in line with Kubernetes port tables",
        "version": version,
        "semanticVersion": version,
        "informationUri": DOCS_URL,
        "rules": [r.to_sarif() for r in rules],
    }


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


class _Locator:
    """Finds the config line of a cluster's role binding, as a SARIF physical location."""

    def __init__(self, config: LoadedConfig | None) -> None:
        self.config = config
        self.uri: str | None = None
        self.base: str | None = None
        if config is not None and config.path is not None:
            path = Path(config.path).resolve()
            try:
                self.uri = path.relative_to(Path.cwd().resolve()).as_posix()
                self.base = "%SRCROOT%"
            except ValueError:
                self.uri = path.as_uri()

    def physical(self, cluster: str, role: str | None) -> dict[str, Any] | None:
        if self.config is None or self.uri is None:
            return None
        index = self.config.cluster_index(cluster)
        lines = self.config.lines
        line = None
        if index >= 0:
            for loc in (("clusters", index, "roles", role or ""), ("clusters", index)):
                line = lines.get(loc)
                if line is not None:
                    break
        artifact: dict[str, Any] = {"uri": self.uri}
        if self.base:
            artifact["uriBaseId"] = self.base
        physical: dict[str, Any] = {"artifactLocation": artifact}
        if line is not None:
            physical["region"] = {"startLine": line}
        return physical


def _location(
    locator: _Locator,
    *,
    provider: str,
    cluster: str,
    target: str,
    role: str | None,
    rule: TargetRule,
) -> dict[str, Any]:
    location: dict[str, Any] = {
        "logicalLocations": [
            {
                "name": rule_slug(rule),
                "fullyQualifiedName": f"{provider}/{cluster}/{target}/{rule_slug(rule)}",
                "kind": "resource",
            }
        ]
    }
    physical = locator.physical(cluster, role)
    if physical is not None:
        location["physicalLocation"] = physical
    return location


def _rule_text(rule: TargetRule) -> str:
    peer = str(rule.peer)
    if rule.origin and rule.origin != peer:
        peer = f"{peer} ({rule.origin})"
    return f"{rule.protocol.value} {rule.ports_text} from {peer}"


def _log(run: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def plan_to_sarif(plan: Plan, *, config: LoadedConfig | None = None) -> dict[str, Any]:
    """The drift of ``plan`` as a SARIF 2.1.0 log.

    Args:
        plan: a plan from :func:`portsync.api.plan` or a saved plan file.
        config: the config the plan was made with (results then point at its lines, and its
            port tables judge which unmanaged rules are risky).

    Returns:
        The SARIF log as a JSON-ready dict. Every change is a result; an unmanaged rule is one
        only when the audit finds it risky (:mod:`portsync.planrisk`), and rules the cloud
        creates by itself never are.

    Raises:
        ConfigError, PortTableError: the config's port tables cannot be read.
    """
    descriptors = list(DRIFT_RULES.values())
    index = {d.id: i for i, d in enumerate(descriptors)}
    locator = _Locator(config)
    results: list[dict[str, Any]] = []

    risks = unmanaged_risks(plan, config)

    def add(
        group: GroupOps,
        rule_id: str,
        rule: TargetRule,
        text: str,
        *,
        level: str | None = None,
        **props: Any,
    ) -> None:
        fqn = f"{group.provider}/{group.cluster}/{group.target}/{rule_slug(rule)}"
        results.append(
            {
                "ruleId": rule_id,
                "ruleIndex": index[rule_id],
                "level": level or DRIFT_RULES[rule_id].level,
                "message": {"text": text},
                "locations": [
                    _location(
                        locator,
                        provider=group.provider,
                        cluster=group.cluster,
                        target=group.target,
                        role=group.role,
                        rule=rule,
                    )
                ],
                "partialFingerprints": {_FINGERPRINT_KEY: _fingerprint(rule_id, fqn)},
                "properties": {
                    "cluster": group.cluster,
                    "provider": group.provider,
                    "target": group.target,
                    "role": group.role,
                    "rule": rule.to_dict(),
                    **props,
                },
            }
        )

    for group in plan.groups:
        where = f"{group.cluster}/{group.label or group.target}"
        removed = set()
        for op in group.ops:
            if isinstance(op, CreateRuleOp):
                add(
                    group,
                    "portsync/drift/missing",
                    op.rule,
                    f"Missing on {where}: {_rule_text(op.rule)} ({op.reason}). "
                    "`portsync apply` adds it.",
                    action="add",
                )
            elif isinstance(op, DeleteRuleOp):
                removed.add(op.rule.key)
                add(
                    group,
                    "portsync/drift/unwanted",
                    op.rule,
                    f"Unwanted on {where}: {_rule_text(op.rule)} ({op.reason}). "
                    "`portsync apply` removes it.",
                    action="remove",
                )
            elif isinstance(op, UpdateRuleOp):
                add(
                    group,
                    "portsync/drift/stale",
                    op.before,
                    f"Out of date on {where}: {_rule_text(op.before)} ({op.reason}). "
                    "`portsync apply` updates it in place.",
                    action="update",
                )
        for rule in group.unmanaged:
            found = risks.get((group.cluster, group.target, rule.key))
            if rule.key in removed or not found:
                continue  # only a risky rule is worth an alert
            description = f" '{rule.description}'" if rule.description else ""
            worst = max(found, key=lambda f: f.severity.rank)
            add(
                group,
                "portsync/drift/unmanaged",
                rule,
                f"Unmanaged on {where}: {_rule_text(rule)}{description} is not owned by "
                f"portsync and is left alone, but {worst.message} ({worst.id}).",
                action="none",
                level=_LEVELS[worst.severity],
                audit=sorted({f.id for f in found}),
            )
    run: dict[str, Any] = {
        "tool": {"driver": _driver(descriptors)},
        "automationDetails": {"id": "portsync/plan/"},
        "columnKind": "unicodeCodePoints",
        "results": results,
        "invocations": [
            {
                "executionSuccessful": True,
                "toolExecutionNotifications": [],
            }
        ],
        "properties": {"summary": plan.summary(), "mode": plan.mode},
    }
    return _log(run)


def _finding_result(finding: Finding, index: int, locator: _Locator) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.check.sarif_id,
        "ruleIndex": index,
        "level": _LEVELS[finding.severity],
        "message": {"text": f"{finding.message}. {finding.check.fix}"},
        "locations": [
            _location(
                locator,
                provider=finding.provider,
                cluster=finding.cluster,
                target=finding.target,
                role=finding.role,
                rule=finding.rule,
            )
        ],
        "partialFingerprints": {_FINGERPRINT_KEY: finding.fingerprint},
        "properties": {
            "portsyncId": finding.id,
            "severity": finding.severity.value,
            "cluster": finding.cluster,
            "provider": finding.provider,
            "target": finding.target,
            "role": finding.role,
            "reach": finding.reach.value,
            "rule": finding.rule.to_dict(),
        },
    }
    if finding.suppressed:
        result["suppressions"] = [
            {"kind": "external", "justification": "accepted by allow_exposure in the config"}
        ]
    return result


def audit_to_sarif(report: AuditReport, *, config: LoadedConfig | None = None) -> dict[str, Any]:
    """The findings of ``report`` as a SARIF 2.1.0 log.

    Args:
        report: from :func:`portsync.audit.audit`.
        config: the config the audit ran with (results then point at its lines).

    Returns:
        The SARIF log as a JSON-ready dict.

    Raises:
        Nothing.
    """
    descriptors = [_exposure_descriptor(check_id) for check_id in CHECKS]
    index = {CHECKS[check_id].sarif_id: i for i, check_id in enumerate(CHECKS)}
    locator = _Locator(config)
    run: dict[str, Any] = {
        "tool": {"driver": _driver(descriptors)},
        "automationDetails": {"id": "portsync/audit/"},
        "columnKind": "unicodeCodePoints",
        "results": [_finding_result(f, index[f.check.sarif_id], locator) for f in report.findings],
        "invocations": [
            {
                "executionSuccessful": True,
                "toolExecutionNotifications": [
                    {"level": "note", "message": {"text": note}} for note in report.notes
                ],
            }
        ],
        "properties": {"summary": report.counts()},
    }
    return _log(run)


def to_json(log: Mapping[str, Any]) -> str:
    """Pretty, stable JSON text of a SARIF log.

    Args:
        log: from :func:`plan_to_sarif` or :func:`audit_to_sarif`.

    Returns:
        The text, ending with a newline.

    Raises:
        Nothing.
    """
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
