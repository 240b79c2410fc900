"""The guards between a plan and the cloud: deletion limit, unmanaged removals, exposure, staleness
(the writes), and the plan file itself (round trip and every refusal)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from portsync.api import check_exposure, check_fresh, check_managed, check_removals
from portsync.config import parse_config
from portsync.errors import GuardrailError, PlanFileError, StalePlanError
from portsync.model import Direction, Endpoint, PortRange, Protocol, TargetRule
from portsync.ops import (
    FORMAT_VERSION,
    CreateRuleOp,
    DeleteRuleOp,
    Fight,
    GroupOps,
    Plan,
    Satisfied,
    UpdateRuleOp,
    _checksum,
    fingerprint,
)
from portsync.planmatch import check_writes, write_differences
from portsync.tools import ManagingTool
from portsync.writes import Phase, Write


def _rule(
    port: int = 6443,
    *,
    target: str = "sg-1",
    owned: bool = True,
    peer: str = "cidr:10.0.0.0/8",
    role: str = "control-plane",
    description: str = "portsync: api",
    native_id: str | None = None,
    direction: Direction = Direction.INGRESS,
    extra: tuple[tuple[str, str], ...] = (),
) -> TargetRule:
    return TargetRule(
        target=target,
        role=role,
        direction=direction,
        protocol=Protocol.TCP,
        ports=PortRange(port, port),
        peer=Endpoint.parse(peer),
        description=description,
        owned=owned,
        native_id=native_id,
        extra=extra,
    )


def _group(*ops: Any, target: str = "sg-1", fp: str = "fp-1", **kw: Any) -> GroupOps:
    return GroupOps(
        cluster="prod", provider="aws", target=target, role="control-plane", ops=ops,
        fingerprint=fp, **kw,
    )  # fmt: skip


def _removing(n: int, *, owned: bool = True) -> Plan:
    ops = [DeleteRuleOp(_rule(1000 + i, owned=owned, native_id=f"r-{i}")) for i in range(n)]
    return Plan(groups=(_group(*ops),))


# -- max_deletes and unmanaged removals --------------------------------------------------------


def test_max_deletes_at_exactly_the_limit_passes() -> None:
    check_removals(_removing(3), max_deletes=3, allow_exclusive=False)
    check_removals(_removing(0), max_deletes=0, allow_exclusive=False)


def test_max_deletes_one_over_the_limit_is_refused() -> None:
    with pytest.raises(GuardrailError, match="removes 4 rules, more than --max-deletes 3") as exc:
        check_removals(_removing(4), max_deletes=3, allow_exclusive=False)
    assert exc.value.hint == "review the plan, then pass --max-deletes N to allow it"
    with pytest.raises(GuardrailError, match="more than --max-deletes 0"):
        check_removals(_removing(1), max_deletes=0, allow_exclusive=False)


def test_max_deletes_counts_removals_across_every_target() -> None:
    plan = Plan(
        groups=(
            _group(DeleteRuleOp(_rule(1, native_id="a"))),
            _group(DeleteRuleOp(_rule(2, target="sg-2", native_id="b")), target="sg-2"),
        )
    )
    check_removals(plan, max_deletes=2, allow_exclusive=False)
    with pytest.raises(GuardrailError, match="removes 2 rules"):
        check_removals(plan, max_deletes=1, allow_exclusive=False)


def test_additions_and_updates_do_not_count_as_deletions() -> None:
    plan = Plan(groups=(_group(CreateRuleOp(_rule(1)), UpdateRuleOp(_rule(2), _rule(2))),))
    check_removals(plan, max_deletes=0, allow_exclusive=False)


def test_removing_an_unmanaged_rule_needs_allow_exclusive() -> None:
    plan = _removing(2, owned=False)
    with pytest.raises(GuardrailError, match="would remove 2 rules portsync does not own") as exc:
        check_removals(plan, max_deletes=10, allow_exclusive=False)
    assert exc.value.hint == "pass --exclusive to allow removing unmanaged rules"
    check_removals(plan, max_deletes=10, allow_exclusive=True)


def test_removing_owned_rules_needs_no_allow_exclusive() -> None:
    check_removals(_removing(2), max_deletes=10, allow_exclusive=False)


def test_the_deletion_limit_applies_even_with_allow_exclusive() -> None:
    with pytest.raises(GuardrailError, match="more than --max-deletes 1"):
        check_removals(_removing(2, owned=False), max_deletes=1, allow_exclusive=True)


# -- exposure ----------------------------------------------------------------------------------

ETCD_TO_WORLD = _rule(2379, peer="cidr:0.0.0.0/0", description="portsync: etcd")


@pytest.fixture(scope="module")
def kubernetes() -> Any:
    return parse_config("catalog: kubernetes\n")


def test_opening_etcd_to_the_world_is_refused(kubernetes: Any) -> None:
    with pytest.raises(GuardrailError, match="sensitive ports to the internet") as exc:
        check_exposure(kubernetes, Plan(groups=(_group(CreateRuleOp(ETCD_TO_WORLD)),)))
    assert "sg-1 tcp/2379 from cidr:0.0.0.0/0" in str(exc.value)
    assert exc.value.hint is not None and "allow_exposure" in exc.value.hint


def test_an_update_that_opens_etcd_to_the_world_is_refused(kubernetes: Any) -> None:
    before = ETCD_TO_WORLD.replace(description="old")
    with pytest.raises(GuardrailError):
        check_exposure(kubernetes, Plan(groups=(_group(UpdateRuleOp(before, ETCD_TO_WORLD)),)))


@pytest.mark.parametrize(
    "op",
    [
        DeleteRuleOp(ETCD_TO_WORLD),  # closing is always fine
        CreateRuleOp(ETCD_TO_WORLD.replace(peer=Endpoint.cidr("10.0.0.0/8"))),
        CreateRuleOp(ETCD_TO_WORLD.replace(direction=Direction.EGRESS)),
        CreateRuleOp(_rule(443, peer="cidr:0.0.0.0/0")),  # not a sensitive port
    ],
    ids=["remove", "private-peer", "egress", "other-port"],
)
def test_what_the_exposure_guard_lets_through(kubernetes: Any, op: Any) -> None:
    check_exposure(kubernetes, Plan(groups=(_group(op),)))


def test_allow_exposure_lets_etcd_be_opened_on_purpose() -> None:
    loaded = parse_config("catalog: kubernetes\nallow_exposure: [etcd]\n")
    check_exposure(loaded, Plan(groups=(_group(CreateRuleOp(ETCD_TO_WORLD)),)))


# -- staleness ---------------------------------------------------------------------------------


def _write(
    gid: str = "sg-1", method: str = "RevokeSecurityGroupIngress", *, fp: str = "fp-1", **body: Any
) -> Write:
    return Write(
        cluster="prod",
        target=gid,
        api="ec2",
        method=method,
        body={"GroupId": gid, **body},
        phase=Phase.BREAK if method.startswith("Revoke") else Phase.MAKE,
        fingerprint=fp,
    )


def test_a_plan_whose_writes_are_recomputed_unchanged_is_fresh() -> None:
    writes = (_write(), _write("sg-2", "AuthorizeSecurityGroupIngress"))
    check_writes(Plan(writes=writes), Plan(writes=tuple(reversed(writes))))


def test_a_write_compiled_from_a_changed_state_is_stale() -> None:
    # The same call on a group whose live rules changed since: its fingerprint differs.
    saved = Plan(writes=(_write(fp="before"),))
    with pytest.raises(
        StalePlanError, match=r"prod/sg-1: break RevokeSecurityGroupIngress differs"
    ):
        check_writes(saved, Plan(writes=(_write(fp="after"),)))


def test_a_changed_body_is_stale() -> None:
    saved = Plan(writes=(_write(SecurityGroupRuleIds=["sgr-1", "sgr-2"]),))
    with pytest.raises(StalePlanError, match="differs"):
        check_writes(saved, Plan(writes=(_write(SecurityGroupRuleIds=["sgr-1"]),)))


def test_writes_gone_and_new_are_named() -> None:
    saved = Plan(writes=(_write(),))
    current = Plan(writes=(_write("sg-2", "AuthorizeSecurityGroupIngress"),))
    with pytest.raises(StalePlanError) as exc:
        check_writes(saved, current)
    message = str(exc.value)
    assert "prod/sg-1: break RevokeSecurityGroupIngress is no longer called for" in message
    assert "prod/sg-2: make AuthorizeSecurityGroupIngress is called for now" in message
    assert exc.value.hint == "run `portsync plan --out PLAN.json` again and review the new plan"


def test_a_stale_plan_lists_ten_differences_and_counts_the_rest() -> None:
    saved = Plan(writes=tuple(_write(f"sg-{i}") for i in range(12)))
    with pytest.raises(StalePlanError) as exc:
        check_writes(saved, Plan())
    message = str(exc.value)
    assert message.count("is no longer called for") == 10
    assert "is no longer called for (and 2 more)" in message


def test_max_deletes_counts_what_the_writes_delete_in_the_clouds_unit() -> None:
    # No rule removed, but the writes delete three firewalls (a repacking, say).
    deleting = dataclasses.replace(_write(), removes=3)
    the_plan = Plan(groups=(_group(),), writes=(deleting,))
    check_removals(the_plan, max_deletes=3, allow_exclusive=False, removes_unit="firewalls")
    with pytest.raises(
        GuardrailError, match=r"writes delete 3 firewalls, more than --max-deletes 2"
    ):
        check_removals(the_plan, max_deletes=2, allow_exclusive=False, removes_unit="firewalls")


LIVE = _rule(6443, native_id="sgr-1", extra=(("priority", "1000"),))

#: Each change to a live rule the stale-plan check must notice.
CHANGES = {
    "target": LIVE.replace(target="sg-2"),
    "direction": LIVE.replace(direction=Direction.EGRESS),
    "protocol": LIVE.replace(protocol=Protocol.UDP),
    "from_port": LIVE.replace(ports=PortRange(6442, 6443)),
    "to_port": LIVE.replace(ports=PortRange(6443, 6444)),
    "peer": LIVE.replace(peer=Endpoint.cidr("10.0.0.0/9")),
    "description": LIVE.replace(description="portsync: changed"),
    "owned": LIVE.replace(owned=False),
    "owner": LIVE.replace(owner="other-cluster"),
    "legacy": LIVE.replace(legacy=True),
    "extra": LIVE.replace(extra=(("priority", "1001"),)),
}


@pytest.mark.parametrize("field", list(CHANGES))
def test_fingerprint_changes_with_each_field_that_matters(field: str) -> None:
    assert fingerprint([CHANGES[field]]) != fingerprint([LIVE])


def test_fingerprint_ignores_what_a_cloud_only_reveals_later() -> None:
    assert fingerprint([LIVE.replace(native_id="sgr-other")]) == fingerprint([LIVE])
    other = _rule(22, native_id="sgr-2")
    assert fingerprint([LIVE, other]) == fingerprint([other, LIVE])
    assert fingerprint([LIVE, other]) != fingerprint([LIVE])
    assert len(fingerprint([LIVE])) == 32


# -- the plan file: round trip and refusals ------------------------------------------------------


def _full_plan() -> Plan:
    unmanaged = _rule(22, owned=False, description="ssh by hand", native_id="sgr-9")
    cover = _rule(10256, owned=False, description="kube-proxy by hand", native_id="sgr-8")
    cp = _group(
        CreateRuleOp(_rule(6443).replace(origin="role:worker"), "missing: api"),
        UpdateRuleOp(
            _rule(10250, description="old", native_id="sgr-2", extra=(("priority", "9"),)),
            _rule(10250, native_id="sgr-2", extra=(("priority", "10"),)),
            "description is 'old'",
        ),
        DeleteRuleOp(_rule(2379, native_id="sgr-3"), "no longer wanted"),
        DeleteRuleOp(unmanaged, "unmanaged rule removed in exclusive mode"),
        unmanaged=(unmanaged, cover),
        satisfied=(Satisfied(_rule(10256, description="portsync: kube-proxy"), (cover,)),),
        protected=(_rule(443, owned=False, description="ingress by hand", native_id="sgr-7"),),
        fight=Fight(count=2, since="2026-01-01T00:00:00Z", writer="Cluster API AWS (CAPA)"),
        fp="fp-cp",
        label="cp (sg-1)",
        live_count=7,
    )
    worker = GroupOps(
        cluster="edge", provider="gcp", target="worker-tag", role="worker", fingerprint="fp-w",
        live_count=0,
        managed_by=ManagingTool(
            name="Cluster API GCP", marker="tag capg-edge-node", behaviour="keeps its own rules",
            route="add the rule to the GCPCluster",
        ),
    )  # fmt: skip
    return Plan(
        groups=(cp, worker),
        mode="exclusive",
        config_digest="digest-1",
        created_at="2026-01-02T03:04:05Z",
    )


def test_plan_round_trip_keeps_every_field() -> None:
    plan = _full_plan()
    again = Plan.from_dict(plan.to_dict())
    assert again == plan
    # Field by field, so a failure says which one a load dropped.
    for f in dataclasses.fields(Plan):
        assert getattr(again, f.name) == getattr(plan, f.name), f.name
    for mine, theirs in zip(again.groups, plan.groups, strict=True):
        for f in dataclasses.fields(GroupOps):
            assert getattr(mine, f.name) == getattr(theirs, f.name), f.name


def test_plan_round_trip_through_a_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(_full_plan().to_json(), encoding="utf-8")
    loaded = Plan.load(str(path))
    assert loaded == _full_plan()
    assert loaded.mode == "exclusive"
    assert [r.native_id for r in loaded.groups[0].unmanaged] == ["sgr-9", "sgr-8"]
    assert [s.by[0].native_id for s in loaded.groups[0].satisfied] == ["sgr-8"]


def _data() -> dict[str, Any]:
    return json.loads(_full_plan().to_json())


def _resealed(data: dict[str, Any]) -> dict[str, Any]:
    data["checksum"] = _checksum(data)
    return data


def _refused(data: Any, match: str) -> PlanFileError:
    with pytest.raises(PlanFileError, match=match) as exc:
        Plan.from_dict(data, source="p.json")
    return exc.value


def test_refused_not_an_object() -> None:
    _refused([], r"p\.json: not a portsync plan \(expected a JSON object\)")


def test_refused_edited_after_writing() -> None:
    data = _data()
    data["mode"] = "additive"
    err = _refused(data, "checksum does not match")
    assert err.hint == "make a new plan with `portsync plan --out PLAN.json`"


def test_refused_without_a_checksum() -> None:
    data = _data()
    del data["checksum"]
    _refused(data, "checksum does not match")


def test_refused_other_format_version() -> None:
    data = _resealed({**_data(), "format_version": FORMAT_VERSION + 1})
    err = _refused(data, f"format_version {FORMAT_VERSION + 1} is not supported")
    assert err.hint == "run `portsync plan --out` again with this version"


def test_refused_a_change_for_a_target_the_plan_does_not_list() -> None:
    data = _data()
    data["changes"][0]["target"] = "sg-elsewhere"
    _refused(_resealed(data), "changes\\[0\\] names target 'sg-elsewhere' of cluster 'prod'")


def test_refused_a_change_for_a_target_of_another_cluster() -> None:
    data = _data()
    data["changes"][0]["cluster"] = "edge"
    _refused(_resealed(data), "changes\\[0\\] names target 'sg-1' of cluster 'edge'")


def test_refused_a_rule_that_belongs_to_another_target() -> None:
    data = _data()
    data["changes"][1]["rule"]["target"] = "worker-tag"
    _refused(_resealed(data), r"changes\[1\]\.rule\.target does not match")


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["changes"][0].update(action="replace"),
        lambda d: d["changes"][0]["rule"].update(protocol="carrier-pigeon"),
        lambda d: d["changes"][1].pop("before"),
        lambda d: d["targets"][0].pop("role"),
        lambda d: d["fingerprints"].pop("edge"),
        lambda d: d.pop("changes"),
        lambda d: d["changes"][0]["rule"].update(extra=["not", "an", "object"]),
        lambda d: d["targets"][0].update(fight=["not", "an", "object"]),
        lambda d: d["targets"][0]["fight"].pop("writer"),
    ],
    ids=["action", "protocol", "update-without-before", "target-role", "fingerprint", "changes",
         "extra", "fight", "fight-writer"],
)  # fmt: skip
def test_refused_malformed(edit: Any) -> None:
    data = _data()
    edit(data)
    err = _refused(_resealed(data), r"p\.json: malformed plan")
    assert err.hint is not None and "do not edit them by hand" in err.hint


def test_refused_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match="cannot read plan file"):
        Plan.load(str(tmp_path / "missing.json"))


def test_refused_not_json(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(b"\xff\xfe not json")
    with pytest.raises(PlanFileError, match="not a JSON plan file"):
        Plan.load(str(path))


@pytest.mark.parametrize("section", ["unmanaged", "satisfied", "protected"])
def test_refused_a_live_rule_listed_for_a_target_the_plan_does_not_list(section: str) -> None:
    """A resealed plan cannot smuggle in rules for a target it never read: every entry names
    one of the plan's targets, as every change must."""
    data = _data()
    data[section][0]["target"] = "sg-elsewhere"
    _refused(
        _resealed(data),
        f"^p\\.json: {section}\\[0\\] names target 'sg-elsewhere' of cluster 'prod'",
    )


