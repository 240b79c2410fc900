"""Under CI=true a skipped test fails (tests/strict_ci.py); locally it still skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SAMPLE = """
import pytest

sdk = pytest.importorskip("portsync_no_such_sdk", reason="needs portsync[nothing]")
"""

SAMPLE_TESTS = """
import pytest


def test_missing_input():
    pytest.skip("data file not found")


@pytest.mark.host_dependent
def test_no_ipv6_here():
    pytest.skip("no IPv6 on this host")


@pytest.mark.xfail(strict=True, reason="a known emulator gap")
def test_known_gap():
    raise AssertionError


def test_runs():
    assert True is not False
"""


def _run(tmp_path: Path, ci: str | None) -> str:
    (tmp_path / "test_module_skip.py").write_text(SAMPLE, encoding="utf-8")
    (tmp_path / "test_sample.py").write_text(SAMPLE_TESTS, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if ci is not None:
        env["CI"] = ci
    argv = [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider"]
    argv += ["-p", "no:xdist", "-p", "tests.strict_ci", "--continue-on-collection-errors"]
    argv += ["--rootdir", str(tmp_path), str(tmp_path)]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    return done.stdout + done.stderr


@pytest.mark.parametrize("ci", ["TRUE"])
def test_under_ci_a_skip_fails_unless_the_host_decides_it(tmp_path: Path, ci: str) -> None:
    out = _run(tmp_path, ci)
    assert "1 failed, 1 passed, 1 skipped, 1 xfailed, 1 error" in out, out
    assert "FAILED test_sample.py::test_missing_input" in out
    assert (
        "test_sample.py::test_missing_input was skipped under CI=true (data file not found)" in out
    )
    assert "ERROR test_module_skip.py" in out
    assert "skipped under CI=true (needs portsync[nothing])" in out
    assert "SKIPPED [1] test_sample.py" in out and "no IPv6 on this host" in out


@pytest.mark.parametrize("ci", [None])
def test_outside_ci_a_missing_input_still_skips(tmp_path: Path, ci: str | None) -> None:
    out = _run(tmp_path, ci)
    assert "1 passed, 3 skipped, 1 xfailed" in out, out
