"""``portsync audit``: exposure findings on the live rules of every bound target.

The audit is Kubernetes-aware (it knows which component listens on which port of which role, from
the catalog rows with the config's overrides applied, plus the catalog's retired ports) and
range-aware (a rule for 10000-11000, or for protocol ``all``, exposes every component port inside
it). It classifies each live ingress peer by *reach*:

* ``world`` — what :func:`portsync.exposure.is_world` calls the world, the same definition the
  apply-time guard uses: a CIDR overlapping public address space (``0.0.0.0/0``, ``::/0``, any
  globally routable range; private ranges are not the world), or an Azure service tag meaning
  everyone (``Internet``, ``*``, ``Any``);
* ``unknown`` — a peer whose members portsync cannot see (an AWS managed prefix list, an Azure
  service tag other than the well-known internal ones);
* ``internal`` — private CIDRs, security groups, network tags, service accounts, application
  security groups, ``VirtualNetwork``/``AzureLoadBalancer``, and the cloud's load-balancer ranges
  that the desired rule set itself names.

Severities: etcd, kubelet, scheduler, controller-manager and retired ports reachable from the
world are ``high``; the API server and NodePorts open to the world are ``warning``; everything
else (other table ports open to the world, unknown reach, peers the desired rule set does not
name) is ``info``. Findings on the components the config accepts through ``allow_exposure``
(``etcd``, ``kubelet``, ``kube-scheduler``, ``kube-controller-manager``, ``retired`` — the names
the apply-time guard knows) are kept in the report, marked suppressed, and never fail a run.

The audit only reads: it uses the same providers and :class:`~portsync.api.Session` as ``plan``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from portsync.config import ClusterConfig, LoadedConfig
from portsync.errors import TranslationError
from portsync.evaluate import access_of
from portsync.exposure import EXPOSURE_FLOOR, is_world
from portsync.lifelines import closed_now, flows_by_target
from portsync.model import (
    Direction,
    Endpoint,
    EndpointKind,
    PortRange,
    Protocol,
    TargetRule,
)
from portsync.provider import Settings, Target
from portsync.versions import project_url

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

log = logging.getLogger(__name__)

AUDIT_FORMAT_VERSION = 1

#: Where the documentation lives (SARIF ``helpUri``, JSON ``help_uri``): the ``Documentation``
#: entry of pyproject's ``[project.urls]``, i.e. the docs/ folder of the repository.
DOCS_URL = project_url("Documentation", "https://github.com/portsync/portsync/blob/main/docs")


class Severity(str, Enum):
    """How bad a finding is; ``--fail-on`` compares against it."""

    HIGH = "high"
    WARNING = "warning"
    INFO = "info"

    def __str__(self) -> str:
        return self.value

    @property
    def rank(self) -> int:
        """3 for high, 2 for warning, 1 for info."""
        return {"high": 3, "warning": 2, "info": 1}[self.value]

    def at_least(self, other: Severity) -> bool:
        """Whether this severity is ``other`` or worse."""
        return self.rank >= other.rank


class Reach(str, Enum):
    """Who a live peer lets in."""

    WORLD = "world"
    UNKNOWN = "unknown"
    INTERNAL = "internal"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One kind of finding: a stable id, its severity and what to tell the operator."""

    id: str
    sarif_id: str
    severity: Severity
    title: str
    why: str
    fix: str

    @property
    def help_uri(self) -> str:
        """The check's section in docs/audit.md."""
        return f"{DOCS_URL}/audit.md#{self.id.lower()}"


def _check(
    id: str, slug: str, severity: Severity, title: str, why: str, fix: str
) -> tuple[str, Check]:
    return id, Check(
        id=id,
        sarif_id=f"portsync/exposure/{slug}",
        severity=severity,
        title=title,
        why=why,
        fix=fix,
    )


