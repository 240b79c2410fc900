"""Run every benchmark and print one table: ``python -m benchmarks [--quick] [--only gcp,diff]``.

Each ``benchmarks/bench_<name>.py`` that exists is run at the scales of the performance issue
(``--quick``: small scales, the whole run in about two minutes). A benchmark that cannot run here
(Cloud Custodian not installed, Azure's module not written yet) gives a row saying so instead of
failing the run; one that raises gives a "failed" row and the exit status 1.

Columns: cloud, scale, what, calls_read, calls_write (API calls counted by the emulator or the
EC2 proxy), seconds, baseline_seconds (the reference measured in the same run: the bare SDK calls
a perfect tool makes, Cloud Custodian, the framework's start-up floor, ...), ratio
(seconds / baseline_seconds) and note. See docs/performance.md.
"""

from __future__ import annotations

import functools
import importlib
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.common import command_line, emit, make_row

NAMES = ("startup", "diff", "aws", "gcp", "azure", "c7n")

Rows = list[dict[str, Any]]
Job = tuple[str, Callable[[], Rows]]

#: Scales per benchmark: (full run as in the performance issue, --quick).
SCALES: dict[str, tuple[Sequence[int], Sequence[int]]] = {
    "aws": ((500, 2000), (50,)),
    "gcp": ((500, 2000, 5000), (200,)),
    "azure": ((100, 1000), (20,)),
    "c7n": ((500, 2000), (50,)),
}
DIFF_SCALES = ((1_000, 10_000, 100_000), (1_000, 10_000, 100_000))


def _load(name: str) -> Any:
    """The module ``benchmarks.bench_<name>``, or None when that file does not exist."""
    module = f"benchmarks.bench_{name}"
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise


def _reset_moto() -> None:
    """Forget every moto resource made by an earlier job in this process.

    moto keeps its backends per process, not per server, so groups made by one AWS job would
    otherwise be listed by the next.
    """
    if "moto" not in sys.modules:
        return
    try:
        from moto.moto_api._internal.models import moto_api_backend
    except ImportError:  # pragma: no cover - another moto layout
        return
    moto_api_backend.reset()


def _startup_rows(raw: Rows, repeat: int) -> Rows:
    """bench_startup's rows (best times and ratios to both floors) in the common columns."""
    typer = next((r["seconds"] for r in raw if "import typer" in str(r["what"])), None)
    rows = []
    for row in raw:
        floor = row["what"] in ("python -c pass", "python -c 'import typer'")
        rows.append(
            make_row(
                cloud="-",
                scale=1,
                what=row["what"],
                calls_read=0,
                calls_write=0,
                seconds=row["seconds"],
                baseline_seconds=None if floor else typer,
                ratio=None if floor else row.get("ratio_to_typer"),
                note=(
                    "floor; " if floor else "baseline = python -c 'import typer' (target <= 1.5); "
                )
                + f"{row.get('ratio_to_python')}x python -c pass; "
                f"best of {repeat}",
            )
        )
    return rows


def jobs(name: str, *, quick: bool) -> list[Job] | str:
    """The runs of one benchmark, or the reason it is skipped."""
    module = _load(name)
    if module is None:
        return f"skipped: benchmarks/bench_{name}.py does not exist yet"
    if name == "startup":
        repeat = 3 if quick else 7
        return [("startup", lambda: _startup_rows(module.run(repeat), repeat))]
    if name == "diff":
        scales = DIFF_SCALES[1 if quick else 0]
        return [(f"diff {','.join(map(str, scales))}", lambda: module.run(scales))]
    if name == "c7n" and not module.available():
        return str(module.SKIP_NOTE)
    options: dict[str, Any] = {}
    if quick and name == "gcp":
        options = {"changes": 40, "repeats": 2}
    elif quick and name == "c7n":
        options = {"repeats": 1}
    return [
        (f"{name} {scale}", functools.partial(module.run, scale, **options))
        for scale in SCALES[name][1 if quick else 0]
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks and print the table."""
    parser = command_line("python -m benchmarks", __doc__)
    parser.add_argument("--quick", action="store_true", help="small scales (about two minutes)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(NAMES)}")
    args = parser.parse_args(argv)
    selected = [n.strip() for n in args.only.split(",") if n.strip()] or list(NAMES)
    unknown = sorted(set(selected) - set(NAMES))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(NAMES)}")

    rows: Rows = []
    failed = False
    started = time.perf_counter()
    for name in [n for n in NAMES if n in selected]:
        planned = jobs(name, quick=args.quick)
        if isinstance(planned, str):
            sys.stderr.write(f"note: {name}: {planned}\n")
            rows.append(make_row(cloud="-", what=name, note=planned))
            continue
        for label, job in planned:
            sys.stderr.write(f"running {label} ...\n")
            sys.stderr.flush()
            try:
                if name in ("aws", "c7n"):
                    _reset_moto()
                rows.extend(job())
            except Exception as exc:
                failed = True
                traceback.print_exc(file=sys.stderr)
                rows.append(make_row(cloud="-", what=label, note=f"failed: {exc}"))
    emit(rows, as_json=args.json)
    sys.stderr.write(f"total {time.perf_counter() - started:.0f}s\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
