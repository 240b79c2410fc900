"""``portsync validate``: everything plan checks before its first cloud call, offline.

The config (already loaded by the caller), the port tables it names, the translation of the rule set
onto each cluster's targets, and each cloud's plan-time limits applied to the desired rules alone
(as if every target were empty). No credential is read and nothing is contacted: providers build
their clients only when they first read, and validate never asks them to.

Every cluster is checked even when an earlier one fails, so one run lists every problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from portsync.config import ClusterConfig, LoadedConfig
from portsync.errors import PortsyncError
from portsync.model import RuleSet, TargetRule
from portsync.provider import Settings
from portsync.registry import get_provider_class
from portsync.synthesis import translate_with_advice

__all__ = ["ClusterCheck", "Validation", "validate"]


@dataclass
class ClusterCheck:
    """What validate found for one cluster."""

    cluster: str
    provider: str
    targets: int = 0
    rules: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Validation:
    """The result of ``portsync validate``."""

    config: str
    rules: int = 0
    problems: list[str] = field(default_factory=list)
    clusters: list[ClusterCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether nothing is wrong (warnings do not count)."""
        return not self.problems and all(c.ok for c in self.clusters)

    def to_json(self) -> str:
        """The result as JSON (``validate --output json``)."""
        body: dict[str, Any] = {
            "config": self.config,
            "ok": self.ok,
            "rules": self.rules,
            "problems": self.problems,
            "clusters": [
                {
                    "cluster": c.cluster,
                    "provider": c.provider,
                    "ok": c.ok,
                    "targets": c.targets,
                    "rules": c.rules,
                    "problems": c.problems,
                    "warnings": c.warnings,
                }
                for c in self.clusters
            ],
        }
        return json.dumps(body, indent=2, ensure_ascii=False) + "\n"

    def to_text(self) -> str:
        """The result as plain lines for a terminal or a pre-commit log."""
        lines = [f"{self.config}: {self.rules} rules from the port tables"]
        lines.extend(f"error: {p}" for p in self.problems)
        for check in self.clusters:
            mark = "ok" if check.ok else "FAILED"
            lines.append(
                f"{mark:6} {check.cluster} ({check.provider}): {check.targets} targets, "
                f"{check.rules} desired rules"
            )
            lines.extend(f"       error: {p}" for p in check.problems)
            lines.extend(f"       warning: {w}" for w in check.warnings)
        failed = len(self.problems) + sum(len(c.problems) for c in self.clusters)
        if failed:
            lines.append(
                f"{failed} problem{'s' if failed != 1 else ''}; plan would refuse this config."
            )
        else:
            lines.append(
                f"Valid: {len(self.clusters)} clusters checked offline (config, port tables, "
                "translation, plan-time limits)."
            )
        return "\n".join(lines) + "\n"


def _message(exc: PortsyncError) -> str:
    hint = getattr(exc, "hint", None)
    text = str(exc)
    return f"{text} ({hint})" if hint and hint not in text else text


def validate(loaded: LoadedConfig) -> Validation:
    """Check ``loaded`` as far as possible without a cloud.

    Args:
        loaded: a config that parsed (config errors are raised by loading, before this).

    Returns:
        Every problem found, per cluster.

    Raises:
        Nothing for problems in the config: they are in the result.
    """
    from portsync.synthesis import synthesize

    result = Validation(config=str(loaded.path) if loaded.path else "<defaults>")
    try:
        ruleset = synthesize(loaded)
    except PortsyncError as exc:
        result.problems.append(_message(exc))
        return result
    result.rules = len(ruleset)
    clusters = list(loaded.config.clusters)
    if not clusters:
        result.problems.append(
            f"no clusters configured in {result.config} (add a clusters: list, see "
            "docs/configuration.md, or start one with `portsync init`)"
        )
    settings = Settings(mode=loaded.config.mode, fleet=tuple(clusters))
    for cluster in clusters:
        result.clusters.append(_check_cluster(loaded, cluster, ruleset, settings))
    return result


def _check_cluster(
    loaded: LoadedConfig, cluster: ClusterConfig, ruleset: RuleSet, settings: Settings
) -> ClusterCheck:
    check = ClusterCheck(cluster=cluster.name, provider=cluster.provider)
    try:
        provider = get_provider_class(cluster.provider)(cluster, settings=settings)
        targets = provider.targets()
        check.targets = len(targets)
        mine = ruleset.for_roles(cluster.roles)
        bound = set(cluster.roles)
        without = sorted(r for r in bound if not any(rule.role == r for rule in mine))
        if without:
            check.warnings.append(
                f"role {', '.join(without)} is bound but the port tables have no rule for it"
            )
        desired = translate_with_advice(provider, loaded, mine)
        check.rules = len(desired)
        by_target: dict[str, list[TargetRule]] = {}
        for rule in desired:
            by_target.setdefault(rule.target, []).append(rule)
        # compile needs a read of the cloud; only a provider's offline check is safe here.
        offline = getattr(provider, "check_offline", None)
        if offline is None:
            check.warnings.append(
                f"provider {cluster.provider} has no offline limit check; plan checks its limits"
            )
        else:
            offline(by_target)
    except PortsyncError as exc:
        check.problems.append(_message(exc))
    return check
