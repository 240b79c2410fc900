"""SharedReads: one read per key and round, shared by concurrent callers, errors included."""

from __future__ import annotations

import threading
import time

import pytest
from pydantic import BaseModel

from portsync.config import ClusterConfig
from portsync.reads import SharedReads, sibling_configs


def test_concurrent_callers_of_one_key_share_one_read() -> None:
    reads = SharedReads()
    calls = 0
    started = threading.Event()

    def read() -> list[str]:
        nonlocal calls
        calls += 1
        started.set()
        time.sleep(0.05)  # the others arrive while this read is in flight
        return ["listing"]

    results: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda: results.append(reads.get(("scope",), read)))
        for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == 1 and reads.reads == 1
    assert results == [["listing"]] * 5
    assert all(r is results[0] for r in results)


def test_other_keys_read_separately_and_a_new_round_reads_again() -> None:
    reads = SharedReads()
    assert reads.get("a", lambda: 1) == 1
    assert reads.get("b", lambda: 2) == 2
    assert reads.get("a", lambda: 99) == 1
    reads.new_round()
    assert reads.get("a", lambda: 3) == 3
    assert reads.reads == 3


def test_a_failed_read_fails_every_caller_of_the_round() -> None:
    reads = SharedReads()

    def fail() -> int:
        raise ConnectionError("listing failed")

    with pytest.raises(ConnectionError):
        reads.get("k", fail)
    with pytest.raises(ConnectionError):
        reads.get("k", lambda: 1)  # same round: the failure is the answer
    reads.new_round()
    assert reads.get("k", lambda: 1) == 1


class _Cfg(BaseModel):
    name: str
    provider: str
    region: str


def _cluster(name: str, provider: str, **keys: str) -> ClusterConfig:
    return ClusterConfig.model_validate(
        {"name": name, "provider": provider, "roles": {"worker": {}}, **keys}
    )


def test_sibling_configs_are_the_other_clusters_of_the_same_cloud() -> None:
    me = _cluster("a", "aws", region="eu-west-1")
    fleet = (
        me,
        _cluster("b", "aws", region="eu-west-1"),
        _cluster("c", "gcp", region="x"),
        _cluster("d", "aws"),  # no region: does not validate, left out
    )
    found = sibling_configs(fleet, me, _Cfg)
    assert [c.name for c in found] == ["b"]


def test_sibling_configs_validate_the_fleet_once_per_run() -> None:
    from pydantic import field_validator

    seen: list[str] = []

    class Counting(_Cfg):
        @field_validator("name")
        @classmethod
        def _count(cls, value: str) -> str:
            seen.append(value)
            return value

    fleet = tuple(_cluster(f"c{i}", "aws", region="eu-west-1") for i in range(4))
    shared = SharedReads()
    for me in fleet:
        others = sibling_configs(fleet, me, Counting, shared=shared)
        assert sorted(c.name for c in others) == sorted(c.name for c in fleet if c is not me)
    assert sorted(seen) == ["c0", "c1", "c2", "c3"]  # four validations, not twelve
