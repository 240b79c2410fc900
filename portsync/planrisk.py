"""Which unmanaged rules of a plan the audit finds risky (for SARIF drift reports).

A plan lists every live rule portsync does not own. In code scanning each result is an alert, so
the SARIF of a plan reports an unmanaged rule only when ``portsync audit`` would report it: the
audit's own checks (component ports open to the world or to a peer of unknown extent), with the
config's ``allow_exposure`` honoured. The judgement needs the config only, never the cloud, so
``portsync show PLAN.json -o sarif`` gives the same answer as ``plan -o sarif``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from portsync.audit import ALLOW_NAMES, Finding, audit_target, component_ports
from portsync.config import Config, LoadedConfig
from portsync.errors import PortsyncError
from portsync.model import Direction, Endpoint, RuleKey
from portsync.ops import Plan
from portsync.provider import Settings, Target

__all__ = ["RiskKey", "unmanaged_risks"]

log = logging.getLogger(__name__)

#: ``(cluster, target, rule key)`` of an unmanaged rule.
RiskKey = tuple[str, str, RuleKey]


def unmanaged_risks(
    plan: Plan, config: LoadedConfig | None = None
) -> Mapping[RiskKey, tuple[Finding, ...]]:
    """The audit findings on each unmanaged rule of ``plan`` that has any.

    Args:
        plan: a plan (fresh or loaded from a file).
        config: the config the plan was made with; without one, the built-in defaults (the
            Kubernetes port table) judge the rules.

    Returns:
        Findings per unmanaged rule, for the rules the audit finds risky and the config does not
        accept through ``allow_exposure``; rules not in the mapping are not risky.

    Raises:
        ConfigError, PortTableError: the config's port tables cannot be read.
    """
    groups = [g for g in plan.groups if any(r.direction is Direction.INGRESS for r in g.unmanaged)]
    if not groups:
        return {}
    loaded = config or LoadedConfig(Config())
    ports = component_ports(loaded)
    accepted = set(loaded.config.allow_exposure)
    internal: dict[str, set[Endpoint]] = {}
    out: dict[RiskKey, tuple[Finding, ...]] = {}
    for group in groups:
        if group.cluster not in internal:
            internal[group.cluster] = _load_balancer_peers(loaded, group.cluster)
        target = Target(group.target, group.role, group.label)
        for rule in group.unmanaged:
            found = tuple(
                f
                for f in audit_target(
                    cluster=group.cluster,
                    provider=group.provider,
                    target=target,
                    live=[rule],
                    ports=ports,
                    internal=internal[group.cluster],
                )
                if ALLOW_NAMES.get(f.id) not in accepted
            )
            if found:
                out[(group.cluster, group.target, rule.key)] = found
    return out


def _load_balancer_peers(loaded: LoadedConfig, cluster: str) -> set[Endpoint]:
    """The cloud's load-balancer ranges the desired rules name, which the audit counts internal.

    Translation is offline (as in ``portsync validate``). When it fails, or the cluster is not in
    the config, nothing is counted internal: a rule is then judged the stricter way.
    """
    from portsync.registry import get_provider_class
    from portsync.synthesis import synthesize

    try:
        chosen = loaded.cluster(cluster)
        provider = get_provider_class(chosen.provider)(
            chosen, settings=Settings(mode=loaded.config.mode, fleet=tuple(loaded.config.clusters))
        )
        desired = provider.translate(
            synthesize(loaded).for_roles(chosen.roles), loaded.config.sources
        )
    except (PortsyncError, ValueError) as exc:
        log.info("cluster %s: load-balancer ranges unknown: %s", cluster, exc)
        return set()
    return {r.peer for r in desired if r.origin == "load-balancers"}
