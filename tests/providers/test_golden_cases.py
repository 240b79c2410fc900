"""Every provider's ``compile`` against its golden cases (``tests/providers/<cloud>/cases``, on
the schema tests/providers/README.md describes): settings, a listing and neutral operations in,
the exact native writes, or the refusal, out."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .cases import CLOUDS, all_case_files, case_files, check_case, load_case

FILES = all_case_files()
_EXPECT = {p: yaml.safe_load(p.read_text(encoding="utf-8"))["expect"] for p in FILES}
WRITING = [p for p in FILES if "writes" in _EXPECT[p]]
NONEMPTY = [p for p in WRITING if _EXPECT[p]["writes"]]


def _id(path: Path) -> str:
    return f"{path.parent.parent.name}-{path.stem}"


@pytest.mark.parametrize("cloud", CLOUDS)
def test_every_cloud_has_cases(cloud: str) -> None:
    assert len(case_files(cloud)) >= 8


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_golden_case(path: Path) -> None:
    check_case(path)


@pytest.mark.parametrize("path", WRITING, ids=_id)
def test_compile_is_pure(path: Path) -> None:
    """Compiling twice on one snapshot gives the same writes, and leaves the snapshot as read."""
    case = load_case(path)
    snapshot = case.snapshot()
    groups = case.groups(snapshot)
    rules = {target: tuple(found) for target, found in snapshot.rules.items()}
    first = case.first.compile(groups, snapshot)
    assert case.first.compile(groups, snapshot) == first
    assert {target: tuple(found) for target, found in snapshot.rules.items()} == rules
    assert case.first.compile(groups, case.snapshot()) == first


@pytest.mark.parametrize("path", NONEMPTY, ids=_id)
def test_writes_carry_the_state_they_were_compiled_from(path: Path) -> None:
    """An AWS write carries the fingerprint of its group's live rules (EC2 has no etag, so a
    plan read from a stale state must differ from a fresh one); GCP and Azure writes carry none
    (Azure's If-Match header names the state)."""
    case = load_case(path)
    snapshot = case.snapshot()
    groups = case.groups(snapshot)
    writes = case.first.compile(groups, snapshot)
    for write in writes:
        if case.cloud != "aws":
            assert write.fingerprint == ""
            continue
        (group,) = [g for g in groups if (g.cluster, g.target) == (write.cluster, write.target)]
        assert group.fingerprint
        assert write.fingerprint == group.fingerprint
