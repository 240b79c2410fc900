"""Start-up cost of the CLI, as ratios to floors measured in the same run.

``python -c pass`` is the interpreter's floor; ``python -c "import typer"`` is the CLI framework's.
portsync's own start-up (``--help`` and ``rules``) should stay close to the framework floor and
must not import any cloud SDK. Run: ``python -m benchmarks.bench_startup``.

Every command runs once untimed first, with its bytecode cached in a directory of the run's own
(``PYTHONPYCACHEPREFIX``) and ``PYTHONDONTWRITEBYTECODE`` cleared: an installed package starts
from compiled bytecode, so that is what is timed, on both sides. Without it, a shell that sets
``PYTHONDONTWRITEBYTECODE`` makes portsync's side recompile its own modules on every start (about
10 ms for ``portsync.cli`` alone) while typer's side reads the bytecode pip wrote at install.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from typing import Any

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import typer'": [sys.executable, "-c", "import typer"],
    "portsync --help": [sys.executable, "-m", "portsync", "--help"],
    "portsync rules --output json": [sys.executable, "-m", "portsync", "rules", "--output", "json"],
}


def _time(argv: list[str], repeat: int, env: Mapping[str, str]) -> float:
    subprocess.run(argv, capture_output=True, check=True, env=env)  # warm: bytecode written
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True, env=env)
        samples.append(time.perf_counter() - start)
    return min(samples)


def _env(pycache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def run(repeat: int = 7) -> list[dict[str, Any]]:
    """Best wall time of each command and its ratio to both floors."""
    with tempfile.TemporaryDirectory(prefix="portsync-bench-pycache-") as pycache:
        env = _env(pycache)
        times = {name: _time(argv, repeat, env) for name, argv in COMMANDS.items()}
    bare = times["python -c pass"]
    framework = times["python -c 'import typer'"]
    return [
        {
            "cloud": "-",
            "scale": 1,
            "what": name,
            "seconds": round(seconds, 4),
            "ratio_to_python": round(seconds / bare, 2),
            "ratio_to_typer": round(seconds / framework, 2),
        }
        for name, seconds in times.items()
    ]


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rows = run(args.repeat)
    print(f"{'command':34} {'best s':>9} {'x python':>9} {'x typer':>8}")
    for row in rows:
        print(
            f"{row['what']:34} {row['seconds']:9.4f} {row['ratio_to_python']:9.2f} "
            f"{row['ratio_to_typer']:8.2f}"
        )


if __name__ == "__main__":
    main()
