"""``.ci/run`` runs ``make test`` in a fresh clone inside an empty temporary folder.

The real ``make test`` would run this suite again; a stand-in ``make`` first on PATH records where
it was started and what it saw, so the test checks the script's promises cheaply.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / ".ci" / "run"

_FAKE_MAKE = """#!/bin/sh
{
  echo "args=$*"
  echo "cwd=$(pwd)"
  echo "beside=$(ls -A ..)"
  echo "head=$(git rev-parse HEAD)"
  echo "status=$(git status --porcelain | wc -l)"
  echo "pyproject=$(test -f pyproject.toml && echo yes)"
} > "$PORTSYNC_FAKE_MAKE_LOG"
exit "${PORTSYNC_FAKE_MAKE_EXIT:-0}"
"""


def _run(tmp_path: Path, exit_code: int) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    make = bindir / "make"
    make.write_text(_FAKE_MAKE)
    make.chmod(0o755)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    log = tmp_path / "make.log"
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "TMPDIR": str(scratch),
        "PORTSYNC_FAKE_MAKE_LOG": str(log),
        "PORTSYNC_FAKE_MAKE_EXIT": str(exit_code),
    }
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    seen = dict(line.split("=", 1) for line in log.read_text().splitlines()) if log.exists() else {}
    assert not any(scratch.iterdir()), "the temporary clone is removed afterwards"
    return result, seen


def test_ci_run_tests_a_fresh_clone_alone_in_an_empty_folder(tmp_path: Path) -> None:
    result, seen = _run(tmp_path, 0)
    assert result.returncode == 0, result.stderr
    assert seen["args"] == "test"
    clone = Path(seen["cwd"])
    assert clone.name == "portsync" and clone.parent.parent == tmp_path / "tmp"
    assert REPO not in clone.parents and clone != REPO
    assert seen["beside"] == "portsync"  # nothing beside the clone in its folder
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    assert seen["head"] == head.stdout.strip()  # the committed tree of this checkout
    assert seen["status"] == "0" and seen["pyproject"] == "yes"


def test_ci_run_fails_when_make_test_fails(tmp_path: Path) -> None:
    result, seen = _run(tmp_path, 3)
    assert seen["args"] == "test"
    assert result.returncode == 3
