"""The plan as data: JSON round trip, summary, refusal of bad plan files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from portsync.errors import PlanFileError
from portsync.model import Endpoint, PortRange, Protocol, TargetRule
from portsync.ops import (
    CreateRuleOp,
    DeleteRuleOp,
    GroupOps,
    Plan,
    UpdateRuleOp,
    _checksum,
    fingerprint,
)


def _changes(plan: Plan) -> list[tuple[object, ...]]:
    """Every change as (cluster, target, action, rule before, rule after)."""
    return [
        (g.cluster, g.target, op.action, getattr(op, "before", op.rule), op.rule)
        for g in plan.groups
        for op in g.ops
    ]


def _rule(port: int, desc: str = "portsync: x") -> TargetRule:
    return TargetRule(
        target="sg-1",
        role="worker",
        protocol=Protocol.TCP,
        ports=PortRange(port, port),
        peer=Endpoint.parse("cidr:10.0.0.0/8"),
        description=desc,
        owned=True,
    )


def _plan() -> Plan:
    group = GroupOps(
        cluster="c",
        provider="aws",
        target="sg-1",
        role="worker",
        ops=(
            DeleteRuleOp(_rule(3), "unwanted"),
            CreateRuleOp(_rule(1), "missing"),
            UpdateRuleOp(_rule(2, "portsync: old"), _rule(2), "stale"),
        ),
        unmanaged=(_rule(22, "ssh").replace(owned=False),),
        fingerprint="abc",
    )
    return Plan(groups=(group,), config_digest="d", created_at="t")


def test_group_ops_orders_adds_then_updates_then_removes() -> None:
    actions = [op.action.value for op in _plan().groups[0].ops]
    assert actions == ["add", "update", "remove"]


def test_plan_json_has_contract_keys_and_round_trips(tmp_path: Path) -> None:
    plan = _plan()
    data = json.loads(plan.to_json())
    assert {"format_version", "changes", "unmanaged", "summary", "fingerprints"} <= set(data)
    assert data["summary"] == {
        "add": 1,
        "remove": 1,
        "update": 1,
        "unmanaged": 1,
        "satisfied": 0,
        "protected": 0,
    }
    assert data["changes"][0]["rule"]["from_port"] == 1
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json())
    again = Plan.load(str(path))
    assert _changes(again) == _changes(plan)
    assert again.groups[0].fingerprint == "abc"


def test_plan_load_other_format_version_is_refused(tmp_path: Path) -> None:
    data = json.loads(_plan().to_json())
    data["format_version"] = 99
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PlanFileError, match="format_version 99"):
        Plan.load(str(path))


def test_plan_load_hand_edited_summary_is_refused(tmp_path: Path) -> None:
    data = json.loads(_plan().to_json())
    data["changes"].append(dict(data["changes"][0]))
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PlanFileError, match="checksum"):
        Plan.load(str(path))


def _with_writes() -> Plan:
    from portsync.writes import Phase, Write

    write = Write(
        cluster=_plan().groups[0].cluster,
        target="sg-1",
        api="ec2",
        method="RevokeSecurityGroupIngress",
        body={"GroupId": "sg-1", "SecurityGroupRuleIds": ["sgr-1"]},
        phase=Phase.BREAK,
        removes=1,
        fingerprint="abc",
    )
    return dataclasses.replace(_plan(), writes=(write,))


def test_plan_json_holds_the_writes_and_round_trips_them(tmp_path: Path) -> None:
    plan = _with_writes()
    data = json.loads(plan.to_json())
    assert data["writes"] == [
        {
            "cluster": plan.groups[0].cluster,
            "target": "sg-1",
            "api": "ec2",
            "method": "RevokeSecurityGroupIngress",
            "body": {"GroupId": "sg-1", "SecurityGroupRuleIds": ["sgr-1"]},
            "phase": "break",
            "removes": 1,
            "fingerprint": "abc",
        }
    ]
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json())
    assert Plan.load(str(path)).writes == plan.writes


def test_plan_load_edited_write_is_refused_by_the_checksum(tmp_path: Path) -> None:
    data = json.loads(_with_writes().to_json())
    data["writes"][0]["body"]["SecurityGroupRuleIds"].append("sgr-2")
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PlanFileError, match="checksum"):
        Plan.load(str(path))


def test_plan_load_write_of_a_cluster_the_plan_never_read_is_refused(tmp_path: Path) -> None:
    from portsync.ops import _checksum

    data = json.loads(_with_writes().to_json())
    data["writes"][0]["cluster"] = "someone-else"
    del data["checksum"]
    data["checksum"] = _checksum(data)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PlanFileError, match="writes\\[0\\] names cluster 'someone-else'"):
        Plan.load(str(path))


def test_plan_load_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("{not json")
    with pytest.raises(PlanFileError, match="not a JSON plan"):
        Plan.load(str(path))


def test_plan_load_malformed_rule_is_refused(tmp_path: Path) -> None:
    data = json.loads(_plan().to_json())
    data["changes"][0]["rule"]["protocol"] = "carrier-pigeon"
    data["checksum"] = _checksum(data)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PlanFileError, match="malformed"):
        Plan.load(str(path))


def test_fingerprint_ignores_order_and_native_ids_but_not_descriptions() -> None:
    a, b = _rule(1), _rule(2)
    assert fingerprint([a, b]) == fingerprint([b.replace(native_id="x"), a])
    assert fingerprint([a]) != fingerprint([a.replace(description="portsync: y")])


def _everything() -> Plan:
    """A plan using every part of the format: each kind of op, live rules of each kind, the
    target's facts (tool, fight, lifelines) and a write."""
    from portsync.ops import Fight, LifelineStatus, Satisfied
    from portsync.tools import ManagingTool

    base = _with_writes()
    group = dataclasses.replace(
        base.groups[0],
        label="workers",
        live_count=4,
        cloud_defaults=(_rule(443, "default rule").replace(owned=False),),
        satisfied=(Satisfied(_rule(10250), (_rule(10250, "broad").replace(owned=False),)),),
        protected=(_rule(9000, "keep").replace(owned=False),),
        managed_by=ManagingTool(name="kops", marker="tag x", behaviour="b", route="r"),
        fight=Fight(count=2, since="2026-01-01T00:00:00Z", writer="kops"),
        lifelines=tuple(
            LifelineStatus(name=name, status=status)
            for name, status in (("ssh", "held"), ("api", "opened"), ("dns", "closed"))
        ),
    )
    return dataclasses.replace(base, groups=(group,), mode="exclusive")


