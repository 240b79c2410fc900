"""Azure at scale: ``portsync.api.plan`` / ``apply`` against the bundled ARM emulator (HTTPS, the
real ``NetworkManagementClient`` on both sides).

Setup (not counted): N network security groups in one resource group, 20 inbound rules each, all
portsync's own. Role ``role-<i>`` is bound to ``nsg-<i>`` with one /24 of address prefixes; the
config lists its 20 rules (TCP 20000-20019 from 172.16.0.0/12) as ``extra_rules``. The security
rules are rendered by the provider's own ``translate`` + ``compose`` and seeded straight into the
emulator, so the plan is empty (checked before any timing). Then, in the same run:

* **plan**: ``api.plan`` against what a perfect tool reads — a new ``NetworkManagementClient``
  with the same settings (``make_client``: endpoint, CA bundle, anonymous, polling interval,
  retries) and one paged ``network_security_groups.list(resource_group)``, every page consumed
  and deserialised. Client creation is included on both sides; azure-mgmt-network is imported by
  an untimed warm-up. The emulator counts the calls: the target is one list per resource group
  plus its ``nextLink`` pages (``ceil(N / page_size)`` requests) and no ``nsg.get``.
  portsync sends the SDK's own list request with ``send_request`` and reads each page as JSON,
  without the SDK's models (most of the bare list's cost), so the plan can take less than the
  bare list; a second baseline, the **JSON list** (the same requests, every page's JSON read,
  portsync's own ``listing.nsg_pages``), gives portsync's own cost: ``plan - JSON list``. Each
  side is timed in wall time and in the process's CPU time (every thread, the in-process
  emulator's included), best of the repeats, the three sides alternating.
* **apply**: one more rule on each of ``apply_nsgs`` NSGs (default 50) with ``latency`` seconds
  added by the emulator to every request (default 20 ms), once with the default parallelism
  (``max_workers`` 8) and once sequentially (``max_workers`` 1), each from the same freshly
  seeded state. Target: one ``nsg.put`` per changed NSG. With the SDK each PUT also costs an
  ``operation.get`` (the long-running operation) and a final ``nsg.get``; apply lists the
  resource group once to plan and once more to verify. Besides the whole apply, the write phase
  alone is timed (first "applying" progress message to the last NSG the emulator commits), since
  plan and verify cost the same on both sides.

The emulator's speed is not Azure's: the seconds say how much portsync adds on top of the same
API calls, the call counts are what ARM would count against its throttling buckets.
``plan - JSON list`` is portsync's own cost (attributing rules, expanding them, diff, priority
and limit checks) and is reported per NSG.

    python -m benchmarks.bench_azure                  # N=200
    python -m benchmarks.bench_azure --quick          # N=20, one repeat
    python -m benchmarks.bench_azure --scale 1000
"""

from __future__ import annotations

import math
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import command_line, emit, make_row, ratio, timed, timed_cpu
from portsync import api
from portsync.config import LoadedConfig, load_config
from portsync.provider import Settings
from portsync.providers.azure import translate
from portsync.providers.azure.emulator import AzureEmulator

__all__ = ["DEFAULT_SCALE", "QUICK_SCALE", "RESOURCE_GROUP", "SUBSCRIPTION", "main", "run"]

DEFAULT_SCALE = 200
QUICK_SCALE = 20
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
RESOURCE_GROUP = "bench-rg"
RULES_PER_NSG = 20
BASE_PORT = 20000
ADDED_PORT = 21000
PEER = "172.16.0.0/12"
#: Long-running-operation polling interval of both clients (seconds).
POLLING_INTERVAL = 0.01
WORKERS = Settings().max_workers
#: NSGs per list page (the emulator's default).
PAGE_SIZE = 100

PLAN_READS = ("nsg.list", "nsg.list_all", "nsg.get", "rule.list", "rule.get")
READS = (*PLAN_READS, "operation.get", "operation_result.get")
WRITES = ("nsg.put", "nsg.update_tags", "nsg.delete", "rule.put", "rule.delete")


def _role(i: int) -> str:
    return f"role-{i:05d}"


def _nsg(i: int) -> str:
    return f"nsg-{i:05d}"


def _prefix(i: int) -> str:
    """A distinct /24 per role, inside 10.0.0.0/8 (room for 65,536 roles)."""
    return f"10.{i // 256}.{i % 256}.0/24"


