"""A provider with no cloud behind it, for tests and benchmarks of the core alone.

Its targets, desired rules and live rules are given when it is made; a read costs nothing and
hands the live rules back as a snapshot, so what is measured or tested is the session and the
engine, not a provider's translation or a cloud's answers.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import ClassVar

from pydantic import BaseModel

from portsync.config import Sources
from portsync.model import RuleSet, TargetRule
from portsync.ops import GroupOps
from portsync.provider import Target
from portsync.writes import Snapshot, Write

__all__ = ["StubConfig", "StubProvider"]


class StubConfig(BaseModel):
    """The stub reads no cluster keys of its own."""


class StubProvider:
    """Prebuilt ``targets``, ``desired`` rules (what ``translate`` returns whatever the rule set)
    and ``live`` rules by target id. ``read_scope`` groups stubs that share one read (None: the
    provider names no scope, and the session gives it one of its own). Every read's targets are
    appended to ``reads`` when a list is given, for tests to look at."""

    name: ClassVar[str] = "stub"
    config_model: ClassVar[type[BaseModel]] = StubConfig

    def __init__(
        self,
        targets: Sequence[Target],
        live: Mapping[str, Sequence[TargetRule]],
        *,
        desired: Sequence[TargetRule] = (),
        read_scope: Hashable | None = ("stub",),
        reads: list[list[Target]] | None = None,
    ) -> None:
        if read_scope is not None:
            self.read_scope = read_scope
        self._targets = tuple(targets)
        self._live = live
        self._desired = tuple(desired)
        self._reads = reads

    def targets(self) -> list[Target]:
        return list(self._targets)

    def translate(self, rules: RuleSet, sources: Sources) -> list[TargetRule]:
        return list(self._desired)  # the rule set is not looked at

    def read(self, targets: Sequence[Target]) -> Snapshot:
        if self._reads is not None:
            self._reads.append(list(targets))
        return Snapshot(provider=self.name, rules={t.id: self._live.get(t.id, ()) for t in targets})

    def managing_tool(self, target: Target, snapshot: Snapshot) -> None:
        return None

    def compile(self, groups: Sequence[GroupOps], snapshot: Snapshot) -> tuple[Write, ...]:
        return ()

    def execute(self, write: Write) -> None:
        raise NotImplementedError("the stub provider writes nothing")
