"""Plan files as hostile input: what is refused before reading, signing, and the comparison of a
saved plan with the recomputed one."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from portsync import files, planfile
from portsync.errors import InputError, PlanFileError
from portsync.model import Direction, Endpoint, PortRange, Protocol, TargetRule
from portsync.ops import CreateRuleOp, DeleteRuleOp, GroupOps, Plan, UpdateRuleOp, _checksum
from portsync.planmatch import check_same, differences

KEY = "correct horse battery staple"


def _rule(
    port: int, *, target: str = "sg-cp", role: str = "control-plane", **kw: Any
) -> TargetRule:
    values: dict[str, Any] = {
        "target": target,
        "role": role,
        "protocol": Protocol.TCP,
        "ports": PortRange(port, port),
        "peer": Endpoint.parse("cidr:10.0.0.0/8"),
        "description": "portsync: api",
        "owned": True,
        **kw,
    }
    return TargetRule(**values)


def _plan(*ops: Any, target: str = "sg-cp", role: str = "control-plane") -> Plan:
    group = GroupOps(
        cluster="prod", provider="aws", target=target, role=role, ops=ops, fingerprint="fp"
    )
    worker = GroupOps(cluster="prod", provider="aws", target="sg-w", role="worker", fingerprint="w")
    return Plan(groups=(group, worker), config_digest="d", created_at="2026-01-01T00:00:00Z")


def _saved(tmp_path: Path, text: str) -> str:
    path = tmp_path / "plan.json"
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- not a regular file, too large -----------------------------------------------------------------


def test_symlink_to_dev_zero_is_refused_unread(tmp_path: Path) -> None:
    link = tmp_path / "plan.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(PlanFileError, match=r"plan file .*plan\.json is not a regular file"):
        Plan.load(str(link))


def test_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)
    with pytest.raises(PlanFileError, match=r"plan file .*plan\.json is not a regular file"):
        Plan.load(str(fifo))


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match=r"is a directory"):
        Plan.load(str(tmp_path))


def test_file_over_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _saved(tmp_path, _plan(CreateRuleOp(_rule(6443))).to_json())
    size = os.path.getsize(path)
    monkeypatch.setattr(files, "PLAN_CAP", size - 1)
    with pytest.raises(PlanFileError, match=r"plan file .* is .*, over the .* cap"):
        Plan.load(path)
    monkeypatch.setattr(files, "PLAN_CAP", size)
    assert Plan.load(path).summary()["add"] == 1


def test_symlink_to_a_regular_plan_file_is_read(tmp_path: Path) -> None:
    target = _saved(tmp_path, _plan(CreateRuleOp(_rule(6443))).to_json())
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert Plan.load(str(link)).summary()["add"] == 1


def test_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match=r"cannot read plan file .*no such file"):
        Plan.load(str(tmp_path / "absent.json"))


# -- signing ---------------------------------------------------------------------------------------


def test_signed_plan_loads_with_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(planfile.PLAN_KEY_ENV, KEY)
    text = _plan(CreateRuleOp(_rule(6443))).to_json(sign=True)
    assert json.loads(text)["signature"]["algorithm"] == "hmac-sha256"
    assert Plan.load(_saved(tmp_path, text)).summary()["add"] == 1


def test_unsigned_plan_is_refused_when_a_key_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _saved(tmp_path, _plan(CreateRuleOp(_rule(6443))).to_json())
    monkeypatch.setenv(planfile.PLAN_KEY_ENV, KEY)
    with pytest.raises(PlanFileError, match="the plan is not signed, and PORTSYNC_PLAN_KEY is set"):
        Plan.load(path)


def test_edited_signed_plan_is_refused_even_with_a_recomputed_checksum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(planfile.PLAN_KEY_ENV, KEY)
    data = json.loads(_plan(CreateRuleOp(_rule(6443))).to_json(sign=True))
    data["changes"][0]["rule"]["peer"] = "cidr:0.0.0.0/0"
    data["checksum"] = _checksum(data)
    with pytest.raises(PlanFileError, match="signature does not match its content"):
        Plan.load(_saved(tmp_path, json.dumps(data)))


def test_plan_signed_with_another_key_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(planfile.PLAN_KEY_ENV, "another key of enough length")
    text = _plan(CreateRuleOp(_rule(6443))).to_json(sign=True)
    monkeypatch.setenv(planfile.PLAN_KEY_ENV, KEY)
    with pytest.raises(PlanFileError, match="signed with another key"):
        Plan.load(_saved(tmp_path, text))


@pytest.mark.parametrize(
    "value",
    ["deadbeef", {"algorithm": "hmac-md5", "value": "00"}, {"algorithm": "hmac-sha256"}],
    ids=["string", "algorithm", "no-value"],
)
def test_malformed_signature_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: Any
) -> None:
    monkeypatch.setenv(planfile.PLAN_KEY_ENV, KEY)
    data = json.loads(_plan(CreateRuleOp(_rule(6443))).to_json(sign=True))
    data["signature"] = value
    with pytest.raises(PlanFileError, match="signature is malformed"):
        Plan.load(_saved(tmp_path, json.dumps(data)))


def test_signature_is_ignored_without_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(planfile.PLAN_KEY_ENV, KEY)
    text = _plan(CreateRuleOp(_rule(6443))).to_json(sign=True)
    monkeypatch.delenv(planfile.PLAN_KEY_ENV)
    assert Plan.load(_saved(tmp_path, text)).summary()["add"] == 1
    # and the checksum still guards the content
    data = json.loads(text)
    data["mode"] = "exclusive"
    with pytest.raises(PlanFileError, match="checksum does not match"):
        Plan.load(_saved(tmp_path, json.dumps(data)))


@pytest.mark.parametrize("value", ["", "short"])
def test_empty_or_short_key_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(planfile.PLAN_KEY_ENV, value)
    with pytest.raises(InputError, match="PORTSYNC_PLAN_KEY is set but"):
        planfile.plan_key()


def test_to_json_signs_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(planfile.PLAN_KEY_ENV, KEY)
    assert "signature" not in json.loads(_plan().to_json())


# -- saved plan against the recomputed one ---------------------------------------------------------


def test_identical_plans_agree_and_native_ids_do_not_count() -> None:
    live = _rule(2379, native_id="sgr-1")
    saved = _plan(CreateRuleOp(_rule(6443)), DeleteRuleOp(live))
    current = _plan(CreateRuleOp(_rule(6443)), DeleteRuleOp(live.replace(native_id="sgr-2")))
    assert differences(saved, current) == []
    check_same(saved, current)


def test_an_added_operation_is_named() -> None:
    saved = _plan(CreateRuleOp(_rule(6443)), CreateRuleOp(_rule(22)))
    lines = differences(saved, _plan(CreateRuleOp(_rule(6443))))
    assert lines == [
        "in the file, not called for by the config and live rules: prod/sg-cp: add ingress tcp 22 "
        "from cidr:10.0.0.0/8 (role control-plane, owned)"
    ]


def test_a_dropped_operation_is_named() -> None:
    lines = differences(_plan(), _plan(CreateRuleOp(_rule(6443))))
    assert lines == [
        "called for by the config and live rules, missing from the file: prod/sg-cp: add ingress "
        "tcp 6443 from cidr:10.0.0.0/8 (role control-plane, owned)"
    ]


def test_flipped_ownership_is_a_difference() -> None:
    foreign = _rule(22, owned=False)
    lines = differences(_plan(DeleteRuleOp(foreign.replace(owned=True))), _plan())
    assert len(lines) == 1
    assert "remove ingress tcp 22" in lines[0] and "owned)" in lines[0]


def test_changed_rule_role_is_a_difference() -> None:
    saved = _plan(CreateRuleOp(_rule(2379, role="worker")))
    lines = differences(saved, _plan(CreateRuleOp(_rule(2379))))
    assert any("(role worker, owned)" in line for line in lines)
    assert any("(role control-plane, owned)" in line for line in lines)


def test_target_role_and_membership_are_compared() -> None:
    current = _plan()
    relabelled = _plan(role="worker")
    assert differences(relabelled, current) == [
        "prod/sg-cp: the file says role 'worker', the config says 'control-plane'"
    ]
    fewer = Plan(groups=current.groups[:1])
    assert differences(fewer, current) == [
        "prod/sg-w: a target the config binds that the file leaves out"
    ]
    assert differences(current, fewer) == [
        "prod/sg-w: a target in the file that the config does not bind"
    ]


def test_duplicated_operation_is_a_difference() -> None:
    op = CreateRuleOp(_rule(6443))
    assert len(differences(_plan(op, op), _plan(op))) == 1


def test_a_file_holding_one_of_two_equal_operations_lacks_exactly_one() -> None:
    op = CreateRuleOp(_rule(6443))
    assert differences(_plan(op), _plan(op, op)) == [
        "called for by the config and live rules, missing from the file: prod/sg-cp: add ingress "
        "tcp 6443 from cidr:10.0.0.0/8 (role control-plane, owned)"
    ]


def test_refusal_counts_what_it_does_not_show() -> None:
    many = _plan(*(CreateRuleOp(_rule(1000 + i)) for i in range(13)))
    with pytest.raises(PlanFileError, match=r"\(and 3 more\)") as exc:
        check_same(many, _plan())
    assert exc.value.hint is not None and "portsync plan --out" in exc.value.hint


def test_an_update_from_another_before_is_a_difference() -> None:
    """The file's update must start from the rule the live read found, not only end right."""
    after = _rule(6443, description="portsync: new", native_id="sgr-1")
    saved = _plan(UpdateRuleOp(after.replace(description="portsync: edited"), after))
    current = _plan(UpdateRuleOp(after.replace(description="portsync: old"), after))
    lines = differences(saved, current)
    assert len(lines) == 2
    assert lines[0] == (
        "in the file, not called for by the config and live rules: prod/sg-cp: update ingress "
        "tcp 6443 from cidr:10.0.0.0/8 (role control-plane, owned), description 'portsync: new'"
    )