CHECKS: Mapping[str, Check] = dict(
    [
        _check(
            "PS-EXPOSED-ETCD",
            "etcd",
            Severity.HIGH,
            "etcd reachable from the internet",
            "etcd stores every Secret and the whole cluster state; whoever gets a request through "
            "to its client or peer port can read or rewrite the cluster.",
            "Allow 2379-2380 only from the control plane (and the etcd members): remove this rule "
            "or narrow its source to those machines.",
        ),
        _check(
            "PS-EXPOSED-KUBELET",
            "kubelet",
            Severity.HIGH,
            "kubelet API reachable from the internet",
            "The kubelet API runs commands in containers, streams logs and lists pods; a kubelet "
            "with anonymous auth left on is remote code execution on the node.",
            "Allow 10250 only from the control plane and the nodes themselves.",
        ),
        _check(
            "PS-EXPOSED-SCHEDULER",
            "scheduler",
            Severity.HIGH,
            "kube-scheduler reachable from the internet",
            "The scheduler's secure port serves health, metrics and profiling endpoints that only "
            "the control plane itself needs; open to the world it leaks internals and invites "
            "attacks on a component that is never meant to be public.",
            "Allow 10259 only from the control plane (self).",
        ),
        _check(
            "PS-EXPOSED-CONTROLLER-MANAGER",
            "controller-manager",
            Severity.HIGH,
            "kube-controller-manager reachable from the internet",
            "The controller manager holds the cluster's most powerful service-account credentials; "
            "its port serves health, metrics and profiling endpoints meant for the control plane "
            "only.",
            "Allow 10257 only from the control plane (self).",
        ),
        _check(
            "PS-EXPOSED-RETIRED-PORT",
            "retired-port",
            Severity.HIGH,
            "retired Kubernetes port reachable from the internet",
            "Older Kubernetes versions served these ports in plain HTTP without authentication "
            "(insecure scheduler and controller-manager ports, the read-only kubelet); a "
            "component still listening there answers anyone.",
            "Remove the rule (nothing current needs the port), and turn the old endpoint off on "
            "the nodes.",
        ),
        _check(
            "PS-EXPOSED-SENSITIVE-PORT",
            "sensitive-port",
            Severity.HIGH,
            "sensitive port of a node component reachable from the internet",
            "A catalog marks this port as one that must never face the internet: a network "
            "plugin's tunnel or routing port (VXLAN, BGP), an agent's health or metrics endpoint, "
            "a distribution's supervisor or embedded datastore. The finding says why.",
            "Allow the port only from the cluster's own machines (the catalog's rules), or remove "
            "the rule.",
        ),
        _check(
            "PS-EXPOSED-APISERVER",
            "apiserver",
            Severity.WARNING,
            "Kubernetes API server open to the world",
            "The API server authenticates every request, but a world-reachable endpoint is "
            "scanned, brute-forced and the first target of every API server vulnerability.",
            "Narrow the source to the networks that need the API (sources.all), or reach it "
            "through a VPN or bastion; if it is public by design, accept it with allow_exposure.",
        ),
        _check(
            "PS-EXPOSED-NODEPORT",
            "nodeport",
            Severity.WARNING,
            "NodePort range open to the world",
            "Every NodePort Service listens on every node; opening the range to the world "
            "publishes each of them directly, bypassing the load balancer and its controls.",
            "Allow the NodePort range only from the load balancers or known sources; use "
            "LoadBalancer or Ingress for public services.",
        ),
        _check(
            "PS-EXPOSED-KUBE-PROXY",
            "kube-proxy",
            Severity.INFO,
            "kube-proxy health port open to the world",
            "Only load-balancer health checks need kube-proxy's health endpoint; from the world "
            "it tells scanners which nodes run which services.",
            "Allow 10256 only from the nodes and the load balancers.",
        ),
        _check(
            "PS-EXPOSED-TABLE-PORT",
            "table-port",
            Severity.INFO,
            "port-table port open to the world",
            "The port table lists this port for the role, but not for the whole internet.",
            "Narrow the source to the peers the port table names.",
        ),
        _check(
            "PS-UNKNOWN-REACH",
            "unknown-reach",
            Severity.INFO,
            "Kubernetes port reachable from a peer of unknown extent",
            "The peer is a managed prefix list or a service tag whose members portsync cannot "
            "see; if it holds public ranges, a sensitive port is exposed.",
            "Check the prefix list or service tag holds only the networks you mean, or replace it "
            "with the explicit sources.",
        ),
        _check(
            "PS-UNDECLARED-PEER",
            "undeclared-peer",
            Severity.INFO,
            "live peer not named by the port tables",
            "A live rule lets in a peer that the desired rule set does not name for this target: "
            "it was added by hand or by another tool, and nobody reviews it with the port table.",
            "Add the peer to the port table (extra_rules) if it is needed, otherwise remove the "
            "rule.",
        ),
        (
            "PS-LIFELINE-CLOSED",
            Check(
                id="PS-LIFELINE-CLOSED",
                sarif_id="portsync/lifeline/closed",
                severity=Severity.WARNING,
                title="lifeline not open",
                why="The config names this flow under lifelines: as one that must never break, "
                "but the live rules of the target do not admit it today (no rule covers it, or a "
                "deny rule may block it).",
                fix="Add a rule that admits the flow (a port table row or extra_rules entry), "
                "remove the deny rule that blocks it, or change the lifeline if the flow is no "
                "longer needed.",
            ),
        ),
    ]
)

