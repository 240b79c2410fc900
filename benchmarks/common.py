"""Small helpers shared by the benchmarks: timing, result rows and a plain-text table."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

__all__ = ["COLUMNS", "best_of", "format_table", "make_row", "ratio", "timed"]

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
        padded = [
            v if i == len(values) - 1 else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths[:-1]) + "  " + "-" * len(header[-1])
    return "\n".join([line(header), rule, *(line(r) for r in cells)])