def _extra_rules(scale: int, *, grown: int = 0) -> list[dict[str, Any]]:
    """RULES_PER_NSG rules for every role; the first ``grown`` roles get one more. Written as a
    user would (``role: "*"`` and a list of roles), so the config stays small at any scale."""
    rules: list[dict[str, Any]] = [
        {
            "role": "*",
            "protocol": "tcp",
            "ports": BASE_PORT + j,
            "peer": f"cidr:{PEER}",
            "purpose": f"svc {j}",
        }
        for j in range(RULES_PER_NSG)
    ]
    if grown:
        rules.append(
            {
                "role": [_role(i) for i in range(min(grown, scale))],
                "protocol": "tcp",
                "ports": ADDED_PORT,
                "peer": f"cidr:{PEER}",
                "purpose": f"svc {ADDED_PORT - BASE_PORT}",
            }
        )
    return rules


def _write_config(
    path: Path,
    emu: AzureEmulator,
    scale: int,
    *,
    grown: int = 0,
    workers: int = WORKERS,
) -> LoadedConfig:
    data = {
        "extra_rules": _extra_rules(scale, grown=grown),
        "max_deletes": 0,
        "clusters": [
            {
                "name": "bench-azure",
                "provider": "azure",
                "subscription_id": SUBSCRIPTION,
                "resource_group": RESOURCE_GROUP,
                "endpoint": emu.base_url,
                "ca_bundle": emu.ca_bundle_path,
                "credentials": "anonymous",
                "polling_interval": POLLING_INTERVAL,
                "max_workers": workers,
                "roles": {
                    _role(i): {"nsg": _nsg(i), "address_prefixes": [_prefix(i)]}
                    for i in range(scale)
                },
            }
        ],
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_config(path)


def security_rules_for(loaded: LoadedConfig) -> dict[str, list[dict[str, Any]]]:
    """The security rules portsync would write to each NSG of ``loaded``, from empty NSGs (its
    own translate, then compose: names, descriptions and band priorities as apply makes them)."""
    session = api.Session(loaded, Settings())
    cluster = loaded.config.clusters[0]
    provider: Any = session.provider(cluster)
    wanted: dict[str, list[Any]] = {}
    for rule in provider.translate(api.synthesize(loaded), loaded.config.sources):
        wanted.setdefault(rule.target, []).append(rule)
    out: dict[str, list[dict[str, Any]]] = {}
    for binding in provider.bindings.values():
        layout = provider.layout.nsg_layout(binding.nsg.lower())
        change = translate.Change(binding.target, adds=tuple(wanted.get(binding.target, ())))
        out[binding.nsg] = translate.compose([], [change], layout) or []
    return out


def _seed(emu: AzureEmulator, rules_by_nsg: dict[str, list[dict[str, Any]]]) -> None:
    for name, rules in rules_by_nsg.items():
        emu.seed_nsg(SUBSCRIPTION, RESOURCE_GROUP, name, rules=rules)


def _client(emu: AzureEmulator) -> Any:
    """A new client with portsync's client settings (its creation is timed on both sides)."""
    from portsync.providers.azure.adapter import make_client

    return make_client(
        subscription_id=SUBSCRIPTION,
        endpoint=emu.base_url,
        ca_bundle=emu.ca_bundle_path,
        anonymous=True,
        polling_interval=POLLING_INTERVAL,
    )


def _bare_list(emu: AzureEmulator) -> int:
    """What a perfect tool reads: a new client (portsync's client settings) and one paged
    ``network_security_groups.list`` of the resource group, every page consumed."""
    client = _client(emu)
    rules = 0
    for nsg in client.network_security_groups.list(RESOURCE_GROUP):
        rules += len(nsg.security_rules or ())
    return rules


def _json_list(emu: AzureEmulator) -> int:
    """The same requests as :func:`_bare_list`, each page read as JSON the way portsync's read
    takes it (no models): what is left of the plan beyond it is portsync's own work."""
    from portsync.providers.azure.listing import nsg_pages

    client = _client(emu)
    rules = 0
    for page in nsg_pages(client, SUBSCRIPTION, RESOURCE_GROUP):
        for nsg in page.bodies:
            rules += len((nsg.get("properties") or {}).get("securityRules") or ())
    return rules


def _count(calls: dict[str, int], names: Sequence[str]) -> int:
    return sum(calls.get(name, 0) for name in names)


def run(
    scale: int = DEFAULT_SCALE,
    *,
    apply_nsgs: int = 50,
    latency: float = 0.02,
    repeats: int | None = None,
    apply: bool = True,
    page_size: int = PAGE_SIZE,
) -> list[dict[str, Any]]:
    """Run the Azure benchmark at ``scale`` NSGs and return its result rows.

    ``repeats`` (default 3 up to 200 NSGs, else 2) times plan and bare list, alternately, keeping
    the fastest of each. ``apply_nsgs`` NSGs (at most ``scale``) get one rule more in the apply
    rows, with ``latency`` seconds added to every request; ``apply=False`` skips them.
    ``page_size`` is the emulator's NSGs per list page.

    Raises:
        RuntimeError: the seeded state does not give an empty plan (the benchmark is broken), or
            apply did not converge.
    """
    if scale < 1:
        raise ValueError("scale must be at least 1")
    repeats = repeats or (3 if scale <= 200 else 2)
    apply_nsgs = min(apply_nsgs, scale)
    rows: list[dict[str, Any]] = []
    with (
        AzureEmulator(page_size=page_size) as emu,
        tempfile.TemporaryDirectory(prefix="portsync-bench-") as tmp,
    ):
        loaded, load_s = timed(lambda: _write_config(Path(tmp) / "plan.yaml", emu, scale))
        seeded = security_rules_for(loaded)
        counts = {len(rules) for rules in seeded.values()}
        if len(seeded) != scale or counts != {RULES_PER_NSG}:
            raise RuntimeError(f"expected {scale} NSGs x {RULES_PER_NSG} rules, got {counts}")
        _seed(emu, seeded)

        # Untimed warm-up, which also imports azure-mgmt-network for both sides.
        if not api.plan(loaded).is_empty():
            raise RuntimeError("the seeded NSGs do not match the config: plan is not empty")
        if _bare_list(emu) != scale * RULES_PER_NSG:
            raise RuntimeError("the bare list did not return every security rule")
        if _json_list(emu) != scale * RULES_PER_NSG:
            raise RuntimeError("the JSON list did not return every security rule")

        base_s = plan_s = json_s = base_cpu = plan_cpu = json_cpu = math.inf
        base_calls: dict[str, int] = {}
        json_calls: dict[str, int] = {}
        calls: dict[str, int] = {}
        empty = True
        for _ in range(repeats):
            emu.reset()
            _, seconds, cpu = timed_cpu(lambda: _bare_list(emu))
            base_s, base_cpu = min(base_s, seconds), min(base_cpu, cpu)
            base_calls = emu.calls.snapshot()
            emu.reset()
            _, seconds, cpu = timed_cpu(lambda: _json_list(emu))
            json_s, json_cpu = min(json_s, seconds), min(json_cpu, cpu)
            json_calls = emu.calls.snapshot()
            emu.reset()
            plan, seconds, cpu = timed_cpu(lambda: api.plan(loaded))
            plan_s, plan_cpu = min(plan_s, seconds), min(plan_cpu, cpu)
            calls = emu.calls.snapshot()
            empty = empty and plan.is_empty()
        pages = math.ceil(scale / emu.page_size)
        own = max(plan_s - json_s, 0.0)
        rows.append(
            make_row(
                cloud="azure",
                scale=scale,
                what="load config",
                seconds=load_s,
                note=f"{len(loaded.config.extra_rules)} extra_rules, {scale} roles",
            )
        )
        rows.append(
            make_row(
                cloud="azure",
                scale=scale,
                what="plan",
                calls_read=_count(calls, PLAN_READS),
                calls_write=_count(calls, WRITES),
                seconds=plan_s,
                baseline_seconds=base_s,
                ratio=ratio(plan_s, base_s),
                note=f"{calls.get('nsg.list', 0)} nsg.list (1 list of the resource group + "
                f"paging at {emu.page_size}/page: minimum {pages}), {calls.get('nsg.get', 0)} "
                f"nsg.get; baseline {base_calls.get('nsg.list', 0)} nsg.list; "
                f"{scale} NSGs x {RULES_PER_NSG} rules; JSON list {json_s:.3f}s "
                f"({json_calls.get('nsg.list', 0)} nsg.list); portsync's own cost (plan - JSON "
                f"list) {own:.3f}s = {own / scale * 1e3:.2f} ms/NSG; CPU time (every thread) "
                f"plan {plan_cpu:.3f}s, bare list {base_cpu:.3f}s = "
                f"{plan_cpu / base_cpu:.2f}x, JSON list {json_cpu:.3f}s; "
                f"plan {'empty' if empty else 'NOT EMPTY'}; "
                f"target ratio <= 1.5; best of {repeats}",
            )
        )
        if apply and apply_nsgs:
            rows.extend(_apply_rows(emu, tmp, scale, seeded, apply_nsgs, latency))
    return rows


class _WriteWindow:
    """When an apply's writes start (its first "applying" progress message) and when the emulator
    committed the last one (an emulator observer): the write phase, without plan and verify."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.first: float | None = None
        self.last: float | None = None

    def progress(self, message: str) -> None:
        if message.startswith("applying"):
            with self._lock:
                if self.first is None:
                    self.first = time.perf_counter()

    def committed(self, _nsg: dict[str, Any]) -> None:
        with self._lock:
            self.last = time.perf_counter()

    def seconds(self) -> float | None:
        if self.first is None or self.last is None:
            return None
        return max(self.last - self.first, 0.0)


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def _apply_rows(
    emu: AzureEmulator,
    tmp: str,
    scale: int,
    seeded: dict[str, list[dict[str, Any]]],
    apply_nsgs: int,
    latency: float,
) -> list[dict[str, Any]]:
    """One rule more on ``apply_nsgs`` NSGs, in parallel then sequentially, from the same state."""
    timings: dict[int, tuple[float, float | None, dict[str, int], int]] = {}
    for workers in (WORKERS, 1):
        emu.clear()
        _seed(emu, seeded)
        loaded = _write_config(
            Path(tmp) / f"apply-{workers}.yaml", emu, scale, grown=apply_nsgs, workers=workers
        )
        settings = Settings(mode=loaded.config.mode, max_workers=workers)
        window = _WriteWindow()
        emu.add_observer(window.committed)
        emu.latency = latency
        try:
            result, seconds = timed(
                lambda: api.apply(loaded, settings=settings, progress=window.progress)  # noqa: B023
            )
            calls = emu.calls.snapshot()
        finally:
            emu.latency = 0.0
            emu.remove_observer(window.committed)
        if not api.plan(loaded).is_empty():
            raise RuntimeError("apply did not converge")
        timings[workers] = (seconds, window.seconds(), calls, len(result.applied))
    par_s, par_w, par_calls, added = timings[WORKERS]
    seq_s, seq_w, seq_calls, _ = timings[1]
    speedup = _times(ratio(seq_s, par_s))

    def detail(calls: dict[str, int]) -> str:
        return (
            f"{calls.get('nsg.put', 0)} nsg.put (target {apply_nsgs}: 1 per NSG), "
            f"{calls.get('nsg.list', 0)} nsg.list (plan + verify), {calls.get('nsg.get', 0)} "
            f"nsg.get, {calls.get('operation.get', 0)} operation.get"
        )

    return [
        make_row(
            cloud="azure",
            scale=scale,
            what=f"apply writes x{apply_nsgs}, {WORKERS} workers",
            calls_write=par_calls.get("nsg.put", 0),
            seconds=par_w,
            baseline_seconds=seq_w,
            ratio=ratio(par_w, seq_w),
            note="write phase of the apply rows below: first 'applying' progress message to the "
            f"last NSG the emulator committed; baseline = the same with 1 worker; speed-up "
            f"{_times(ratio(seq_w, par_w))}",
        ),
        make_row(
            cloud="azure",
            scale=scale,
            what=f"apply +1 rule x{apply_nsgs}, {WORKERS} workers",
            calls_read=_count(par_calls, READS),
            calls_write=_count(par_calls, WRITES),
            seconds=par_s,
            baseline_seconds=seq_s,
            ratio=ratio(par_s, seq_s),
            note=f"{detail(par_calls)}; {added} rules added; emulator latency "
            f"{latency * 1000:.0f} ms a request; baseline = same apply with max_workers 1; "
            f"speed-up {speedup}",
        ),
        make_row(
            cloud="azure",
            scale=scale,
            what=f"apply +1 rule x{apply_nsgs}, 1 worker",
            calls_read=_count(seq_calls, READS),
            calls_write=_count(seq_calls, WRITES),
            seconds=seq_s,
            note=f"{detail(seq_calls)}; sequential reference for the row above",
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run and print the table (or JSON rows)."""
    parser = command_line("python -m benchmarks.bench_azure", __doc__)
    parser.add_argument(
        "--scale",
        type=int,
        default=None,
        help=f"NSGs (default {DEFAULT_SCALE}, --quick {QUICK_SCALE})",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_SCALE} NSGs, one timing repeat (unless given)"
    )
    parser.add_argument("--apply-nsgs", type=int, default=50, help="NSGs the apply grows")
    parser.add_argument("--latency", type=float, default=0.02, help="emulator s/request in apply")
    parser.add_argument("--repeat", type=int, default=None, help="timing repeats (best kept)")
    parser.add_argument("--page-size", type=int, default=PAGE_SIZE, help="NSGs per list page")
    parser.add_argument("--no-apply", action="store_true", help="plan only")
    args = parser.parse_args(argv)
    scale = args.scale or (QUICK_SCALE if args.quick else DEFAULT_SCALE)
    repeats = args.repeat or (1 if args.quick else None)
    rows = run(
        scale,
        apply_nsgs=args.apply_nsgs,
        latency=args.latency,
        repeats=repeats,
        apply=not args.no_apply,
        page_size=args.page_size,
    )
    return emit(rows, as_json=args.json)


if __name__ == "__main__":
    raise SystemExit(main())
