"""The plan as data (docs/architecture.md): operations, grouped per target, serialisable to JSON.

A :class:`Plan` is what ``portsync plan`` prints and saves and what ``portsync apply`` executes.
Ops hold neutral :class:`~portsync.model.TargetRule` values only — never SDK objects.
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

from portsync.errors import PlanFileError
from portsync.model import TargetRule
from portsync.planfile import (
    check_signature,
    content_bytes,
    plan_key,
    read_plan_bytes,
    signature,
)
from portsync.tools import ManagingTool
from portsync.writes import Write, writes_from_json, writes_to_json

__all__ = [
    "FORMAT_VERSION",
    "Action",
    "CreateRuleOp",
    "DeleteRuleOp",
    "Fight",
    "GroupOps",
    "LifelineStatus",
    "Op",
    "Plan",
    "Satisfied",
    "UpdateRuleOp",
    "fingerprint",
]

FORMAT_VERSION = 1


class Action(str, Enum):
    """What a change does."""

    ADD = "add"
    REMOVE = "remove"
    UPDATE = "update"


@dataclass(frozen=True, slots=True)
class CreateRuleOp:
    """Create ``rule`` on its target."""

    rule: TargetRule
    reason: str = ""
    action = Action.ADD


@dataclass(frozen=True, slots=True)
class DeleteRuleOp:
    """Remove ``rule`` (a live rule) from its target."""

    rule: TargetRule
    reason: str = ""
    action = Action.REMOVE


@dataclass(frozen=True, slots=True)
class UpdateRuleOp:
    """Change a live rule in place (description only: identity never changes in place)."""

    before: TargetRule
    after: TargetRule
    reason: str = ""
    action = Action.UPDATE

    @property
    def rule(self) -> TargetRule:
        """The rule as it will be."""
        return self.after


Op = CreateRuleOp | DeleteRuleOp | UpdateRuleOp


@dataclass(frozen=True, slots=True)
class Satisfied:
    """A desired rule that is not added because live rules already admit every flow it
    describes (coverage, not equality): ``by`` are those rules, of any owner."""

    rule: TargetRule
    by: tuple[TargetRule, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form (without the cluster and target, which the plan adds)."""
        return {"rule": self.rule.to_dict(), "by": [r.to_dict() for r in self.by]}


@dataclass(frozen=True, slots=True)
class Fight:
    """Rules portsync added before that are missing again on one target."""

    count: int
    since: str  # when portsync last added them (UTC, ISO 8601)
    writer: str  # the suspected writer

    def note(self) -> str:
        """One line for the plan."""
        return (
            f"fight: {self.count} rules portsync added at {self.since} are gone again; suspected "
            f"writer: {self.writer}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"count": self.count, "since": self.since, "writer": self.writer}

    @classmethod
    def from_dict(cls, data: Any) -> Fight:
        """Inverse of :meth:`to_dict`.

        Raises:
            TypeError, KeyError, ValueError: not a fight object.
        """
        if not isinstance(data, dict):
            raise TypeError("fight must be an object")
        return cls(count=int(data["count"]), since=str(data["since"]), writer=str(data["writer"]))


@dataclass(frozen=True, slots=True)
class LifelineStatus:
    """How one lifeline fares on one target under a plan."""

    name: str
    #: ``held`` (open now and at every step), ``opened`` (closed now, open after the plan) or
    #: ``closed`` (closed now and after the plan: apply does not fix it).
    status: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "status": self.status}

    @classmethod
    def from_dict(cls, data: Any) -> LifelineStatus:
        """Inverse of :meth:`to_dict`.

        Raises:
            TypeError, KeyError, ValueError: not a lifeline status.
        """
        if not isinstance(data, dict):
            raise TypeError("a lifeline status must be an object")
        status = str(data["status"])
        if status not in ("held", "opened", "closed"):
            raise ValueError(f"unknown lifeline status {status!r}")
        return cls(name=str(data["name"]), status=status)


_ORDER = {Action.ADD: 0, Action.UPDATE: 1, Action.REMOVE: 2}


def fingerprint(rules: Iterable[TargetRule]) -> str:
    """A digest of a target's live rules: identity, description, ownership and owner, order-free.

    Native ids are left out on purpose: some clouds only reveal them at apply time. Each rule is
    written as the ``repr`` of a tuple of strings, ints, bools and None, which is unambiguous
    (strings quoted and escaped, so no rule's text holds the newline between rules) and several
    times cheaper than JSON: a plan fingerprints every live rule it reads.
    """
    items = sorted(map(repr, map(_FINGERPRINTED, rules)))
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:32]


