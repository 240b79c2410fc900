"""GCP at scale: ``portsync.api.plan`` / ``apply`` against the bundled Compute emulator.

Setup (not counted): N firewalls in one project, all portsync's own. Role ``role-<i>`` is bound to
the network tag ``tag-<i>`` and owns up to ten firewalls, one per peer range ``10.<j>.0.0/16``, each
holding two TCP ports (portsync packs the ports of one target/peer/protocol into one firewall). The
config lists exactly those rules as ``extra_rules`` (a rule every role has once, with
``role: "*"``), and the firewalls are built with the provider's own ``translate_rules`` +
``pack``, so the plan is empty (checked before any timing).
Then, in the same run:

* **plan**: ``api.plan`` against the reads a perfect tool makes — a new ``FirewallsClient`` and one
  paginated ``firewalls.list`` (the same network filter, ``max_results`` 500), every page consumed.
  Client creation is included on both sides; google-cloud-compute is imported before any timing.
* **plan, with latency**: the same pair again with ``latency`` seconds added by the emulator to
  every request (a local emulator answers in microseconds, Google in tens of milliseconds);
* **apply**: 100 changes (new firewalls, ports added to existing firewalls, firewalls no longer
  wanted) with ``latency`` seconds added by the emulator to every request, once with the default
  parallelism (``max_workers`` 8) and once sequentially (``max_workers`` 1), from the same
  starting state.

The emulator's own cost is not Google's: it filters and deep-copies every firewall for each page,
so the bare list grows faster than linearly here. ``plan − bare list`` is portsync's own cost
(translation, expanding firewalls into rules, diff, limit checks) and is reported per firewall.

    python -m benchmarks.bench_gcp                  # N=500
    python -m benchmarks.bench_gcp --scale 5000
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import command_line, emit, make_row, ratio, timed, timed_cpu
from portsync import api
from portsync.config import LoadedConfig, load_config
from portsync.provider import Settings
from portsync.providers.gcp import translate
from portsync.providers.gcp.emulator import GcpEmulator
from portsync.providers.gcp.limits import MAX_RESULTS_PER_PAGE

__all__ = ["DEFAULT_SCALE", "PROJECT", "main", "run"]

DEFAULT_SCALE = 500
PROJECT = "bench-project"
NETWORK = "default"
FIREWALLS_PER_ROLE = 10
PORTS_PER_FIREWALL = 2
WORKERS = Settings().max_workers

READS = ("firewalls.list", "firewalls.get", "globalOperations.get", "globalOperations.wait")
WRITES = ("firewalls.insert", "firewalls.patch", "firewalls.update", "firewalls.delete")


def _role(i: int) -> str:
    return f"role-{i:05d}"


def _tag(i: int) -> str:
    return f"tag-{i:05d}"


def _layout(scale: int) -> list[tuple[int, int]]:
    """``(role index, peer index)`` of each of the ``scale`` firewalls."""
    return [(n // FIREWALLS_PER_ROLE, n % FIREWALLS_PER_ROLE) for n in range(scale)]


def _rules_for(role: int, peer: int, ports: Sequence[int]) -> list[dict[str, Any]]:
    return [
        {
            "role": _role(role),
            "protocol": "tcp",
            "ports": port,
            "peer": f"cidr:10.{peer}.0.0/16",
            "purpose": f"svc {peer} port {port}",
        }
        for port in ports
    ]


def _ports(peer: int) -> list[int]:
    base = 20000 + PORTS_PER_FIREWALL * peer
    return list(range(base, base + PORTS_PER_FIREWALL))


def _extra_rules(layout: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    return [rule for role, peer in layout for rule in _rules_for(role, peer, _ports(peer))]


def _grouped(extra_rules: Sequence[dict[str, Any]], roles: int) -> list[dict[str, Any]]:
    """``extra_rules`` (one role each) written as a user would: the rules that differ only in
    their role become one rule naming its roles, ``"*"`` when that is every role. portsync reads
    the same rules either way; the config stays far below the 1 MiB config cap (one rule per role
    came to about 1.1 MiB at 5,000 firewalls)."""
    every = [_role(i) for i in range(roles)]
    grouped: dict[tuple[tuple[str, Any], ...], list[str]] = {}
    for rule in extra_rules:
        rest = tuple((k, v) for k, v in rule.items() if k != "role")
        grouped.setdefault(rest, []).append(rule["role"])
    return [
        {"role": "*" if sorted(names) == every else names, **dict(rest)}
        for rest, names in grouped.items()
    ]


def _write_config(
    path: Path,
    url: str,
    extra_rules: Sequence[dict[str, Any]],
    roles: int,
    *,
    workers: int = WORKERS,
) -> Path:
    data = {
        "extra_rules": _grouped(extra_rules, roles),
        "max_deletes": 1000,
        "clusters": [
            {
                "name": "bench-gcp",
                "provider": "gcp",
                "project": PROJECT,
                "network": NETWORK,
                "endpoint": url,
                "credentials": "anonymous",
                "max_workers": workers,
                "roles": {_role(i): {"target_tag": _tag(i)} for i in range(roles)},
            }
        ],
    }
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    path.write_text(yaml.dump(data, Dumper=dumper, sort_keys=False), encoding="utf-8")
    return path


def firewalls_for(loaded: LoadedConfig) -> list[dict[str, Any]]:
    """The firewall bodies portsync would write for ``loaded`` (its own translate and pack)."""
    session = api.Session(loaded, Settings())
    cluster = loaded.config.clusters[0]
    provider: Any = session.provider(cluster)
    rules = provider.translate(api.synthesize(loaded), loaded.config.sources)
    bodies = translate.pack(
        rules,
        prefix=provider.stem,
        network=provider.network,
        default_priority=provider.config.priority,
    )
    return list(bodies.values())


def _bare_list(url: str) -> int:
    """What a perfect tool reads: a new client and one paginated, filtered firewalls.list."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import compute_v1

    client = compute_v1.FirewallsClient(
        transport="rest",
        client_options=ClientOptions(api_endpoint=url),
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
    )
    request = compute_v1.ListFirewallsRequest(
        project=PROJECT,
        max_results=MAX_RESULTS_PER_PAGE,
        filter=f'network = "{translate.network_url(PROJECT, NETWORK)}"',
    )
    return sum(1 for _ in client.list(request=request))