_COMPONENT_CHECKS: Mapping[str | None, str] = {
    "etcd": "PS-EXPOSED-ETCD",
    "kubelet": "PS-EXPOSED-KUBELET",
    "kube-scheduler": "PS-EXPOSED-SCHEDULER",
    "kube-controller-manager": "PS-EXPOSED-CONTROLLER-MANAGER",
    "kubelet-read-only": "PS-EXPOSED-RETIRED-PORT",
    "kube-apiserver": "PS-EXPOSED-APISERVER",
    "nodeport": "PS-EXPOSED-NODEPORT",
    "kube-proxy": "PS-EXPOSED-KUBE-PROXY",
}


# --- reach -------------------------------------------------------------------------------------

_INTERNAL_TAGS = frozenset({"virtualnetwork", "azureloadbalancer", "vnet"})


def classify_peer(peer: Endpoint, *, internal: Iterable[Endpoint] = ()) -> Reach:
    """Who ``peer`` lets in: the world, an unknown set, or internal machines.

    Args:
        peer: a live rule's peer.
        internal: endpoints known to be internal whatever they look like (the cloud's
            load-balancer ranges named by the desired rules).

    Returns:
        The reach.

    Raises:
        Nothing.
    """
    if peer in set(internal):
        return Reach.INTERNAL
    if is_world(peer):
        return Reach.WORLD
    if peer.kind is EndpointKind.SERVICE_TAG:
        return Reach.INTERNAL if peer.value.strip().lower() in _INTERNAL_TAGS else Reach.UNKNOWN
    if peer.kind is EndpointKind.PREFIX_LIST:
        return Reach.UNKNOWN
    return Reach.INTERNAL


# --- component ports ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentPort:
    """A port a Kubernetes component listens on, for some roles (None: every role)."""

    check: str
    component: str | None
    protocol: Protocol
    ports: PortRange
    roles: frozenset[str] | None
    purpose: str = ""

    def applies_to(self, role: str | None, known_roles: frozenset[str]) -> bool:
        """Whether the port matters on a target of ``role``.

        A role the port tables do not know gets every component port: portsync cannot tell
        what runs there.
        """
        if self.roles is None or role is None or role not in known_roles:
            return True
        return role in self.roles

    def reached_by(self, rule: TargetRule) -> bool:
        """Whether ``rule`` lets traffic to this port in (protocol and range aware)."""
        if rule.protocol is Protocol.ALL:
            return True
        if rule.protocol is not self.protocol or rule.ports is None:
            return False
        return rule.ports.overlaps(self.ports)

    def label(self) -> str:
        """``etcd tcp/2379-2380``, ``retired kube-scheduler port tcp/10251``."""
        where = f"{self.protocol.value}/{self.ports}"
        if self.check == "PS-EXPOSED-RETIRED-PORT":
            return f"retired {self.component or 'Kubernetes'} port {where}"
        return f"{self.component or self.purpose or 'port'} {where}"


