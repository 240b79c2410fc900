"""Golden cases for a provider's ``compile``: a snapshot and operations in, the writes out.

Each cloud keeps its cases in ``tests/providers/<cloud>/cases/*.yaml`` and runs them with
:func:`case_files` and :func:`check_case`, handing over the only two things that differ between
clouds: how the YAML's ``native`` becomes the provider's ``Snapshot.native``, and the provider's
pure ``compile`` function. A case file is one YAML mapping::

    description: what the case shows (one line)
    snapshot:
      quotas: {rules_per_group: 60}      # Snapshot.quotas (optional)
      fingerprints: {sg-1: "abc"}        # Snapshot.fingerprints (optional)
      native: {...}                      # the cloud's own raw view, see the cloud's test module
      rules:                             # Snapshot.rules: live rules per target id, each in the
        sg-1:                            # plan JSON's rule form (TargetRule.to_dict)
          - {target: sg-1, role: worker, direction: ingress, protocol: tcp, from_port: 22,
             to_port: 22, peer: 10.0.0.0/8, purpose: "portsync: ssh", owned: true,
             owner: prod, native_id: sgr-1}
    groups:                              # the neutral operations, one entry per target
      - cluster: prod
        provider: aws
        target: sg-1
        role: worker
        label: sg-1 (worker)             # optional
        ops:
          - {action: add, rule: {...}}                  # rule: as above
          - {action: update, before: {...}, rule: {...}}
          - {action: remove, rule: {...}}
    expect:                              # exactly one of:
      writes:                            #   the writes, in order, as in the plan JSON
        - {cluster: prod, target: sg-1, api: ec2, method: ..., body: {...}, phase: make,
           removes: 0}
      error: {type: ProviderLimitError, match: "regular expression"}   # or the refusal

Nothing is computed from the expected values: the harness builds the inputs, calls ``compile``
and compares its whole answer with ``expect``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from portsync import errors
from portsync.model import TargetRule
from portsync.ops import CreateRuleOp, DeleteRuleOp, GroupOps, Op, UpdateRuleOp
from portsync.writes import Snapshot, Write, writes_from_json, writes_to_json

__all__ = ["Compile", "case_files", "check_case", "load_case"]

Compile = Callable[[Sequence[GroupOps], Snapshot], Sequence[Write]]


def case_files(folder: Path) -> list[Path]:
    """The case files of one cloud, sorted (a parametrisation's ids are their stems)."""
    return sorted(folder.glob("*.yaml"))


def _op(item: dict[str, Any]) -> Op:
    rule = TargetRule.from_dict(item["rule"])
    action = item["action"]
    if action == "add":
        return CreateRuleOp(rule)
    if action == "remove":
        return DeleteRuleOp(rule)
    if action == "update":
        return UpdateRuleOp(TargetRule.from_dict(item["before"]), rule)
    raise ValueError(f"unknown action {action!r}")


def load_case(
    path: Path, native: Callable[[Any], Any]
) -> tuple[list[GroupOps], Snapshot, dict[str, Any]]:
    """``(groups, snapshot, expect)`` of one case file; ``native`` builds ``Snapshot.native``
    from the YAML's ``snapshot.native``."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    snap = data.get("snapshot") or {}
    snapshot = Snapshot(
        provider=str(snap.get("provider", path.parent.parent.name)),
        rules={
            target: tuple(TargetRule.from_dict(r) for r in rules or ())
            for target, rules in (snap.get("rules") or {}).items()
        },
        native=native(snap.get("native")),
        fingerprints=snap.get("fingerprints") or {},
        quotas=snap.get("quotas") or {},
    )
    groups = [
        GroupOps(
            cluster=str(g["cluster"]),
            provider=str(g.get("provider", snapshot.provider)),
            target=str(g["target"]),
            role=str(g["role"]),
            label=str(g.get("label", "")),
            ops=tuple(_op(item) for item in g.get("ops") or ()),
        )
        for g in data["groups"]
    ]
    expect = data["expect"]
    if ("writes" in expect) == ("error" in expect):
        raise ValueError(f"{path}: expect needs exactly one of writes and error")
    return groups, snapshot, expect


def check_case(path: Path, compile_writes: Compile, native: Callable[[Any], Any]) -> None:
    """Run one case: compile its groups on its snapshot and compare with ``expect``.

    Raises:
        AssertionError: the writes (or the refusal) differ from the expected ones.
    """
    groups, snapshot, expect = load_case(path, native)
    if "error" in expect:
        kind = getattr(errors, expect["error"]["type"])
        try:
            compile_writes(groups, snapshot)
        except kind as exc:
            pattern = expect["error"].get("match", "")
            assert re.search(pattern, str(exc)), f"{path.name}: {exc} does not match {pattern!r}"
            return
        raise AssertionError(f"{path.name}: compile did not raise {kind.__name__}")
    got = writes_to_json(compile_writes(groups, snapshot))
    want = writes_to_json(writes_from_json(expect["writes"]))
    assert got == want, f"{path.name}: writes differ"