def _reads(calls: dict[str, int]) -> int:
    return sum(calls.get(name, 0) for name in READS)


def _writes(calls: dict[str, int]) -> int:
    return sum(calls.get(name, 0) for name in WRITES)


def _changes(layout: Sequence[tuple[int, int]], count: int) -> tuple[list[dict[str, Any]], str]:
    """The extra rules after ``count`` changes: half new firewalls, a quarter ports added to
    existing firewalls, a quarter firewalls no longer wanted; spread over the roles."""
    roles = layout[-1][0] + 1
    inserts = count // 2
    patches = count // 4
    deletes = count - inserts - patches
    # Distinct firewalls in a deterministic but scattered order.
    order = sorted(range(len(layout)), key=lambda n: ((n * 7919) % len(layout), n))
    dropped = {layout[n] for n in order[:deletes]}
    grown = {layout[n] for n in order[deletes : deletes + patches]}
    rules: list[dict[str, Any]] = []
    for role, peer in layout:
        if (role, peer) in dropped:
            continue
        ports = _ports(peer) + ([29999] if (role, peer) in grown else [])
        rules.extend(_rules_for(role, peer, ports))
    for n in range(inserts):
        role = (n * 7919) % roles
        peer = 100 + n // roles  # a peer range no firewall holds yet
        rules.extend(_rules_for(role, peer, [30000 + peer]))
    return rules, f"{inserts} inserts, {patches} patches, {deletes} deletes"