def test_differences_name_egress_and_rules_portsync_does_not_own() -> None:
    egress = _rule(443, direction=Direction.EGRESS, owned=False)
    assert differences(_plan(DeleteRuleOp(egress)), _plan()) == [
        "in the file, not called for by the config and live rules: prod/sg-cp: remove egress tcp "
        "443 to cidr:10.0.0.0/8 (role control-plane, not owned)"
    ]


@pytest.mark.parametrize("copies", [2, 3])
def test_each_extra_copy_of_an_operation_is_named(copies: int) -> None:
    op = CreateRuleOp(_rule(6443))
    assert len(differences(_plan(*[op] * copies), _plan())) == copies
    assert len(differences(_plan(), _plan(*[op] * copies))) == copies


def test_refusal_shows_ten_differences_and_counts_only_what_it_leaves_out() -> None:
    ten = _plan(*(CreateRuleOp(_rule(1000 + i)) for i in range(10)))
    with pytest.raises(PlanFileError) as exc:
        check_same(ten, _plan())
    lines = differences(ten, _plan())
    assert str(exc.value.message) == (
        "the saved plan does not match what the config and the live rules call for, so it was "
        "not applied: " + "; ".join(lines)
    )
    assert exc.value.hint == (
        "the file was edited after `portsync plan --out` wrote it; make and review a new plan "
        "with `portsync plan --out PLAN.json`"
    )
    eleven = _plan(*(CreateRuleOp(_rule(1000 + i)) for i in range(11)))
    with pytest.raises(PlanFileError) as exc:
        check_same(eleven, _plan(), source="p.json")
    assert str(exc.value.message).startswith("p.json does not match")
    assert str(exc.value.message).endswith(" (and 1 more)")