def component_ports(loaded: LoadedConfig) -> list[ComponentPort]:
    """Component ports of the config's catalogs (overrides applied), the ports the catalogs mark
    sensitive, and their retired ports.

    Args:
        loaded: the loaded config.

    Returns:
        One entry per check, component, protocol and port range, roles merged.

    Raises:
        ConfigError: a catalog is unknown.
        PortTableError: a catalog cannot be read.
    """
    from portsync.synthesis import apply_overrides, load_catalogs

    config = loaded.config
    merged: dict[tuple[str, str | None, Protocol, PortRange], tuple[set[str] | None, str]] = {}

    def add(
        check: str,
        component: str | None,
        protocol: Protocol,
        ports: PortRange,
        roles: Iterable[str] | None,
        purpose: str,
    ) -> None:
        key = (check, component, protocol, ports)
        seen_roles, seen_purpose = merged.get(key, (set(), purpose))
        if roles is None or seen_roles is None:
            merged[key] = (None, seen_purpose)
        else:
            merged[key] = (seen_roles | set(roles), seen_purpose)

    catalogs = load_catalogs(loaded)
    for row in apply_overrides([r for c in catalogs for r in c.rows], config):
        if row.direction is not Direction.INGRESS or row.ports is None:
            continue  # portless rows (ICMP, IP-in-IP) name no component port
        role = "etcd" if config.etcd == "external" and row.component == "etcd" else row.role
        check = _COMPONENT_CHECKS.get(row.component, "PS-EXPOSED-TABLE-PORT")
        add(check, row.component, row.protocol, row.ports, [role], row.purpose)
    for catalog in catalogs:
        for sensitive in catalog.sensitive:
            add(
                _COMPONENT_CHECKS.get(sensitive.component, "PS-EXPOSED-SENSITIVE-PORT"),
                sensitive.component,
                sensitive.protocol,
                sensitive.ports,
                sensitive.roles or None,
                f"{catalog.name}: {sensitive.why}",
            )
        for retired in catalog.retired:
            add(
                "PS-EXPOSED-RETIRED-PORT",
                retired.component,
                retired.protocol,
                retired.ports,
                retired.roles or None,
                retired.why,
            )
    # The floor last, so a catalog's own wording of a port wins; on every role, whatever the
    # catalogs, overrides and etcd topology say.
    for floor in EXPOSURE_FLOOR:
        add(
            _COMPONENT_CHECKS[floor.component],
            floor.component,
            floor.protocol,
            floor.ports,
            None,
            floor.why,
        )
    return [
        ComponentPort(
            check=check,
            component=component,
            protocol=protocol,
            ports=ports,
            roles=frozenset(roles) if roles is not None else None,
            purpose=purpose,
        )
        for (check, component, protocol, ports), (roles, purpose) in merged.items()
    ]


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


def _finding_order(finding: Finding) -> tuple[Any, ...]:
    return (
        -finding.severity.rank,
        finding.cluster,
        finding.target,
        finding.id,
        finding.rule.key,
        str(finding.exposed[1]) if finding.exposed else "",
    )


def _peer_text(rule: TargetRule) -> str:
    if rule.origin and rule.origin != str(rule.peer):
        return f"{rule.peer} ({rule.origin})"
    return str(rule.peer)