def run(
    scale: int = DEFAULT_SCALE,
    *,
    changes: int = 100,
    latency: float = 0.05,
    repeats: int | None = None,
    apply: bool = True,
    plan_repeats: int | None = None,
) -> list[dict[str, Any]]:
    """Run the GCP benchmark at ``scale`` firewalls and return its result rows.

    ``plan_repeats`` (default 7 up to 2,000 firewalls, else 3) times plan and bare list against
    the emulator without latency, alternately, keeping the fastest wall time and the least CPU
    time of each; ``repeats`` (default 3 up to 2,000 firewalls, else 2) does the same with
    latency, and the applies are repeated up to twice. ``apply=False`` skips the apply rows.

    Raises:
        RuntimeError: the seeded state does not give an empty plan (the benchmark is broken).
    """
    if scale < 1:
        raise ValueError("scale must be at least 1")
    repeats = repeats or (3 if scale <= 2000 else 2)
    changes = min(changes, scale)
    layout = _layout(scale)
    roles = layout[-1][0] + 1
    rows: list[dict[str, Any]] = []
    with GcpEmulator() as emu, tempfile.TemporaryDirectory(prefix="portsync-bench-") as tmp:
        path = _write_config(Path(tmp) / "plan.yaml", emu.url, _extra_rules(layout), roles)
        loaded, load_s = timed(lambda: load_config(path))
        bodies = firewalls_for(loaded)
        if len(bodies) != scale:
            raise RuntimeError(f"expected {scale} firewalls, packing made {len(bodies)}")
        emu.seed(PROJECT, bodies)

        # Untimed warm-up, which also imports google-cloud-compute for both sides.
        if not api.plan(loaded).is_empty():
            raise RuntimeError("the seeded firewalls do not match the config: plan is not empty")
        if _bare_list(emu.url) != scale:
            raise RuntimeError("the bare list did not return every firewall")

        # Sub-second timings on a shared machine: more rounds than the slower rows, and the
        # CPU time of each side too, which the machine's other work disturbs much less.
        rounds = plan_repeats or (7 if scale <= 2000 else 3)
        base_s = plan_s = base_cpu = plan_cpu = math.inf
        base_calls = 0
        calls: dict[str, int] = {}
        for _ in range(rounds):
            emu.reset_calls()
            _, seconds, cpu = timed_cpu(lambda: _bare_list(emu.url))
            base_s, base_cpu = min(base_s, seconds), min(base_cpu, cpu)
            base_calls = emu.calls["firewalls.list"]
            emu.reset_calls()
            plan, seconds, cpu = timed_cpu(lambda: api.plan(loaded))
            plan_s, plan_cpu = min(plan_s, seconds), min(plan_cpu, cpu)
            calls = dict(emu.calls)
        minimum = math.ceil(scale / MAX_RESULTS_PER_PAGE)
        own = max(plan_s - base_s, 0.0)
        rows.append(
            make_row(
                cloud="gcp",
                scale=scale,
                what="load config",
                seconds=load_s,
                note=f"{len(loaded.config.extra_rules)} extra_rules, {roles} roles",
            )
        )
        rows.append(
            make_row(
                cloud="gcp",
                scale=scale,
                what="plan",
                calls_read=_reads(calls),
                calls_write=_writes(calls),
                seconds=plan_s,
                baseline_seconds=base_s,
                ratio=ratio(plan_s, base_s),
                note=f"{calls.get('firewalls.list', 0)} firewalls.list (minimum {minimum}, "
                f"target <= {minimum + 1}); baseline {base_calls} list calls; portsync's own "
                f"cost {own:.3f}s = {own / scale * 1e6:.0f} us/firewall; "
                f"plan {'empty' if plan.is_empty() else 'NOT EMPTY'}; CPU time (every thread) "
                f"{plan_cpu:.3f}s against {base_cpu:.3f}s = {plan_cpu / base_cpu:.2f}x; "
                f"best of {rounds}",
            )
        )
        if latency > 0:
            # The same comparison with a per-request round trip closer to Google's own.
            emu.latency = latency
            lat_base_s = lat_plan_s = math.inf
            for _ in range(repeats):
                lat_base_s = min(lat_base_s, timed(lambda: _bare_list(emu.url))[1])
                lat_plan_s = min(lat_plan_s, timed(lambda: api.plan(loaded))[1])
            emu.latency = 0.0
            rows.append(
                make_row(
                    cloud="gcp",
                    scale=scale,
                    what=f"plan, {latency * 1000:.0f} ms/request",
                    calls_read=_reads(calls),
                    calls_write=0,
                    seconds=lat_plan_s,
                    baseline_seconds=lat_base_s,
                    ratio=ratio(lat_plan_s, lat_base_s),
                    note=f"as above with the emulator adding {latency * 1000:.0f} ms to every "
                    f"request, both sides; best of {repeats}",
                )
            )
        if apply:
            rows.extend(
                _apply_rows(emu, tmp, layout, roles, bodies, changes, latency, min(repeats, 2))
            )
    return rows


