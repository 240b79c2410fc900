"""Under ``CI=true`` a test that cannot run fails instead of skipping.

Locally a missing SDK or data file skips the tests that need it, so a partial install still
runs the rest. In CI everything is installed: a skip there means a broken install or a missing
test input, and it must not pass quietly. A test whose skip depends on the host itself (no
IPv6, not the main thread) says so with ``@pytest.mark.host_dependent`` and may still skip.
Expected failures (``xfail``) are not skips and are left alone.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

MARKER = "host_dependent"


def strict() -> bool:
    """Whether skips fail: the CI runner sets ``CI=true``."""
    return os.environ.get("CI", "").strip().lower() == "true"


def _reason(report: Any) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _fail(report: Any, what: str) -> None:
    report.outcome = "failed"
    report.longrepr = (
        f"{what} was skipped under CI=true ({_reason(report)}): a missing test input fails in CI; "
        f"install what it needs (make test installs the dev extra), or mark a skip that depends "
        f"on the host with @pytest.mark.{MARKER}"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: the test may skip under CI=true (the host lacks what it tests)"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, Any]:
    report = yield
    if (
        strict()
        and report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker(MARKER) is None
    ):
        _fail(report, item.nodeid)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    report = yield
    if strict() and report.skipped:
        _fail(report, collector.nodeid or "a test module")
    return report