def audit_target(
    *,
    cluster: str,
    provider: str,
    target: Target,
    live: Sequence[TargetRule],
    ports: Sequence[ComponentPort],
    desired: Sequence[TargetRule] | None = None,
    internal: Iterable[Endpoint] = (),
) -> list[Finding]:
    """Findings on one target's live rules (pure: no I/O).

    Args:
        cluster: the cluster name.
        provider: the provider name.
        target: the target the rules belong to.
        live: its live rules (egress rules are ignored).
        ports: component ports from :func:`component_ports`.
        desired: the target's desired rules, or None when they could not be computed (then the
            undeclared-peer check is skipped).
        internal: endpoints that count as internal whatever their address (the cloud's
            load-balancer ranges the desired rules name).

    Returns:
        The findings, unsorted and unsuppressed.

    Raises:
        Nothing.
    """
    known_roles = frozenset(r for p in ports for r in (p.roles or ()))
    relevant = [p for p in ports if p.applies_to(target.role, known_roles)]
    internal = set(internal)
    declared = {r.peer for r in desired or () if r.direction is Direction.INGRESS}
    out: list[Finding] = []

    def found(check: str, rule: TargetRule, reach: Reach, message: str, **more: Any) -> None:
        out.append(
            Finding(
                check=CHECKS[check],
                cluster=cluster,
                provider=provider,
                target=target.id,
                label=str(target),
                role=target.role,
                rule=rule,
                reach=reach,
                message=message,
                **more,
            )
        )

    for rule in live:
        if rule.direction is not Direction.INGRESS or access_of(rule) == "deny":
            continue  # a deny rule (GCP, Azure) exposes nothing
        reach = classify_peer(rule.peer, internal=internal)
        reached = [p for p in relevant if p.reached_by(rule)]
        flagged = False
        if reach is Reach.WORLD:
            seen: set[tuple[str, Protocol, PortRange]] = set()
            for port in reached:
                if (port.check, port.protocol, port.ports) in seen:
                    continue
                seen.add((port.check, port.protocol, port.ports))
                if rule.protocol is Protocol.ALL:
                    through = " through a rule for every protocol and port"
                elif rule.ports != port.ports:
                    through = f" through the rule for {rule.protocol.value} {rule.ports_text}"
                else:
                    through = ""
                found(
                    port.check,
                    rule,
                    reach,
                    f"{port.label()} on {target} is open to {_peer_text(rule)}{through}",
                    component=port.component,
                    exposed=(port.protocol, port.ports),
                )
                flagged = True
        elif reach is Reach.UNKNOWN:
            sensitive = [p for p in reached if CHECKS[p.check].severity is not Severity.INFO]
            if sensitive:
                names = ", ".join(sorted({p.label() for p in sensitive}))
                found(
                    "PS-UNKNOWN-REACH",
                    rule,
                    reach,
                    f"{names} on {target} is open to {rule.peer}, whose members portsync cannot "
                    "see",
                )
                flagged = True
        if not flagged and desired is not None and rule.peer not in declared:
            found(
                "PS-UNDECLARED-PEER",
                rule,
                reach,
                f"{target} lets in {_peer_text(rule)} on {rule.protocol.value} {rule.ports_text}, "
                "a peer the port tables do not name for this target",
            )
    return out


def lifeline_findings(
    *,
    cluster: str,
    provider: str,
    target: Target,
    live: Sequence[TargetRule],
    lifelines: Mapping[str, Sequence[TargetRule]],
) -> list[Finding]:
    """A finding per lifeline of ``target`` that its live rules do not keep open today (pure).

    The lifeline is judged by the evaluator ``plan`` uses for lifelines (every live rule of any
    owner counts; a deny rule ahead of the allow rules closes it). The finding's rule is the first
    flow not admitted, so its location names the lifeline's protocol, port and peer.
    """
    out = []
    for name, shut in closed_now(lifelines, live):
        flow = shut[0]
        more = f" (and {len(shut) - 1} more of its flows)" if len(shut) > 1 else ""
        out.append(
            Finding(
                check=CHECKS["PS-LIFELINE-CLOSED"],
                cluster=cluster,
                provider=provider,
                target=target.id,
                label=str(target),
                role=target.role,
                rule=flow,
                reach=classify_peer(flow.peer),
                message=f"lifeline {name!r} is not open on {target}: no live rule admits "
                f"{flow.protocol.value} {flow.ports_text} from {_peer_text(flow)}{more}",
            )
        )
    return out


# --- allow_exposure ----------------------------------------------------------------------------

#: The ``allow_exposure`` name (shared with the apply-time guard) that accepts each check.
ALLOW_NAMES: Mapping[str, str] = {
    "PS-EXPOSED-ETCD": "etcd",
    "PS-EXPOSED-KUBELET": "kubelet",
    "PS-EXPOSED-SCHEDULER": "kube-scheduler",
    "PS-EXPOSED-CONTROLLER-MANAGER": "kube-controller-manager",
    "PS-EXPOSED-RETIRED-PORT": "retired",
    "PS-EXPOSED-SENSITIVE-PORT": "catalog-sensitive",
    # Warnings, not refused by apply: accepting them only marks the findings suppressed (a
    # public-by-design API server, NodePorts behind a public load balancer).
    "PS-EXPOSED-APISERVER": "kube-apiserver",
    "PS-EXPOSED-NODEPORT": "nodeport",
}