def test_a_key_of_exactly_the_minimum_length_signs() -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(planfile.PLAN_KEY_ENV, "k" * planfile.MIN_KEY_LENGTH)
        assert planfile.plan_key() == b"k" * planfile.MIN_KEY_LENGTH
        mp.setenv(planfile.PLAN_KEY_ENV, "k" * (planfile.MIN_KEY_LENGTH - 1))
        with pytest.raises(InputError, match="is set but only 15 characters long"):
            planfile.plan_key()


@pytest.mark.parametrize(
    ("value", "what"), [("", "empty"), ("short", "only 5 characters long")], ids=["empty", "short"]
)
def test_an_unusable_key_says_what_is_wrong_and_how_to_make_one(
    monkeypatch: pytest.MonkeyPatch, value: str, what: str
) -> None:
    monkeypatch.setenv(planfile.PLAN_KEY_ENV, value)
    with pytest.raises(InputError) as exc:
        planfile.plan_key()
    assert exc.value.message == f"PORTSYNC_PLAN_KEY is set but {what}"
    assert exc.value.hint == (
        "set it to a secret of at least 16 characters (e.g. `openssl rand -hex 32`), or unset "
        "it to work without signed plans"
    )


SIGNING_HINT = (
    "make the plan again with `portsync plan --out PLAN.json` with the same PORTSYNC_PLAN_KEY; "
    "never apply a plan whose origin you cannot vouch for"
)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d.pop("signature"),
            "the plan is not signed, and PORTSYNC_PLAN_KEY is set: only signed plans are applied",
        ),
        (
            lambda d: d.update(signature="deadbeef"),
            "the plan's signature is malformed (expected hmac-sha256)",
        ),
        (
            lambda d: d.update(mode="exclusive"),
            "the plan's signature does not match its content under PORTSYNC_PLAN_KEY: it was "
            "changed after it was signed, or signed with another key",
        ),
    ],
    ids=["unsigned", "malformed", "changed"],
)
def test_each_signature_refusal_says_what_and_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: Any, message: str
) -> None:
    monkeypatch.setenv(planfile.PLAN_KEY_ENV, KEY)
    data = json.loads(_plan(CreateRuleOp(_rule(6443))).to_json(sign=True))
    edit(data)
    data["checksum"] = _checksum(data)
    path = _saved(tmp_path, json.dumps(data))
    with pytest.raises(PlanFileError) as exc:
        Plan.load(path)
    assert exc.value.message == f"{path}: {message}"
    assert exc.value.hint == SIGNING_HINT


def test_a_missing_plan_file_says_where_plans_come_from(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError) as exc:
        planfile.read_plan_bytes(str(tmp_path / "missing.json"))
    assert exc.value.hint == (
        "plan files are written by `portsync plan --out PLAN.json`; check the path"
    )