#: What :func:`fingerprint` writes of each rule, as one tuple: ``(key, description, owned, owner,
#: legacy, extra)`` (``_key`` is the slot behind ``TargetRule.key``; read directly, the whole
#: tuple is built without a Python call per rule).
_FINGERPRINTED = operator.attrgetter("_key", "description", "owned", "owner", "legacy", "extra")


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupOps:
    """Everything the plan does to one target, plus what it saw there."""

    cluster: str
    provider: str
    target: str
    role: str
    label: str = ""
    ops: tuple[Op, ...] = ()
    unmanaged: tuple[TargetRule, ...] = ()
    #: Live rules the cloud itself puts on every target (AWS: a new group's allow-all egress),
    #: recognised by the provider: left alone like unmanaged rules, but not reported as such.
    cloud_defaults: tuple[TargetRule, ...] = ()
    #: Desired rules live rules already cover; shown, never written.
    satisfied: tuple[Satisfied, ...] = ()
    #: Live rules a ``protect:`` matcher names: never removed or changed.
    protected: tuple[TargetRule, ...] = ()
    #: The tool that manages this target (kops, a Cluster API provider, EKS, AKS), if any.
    managed_by: ManagingTool | None = None
    #: Rules portsync added before that are gone again (another writer removes them).
    fight: Fight | None = None
    #: How each lifeline of the target's role fares under the plan (a cut one refuses the plan).
    lifelines: tuple[LifelineStatus, ...] = ()
    fingerprint: str = ""
    live_count: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "ops", tuple(sorted(self.ops, key=lambda op: (_ORDER[op.action], op.rule.key)))
        )

    @property
    def adds(self) -> list[CreateRuleOp]:
        """Creations, in order."""
        return [op for op in self.ops if isinstance(op, CreateRuleOp)]

    @property
    def updates(self) -> list[UpdateRuleOp]:
        """In-place updates, in order."""
        return [op for op in self.ops if isinstance(op, UpdateRuleOp)]

    @property
    def removes(self) -> list[DeleteRuleOp]:
        """Removals, in order."""
        return [op for op in self.ops if isinstance(op, DeleteRuleOp)]

    def is_empty(self) -> bool:
        """Whether nothing would change on this target."""
        return not self.ops


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """The drift of every selected target and what to do about it."""

    groups: tuple[GroupOps, ...] = ()
    #: The native calls that carry the groups' operations out, in compile order (see
    #: :mod:`portsync.writes`): the plan's second level, what apply sends.
    writes: tuple[Write, ...] = ()
    mode: str = "owned"
    config_digest: str = ""
    created_at: str = ""
    format_version: int = FORMAT_VERSION

    def __iter__(self) -> Iterator[GroupOps]:
        return iter(self.groups)

    def is_empty(self) -> bool:
        """Whether no target needs a change."""
        return all(g.is_empty() for g in self.groups)

    @property
    def changes(self) -> list[tuple[GroupOps, Op]]:
        """Every op with its group, in plan order."""
        return [(g, op) for g in self.groups for op in g.ops]

    def summary(self) -> dict[str, int]:
        """Counts of adds, removes, updates, unmanaged rules and rules already satisfied."""
        counts = {
            "add": 0,
            "remove": 0,
            "update": 0,
            "unmanaged": 0,
            "satisfied": 0,
            "protected": 0,
        }
        for group in self.groups:
            for op in group.ops:
                counts[op.action.value] += 1
            counts["unmanaged"] += len(group.unmanaged)
            counts["satisfied"] += len(group.satisfied)
            counts["protected"] += len(group.protected)
        return counts

    def clusters(self) -> list[str]:
        """Cluster names in plan order."""
        return list(dict.fromkeys(g.cluster for g in self.groups))

    # -- serialisation -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of docs/reports.md (also the saved plan file)."""
        changes = []
        for group, op in self.changes:
            item: dict[str, Any] = {
                "cluster": group.cluster,
                "provider": group.provider,
                "target": group.target,
                "action": op.action.value,
                "rule": op.rule.to_dict(),
                "reason": op.reason,
            }
            if isinstance(op, UpdateRuleOp):
                item["before"] = op.before.to_dict()
            changes.append(item)

        def where(g: GroupOps) -> dict[str, str]:
            return {"cluster": g.cluster, "provider": g.provider, "target": g.target}

        unmanaged: list[dict[str, Any]] = []
        for g in self.groups:
            unmanaged.extend({**where(g), "rule": r.to_dict()} for r in g.unmanaged)
            # The cloud's own rules stay in the data, marked, so the JSON still lists every live
            # rule portsync leaves alone.
            unmanaged.extend(
                {**where(g), "rule": r.to_dict(), "cloud_default": True} for r in g.cloud_defaults
            )
        satisfied = [{**where(g), **s.to_dict()} for g in self.groups for s in g.satisfied]
        protected = [{**where(g), "rule": r.to_dict()} for g in self.groups for r in g.protected]
        fingerprints: dict[str, dict[str, str]] = {}
        for g in self.groups:
            fingerprints.setdefault(g.cluster, {})[g.target] = g.fingerprint
        body = {
            "format_version": self.format_version,
            "created_at": self.created_at,
            "mode": self.mode,
            "config_digest": self.config_digest,
            "changes": changes,
            "unmanaged": unmanaged,
            "satisfied": satisfied,
            "protected": protected,
            "summary": self.summary(),
            "fingerprints": fingerprints,
            "targets": [
                {
                    "cluster": g.cluster,
                    "provider": g.provider,
                    "target": g.target,
                    "role": g.role,
                    "label": g.label,
                    "live_count": g.live_count,
                    "managed_by": g.managed_by.to_dict() if g.managed_by else None,
                    "fight": g.fight.to_dict() if g.fight else None,
                    "lifelines": [status.to_dict() for status in g.lifelines],
                }
                for g in self.groups
            ],
            "writes": writes_to_json(self.writes),
        }
        body["checksum"] = _checksum(body)
        return body

    def to_json(self, *, sign: bool = False) -> str:
        """Pretty, stable JSON; with ``sign`` and ``PORTSYNC_PLAN_KEY`` set, signed.

        Raises:
            InputError: ``sign`` and the key variable is set but unusable.
        """
        body = self.to_dict()
        key = plan_key() if sign else None
        if key is not None:
            body["signature"] = signature(body, key)
        return json.dumps(body, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<plan>") -> Plan:
        """Rebuild a plan from its JSON object.

        Raises:
            PlanFileError: the object is not a plan this version can apply.
        """
        if not isinstance(data, dict):
            raise PlanFileError(f"{source}: not a portsync plan (expected a JSON object)")
        version = data.get("format_version")
        if version == FORMAT_VERSION and data.get("checksum") != _checksum(data):
            raise PlanFileError(
                f"{source}: the plan's checksum does not match its content; it was edited or "
                "damaged after `portsync plan --out` wrote it",
                hint="make a new plan with `portsync plan --out PLAN.json`",
            )
        if version != FORMAT_VERSION:
            raise PlanFileError(
                f"{source}: plan format_version {version!r} is not supported "
                f"(this portsync writes {FORMAT_VERSION})",
                hint="run `portsync plan --out` again with this version",
            )
        try:
            targets = data["targets"]
            fingerprints = data["fingerprints"]
            groups: dict[tuple[str, str], dict[str, Any]] = {}
            for t in targets:
                key = (str(t["cluster"]), str(t["target"]))
                groups[key] = {
                    "cluster": key[0],
                    "provider": str(t["provider"]),
                    "target": key[1],
                    "role": str(t["role"]),
                    "label": str(t.get("label", "")),
                    "live_count": int(t.get("live_count", 0)),
                    "fingerprint": str(fingerprints[key[0]][key[1]]),
                    "managed_by": (
                        ManagingTool.from_dict(t["managed_by"]) if t.get("managed_by") else None
                    ),
                    "fight": Fight.from_dict(t["fight"]) if t.get("fight") else None,
                    "lifelines": tuple(
                        LifelineStatus.from_dict(x) for x in t.get("lifelines") or []
                    ),
                    "ops": [],
                    "unmanaged": [],
                    "cloud_defaults": [],
                    "satisfied": [],
                    "protected": [],
                }
            _no_errors(data.get("errors", []))
            for i, change in enumerate(data["changes"]):
                key = _listed(groups, change, f"changes[{i}]", source)
                rule = TargetRule.from_dict(change["rule"])
                if rule.target != key[1]:
                    raise PlanFileError(f"{source}: changes[{i}].rule.target does not match")
                action = Action(change["action"])
                reason = str(change.get("reason", ""))
                op: Op
                if action is Action.ADD:
                    op = CreateRuleOp(rule, reason)
                elif action is Action.REMOVE:
                    op = DeleteRuleOp(rule, reason)
                else:
                    op = UpdateRuleOp(TargetRule.from_dict(change["before"]), rule, reason)
                groups[key]["ops"].append(op)
            for i, item in enumerate(data.get("unmanaged", [])):
                key = _listed(groups, item, f"unmanaged[{i}]", source)
                kind = "cloud_defaults" if item.get("cloud_default") is True else "unmanaged"
                groups[key][kind].append(TargetRule.from_dict(item["rule"]))
            for i, item in enumerate(data.get("protected", [])):
                key = _listed(groups, item, f"protected[{i}]", source)
                groups[key]["protected"].append(TargetRule.from_dict(item["rule"]))
            for i, item in enumerate(data.get("satisfied", [])):
                key = _listed(groups, item, f"satisfied[{i}]", source)
                groups[key]["satisfied"].append(
                    Satisfied(
                        TargetRule.from_dict(item["rule"]),
                        tuple(TargetRule.from_dict(r) for r in item["by"]),
                    )
                )
            plan = cls(
                groups=tuple(
                    GroupOps(
                        **{
                            k: v
                            for k, v in g.items()
                            if k
                            not in ("ops", "unmanaged", "cloud_defaults", "satisfied", "protected")
                        },
                        ops=tuple(g["ops"]),
                        unmanaged=tuple(g["unmanaged"]),
                        cloud_defaults=tuple(g["cloud_defaults"]),
                        satisfied=tuple(g["satisfied"]),
                        protected=tuple(g["protected"]),
                    )
                    for g in groups.values()
                ),
                mode=str(data.get("mode", "owned")),
                config_digest=str(data.get("config_digest", "")),
                created_at=str(data.get("created_at", "")),
                writes=_writes(data["writes"], groups, source),
            )
        except PlanFileError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PlanFileError(
                f"{source}: malformed plan ({type(exc).__name__}: {exc})",
                hint="plan files are written by `portsync plan --out`; do not edit them by hand",
            ) from None
        return plan

    @classmethod
    def load(cls, path: str) -> Plan:
        """Read a saved plan file: a regular file of bounded size, JSON, signed when
        ``PORTSYNC_PLAN_KEY`` is set, with a matching checksum.

        Raises:
            PlanFileError: not a regular file, too large, unreadable, not JSON, unsigned or
                wrongly signed (with a key set), or not a plan.
        """
        raw = read_plan_bytes(path)
        try:
            data = json.loads(raw.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise PlanFileError(
                f"{path}: not a JSON plan file ({exc})",
                hint="plan files are written by `portsync plan --out PLAN.json`",
            ) from None
        if isinstance(data, dict):
            check_signature(data, path)
        return cls.from_dict(data, source=path)


def _listed(
    groups: dict[tuple[str, str], Any], item: Any, where: str, source: str
) -> tuple[str, str]:
    """The ``(cluster, target)`` an entry of the plan names, which must be one of its targets: a
    plan cannot carry changes or live rules for a target it never read."""
    key = (str(item["cluster"]), str(item["target"]))
    if key not in groups:
        raise PlanFileError(
            f"{source}: {where} names target {key[1]!r} of cluster {key[0]!r}, "
            "which the plan's targets do not list"
        )
    return key


def _writes(
    value: Any, groups: dict[tuple[str, str], dict[str, Any]], source: str
) -> tuple[Write, ...]:
    """The plan's ``writes``: each of a cluster the plan read (a file cannot smuggle in a write
    for a cluster it never planned)."""
    writes = writes_from_json(value)
    clusters = {cluster for cluster, _target in groups}
    for index, write in enumerate(writes):
        if write.cluster not in clusters:
            raise PlanFileError(
                f"{source}: writes[{index}] names cluster {write.cluster!r}, which the plan's "
                "targets do not list"
            )
    return writes


def _no_errors(value: Any) -> None:
    """Plans written by earlier releases carry ``errors``, always an empty list; a plan that
    holds anything else there was not written by portsync."""
    if value != []:
        raise TypeError(f"errors must be an empty list, not {value!r:.60}")


def _checksum(body: dict[str, Any]) -> str:
    # Catches accidents only (anyone can recompute it); the signature is outside the content.
    return hashlib.sha256(content_bytes(body)).hexdigest()
