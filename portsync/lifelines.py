"""Lifelines: flows that must never break, checked at every step an apply passes through.

A lifeline is ``{name, from: <peer>, to: <role>, protocol, port}`` — the CI runner's range to the
API server, the bastion to the workers' SSH, the workers to the API server. For each target a
plan touches, portsync evaluates every lifeline of that target's role against the live rules,
against the rules after each write in the order apply makes them (additions, then updates, then
removals — a failure can stop apply after any of them), and against the rules after the plan. A
lifeline open today that any of those states closes makes the plan refused, naming the write that
cuts it. The evaluator is the one ``explain`` uses (:func:`portsync.evaluate.admits` decides
with :func:`portsync.evaluate.decide`), so it sees every live rule of any owner, and the deny
rules of GCP and Azure with their priorities: a deny rule ahead of the allow rule closes the
lifeline, one behind it does not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from portsync.diff import final_state
from portsync.errors import GuardrailError
from portsync.evaluate import admits
from portsync.model import RuleSet, TargetRule
from portsync.ops import LifelineStatus, Op

if TYPE_CHECKING:
    from portsync.config import ClusterConfig, Config
    from portsync.provider import Provider

__all__ = ["LifelineCut", "LifelineStatus", "check_target", "closed_now", "flows_by_target"]


class LifelineCut(GuardrailError):
    """A plan would close a lifeline that is open now."""


def _open(flows: Sequence[TargetRule], rules: Sequence[TargetRule]) -> bool:
    return all(admits(flow, rules) for flow in flows)


def flows_by_target(
    config: Config, provider: Provider, cluster: ClusterConfig
) -> dict[str, dict[str, list[TargetRule]]]:
    """Each lifeline of a role ``cluster`` binds, as the concrete flows it stands for, by target
    and lifeline name (translated like any rule: no cloud call).

    Raises:
        TranslationError: a lifeline's peer cannot be resolved on this cluster.
    """
    out: dict[str, dict[str, list[TargetRule]]] = {}
    for lifeline in config.lifelines:
        if lifeline.to not in cluster.roles:
            continue
        flows = provider.translate(RuleSet((lifeline.to_rule(),)), config.sources)
        for flow in flows:
            out.setdefault(flow.target, {}).setdefault(lifeline.name, []).append(flow)
    return out


def closed_now(
    lifelines: Mapping[str, Sequence[TargetRule]], live: Sequence[TargetRule]
) -> list[tuple[str, tuple[TargetRule, ...]]]:
    """The lifelines of one target that its live rules do not keep open, each with the flows
    that are not admitted (in the order given)."""
    out = []
    for name, flows in lifelines.items():
        shut = tuple(flow for flow in flows if not admits(flow, live))
        if shut:
            out.append((name, shut))
    return out


def check_target(
    where: str,
    lifelines: Mapping[str, Sequence[TargetRule]],
    live: Sequence[TargetRule],
    ops: Sequence[Op],
) -> list[LifelineStatus]:
    """Evaluate the lifelines of one target (each as the concrete flows it stands for) against
    the live rules, each intermediate state of ``ops`` in apply order, and the final state.

    Raises:
        LifelineCut: a lifeline open now is closed at some step; the message names the write.
    """
    out: list[LifelineStatus] = []
    for name, flows in lifelines.items():
        if not flows:
            continue
        if not _open(flows, live):
            after = _open(flows, final_state(live, ops))
            out.append(LifelineStatus(name, "opened" if after else "closed"))
            continue
        for step in range(1, len(ops) + 1):
            if not _open(flows, final_state(live, ops[:step])):
                op = ops[step - 1]
                raise LifelineCut(
                    f"lifeline {name!r} is cut after write {step} of {len(ops)} on {where} "
                    f"({op.action.value} {op.rule.protocol.value} {op.rule.ports_text} from "
                    f"{op.rule.peer})",
                    hint="keep a rule that admits the lifeline (in the port tables, extra_rules "
                    "or protect:), or change the lifeline if the flow is really no longer needed",
                )
        out.append(LifelineStatus(name, "held"))
    return out
