"""The plan's native half (portsync/writes.py): a write is plain JSON data, compared by its
canonical text, read back from a plan file only when every field is what the plan schema says,
and a snapshot is read-only."""

from __future__ import annotations

import json
from typing import Any

import pytest

from portsync.writes import Phase, Snapshot, Write, writes_from_json, writes_to_json

BASE: dict[str, Any] = {
    "cluster": "prod",
    "target": "sg-0a",
    "api": "ec2",
    "method": "RevokeSecurityGroupIngress",
    "body": {"GroupId": "sg-0a", "SecurityGroupRuleIds": ["sgr-1"]},
}


def test_a_write_read_back_without_the_optional_fields_gets_their_defaults() -> None:
    write = Write.from_dict(BASE)
    assert write.phase is Phase.MAKE
    assert write.removes == 0
    assert dict(write.headers) == {}
    assert write.fingerprint == ""
    assert write.to_dict() == {**BASE, "phase": "make", "removes": 0}


def test_a_write_round_trips_every_field_under_its_documented_key() -> None:
    item = {
        **BASE,
        "phase": "break",
        "removes": 1,
        "headers": {"If-Match": 'W/"etag"'},
        "fingerprint": "abc",
    }
    write = Write.from_dict(item)
    assert write.to_dict() == item
    assert writes_to_json(writes_from_json([item])) == [item]


def test_headers_are_sorted_and_left_out_when_empty() -> None:
    write = Write(**BASE, headers={"b": "2", "a": "1"})
    assert list(write.to_dict()["headers"]) == ["a", "b"]
    assert "headers" not in Write(**BASE).to_dict()


def test_canonical_text_is_the_sorted_key_json_of_the_write() -> None:
    write = Write(**BASE, phase=Phase.BREAK, removes=1)
    assert write.canonical == json.dumps(write.to_dict(), sort_keys=True)


def test_equal_writes_are_one_in_a_set_and_a_different_one_is_not() -> None:
    one = Write(**BASE)
    same = Write.from_dict(json.loads(json.dumps(BASE)))
    other = Write(**{**BASE, "method": "RevokeSecurityGroupEgress"})
    assert one == same and hash(one) == hash(same)
    assert len({one, same, other}) == 2


def test_a_body_json_cannot_carry_is_refused() -> None:
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        Write(**{**BASE, "body": {"x": float("nan")}})
    with pytest.raises(TypeError):
        Write(**{**BASE, "body": {"x": {1, 2}}})


def test_headers_must_map_strings_to_strings() -> None:
    for headers in ({"If-Match": 1}, {1: "x"}):
        with pytest.raises(TypeError, match=r"^a write's headers must map strings to strings$"):
            Write(**BASE, headers=headers)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (["not", "an", "object"], "a write must be an object"),
        ({**BASE, "api": 3}, "a write needs string fields cluster, target, api, method"),
        ({**BASE, "body": []}, "a write's body must be an object"),
        ({**BASE, "phase": "later"}, "unknown write phase 'later'"),
        ({**BASE, "phase": 2}, "unknown write phase 2"),
        ({**BASE, "removes": -1}, "a write's removes must be a non-negative integer"),
        ({**BASE, "removes": True}, "a write's removes must be a non-negative integer"),
        ({**BASE, "removes": "1"}, "a write's removes must be a non-negative integer"),
        ({**BASE, "headers": ["If-Match"]}, "a write's headers must be an object of strings"),
        ({**BASE, "headers": {"If-Match": 1}}, "a write's headers must be an object of strings"),
        ({**BASE, "headers": {1: "x"}}, "a write's headers must be an object of strings"),
        ({**BASE, "fingerprint": 7}, "a write's fingerprint must be a string"),
    ],
)
def test_a_bad_write_in_a_plan_file_is_refused_naming_the_field(item: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        Write.from_dict(item)
    assert str(caught.value) == message
    with pytest.raises(ValueError) as listed:
        writes_from_json([BASE, item])
    assert str(listed.value) == f"writes[1]: {message}"


def test_writes_must_be_a_list() -> None:
    with pytest.raises(ValueError) as caught:
        writes_from_json({"0": BASE})
    assert str(caught.value) == "writes must be a list"


def test_a_snapshot_is_read_only_and_answers_for_a_target_it_did_not_see() -> None:
    rules: dict[str, list[Any]] = {"sg-0a": []}
    fingerprints = {"sg-0a": "etag-1"}
    quotas = {"rules_per_group": 60}
    snapshot = Snapshot(provider="aws", rules=rules, fingerprints=fingerprints, quotas=quotas)
    fingerprints["sg-0a"] = "changed later"
    quotas["rules_per_group"] = 1
    assert dict(snapshot.fingerprints) == {"sg-0a": "etag-1"}
    assert dict(snapshot.quotas) == {"rules_per_group": 60}
    with pytest.raises(TypeError):
        snapshot.fingerprints["sg-0a"] = "x"  # type: ignore[index]
    assert snapshot.live("sg-0a") == ()
    assert snapshot.live("sg-unseen") == ()
