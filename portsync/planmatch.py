"""Does a saved plan hold exactly the operations and writes the config and the live state call
for?

``apply PLAN.json`` recomputes the plan and executes the recomputed operations, never the file's:
every fact that decides what is written or removed (target, role, ownership, peer) comes from the
config and the live read. The file is what a person reviewed, so the two must agree; this module
says whether they do, and if not, what differs, in words a reviewer can check against the plan
they approved.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from portsync.errors import PlanFileError, StalePlanError
from portsync.ops import GroupOps, Op, Plan, UpdateRuleOp
from portsync.writes import Write

__all__ = ["check_same", "check_writes", "differences", "write_differences"]

#: Rule fields that are no part of what an operation does: how the cloud names a live rule can
#: change without the rule changing (some clouds only reveal ids at apply time), and the reason
#: is prose.
_IGNORED = frozenset({"native_id"})

#: At most this many differences are spelled out in the refusal.
_SHOWN = 10


def _rule_facts(op_rule: Any) -> str:
    data = {k: v for k, v in op_rule.to_dict().items() if k not in _IGNORED}
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def _facts(group: GroupOps, op: Op) -> tuple[str, ...]:
    before = _rule_facts(op.before) if isinstance(op, UpdateRuleOp) else ""
    return (
        group.cluster,
        group.provider,
        group.target,
        group.role,
        op.action.value,
        _rule_facts(op.rule),
        before,
    )


def _describe(group: GroupOps, op: Op) -> str:
    rule = op.rule
    towards = "from" if rule.direction.value == "ingress" else "to"
    owner = "owned" if rule.owned else "not owned"
    text = (
        f"{group.cluster}/{group.label or group.target}: {op.action.value} "
        f"{rule.direction.value} {rule.protocol.value} {rule.ports_text} {towards} {rule.peer} "
        f"(role {rule.role or group.role}, {owner})"
    )
    if isinstance(op, UpdateRuleOp):
        text += f", description {op.after.description!r}"
    return text


def _pairs(plan: Plan) -> Iterable[tuple[tuple[str, ...], GroupOps, Op]]:
    for group, op in plan.changes:
        yield _facts(group, op), group, op


def differences(saved: Plan, current: Plan) -> list[str]:
    """What the saved plan holds that the recomputed one does not, and the reverse.

    Targets are compared too (cluster, provider, target id and role of every target of the
    clusters the saved plan covers): a file that drops, adds or re-roles a target differs.

    Returns:
        One line per difference; empty when the plans agree.
    """
    lines: list[str] = []
    saved_targets = {(g.cluster, g.target): g for g in saved.groups}
    current_targets = {(g.cluster, g.target): g for g in current.groups}
    for key in sorted(saved_targets.keys() - current_targets.keys()):
        lines.append(f"{key[0]}/{key[1]}: a target in the file that the config does not bind")
    for key in sorted(current_targets.keys() - saved_targets.keys()):
        lines.append(f"{key[0]}/{key[1]}: a target the config binds that the file leaves out")
    for key in sorted(saved_targets.keys() & current_targets.keys()):
        mine, theirs = saved_targets[key], current_targets[key]
        for name in ("provider", "role"):
            if getattr(mine, name) != getattr(theirs, name):
                lines.append(
                    f"{key[0]}/{theirs.label or key[1]}: the file says {name} "
                    f"{getattr(mine, name)!r}, the config says {getattr(theirs, name)!r}"
                )

    in_file = Counter(f for f, _g, _o in _pairs(saved))
    wanted = Counter(f for f, _g, _o in _pairs(current))
    only_file = in_file - wanted
    only_wanted = wanted - in_file
    for facts, group, op in _pairs(saved):
        if only_file[facts] > 0:
            only_file[facts] -= 1
            lines.append(
                f"in the file, not called for by the config and live rules: {_describe(group, op)}"
            )
    for facts, group, op in _pairs(current):
        if only_wanted[facts] > 0:
            only_wanted[facts] -= 1
            lines.append(
                f"called for by the config and live rules, missing from the file: "
                f"{_describe(group, op)}"
            )
    return lines


def check_same(saved: Plan, current: Plan, *, source: str = "the saved plan") -> None:
    """Refuse a saved plan whose operations differ from the recomputed ones.

    Raises:
        PlanFileError: naming what differs (the first few differences, and how many more).
    """
    lines = differences(saved, current)
    if not lines:
        return
    shown = "; ".join(lines[:_SHOWN])
    more = f" (and {len(lines) - _SHOWN} more)" if len(lines) > _SHOWN else ""
    raise PlanFileError(
        f"{source} does not match what the config and the live rules call for, so it was not "
        f"applied: {shown}{more}",
        hint="the file was edited after `portsync plan --out` wrote it; make and review a new "
        "plan with `portsync plan --out PLAN.json`",
    )


def _unit(write: Write) -> tuple[str, str, str, str]:
    return (write.cluster, write.target, write.phase.name.lower(), write.method)


def write_differences(saved: Sequence[Write], current: Sequence[Write]) -> list[str]:
    """What differs between the saved writes and the recomputed ones, one line each: a call
    of the file no longer called for, a call now called for, or the same call whose body or
    read state differs. Order is not compared: apply orders writes itself."""
    in_file = Counter(w.canonical for w in saved)
    wanted = Counter(w.canonical for w in current)
    gone = _beyond(saved, in_file - wanted)
    new = _beyond(current, wanted - in_file)
    lines: list[str] = []
    new_units = Counter(_unit(w) for w in new)
    for write in gone:
        where = f"{write.cluster}/{write.target}: {write.phase.name.lower()} {write.method}"
        if new_units[_unit(write)] > 0:
            new_units[_unit(write)] -= 1
            lines.append(f"{where} differs (its body, or the state it was compiled from)")
        else:
            lines.append(f"{where} is no longer called for")
    gone_units = Counter(_unit(w) for w in gone)
    for write in new:
        if gone_units[_unit(write)] > 0:
            gone_units[_unit(write)] -= 1
            continue
        where = f"{write.cluster}/{write.target}: {write.phase.name.lower()} {write.method}"
        lines.append(f"{where} is called for now, and missing from the file")
    return lines


def _beyond(writes: Sequence[Write], extra: Counter[str]) -> list[Write]:
    """The writes of ``writes`` that ``extra`` counts (the surplus over the other side)."""
    out: list[Write] = []
    for write in writes:
        if extra[write.canonical] > 0:
            extra[write.canonical] -= 1
            out.append(write)
    return out


def check_writes(saved: Plan, current: Plan) -> None:
    """Refuse a saved plan whose writes differ from the recomputed ones: the live state moved
    since the plan was made (or the file was edited), so what apply would send is not what was
    reviewed.

    Raises:
        StalePlanError: naming the first differences (and how many more).
    """
    lines = write_differences(saved.writes, current.writes)
    if not lines:
        return
    shown = "; ".join(lines[:_SHOWN])
    more = f" (and {len(lines) - _SHOWN} more)" if len(lines) > _SHOWN else ""
    raise StalePlanError(
        "the saved plan is stale: the writes it holds differ from those the config and the live "
        f"state call for now, so it was not applied: {shown}{more}",
        hint="run `portsync plan --out PLAN.json` again and review the new plan",
    )
