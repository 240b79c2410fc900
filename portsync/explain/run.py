"""The reading half of ``portsync explain``: for each selected cluster, the role's targets, their
live rules (or the rules a saved plan would leave), and the source resolved through the
provider's own translation, then :func:`~portsync.explain.answer.evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from portsync.config import LoadedConfig
from portsync.errors import InputError, TranslationError
from portsync.evaluate import Answer, access_of
from portsync.membership import Memberships, memberships
from portsync.model import Endpoint, PeerKind, PortRange, Rule, RuleSet, TargetRule
from portsync.ops import GroupOps, Plan, fingerprint
from portsync.provider import Settings, Target

from .answer import RANK, ClusterAnswer, Explanation, TargetAnswer, evaluate
from .query import Destination, Source

__all__ = ["explain"]


def _endpoints(
    provider: Any, source: Source, destination: Destination, target: Target, loaded: LoadedConfig
) -> list[Endpoint]:
    if source.peer.kind is PeerKind.CIDR:
        return [Endpoint.cidr(source.peer.value)]
    probe = Rule(
        role=destination.role,
        protocol=destination.protocol,
        ports=PortRange(destination.port, destination.port),
        peer=source.peer,
        purpose="portsync explain",
    )
    resolved = provider.translate(RuleSet((probe,)), loaded.config.sources)
    return sorted({r.peer for r in resolved if r.target == target.id})


def _planned_also(
    member: Memberships,
    target: Target,
    live: Mapping[str, Sequence[TargetRule]],
    groups: Mapping[tuple[str, str], GroupOps],
    cluster: str,
) -> list[TargetRule]:
    """The rules of the other groups ``target``'s machines are in: live, or as a saved plan
    leaves a group it changes."""
    from portsync.diff import final_state

    out: list[TargetRule] = []
    for other in member.also.get(target.id, ()):
        rules = list(live.get(other.id, []))
        group = groups.get((cluster, other.id))
        out.extend(final_state(rules, group.ops) if group is not None else rules)
    return out


def _ask(
    provider: Any,
    target: Target,
    rules: Sequence[TargetRule],
    endpoints: Sequence[Endpoint],
    source: Source,
    destination: Destination,
    member: Memberships,
) -> TargetAnswer:
    """One group of rules' answer for the flow, with the provider's own peer knowledge."""
    return evaluate(
        target,
        rules,
        endpoints,
        destination,
        from_internet=source.from_internet,
        contains=getattr(provider, "peer_contains", None),
        members=member.members,
    )


def _through_path(
    provider: Any,
    session: Any,
    cluster: Any,
    found: TargetAnswer,
    endpoints: Sequence[Endpoint],
    source: Source,
    destination: Destination,
    member: Memberships,
    notes: list[str],
) -> TargetAnswer:
    """``found``, with every other group of rules on the path of the role's machines asked too
    (the provider's optional ``path_live(target, snapshot)``: an Azure subnet's NSG in front of
    the NICs'): a flow passes only when each of them lets it through, so the answer is the
    least of theirs, and each is named in a note."""
    hook = getattr(provider, "path_live", None)
    if hook is None:
        return found
    answer = found.answer
    for path, rules in hook(found.target, session.snapshot(cluster)):
        passed = _ask(provider, path, rules, endpoints, source, destination, member)
        notes.append(
            f"{found.target}: {path.label or path.id}, also on the path of the role's machines, "
            f"answers {passed.answer}"
        )
        answer = min(answer, passed.answer, key=lambda a: RANK[a])
    return TargetAnswer(found.target, answer, found.endpoints, found.port_rules)


def explain(
    loaded: LoadedConfig,
    source: Source,
    destination: Destination,
    *,
    clusters: Sequence[str] = (),
    plan: Plan | None = None,
    plan_path: str | None = None,
    settings: Settings | None = None,
    session: Any = None,
    progress: Callable[[str], None] | None = None,
) -> Explanation:
    """Answer whether ``source`` reaches ``destination`` on each selected cluster.

    Args:
        loaded: the loaded config.
        source: from :func:`parse_source`.
        destination: from :func:`parse_destination`.
        clusters: names to ask; all configured clusters (or the plan's) when empty.
        plan: a saved plan: answer on the state it would produce instead of the live state.
        plan_path: where the plan was read from (reported back).
        settings: run-wide settings.
        session: an :class:`~portsync.session.Session` to reuse.
        progress: called with a short line per cluster.

    Returns:
        The explanation.

    Raises:
        InputError: no selected cluster binds the role, or a named cluster is not in the plan.
        ConfigError: a cluster name is unknown.
        ProviderError: a cloud refused.
    """
    from portsync.diff import final_state
    from portsync.session import Session

    settings = settings or Settings(mode=loaded.config.mode)
    session = session or Session(loaded, settings)
    names = list(clusters)
    if plan is not None:
        in_plan = plan.clusters()
        missing = [n for n in names if n not in in_plan]
        if missing:
            raise InputError(
                f"cluster {', '.join(missing)} is not in the saved plan "
                f"(it covers {', '.join(in_plan) or 'no cluster'})",
                hint="drop --cluster or make the plan with that cluster",
            )
        names = names or in_plan
        if not names:
            raise InputError("the saved plan covers no cluster; there is nothing to explain")
    selected = session.select(names)
    groups = {(g.cluster, g.target): g for g in plan.groups} if plan is not None else {}
    plan_notes: list[str] = []
    if plan is not None:
        from portsync.api import config_digest, synthesize

        if plan.config_digest != config_digest(loaded, synthesize(loaded)):
            plan_notes.append(
                "the plan was made from a different config (rules, sources, mode or bindings); "
                "apply would refuse it"
            )

    answers: list[ClusterAnswer] = []
    for cluster in selected:
        if progress:
            progress(f"reading {cluster.name} ({cluster.provider})")
        provider = session.provider(cluster)
        targets = [t for t in provider.targets() if t.role == destination.role]
        if not targets:
            answers.append(
                ClusterAnswer(
                    cluster.name,
                    cluster.provider,
                    Answer.NOT_BOUND,
                    notes=(f"role {destination.role} is not bound on this cluster",),
                )
            )
            continue
        member = memberships(provider)
        live = session.live(cluster, member.read_targets(targets))
        notes: list[str] = list(plan_notes)
        results: list[TargetAnswer] = []
        for target in targets:
            rules = live.get(target.id, [])
            if plan is not None:
                group = groups.get((cluster.name, target.id))
                if group is None:
                    notes.append(f"{target}: not in the saved plan; its live rules are used")
                else:
                    # The plan's fingerprint is of the rules the diff saw: deny rules are not.
                    seen = [r for r in rules if access_of(r) != "deny"]
                    if fingerprint(seen) != group.fingerprint:
                        notes.append(
                            f"{target}: live rules changed since the plan was made; "
                            "apply would refuse this plan"
                        )
                    rules = final_state(rules, group.ops)
            # A role bound to several groups: each of them admits its machines. A cloud's fixed
            # defaults come with the target's own rules already, not again with each group's.
            fixed = getattr(provider, "is_fixed_default", None)
            also = _planned_also(member, target, live, groups, cluster.name)
            rules = [*rules, *(r for r in also if fixed is None or not fixed(r))]
            try:
                endpoints = _endpoints(provider, source, destination, target, loaded)
            except TranslationError as exc:
                notes.append(f"cannot resolve {source.peer}: {str(exc).splitlines()[0]}")
                results.append(TargetAnswer(target, Answer.UNKNOWN))
                continue
            if not endpoints:
                notes.append(f"{source.peer} resolves to no endpoint on {target}")
                results.append(TargetAnswer(target, Answer.UNKNOWN))
                continue
            found = _ask(provider, target, rules, endpoints, source, destination, member)
            results.append(
                _through_path(
                    provider, session, cluster, found, endpoints, source, destination, member, notes
                )
            )
        best = max((r.answer for r in results), key=lambda a: RANK[a])
        answers.append(
            ClusterAnswer(cluster.name, cluster.provider, best, tuple(results), tuple(notes))
        )
    if all(a.answer is Answer.NOT_BOUND for a in answers):
        raise InputError(
            f"no selected cluster binds role {destination.role!r}",
            hint="check the role name against the clusters' roles in the config",
        )
    return Explanation(source, destination, tuple(answers), plan_path)
