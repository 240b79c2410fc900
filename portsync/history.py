"""What portsync added, remembered between runs, so a fight with another writer is noticed.

Some tools revoke every rule they did not create on the groups they manage (Cluster API AWS does
on each reconcile; ``kops update`` does on given ports). portsync adds its rules back on the next
apply, the tool revokes them again, and nobody is told. Each apply records, per target, the rules
it added; a later plan that must add some of them again reports a *fight* on that target, naming
the suspected writer (the tool that manages the target, when one is recognised).

The record is a small JSON file in the user's state folder (``history.json``), written atomically
and readable by its owner only. A CI job that wants fights reported across runs keeps that folder
between runs (a cache); without it, nothing is reported and nothing else changes.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from portsync.model import RuleKey
from portsync.ops import CreateRuleOp, Fight, Op

__all__ = ["Fight", "History"]

#: Rules kept per target; a target's record is replaced by each apply that adds to it.
_MAX_KEYS = 2000
#: The file is refused above this size (it is read on every plan).
_MAX_BYTES = 4 * 1024 * 1024


def _key_text(key: RuleKey) -> str:
    return json.dumps(list(key), ensure_ascii=False)


class History:
    """The record of rules added per (cluster, target), in one file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, Any]:
        try:
            if not self.path.is_file() or self.path.stat().st_size > _MAX_BYTES:
                return {}
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            # A damaged or unreadable record only costs fight reports; never a plan.
            return {}
        return data if isinstance(data, dict) and data.get("version") == 1 else {}

    def added(self, cluster: str, target: str) -> tuple[str, frozenset[str]]:
        """When portsync last added rules to ``target`` and their keys (as text)."""
        targets = self._read().get("targets")
        entry = targets.get(f"{cluster}\n{target}") if isinstance(targets, dict) else None
        if not isinstance(entry, dict) or not isinstance(entry.get("keys"), list):
            return "", frozenset()
        return str(entry.get("at", "")), frozenset(str(k) for k in entry["keys"])

    def fight(
        self, cluster: str, target: str, ops: Iterable[Op], writer: str | None
    ) -> Fight | None:
        """A fight when the plan must add again rules portsync added before."""
        at, before = self.added(cluster, target)
        if not before:
            return None
        again = [
            op for op in ops if isinstance(op, CreateRuleOp) and _key_text(op.rule.key) in before
        ]
        if not again:
            return None
        return Fight(
            count=len(again),
            since=at,
            writer=writer or "unknown (another tool or a person removes them)",
        )

    def record(self, at: str, added: Iterable[tuple[str, str, RuleKey]]) -> None:
        """Remember the rules an apply added (``(cluster, target, key)``), replacing each
        target's previous record. Best effort: an unwritable state folder records nothing.
        """
        by_target: dict[str, list[str]] = {}
        for cluster, target, key in added:
            by_target.setdefault(f"{cluster}\n{target}", []).append(_key_text(key))
        if not by_target:
            return
        data = self._read()
        if not isinstance(data.get("targets"), dict):
            data = {"version": 1, "targets": {}}
        targets = data["targets"]
        for name, keys in by_target.items():
            targets[name] = {"at": at, "keys": sorted(set(keys))[:_MAX_KEYS]}
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".history-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, ensure_ascii=False)
            os.replace(tmp, self.path)
        except OSError:
            return
