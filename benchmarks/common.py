"""Small helpers shared by the benchmarks: timing, result rows and a plain-text table."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from portsync.runtime import tune_gc

__all__ = [
    "COLUMNS",
    "best_of",
    "command_line",
    "emit",
    "format_table",
    "make_row",
    "ratio",
    "timed",
    "timed_cpu",
]

T = TypeVar("T")

#: Keys of every result row, in table order.
COLUMNS: tuple[str, ...] = (
    "cloud",
    "scale",
    "what",
    "calls_read",
    "calls_write",
    "seconds",
    "baseline_seconds",
    "ratio",
    "note",
)


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Call ``fn`` once; return its result and the wall time in seconds."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def timed_cpu(fn: Callable[[], T]) -> tuple[T, float, float]:
    """Call ``fn`` once; return its result, the wall time and the process's CPU time (every
    thread: the client's, a read-ahead reader's and an in-process emulator's) in seconds.

    On a machine other work shares, wall time swings with the load; CPU time much less. When
    one interpreter lock runs client and emulator alike, on an idle machine the two agree."""
    cpu = time.process_time()
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start, time.process_time() - cpu


def best_of(repeats: int, fn: Callable[[], T]) -> tuple[T, float]:
    """Call ``fn`` ``repeats`` times; return the last result and the fastest time."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    best = float("inf")
    result: Any = None
    for _ in range(repeats):
        result, seconds = timed(fn)
        best = min(best, seconds)
    return result, best


def ratio(seconds: float | None, baseline: float | None) -> float | None:
    """``seconds / baseline``, or None when either is missing or the baseline is zero."""
    if seconds is None or not baseline:
        return None
    return seconds / baseline


def make_row(**values: Any) -> dict[str, Any]:
    """A result row with every column present (missing ones None).

    Raises:
        ValueError: a key that is not a column.
    """
    unknown = set(values) - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown columns: {', '.join(sorted(unknown))}")
    return {key: values.get(key) for key in COLUMNS}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if value < 100 else f"{value:.1f}"
    return str(value)


def format_table(rows: Iterable[dict[str, Any]], columns: Sequence[str] = COLUMNS) -> str:
    """Rows as an aligned plain-text table (the note column is left unpadded, last)."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    header = list(columns)
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(columns))]

    def line(values: Sequence[str]) -> str:
        padded = [v if i == len(values) - 1 else v.ljust(widths[i]) for i, v in enumerate(values)]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths[:-1]) + "  " + "-" * len(header[-1])
    return "\n".join([line(header), rule, *(line(r) for r in cells)])


def command_line(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """The argument parser of a benchmark's command line ``prog`` (``--json`` included), with the
    process set up as portsync's command line runs: its GC settings, for both sides of every
    comparison, and quiet logs."""
    tune_gc()
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(
        prog=prog,
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print rows as JSON")
    return parser


def emit(rows: Sequence[dict[str, Any]], *, as_json: bool) -> int:
    """Print ``rows`` as the table (or as JSON); the exit status of a benchmark's ``main``."""
    sys.stdout.write((json.dumps(list(rows), indent=2) if as_json else format_table(rows)) + "\n")
    return 0