def test_refused_errors_that_are_not_an_empty_list() -> None:
    data = _data()
    data["errors"] = "cluster lab: unreachable"
    err = _refused(_resealed(data), r"malformed plan \(TypeError: errors must be an empty list")
    assert err.hint == "plan files are written by `portsync plan --out`; do not edit them by hand"


def test_refusals_name_the_plan_file_or_say_plan_when_there_is_none(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match=r"^<plan>: not a portsync plan"):
        Plan.from_dict([])
    path = tmp_path / "plan.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(PlanFileError, match=f"^{path}: not a portsync plan"):
        Plan.load(str(path))
    data = _data()
    data["changes"][0]["target"] = "sg-elsewhere"
    _refused(
        _resealed(data),
        "^p\\.json: changes\\[0\\] names target 'sg-elsewhere' of cluster 'prod', which the "
        "plan's targets do not list$",
    )
    data = _data()
    data["mode"] = "additive"
    _refused(
        data,
        "^p\\.json: the plan's checksum does not match its content; it was edited or damaged "
        "after `portsync plan --out` wrote it \\(make a new plan",
    )


def test_refused_not_json_says_where_plans_come_from(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(PlanFileError, match=f"^{path}: not a JSON plan file") as exc:
        Plan.load(str(path))
    assert exc.value.hint == "plan files are written by `portsync plan --out PLAN.json`"


def test_a_plan_file_is_utf8_whatever_the_locale(tmp_path: Path) -> None:
    plan = Plan(groups=(_group(CreateRuleOp(_rule(description="portsync: café ☕"))),))
    path = tmp_path / "plan.json"
    path.write_bytes(plan.to_json().encode("utf-8"))
    assert Plan.load(str(path)) == plan


def test_a_plan_without_its_optional_keys_loads_with_their_defaults() -> None:
    """Only targets, fingerprints and changes are required; what a plan without the rest means
    is pinned here (no unmanaged rules, nothing satisfied, mode owned)."""
    data = _data()
    for key in (
        "unmanaged", "satisfied", "protected", "mode", "config_digest", "created_at",
    ):  # fmt: skip
        del data[key]
    for target in data["targets"]:
        del target["label"], target["live_count"]
    for change in data["changes"]:
        del change["reason"]
    plan = Plan.from_dict(_resealed(data))
    assert (plan.mode, plan.config_digest, plan.created_at) == ("owned", "", "")
    assert [
        (g.label, g.live_count, g.unmanaged, g.satisfied, g.protected) for g in plan.groups
    ] == [("", 0, (), (), ())] * 2
    assert [op.reason for op in plan.groups[0].ops] == [""] * 4


def test_a_plan_file_with_its_keys_reordered_is_the_same_plan() -> None:
    """The checksum is over the content, not the key order a tool (jq -S, a YAML round trip)
    happens to write."""
    text = json.dumps(_data(), sort_keys=True)
    reordered = json.loads(text)
    assert list(reordered) != list(_data())
    assert Plan.from_dict(reordered) == _full_plan()


def test_plan_json_is_pretty_and_keeps_text_as_written() -> None:
    plan = Plan(groups=(_group(CreateRuleOp(_rule(description="portsync: café"))),))
    text = plan.to_json()
    assert text.startswith('{\n  "format_version": 1,\n  "created_at": ""')
    assert '"purpose": "portsync: café"' in text
    assert text.endswith("}\n")


def test_plan_json_matches_its_schema() -> None:
    from importlib import resources

    import jsonschema

    schema = json.loads(
        resources.files("portsync").joinpath("schemas", "plan.schema.json").read_text("utf-8")
    )
    jsonschema.Draft202012Validator(schema).validate(_full_plan().to_dict())


def test_summary_counts_across_every_target() -> None:
    plan = _full_plan()
    twice = Plan(groups=(*plan.groups, dataclasses.replace(plan.groups[0], target="sg-3")))
    assert twice.summary() == {
        "add": 2, "remove": 4, "update": 2, "unmanaged": 4, "satisfied": 2, "protected": 2,
    }  # fmt: skip


def test_plan_walks_its_targets_and_clusters_in_order() -> None:
    plan = _full_plan()
    assert list(plan) == list(plan.groups)
    assert plan.clusters() == ["prod", "edge"]
    assert not plan.is_empty()
    assert [g.is_empty() for g in plan] == [False, True]
    assert Plan(groups=(plan.groups[1],)).is_empty()


# -- what the guards say ------------------------------------------------------------------------


def test_exposure_guard_ignores_the_role_a_rule_claims(kubernetes: Any) -> None:
    """etcd runs on the control plane, but 2379 open to the world is refused on a worker too:
    the role is what the config says, and a port's danger does not depend on it."""
    on_worker = ETCD_TO_WORLD.replace(role="worker")
    with pytest.raises(GuardrailError, match="etcd"):
        check_exposure(kubernetes, Plan(groups=(_group(CreateRuleOp(on_worker)),)))
    kubelet = _rule(10250, peer="cidr:0.0.0.0/0", role="worker")
    with pytest.raises(GuardrailError, match="kubelet"):
        check_exposure(kubernetes, Plan(groups=(_group(CreateRuleOp(kubelet)),)))


def test_exposure_guard_lists_ten_openings_and_names_each_allowance(kubernetes: Any) -> None:
    etcd = [ETCD_TO_WORLD.replace(peer=Endpoint.cidr(f"{i}.0.0.0/8")) for i in range(11, 21)]
    kubelet = _rule(10250, peer="cidr:0.0.0.0/0")
    with pytest.raises(GuardrailError) as exc:
        check_exposure(kubernetes, Plan(groups=(_group(*map(CreateRuleOp, [*etcd, kubelet])),)))
    listed = "; ".join(f"sg-1 tcp/2379 from cidr:{i}.0.0.0/8 (etcd)" for i in range(11, 21))
    assert str(exc.value).startswith(
        f"apply would open sensitive ports to the internet: {listed} ("
    )
    assert exc.value.hint == (
        "narrow the source, or list etcd, kubelet under allow_exposure: in the config if you "
        "really mean it"
    )


# -- targets another tool manages ---------------------------------------------------------------

CAPA = ManagingTool(
    name="Cluster API AWS (CAPA)", marker="tag sigs.k8s.io/cluster-api-provider-aws/cluster/prod",
    behaviour="removes rules it did not create", route="add the rule to the AWSCluster",
)  # fmt: skip
HAND = _rule(22, owned=False, description="ssh by hand", native_id="sgr-9")


def test_exclusive_removal_on_a_managed_target_is_refused_naming_target_and_tool() -> None:
    plan = Plan(groups=(_group(DeleteRuleOp(HAND), label="cp (sg-1)", managed_by=CAPA),))
    with pytest.raises(GuardrailError) as exc:
        check_managed(plan)
    assert str(exc.value).startswith(
        "mode exclusive would remove rules another tool created: prod/cp (sg-1) is managed by "
        "Cluster API AWS (CAPA)"
    )
    assert exc.value.hint == (
        "protect the tool's rules (protect:), use mode owned there, or name each target with "
        "--exclusive-on-managed TARGET if you really mean it"
    )


def test_a_managed_target_named_by_id_or_label_may_lose_unmanaged_rules() -> None:
    plan = Plan(groups=(_group(DeleteRuleOp(HAND), label="cp (sg-1)", managed_by=CAPA),))
    check_managed(plan, exclusive_on_managed=["sg-1"])
    check_managed(plan, exclusive_on_managed=["cp (sg-1)"])
    with pytest.raises(GuardrailError):
        check_managed(plan, exclusive_on_managed=["sg-2", "cp"])


def test_the_managed_guard_lists_every_refused_target() -> None:
    plan = Plan(
        groups=(
            _group(DeleteRuleOp(HAND), managed_by=CAPA),
            _group(DeleteRuleOp(HAND.replace(target="sg-2")), target="sg-2", managed_by=CAPA),
        )
    )
    with pytest.raises(GuardrailError, match=r"prod/sg-1 is managed by .*; prod/sg-2 is managed"):
        check_managed(plan)


@pytest.mark.parametrize(
    "group",
    [
        _group(DeleteRuleOp(_rule(22, native_id="sgr-1")), managed_by=CAPA),  # portsync's own
        _group(CreateRuleOp(_rule(22)), managed_by=CAPA),  # nothing removed
        _group(DeleteRuleOp(HAND)),  # no tool manages the target
    ],
    ids=["owned-removal", "addition", "unmanaged-target"],
)
def test_what_the_managed_guard_lets_through(group: GroupOps) -> None:
    check_managed(Plan(groups=(group,)))


def test_a_fight_that_is_not_an_object_is_named() -> None:
    data = _data()
    data["targets"][0]["fight"] = "twice"
    _refused(_resealed(data), r"malformed plan \(TypeError: fight must be an object\)")


def test_a_plan_of_an_earlier_release_with_its_empty_errors_still_loads() -> None:
    data = _data()
    assert "errors" not in data  # no longer written
    data["errors"] = []
    plan = Plan.from_dict(_resealed(data), source="p.json")
    assert plan.to_dict() == _full_plan().to_dict()


def test_a_plan_whose_errors_are_not_empty_was_not_written_by_portsync() -> None:
    data = _data()
    data["errors"] = ["injected"]
    _refused(_resealed(data), r"malformed plan \(TypeError: errors must be an empty list")


def test_the_writes_limit_names_the_clouds_unit_and_how_to_allow_it() -> None:
    the_plan = Plan(groups=(_group(),), writes=(dataclasses.replace(_write(), removes=2),))
    with pytest.raises(GuardrailError) as exc:
        check_removals(the_plan, max_deletes=1, allow_exclusive=False)
    # A caller that does not say what the cloud deletes gets the neutral name.
    assert (
        exc.value.message == "the plan's writes delete 2 cloud objects, more than --max-deletes 1"
    )
    assert exc.value.hint == (
        "review the plan (`portsync show --writes PLAN.json`), then pass --max-deletes N to allow it"
    )


def test_a_world_opening_after_a_harmless_change_is_still_refused(kubernetes: Any) -> None:
    harmless = _group(CreateRuleOp(ETCD_TO_WORLD.replace(peer=Endpoint.cidr("10.0.0.0/8"))))
    opening = _group(CreateRuleOp(ETCD_TO_WORLD.replace(target="sg-2")), target="sg-2")
    with pytest.raises(GuardrailError, match=r"sg-2 tcp/2379 from cidr:0\.0\.0\.0/0"):
        check_exposure(kubernetes, Plan(groups=(harmless, opening)))


# -- freshness of the targets' live rules -------------------------------------------------------


def test_a_plan_whose_targets_are_unchanged_is_fresh() -> None:
    saved = Plan(groups=(_group(fp="a"), _group(target="sg-2", fp="b")))
    check_fresh(saved, Plan(groups=(_group(target="sg-2", fp="b"), _group(fp="a"))))


def test_every_target_whose_live_rules_changed_is_named() -> None:
    saved = Plan(
        groups=(
            _group(fp="a", label="control-plane (sg-1)"),
            _group(target="sg-2", fp="b"),
            _group(target="sg-3", fp="c"),
        )
    )
    current = Plan(groups=(_group(fp="a2"), _group(target="sg-2", fp="b")))
    with pytest.raises(StalePlanError) as exc:
        check_fresh(saved, current)
    # sg-1 changed, sg-3 is gone (no fingerprint now), sg-2 is as it was.
    assert exc.value.message == (
        "the saved plan is stale: live rules changed on prod/control-plane (sg-1), prod/sg-3 "
        "since it was made"
    )
    assert exc.value.hint == "run `portsync plan --out PLAN.json` again and review the new plan"


# -- what differs between the saved writes and the recomputed ones ------------------------------


def test_each_surplus_copy_of_a_write_is_named_once() -> None:
    three = tuple(_write() for _ in range(3))
    assert (
        write_differences(three, three[:1])
        == ["prod/sg-1: break RevokeSecurityGroupIngress is no longer called for"] * 2
    )
    assert (
        write_differences(three[:1], three)
        == [
            "prod/sg-1: break RevokeSecurityGroupIngress is called for now, and missing from the file"
        ]
        * 2
    )


def test_a_call_made_from_another_state_is_one_difference_not_two() -> None:
    assert write_differences((_write(fp="before"),), (_write(fp="after"),)) == [
        "prod/sg-1: break RevokeSecurityGroupIngress differs (its body, or the state it was "
        "compiled from)"
    ]


def test_changed_calls_pair_up_one_to_one() -> None:
    """Three changed copies of one call on each side are three differences; two saved against one
    recomputed are one changed call and one no longer called for, and the reverse."""
    where = "prod/sg-1: break RevokeSecurityGroupIngress"
    differs = f"{where} differs (its body, or the state it was compiled from)"
    saved = tuple(_write(fp=f"old-{i}") for i in range(3))
    now = tuple(_write(fp=f"new-{i}") for i in range(3))
    assert write_differences(saved, now) == [differs] * 3
    assert write_differences(saved[:2], now[:1]) == [differs, f"{where} is no longer called for"]
    assert write_differences(saved[:1], now[:2]) == [
        differs,
        f"{where} is called for now, and missing from the file",
    ]


def test_a_new_call_after_a_changed_one_is_still_named() -> None:
    new = _write("sg-2", "AuthorizeSecurityGroupIngress")
    assert write_differences((_write(fp="before"),), (_write(fp="after"), new)) == [
        "prod/sg-1: break RevokeSecurityGroupIngress differs (its body, or the state it was "
        "compiled from)",
        "prod/sg-2: make AuthorizeSecurityGroupIngress is called for now, and missing from the "
        "file",
    ]


def test_the_stale_refusal_spells_out_the_differences() -> None:
    saved = Plan(writes=(_write(), _write("sg-2")))
    with pytest.raises(StalePlanError) as exc:
        check_writes(saved, Plan())
    assert exc.value.message == (
        "the saved plan is stale: the writes it holds differ from those the config and the live "
        "state call for now, so it was not applied: prod/sg-1: break RevokeSecurityGroupIngress "
        "is no longer called for; prod/sg-2: break RevokeSecurityGroupIngress is no longer "
        "called for"
    )
    ten = Plan(writes=tuple(_write(f"sg-{i}") for i in range(10)))
    with pytest.raises(StalePlanError) as exc:
        check_writes(ten, Plan())
    assert exc.value.message.endswith(
        "sg-9: break RevokeSecurityGroupIngress is no longer called for"
    )
