"""tune_gc: the command line collects garbage less often (checked in a fresh interpreter, so the
test process keeps its own settings)."""

from __future__ import annotations

import json
import subprocess
import sys

from portsync.runtime import GC_THRESHOLDS


def test_tune_gc_raises_the_thresholds_and_freezes_what_exists() -> None:
    code = (
        "import gc, json\n"
        "before = gc.get_threshold()\n"
        "from portsync.runtime import tune_gc\n"
        "tune_gc()\n"
        "print(json.dumps([before, gc.get_threshold(), gc.get_freeze_count()]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    before, after, frozen = json.loads(out)
    assert tuple(after) == GC_THRESHOLDS
    assert tuple(after) != tuple(before)
    assert frozen > 0