def _apply_rows(
    emu: GcpEmulator,
    tmp: str,
    layout: Sequence[tuple[int, int]],
    roles: int,
    bodies: Sequence[dict[str, Any]],
    changes: int,
    latency: float,
    repeats: int,
) -> list[dict[str, Any]]:
    """Apply ``changes`` changes in parallel, then sequentially, from the same seeded state;
    ``repeats`` rounds, alternately, keeping the fastest of each."""
    wanted, what = _changes(layout, changes)
    timings: dict[int, tuple[float, dict[str, int], int]] = {}
    for workers in [WORKERS, 1] * repeats:
        emu.reset()
        emu.seed(PROJECT, bodies)
        loaded = load_config(
            _write_config(
                Path(tmp) / f"apply-{workers}.yaml", emu.url, wanted, roles, workers=workers
            )
        )
        settings = Settings(mode=loaded.config.mode, max_workers=workers)
        emu.latency = latency
        result, seconds = timed(lambda: api.apply(loaded, settings=settings))  # noqa: B023
        calls = dict(emu.calls)
        emu.latency = 0.0
        if not api.plan(loaded).is_empty():
            raise RuntimeError("apply did not converge")
        if workers not in timings or seconds < timings[workers][0]:
            timings[workers] = (seconds, calls, len(result.applied))
    par_s, par_calls, applied = timings[WORKERS]
    seq_s, seq_calls, _ = timings[1]
    speedup = seq_s / par_s if par_s else 0.0
    rows = [
        make_row(
            cloud="gcp",
            scale=len(layout),
            what=f"apply {changes} changes, {WORKERS} workers",
            calls_read=_reads(par_calls),
            calls_write=_writes(par_calls),
            seconds=par_s,
            baseline_seconds=seq_s,
            ratio=ratio(par_s, seq_s),
            note=f"{what} ({applied} rule ops); emulator latency {latency * 1000:.0f} ms a "
            f"request; baseline = same apply with max_workers 1; speed-up {speedup:.1f}x; "
            f"best of {repeats}",
        ),
        make_row(
            cloud="gcp",
            scale=len(layout),
            what=f"apply {changes} changes, 1 worker",
            calls_read=_reads(seq_calls),
            calls_write=_writes(seq_calls),
            seconds=seq_s,
            note="sequential reference for the row above",
        ),
    ]
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run and print the table (or JSON rows)."""
    parser = command_line("python -m benchmarks.bench_gcp", __doc__)
    parser.add_argument("--scale", type=int, default=DEFAULT_SCALE, help="firewalls")
    parser.add_argument("--changes", type=int, default=100, help="changes the apply makes")
    parser.add_argument("--latency", type=float, default=0.05, help="emulator s/request in apply")
    parser.add_argument("--repeat", type=int, default=None, help="timing repeats (best kept)")
    parser.add_argument("--no-apply", action="store_true", help="plan only")
    parser.add_argument(
        "--plan-repeat", type=int, default=None, help="repeats of the zero-latency plan pair"
    )
    args = parser.parse_args(argv)
    rows = run(
        args.scale,
        changes=args.changes,
        latency=args.latency,
        repeats=args.repeat,
        apply=not args.no_apply,
        plan_repeats=args.plan_repeat,
    )
    return emit(rows, as_json=args.json)


if __name__ == "__main__":
    raise SystemExit(main())
