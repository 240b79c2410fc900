"""The audit run: read the live rules of every bound target and check each one for exposures.

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

The audit only reads: it uses the same providers and :class:`~portsync.session.Session` as ``plan``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from portsync.config import ClusterConfig, LoadedConfig
from portsync.errors import TranslationError
from portsync.evaluate import Answer, Contains, Match, access_of, answers, reach_of

# The checks, their severities, the component ports and the allow_exposure names are the
# exposure knowledge the apply-time guard shares.
from portsync.exposure import (
    ALLOW_NAMES,
    CHECKS,
    ComponentPort,
    Severity,
    component_ports,
    is_world,
)
from portsync.lifelines import closed_now, flows_by_target
from portsync.membership import memberships
from portsync.model import (
    Direction,
    Endpoint,
    PortRange,
    Protocol,
    TargetRule,
)
from portsync.peers import native_spec
from portsync.provider import Settings, Target, split_cloud_defaults

from .findings import AuditReport, ClusterAudit, Finding, Reach, finding_order

log = logging.getLogger(__name__)


# --- reach -------------------------------------------------------------------------------------


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
    spec = native_spec(peer.kind)
    if spec is not None and spec.addresses:
        # Addresses the cloud keeps: internal only when the provider says the value is.
        return Reach.INTERNAL if peer.value.strip().lower() in spec.internal else Reach.UNKNOWN
    return Reach.INTERNAL


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
    defaults: Iterable[TargetRule] = (),
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
        defaults: the live rules the cloud itself puts on every target (see
            :func:`portsync.provider.split_cloud_defaults`), named as such in their findings.

    Returns:
        The findings, unsorted and unsuppressed.

    Raises:
        Nothing.
    """
    known_roles = frozenset(r for p in ports for r in (p.roles or ()))
    relevant = [p for p in ports if p.applies_to(target.role, known_roles)]
    internal = set(internal)
    declared = {r.peer for r in desired or () if r.direction is Direction.INGRESS}
    cloud_defaults = {id(r) for r in defaults}
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
        if reach_of(rule, target.role) is Match.NO:
            continue  # aimed at other machines than the role's (an Azure rule's destination)
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
            message = (
                f"{target} lets in {_peer_text(rule)} on {rule.protocol.value} {rule.ports_text}, "
                "a peer the port tables do not name for this target"
            )
            if id(rule) in cloud_defaults:
                names = ", ".join(sorted({p.label() for p in reached}))
                message += (
                    f", through the cloud's default rule {rule.native_id or rule.description}, "
                    "which comes with every target and cannot be removed"
                    + (f"; it reaches {names}" if names else "")
                )
            found("PS-UNDECLARED-PEER", rule, reach, message)
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


def through_path(
    findings: Sequence[Finding],
    paths: Sequence[tuple[Target, Sequence[TargetRule]]],
    *,
    contains: Contains | None = None,
) -> tuple[list[Finding], list[str]]:
    """``findings`` of one target held against the other groups of rules on the path of its
    role's machines (``paths``, the provider's ``path_live``: an Azure subnet's NSG in front of
    the NICs'), pure.

    A flow reaches the machines only when each of them lets it through, so an exposure of a
    component's ports (a finding with ``exposed``) is reported only when no group on the path
    stops all of it, and its message says how the path answers. The traffic is asked as coming
    from the internet: the exposure is to the world, and a rule for the virtual network does not
    let the world in.

    Returns:
        ``(findings, notes)``: the findings kept, and a note for each one a group on the path
        stops entirely.
    """
    if not paths:
        return list(findings), []
    kept: list[Finding] = []
    notes: list[str] = []
    for finding in findings:
        if finding.exposed is None or finding.reach is not Reach.WORLD:
            kept.append(finding)
            continue
        protocol, ports = finding.exposed
        stopped: str | None = None
        partly: list[str] = []
        passed: list[str] = []
        for path, rules in paths:
            flow = replace(finding.rule, target=path.id, protocol=protocol, ports=ports, extra=())
            name = path.label or path.id
            found = answers(flow, rules, from_internet=True, contains=contains)
            if found == {Answer.ALLOWED}:
                passed.append(name)
            elif found == {Answer.DENIED}:
                stopped = name
                break
            else:
                partly.append(name)
        if stopped is not None:
            notes.append(
                f"not reported: {finding.message}, but {stopped}, also on the path of the "
                "role's machines, does not let it through"
            )
            continue
        if partly:
            more = (
                f"; {', '.join(partly)}, also on the path of the role's machines, lets "
                "through only part of it, or portsync cannot tell"
            )
        else:
            more = (
                f"; {', '.join(passed)}, also on the path of the role's machines, lets it "
                "through as well"
            )
        kept.append(replace(finding, message=finding.message + more))
    return kept, notes


# --- allow_exposure ----------------------------------------------------------------------------


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
        session: an :class:`~portsync.session.Session` to reuse.
        progress: called with a short line per cluster.

    Returns:
        The report, findings sorted by severity, cluster, target and rule.

    Raises:
        ConfigError, PortTableError: bad config or catalog.
        ProviderError: a cloud refused or a bound target does not exist.
    """
    from portsync.session import Session, fan_out
    from portsync.synthesis import synthesize

    settings = settings or Settings(mode=loaded.config.mode)
    session = session or Session(loaded, settings)
    ports = component_ports(loaded)
    ruleset = synthesize(loaded)
    selected = session.select(clusters)

    def one(cluster: ClusterConfig) -> tuple[ClusterAudit, list[Finding]]:
        if progress:
            progress(f"auditing {cluster.name} ({cluster.provider})")
        provider = session.provider(cluster)
        written = provider.targets()
        # The other groups of roles bound to several are audited too (nothing is desired
        # there, so their peers are not held to the port tables' declared ones).
        read_only = {t.id for t in memberships(provider).extra_targets(written)}
        targets = memberships(provider).read_targets(written)
        live = session.live(cluster, targets)
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
            exposed = audit_target(
                cluster=cluster.name,
                provider=cluster.provider,
                target=target,
                live=live.get(target.id, []),
                ports=ports,
                desired=(
                    None
                    if desired is None or target.id in read_only
                    else [r for r in desired if r.target == target.id]
                ),
                internal=internal,
                defaults=split_cloud_defaults(provider, live.get(target.id, []))[1],
            )
            path_live = getattr(provider, "path_live", None)
            if path_live is not None:
                exposed, stopped = through_path(
                    exposed,
                    path_live(target, session.snapshot(cluster)),
                    contains=getattr(provider, "peer_contains", None),
                )
                notes.extend(stopped)
            findings.extend(exposed)
        summary = ClusterAudit(
            cluster=cluster.name,
            provider=cluster.provider,
            targets=tuple((t, len(live.get(t.id, []))) for t in targets),
            notes=tuple(notes),
            declared_peers_checked=desired is not None,
        )
        return summary, findings

    results = fan_out(one, selected, workers=settings.max_workers, name="audit")
    findings = _suppress((f for _, found in results for f in found), loaded.config.allow_exposure)
    for finding in findings:
        log.info("%s %s %s", finding.severity.value, finding.id, finding.location)
    return AuditReport(
        findings=tuple(sorted(findings, key=finding_order)),
        clusters=tuple(summary for summary, _ in results),
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        config_path=str(loaded.path) if loaded.path else None,
    )


def empty_report() -> AuditReport:
    """A report of no clusters (an empty shard)."""
    return AuditReport(created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
