"""Golden cases for AWS ``compile``: snapshot + operations → the exact EC2 calls (cases/*.yaml;
the shape is documented in tests/providers/cases.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from portsync.providers.aws.translate import AwsNative, compile_writes

from ..cases import case_files, check_case

CASES = Path(__file__).parent / "cases"


def _native(data: Any) -> AwsNative:
    """``snapshot.native`` of an AWS case: region, owners (cluster → owner identity), weights
    (prefix list → [family, weight]) and groups (id → DescribeSecurityGroups item)."""
    data = data or {}
    return AwsNative(
        region=str(data.get("region", "")),
        groups=data.get("groups") or {},
        weights={k: (str(v[0]), int(v[1])) for k, v in (data.get("weights") or {}).items()},
        owners=data.get("owners") or {},
    )


def test_there_are_cases() -> None:
    assert len(case_files(CASES)) >= 5


@pytest.mark.parametrize("path", case_files(CASES), ids=lambda p: p.stem)
def test_case(path: Path) -> None:
    check_case(path, compile_writes, _native)