def _suppress(findings: Iterable[Finding], allowed: Iterable[str]) -> list[Finding]:
    accepted = set(allowed)
    return [
        replace(f, suppressed=True) if ALLOW_NAMES.get(f.id) in accepted else f for f in findings
    ]


# --- the run -----------------------------------------------------------------------------------


def audit(
    loaded: LoadedConfig,
    *,
    clusters: Sequence[str] = (),
    settings: Settings | None = None,
    session: Any = None,
    progress: Callable[[str], None] | None = None,
) -> AuditReport:
    """Read the live rules of every selected cluster and report exposures.

    Clusters are read concurrently (bounded), each with one batched read of its targets.

    Args:
        loaded: the loaded config (only the cluster bindings are required).
        clusters: names to audit; all configured clusters when empty.
        settings: run-wide settings.
        session: an :class:`~portsync.api.Session` to reuse.
        progress: called with a short line per cluster.

    Returns:
        The report, findings sorted by severity, cluster, target and rule.

    Raises:
        ConfigError, PortTableError: bad config or catalog.
        ProviderError: a cloud refused or a bound target does not exist.
    """
    from portsync.api import Session, select_clusters
    from portsync.synthesis import synthesize

    settings = settings or Settings(mode=loaded.config.mode)
    session = session or Session(loaded, settings)
    ports = component_ports(loaded)
    ruleset = synthesize(loaded)
    selected = select_clusters(loaded, clusters)

    def one(cluster: ClusterConfig) -> tuple[ClusterAudit, list[Finding]]:
        if progress:
            progress(f"auditing {cluster.name} ({cluster.provider})")
        provider = session.provider(cluster)
        targets = provider.targets()
        live = provider.fetch(targets)
        notes: list[str] = []
        desired: list[TargetRule] | None
        try:
            desired = provider.translate(ruleset, loaded.config.sources)
        except TranslationError as exc:
            desired = None
            first = str(exc).splitlines()[0]
            notes.append(
                "peers not named by the port tables were not checked (info findings skipped): "
                f"the desired rules cannot be resolved: {first}"
            )
            log.info("cluster %s: desired rules unavailable: %s", cluster.name, exc)
        internal = {r.peer for r in desired or () if r.origin == "load-balancers"}
        findings: list[Finding] = []
        try:
            lifelines = flows_by_target(loaded.config, provider, cluster)
        except TranslationError as exc:
            lifelines = {}
            notes.append(f"lifelines were not checked: {str(exc).splitlines()[0]}")
        for target in targets:
            findings.extend(
                lifeline_findings(
                    cluster=cluster.name,
                    provider=cluster.provider,
                    target=target,
                    live=live.get(target.id, []),
                    lifelines=lifelines.get(target.id, {}),
                )
            )
            findings.extend(
                audit_target(
                    cluster=cluster.name,
                    provider=cluster.provider,
                    target=target,
                    live=live.get(target.id, []),
                    ports=ports,
                    desired=(
                        None if desired is None else [r for r in desired if r.target == target.id]
                    ),
                    internal=internal,
                )
            )
        summary = ClusterAudit(
            cluster=cluster.name,
            provider=cluster.provider,
            targets=tuple((t, len(live.get(t.id, []))) for t in targets),
            notes=tuple(notes),
            declared_peers_checked=desired is not None,
        )
        return summary, findings

    results: list[tuple[ClusterAudit, list[Finding]]] = []
    if selected:
        workers = max(1, min(settings.max_workers, len(selected)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="audit") as pool:
            results = list(pool.map(one, selected))
    findings = _suppress((f for _, found in results for f in found), loaded.config.allow_exposure)
    for finding in findings:
        log.info("%s %s %s", finding.severity.value, finding.id, finding.location)
    return AuditReport(
        findings=tuple(sorted(findings, key=_finding_order)),
        clusters=tuple(summary for summary, _ in results),
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        config_path=str(loaded.path) if loaded.path else None,
    )


def empty_report() -> AuditReport:
    """A report of no clusters (an empty shard)."""
    return AuditReport(created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
