"""The apply history behind fight detection: recorded per target, read defensively."""

from __future__ import annotations

import os
from pathlib import Path

from portsync.history import History
from portsync.model import Endpoint, PortRange, Protocol, TargetRule
from portsync.ops import CreateRuleOp, DeleteRuleOp


def _rule(port: int) -> TargetRule:
    return TargetRule(
        target="sg-1",
        protocol=Protocol.TCP,
        ports=PortRange(port, port),
        peer=Endpoint.parse("cidr:10.0.0.0/8"),
    )


def test_only_re_additions_of_recorded_rules_are_a_fight(tmp_path: Path) -> None:
    history = History(tmp_path / "h.json")
    history.record(
        "2026-12-07T10:00:00Z", [("c", "sg-1", _rule(22).key), ("c", "sg-1", _rule(80).key)]
    )
    ops = [CreateRuleOp(_rule(22)), CreateRuleOp(_rule(443)), DeleteRuleOp(_rule(80))]
    fight = history.fight("c", "sg-1", ops, "kops")
    assert fight is not None
    assert (fight.count, fight.since, fight.writer) == (1, "2026-12-07T10:00:00Z", "kops")
    assert history.fight("c", "sg-1", [CreateRuleOp(_rule(443))], "kops") is None
    assert history.fight("other", "sg-1", ops, "kops") is None
    unknown = history.fight("c", "sg-1", ops, None)
    assert unknown is not None and unknown.writer.startswith("unknown")
    assert (tmp_path / "h.json").stat().st_mode & 0o777 == 0o600


def test_a_new_apply_replaces_the_targets_record_and_keeps_others(tmp_path: Path) -> None:
    history = History(tmp_path / "h.json")
    history.record("t1", [("c", "sg-1", _rule(22).key), ("c", "sg-2", _rule(22).key)])
    history.record("t2", [("c", "sg-1", _rule(80).key)])
    assert history.added("c", "sg-1")[0] == "t2"
    assert history.fight("c", "sg-1", [CreateRuleOp(_rule(22))], None) is None
    assert history.added("c", "sg-2")[0] == "t1"


def test_damaged_oversized_or_missing_records_cost_only_fight_reports(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    ops = [CreateRuleOp(_rule(22))]
    assert History(path).fight("c", "sg-1", ops, None) is None
    for text in (
        "{not json",
        "[]",
        '{"version": 2, "targets": {}}',
        '{"version": 1, "targets": 3}',
    ):
        path.write_text(text)
        assert History(path).added("c", "sg-1") == ("", frozenset())
    path.write_text(" " * (5 * 1024 * 1024))
    assert History(path).added("c", "sg-1") == ("", frozenset())
    os.mkfifo(tmp_path / "fifo")
    assert History(tmp_path / "fifo").added("c", "sg-1") == ("", frozenset())


def test_an_unwritable_state_folder_records_nothing_and_raises_nothing(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    History(blocked / "h.json").record("t", [("c", "sg-1", _rule(22).key)])
    assert not (blocked / "h.json").exists()
