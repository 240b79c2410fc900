"""The diff engine alone: no cloud, no emulator, no SDK — portsync's own cost of comparing rules.

Setup (not counted): N desired target rules (TCP ports from CIDR peers, ten a target) and a live
copy with about 1% drift — 0.4% missing, 0.3% owned but no longer wanted, 0.2% with a stale
description, 0.1% unmanaged extras. Live rules are separate objects, as a provider builds them.
Then, for each N:

* **diff_target, 1 target**: one :func:`portsync.diff.diff_target` call over all N rules put on a
  single target (the worst case for one call);
* **plan engine, N/10 targets**: :func:`portsync.api.plan` with a stub provider that returns the
  prebuilt desired and live rules at no cost, so the time is the engine's alone: grouping the
  desired rules by target, one ``diff_target`` per target, the final-state and fingerprint of each
  target, building and sorting the plan.

``baseline_seconds`` is the time at the smallest N scaled linearly to this N, so ``ratio`` near 1
means the cost grows linearly (a quadratic step would show ratios of 10 and 100).

    python -m benchmarks.bench_diff                       # 1k, 10k, 100k
    python -m benchmarks.bench_diff --scales 1000,20000
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.common import best_of, command_line, emit, make_row, ratio
from portsync import api
from portsync.config import ClusterConfig, LoadedConfig, parse_config
from portsync.diff import diff_target
from portsync.model import Endpoint, EndpointKind, PortRange, Protocol, RuleSet, TargetRule
from portsync.ops import Plan
from portsync.provider import Settings, Target
from portsync.testing.stub import StubProvider

__all__ = ["DEFAULT_SCALES", "main", "make_rules", "run"]

DEFAULT_SCALES = (1_000, 10_000, 100_000)
RULES_PER_TARGET = 10
CLUSTER = "bench-diff"
PRIORITY = (("priority", "1000"),)

_CONFIG = f"""
catalog: []
clusters:
  - name: {CLUSTER}
    provider: gcp
    project: bench-project
    credentials: anonymous
    roles: {{bench: {{target_tag: bench}}}}
