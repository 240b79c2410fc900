"""The Azure compiler against its golden cases (see golden.py): snapshot + operations → the
exact NSG PUTs, bodies and If-Match included."""

from __future__ import annotations

from pathlib import Path

import pytest

from portsync.errors import ProviderLimitError

from .golden import CASES, load_case

PATHS = sorted(CASES.glob("*.yaml"))


def test_there_are_golden_cases() -> None:
    assert len(PATHS) >= 6


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_golden_case(path: Path) -> None:
    case = load_case(path)
    if "error" in case.data:
        with pytest.raises(ProviderLimitError) as info:
            case.compile()
        assert case.data["error"] in str(info.value)
        return
    writes = [w.to_dict() for w in case.compile()]
    assert writes == case.data["writes"]


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_golden_compile_is_pure_and_repeatable(path: Path) -> None:
    case = load_case(path)
    if "error" in case.data:
        return
    snapshot = case.snapshot()
    provider = case.providers[case.clusters[0].name]
    groups = case.groups(snapshot)
    native = {name: raw.text for name, raw in snapshot.native.items()}
    first = provider.compile(groups, snapshot)
    assert provider.compile(groups, snapshot) == first
    # The snapshot's raw NSGs are untouched by compiling.
    assert {name: raw.text for name, raw in snapshot.native.items()} == native
