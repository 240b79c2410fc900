"""GCP's compile against its golden cases (``cases/*.yaml``, see :mod:`.golden`): the writes a
listing and a set of neutral operations give, exactly, in order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portsync.errors import PortsyncError
from tests.providers.gcp.golden import CASES, CLUSTER, compile_case, load_case

FILES = sorted(CASES.glob("*.yaml"))
WRITING = [p for p in FILES if "error" not in load_case(p)]


def test_there_are_golden_cases() -> None:
    assert len(FILES) >= 8


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_golden_case(path: Path) -> None:
    case = load_case(path)
    if "error" in case:
        with pytest.raises(PortsyncError) as caught:
            compile_case(case)
        assert re.search(case["error"], str(caught.value)), str(caught.value)
        return
    writes = compile_case(case)
    expected = [{"cluster": CLUSTER, **w} for w in case["writes"]]
    assert [w.to_dict() for w in writes] == expected


@pytest.mark.parametrize("path", WRITING, ids=[p.stem for p in WRITING])
def test_golden_case_compiles_the_same_twice(path: Path) -> None:
    case = load_case(path)
    assert compile_case(case) == compile_case(case)