"""


@dataclass
class Drift:
    """How many live rules differ from desired, by kind."""

    missing: int = 0
    unwanted: int = 0
    stale: int = 0
    unmanaged: int = 0

    @property
    def total(self) -> int:
        """All drifted rules."""
        return self.missing + self.unwanted + self.stale + self.unmanaged


def make_rules(
    scale: int, *, targets: int | None = None
) -> tuple[list[TargetRule], list[TargetRule], Drift]:
    """``scale`` desired rules over ``targets`` targets (default ten rules each) and a live
    state with about 1% drift; the same peers and ports are reused, as in a real fleet."""
    targets = targets or max(1, scale // RULES_PER_TARGET)
    peers = [Endpoint(EndpointKind.CIDR, f"10.{i // 256}.{i % 256}.0/24") for i in range(2048)]

    def rule(
        n: int, *, live: bool = False, description: str | None = None, owned: bool = True
    ) -> TargetRule:
        return TargetRule(
            target=f"tag:t-{n % targets:06d}",
            role=f"role-{n % targets:06d}",
            protocol=Protocol.TCP,
            ports=PortRange(10000 + n // 2048 % 50000, 10000 + n // 2048 % 50000),
            peer=peers[n % 2048],
            description=description or f"[portsync] service {n // targets}",
            owned=owned,
            native_id=f"fw-{n}" if live else None,
            extra=PRIORITY,
        )

    desired = [rule(n) for n in range(scale)]
    drift = Drift()
    live: list[TargetRule] = []
    for n in range(scale):
        bucket = n % 1000
        if bucket < 4:  # 0.4%: missing from live
            drift.missing += 1
            continue
        if bucket < 6:  # 0.2%: stale description
            drift.stale += 1
            live.append(rule(n, live=True, description="[portsync] old purpose"))
            continue
        live.append(rule(n, live=True))
    for n in range(scale, scale + max(1, scale * 3 // 1000)):  # 0.3%: owned, no longer wanted
        drift.unwanted += 1
        live.append(rule(n, live=True))
    for n in range(scale + scale, scale + scale + max(1, scale // 1000)):  # 0.1%: unmanaged
        drift.unmanaged += 1
        live.append(rule(n, live=True, description="by hand", owned=False))
    return desired, live, drift


def _engine_plan(
    loaded: LoadedConfig, desired: Sequence[TargetRule], live: Sequence[TargetRule]
) -> Plan:
    settings = Settings(mode=loaded.config.mode)
    session = api.Session(loaded, settings)
    cluster: ClusterConfig = loaded.cluster(CLUSTER)
    by_target: dict[str, list[TargetRule]] = {}
    for r in live:
        by_target.setdefault(r.target, []).append(r)
    seen = dict.fromkeys(r.target for r in [*desired, *live])
    targets = [Target(id=t, role=t.partition(":")[2]) for t in seen]
    session.providers[cluster.name] = StubProvider(targets, by_target, desired=desired)
    return api.plan(loaded, session=session, settings=settings, ruleset=RuleSet())


def run(scales: Sequence[int] = DEFAULT_SCALES, *, repeats: int = 3) -> list[dict[str, Any]]:
    """Time the diff engine at each of ``scales`` rules and return the result rows."""
    if not scales or min(scales) < 1:
        raise ValueError("scales must be positive")
    loaded = parse_config(_CONFIG)
    rows: list[dict[str, Any]] = []
    first: dict[str, tuple[int, float]] = {}
    for scale in sorted(scales):
        desired, live, drift = make_rules(scale)
        single_desired, single_live, _ = make_rules(scale, targets=1)

        (ops, unmanaged), single_s = best_of(
            repeats,
            lambda: diff_target(single_desired, single_live),  # noqa: B023
        )
        plan, engine_s = best_of(repeats, lambda: _engine_plan(loaded, desired, live))  # noqa: B023
        summary = plan.summary()
        found = summary["add"] + summary["remove"] + summary["update"]
        expected = drift.missing + drift.unwanted + drift.stale
        if found != expected or len(ops) != expected or len(unmanaged) != drift.unmanaged:
            raise RuntimeError(
                f"diff found {found} / {len(ops)} changes, expected {expected}: benchmark broken"
            )
        targets = len({r.target for r in desired})
        for what, seconds, detail in (
            ("diff_target, 1 target", single_s, f"{len(ops)} ops, {len(unmanaged)} unmanaged"),
            (
                f"plan engine, {targets} targets",
                engine_s,
                f"{summary['add']} add, {summary['update']} update, {summary['remove']} remove, "
                f"{drift.unmanaged} unmanaged",
            ),
        ):
            key = what.split(",")[0]
            base_n, base_s = first.setdefault(key, (scale, seconds))
            linear = base_s * scale / base_n
            rows.append(
                make_row(
                    cloud="-",
                    scale=scale,
                    what=what,
                    calls_read=0,
                    calls_write=0,
                    seconds=seconds,
                    baseline_seconds=linear if scale != base_n else None,
                    ratio=ratio(seconds, linear) if scale != base_n else None,
                    note=f"{seconds / scale * 1e6:.2f} us/rule; {detail} "
                    f"({drift.total} drifted of {scale}); no I/O, portsync only; "
                    f"baseline = {base_n} rules' time scaled linearly; best of {repeats}",
                )
            )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run and print the table (or JSON rows)."""
    parser = command_line("python -m benchmarks.bench_diff", __doc__)
    parser.add_argument(
        "--scales",
        default=",".join(str(s) for s in DEFAULT_SCALES),
        help="comma-separated rule counts",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats (best kept)")
    args = parser.parse_args(argv)
    rows = run([int(s) for s in args.scales.split(",") if s.strip()], repeats=args.repeat)
    return emit(rows, as_json=args.json)


if __name__ == "__main__":
    raise SystemExit(main())