def test_every_part_of_a_plan_survives_the_round_trip(tmp_path: Path) -> None:
    plan = _everything()
    data = json.loads(plan.to_json())
    assert [(u["rule"]["purpose"], u.get("cloud_default")) for u in data["unmanaged"]] == [
        ("ssh", None),
        ("default rule", True),
    ]
    assert data["unmanaged"][1]["target"] == "sg-1"
    assert data["targets"][0]["lifelines"] == [
        {"name": "ssh", "status": "held"},
        {"name": "api", "status": "opened"},
        {"name": "dns", "status": "closed"},
    ]
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json())
    again = Plan.load(str(path))
    assert again == plan
    assert again.groups[0].cloud_defaults == plan.groups[0].cloud_defaults
    assert again.groups[0].lifelines == plan.groups[0].lifelines


def _resealed(data: dict[str, object], path: Path) -> str:
    del data["checksum"]
    data["checksum"] = _checksum(data)
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize(
    "lifelines, why",
    [
        (["ssh"], "TypeError: a lifeline status must be an object"),
        ([{"name": "ssh", "status": "cut"}], "ValueError: unknown lifeline status 'cut'"),
        ([{"status": "held"}], "KeyError: 'name'"),
        ([{"name": "ssh"}], "KeyError: 'status'"),
    ],
)
def test_plan_load_bad_lifeline_status_is_refused(
    tmp_path: Path, lifelines: object, why: str
) -> None:
    data = json.loads(_everything().to_json())
    data["targets"][0]["lifelines"] = lifelines
    path = _resealed(data, tmp_path / "plan.json")
    with pytest.raises(PlanFileError) as caught:
        Plan.load(path)
    assert str(caught.value).startswith(f"{path}: malformed plan ({why}")


def test_plan_load_without_its_writes_is_refused(tmp_path: Path) -> None:
    data = json.loads(_with_writes().to_json())
    del data["writes"]
    path = _resealed(data, tmp_path / "plan.json")
    with pytest.raises(PlanFileError, match="malformed plan \\(KeyError: 'writes'\\)"):
        Plan.load(path)


def test_plan_load_names_the_file_and_the_write_of_an_unknown_cluster(tmp_path: Path) -> None:
    data = json.loads(_with_writes().to_json())
    data["writes"][0]["cluster"] = "someone-else"
    path = _resealed(data, tmp_path / "plan.json")
    with pytest.raises(PlanFileError) as caught:
        Plan.load(path)
    assert str(caught.value).startswith(
        f"{path}: writes[0] names cluster 'someone-else', which the plan's targets do not list"
    )
