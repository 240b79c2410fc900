"""Rehearsal: apply a plan to a local copy of the live targets before touching the cloud.

For every cluster the plan changes, the cloud's part (``<provider package>.rehearse``, a
:class:`CloudCopy`) starts the local emulator of that cloud and copies into it every rule of the
cluster's targets as the live cloud holds them — owned and unmanaged, with their tags, names and
priorities — so ownership and limits behave as they would live. The plan is then applied to the
copy by :func:`portsync.api.apply` itself, through a config that differs from the real one only in
where the cluster's endpoint points (and in the ids a copy cannot keep): the engine is the one a
real apply runs. A recording proxy (:mod:`portsync.tap`) sits between the SDK and the emulator:
it counts the writes, and after each one the copy is read again.

A rehearsal proves four things, or says which failed and why:

- convergence: a second plan on the copy is empty;
- every rule portsync does not own is on the copy after the apply exactly as before;
- every lifeline open before the apply was open after every single write;
- no write was refused (the emulators enforce the clouds' limits and validation), every target's
  final state passes the provider's limit check, and the changes the copy received are the
  plan's changes.

See docs/rehearse.md.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import ssl
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from portsync import api
from portsync.config import ClusterConfig, Config, LoadedConfig, Sources
from portsync.control import RunControl
from portsync.errors import GuardrailError, PortsyncError, ProviderError
from portsync.evaluate import covering_rules
from portsync.model import RuleSet, TargetRule
from portsync.ops import DeleteRuleOp, GroupOps, Op, Plan, UpdateRuleOp
from portsync.provider import Provider, Settings
from portsync.registry import get_provider_class
from portsync.tap import WriteTap

__all__ = [
    "CloudCopy",
    "ClusterRehearsal",
    "Copied",
    "Rehearsal",
    "RehearsalFailed",
    "rehearse",
]

log = logging.getLogger(__name__)

#: Copies running at once (each is an emulator, and for AWS a process).
MAX_COPIES = 4


class RehearsalFailed(GuardrailError):
    """The rehearsal did not prove the plan safe; nothing was written to the cloud."""


@dataclass(frozen=True)
class Copied:
    """What a cloud's part made of one cluster on its emulator.

    ``entry`` is the cluster's config entry pointed straight at the emulator (endpoint, anonymous
    credentials, and the copy's own ids where the emulator cannot keep the live ones); ``ids``
    maps each such copy id back to the live id. ``tap_tls`` is set for a cloud whose SDK only
    speaks HTTPS: the proxy's server context, the upstream trust, and the entry keys that make
    the SDK trust the proxy.
    """

    entry: Mapping[str, Any]
    targets: int
    sources: Sources | None = None
    ids: Mapping[str, str] = field(default_factory=dict)
    tap_tls: tuple[ssl.SSLContext, ssl.SSLContext, Mapping[str, Any]] | None = None


class CloudCopy(Protocol):
    """One cluster's rehearsal copy: a local emulator holding what the live targets hold."""

    def start(self, workdir: Path) -> None:
        """Start the emulator (a free loopback port, a bounded wait).

        Raises:
            MissingDependencyError, ProviderError: it cannot start.
        """
        ...

    def copy(self, cluster: ClusterConfig, sources: Sources, settings: Settings) -> Copied:
        """Read the cluster's targets from the live cloud (reads only) and copy every rule.

        Raises:
            ProviderError: the live cloud refused a read, or the emulator refused a rule.
        """
        ...

    def is_write(self, method: str, path: str, body: bytes) -> bool:
        """Whether a request to the emulator changes state."""
        ...

    @property
    def emulator(self) -> Any:
        """The emulator object (tests inject faults through it)."""
        ...

    def stop(self) -> None:
        """Stop the emulator; safe to call twice."""
        ...


def _copy_class(provider: str) -> type[CloudCopy]:
    """The cloud's rehearsal part: ``CloudCopy`` in the provider's package ``rehearse`` module.

    Raises:
        ProviderError: the provider ships none.
    """
    cls = get_provider_class(provider)
    module = cls.__module__.rpartition(".")[0] + ".rehearse"
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        found = None
    copy_cls = getattr(found, "CloudCopy", None)
    if copy_cls is None:
        raise ProviderError(
            f"provider {provider} has no rehearsal copy",
            hint="apply without --rehearse, or rehearse only the clusters of other providers "
            "with --cluster",
        )
    return copy_cls  # type: ignore[no-any-return]


@dataclass
class ClusterRehearsal:
    """What the rehearsal of one cluster proved, or did not."""

    cluster: str
    provider: str
    targets: int = 0
    writes: int = 0
    refused: int = 0
    changes: int = 0
    unmanaged: int = 0
    lifelines_held: list[str] = field(default_factory=list)
    converged: bool = False
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The ``clusters`` item of the rehearsal object."""
        return {
            "cluster": self.cluster,
            "provider": self.provider,
            "targets": self.targets,
            "writes": self.writes,
            "refused_writes": self.refused,
            "changes": self.changes,
            "converged": self.converged,
            "unmanaged_untouched": self.unmanaged,
            "lifelines_held": list(self.lifelines_held),
            "problems": list(self.problems),
        }


@dataclass
class Rehearsal:
    """The result of a rehearsal: one entry per cluster the plan changes."""

    plan: Plan
    clusters: list[ClusterRehearsal] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every cluster's rehearsal proved all four things."""
        return all(not c.problems for c in self.clusters)

    @property
    def problems(self) -> list[str]:
        """Every problem found, prefixed by its cluster."""
        return [f"{c.cluster}: {p}" for c in self.clusters for p in c.problems]

    def totals(self) -> dict[str, int]:
        """Writes, targets, unmanaged rules and lifelines over every cluster."""
        return {
            "writes": sum(c.writes for c in self.clusters),
            "targets": sum(c.targets for c in self.clusters),
            "unmanaged": sum(c.unmanaged for c in self.clusters),
            "lifelines": sum(len(c.lifelines_held) for c in self.clusters),
        }

    def summary(self) -> str:
        """One line: ``rehearsed 40 writes on a copy of 6 targets in 1.8 s: converged, …``."""
        t = self.totals()
        head = (
            f"rehearsed {t['writes']} {_plural(t['writes'], 'write')} on a copy of "
            f"{t['targets']} {_plural(t['targets'], 'target')} in {self.seconds:.1f} s"
        )
        if not self.clusters:
            return "nothing to rehearse: the plan is empty"
        if not self.ok:
            return f"{head}: FAILED: " + "; ".join(self.problems)
        return (
            f"{head}: converged, {t['unmanaged']} unmanaged {_plural(t['unmanaged'], 'rule')} "
            f"untouched, {t['lifelines']} {_plural(t['lifelines'], 'lifeline')} held"
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``rehearsal`` object of the JSON report (docs/reports.md)."""
        t = self.totals()
        return {
            "ok": self.ok,
            "summary": self.summary(),
            "seconds": round(self.seconds, 3),
            "writes": t["writes"],
            "targets": t["targets"],
            "converged": all(c.converged for c in self.clusters),
            "unmanaged_untouched": t["unmanaged"],
            "lifelines_held": t["lifelines"],
            "problems": self.problems,
            "clusters": [c.to_dict() for c in self.clusters],
        }

    def to_json(self, *, compact: bool = False) -> str:
        """The rehearsal report: ``{format_version, kind, rehearsal}``."""
        doc = {"format_version": 1, "kind": "rehearsal", "rehearsal": self.to_dict()}
        return json.dumps(doc, indent=None if compact else 2, ensure_ascii=False)


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


# -- reading the copy ---------------------------------------------------------------------------


def _read_live(session: api.Session, cluster: ClusterConfig) -> dict[str, list[TargetRule]]:
    """Every target's live rules on the copy, read fresh (a new read round)."""
    session.new_round()
    return session.live(cluster)


def _flows(
    config: Config, provider: Provider, cluster: ClusterConfig, sources: Sources
) -> dict[tuple[str, str], list[TargetRule]]:
    """Each lifeline of a role the cluster binds, as its concrete flows, by (target, name)."""
    out: dict[tuple[str, str], list[TargetRule]] = {}
    for lifeline in config.lifelines:
        if lifeline.to not in cluster.roles:
            continue
        for flow in provider.translate(RuleSet((lifeline.to_rule(),)), sources):
            out.setdefault((flow.target, lifeline.name), []).append(flow)
    return out


def _open(flows: Sequence[TargetRule], rules: Sequence[TargetRule]) -> bool:
    return all(covering_rules(flow, rules) for flow in flows)


def _signature(rule: TargetRule) -> str:
    """Everything the cloud stores about a rule, as text (an untouched rule keeps all of it)."""
    return json.dumps(rule.to_dict(), sort_keys=True, ensure_ascii=False)


class _Back:
    """Turns the copy's own ids (and etags) back into the live ones, in any text.

    A key is replaced wherever it occurs, as itself and as it reads inside a JSON string (an
    etag holds quotes), longest key first.
    """

    def __init__(self, ids: Mapping[str, str]) -> None:
        pairs: dict[str, str] = {}
        for copy_id, live_id in ids.items():
            pairs[copy_id] = live_id
            pairs[json.dumps(copy_id)[1:-1]] = json.dumps(live_id)[1:-1]
        self.pairs = pairs
        keys = sorted(pairs, key=len, reverse=True)
        self.pattern = re.compile("|".join(re.escape(k) for k in keys)) if keys else None

    def __call__(self, text: str) -> str:
        if self.pattern is None:
            return text
        return self.pattern.sub(lambda m: self.pairs[m.group(0)], text)


def _unordered(value: Any) -> Any:
    """``value`` with every list sorted: the copy's ids differ from the live ones, so items a
    provider orders by id come in another order on the copy."""
    if isinstance(value, dict):
        return {k: _unordered(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_unordered(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return value


def _write_text(canonical: str, back: _Back) -> str:
    """A write's canonical text, with copy ids turned back, compared regardless of list order,
    without the fingerprint of the state it was compiled from (never sent; the copy's state is
    the live one under other ids)."""
    data = json.loads(back(canonical))
    data.pop("fingerprint", None)
    return json.dumps(_unordered(data), sort_keys=True)


def _facts(group: GroupOps, op: Op, back: _Back) -> str:
    """What an operation does, with copy ids turned back into live ids."""

    def facts(rule: TargetRule) -> dict[str, Any]:
        data = rule.to_dict()
        data.pop("native_id", None)
        return data

    payload = {
        "target": group.target,
        "action": op.action.value,
        "rule": facts(op.rule),
        "before": facts(op.before) if isinstance(op, UpdateRuleOp) else None,
    }
    return back(json.dumps(payload, sort_keys=True, ensure_ascii=False))


# -- one cluster --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    max_deletes: int | None
    allow_exclusive: bool
    exclusive_on_managed: Collection[str]
    allow_empty_target: bool
    adopt_legacy: bool
    deadline: float | None


def _derived(loaded: LoadedConfig, entry: Mapping[str, Any], sources: Sources) -> LoadedConfig:
    """``loaded`` with one cluster, the given entry, and the given sources: nothing else differs."""
    config = loaded.config.model_copy(
        update={"clusters": [ClusterConfig.model_validate(dict(entry))], "sources": sources}
    )
    return LoadedConfig(config=config, path=loaded.path, text=loaded.text)


def _entry(cluster: ClusterConfig, **updates: Any) -> dict[str, Any]:
    data = cluster.model_dump(mode="json")
    data.update(updates)
    return data


def _rehearse_cluster(
    loaded: LoadedConfig,
    cluster: ClusterConfig,
    real: Sequence[GroupOps],
    real_writes: Sequence[Any],
    options: _Options,
    workdir: Path,
    on_copy: Callable[[ClusterConfig, CloudCopy], None] | None,
) -> ClusterRehearsal:
    out = ClusterRehearsal(cluster=cluster.name, provider=cluster.provider)
    copy = _copy_class(cluster.provider)()
    tap: WriteTap | None = None
    try:
        copy.start(workdir)
        settings = Settings(mode=loaded.config.mode, adopt_legacy=options.adopt_legacy)
        copied = copy.copy(cluster, loaded.config.sources, settings)
        out.targets = copied.targets
        sources = copied.sources or loaded.config.sources
        direct = _derived(loaded, copied.entry, sources)
        direct_cluster = direct.config.clusters[0]
        reader = api.Session(
            direct, Settings(mode=loaded.config.mode, adopt_legacy=options.adopt_legacy)
        )
        provider = reader.provider(direct_cluster)
        flows = _flows(direct.config, provider, direct_cluster, sources)
        before = _read_live(reader, direct_cluster)
        open_before = {key for key, f in flows.items() if _open(f, before.get(key[0], []))}
        cut: dict[tuple[str, str], int] = {}
        steps = [0]

        def step() -> None:
            steps[0] += 1
            now = _read_live(reader, direct_cluster)
            for key in open_before:
                if key not in cut and not _open(flows[key], now.get(key[0], [])):
                    cut[key] = steps[0]

        tls = copied.tap_tls
        tap = WriteTap(
            str(copied.entry["endpoint"]),
            is_write=copy.is_write,
            on_write=step,
            server_context=tls[0] if tls else None,
            upstream_context=tls[1] if tls else None,
        )
        url = tap.start()
        applied = _derived(
            loaded, {**copied.entry, "endpoint": url, **(tls[2] if tls else {})}, sources
        )
        if on_copy is not None:
            on_copy(cluster, copy)
        back = _Back(copied.ids)
        to_copy = {live_id: copy_id for copy_id, live_id in copied.ids.items()}
        result = None
        try:
            result = api.apply(
                applied,
                max_deletes=options.max_deletes,
                allow_exclusive=options.allow_exclusive,
                exclusive_on_managed=[to_copy.get(t, t) for t in options.exclusive_on_managed],
                allow_empty_target=options.allow_empty_target,
                settings=Settings(
                    mode=loaded.config.mode,
                    adopt_legacy=options.adopt_legacy,
                    control=RunControl(deadline=options.deadline),
                ),
            )
        except PortsyncError as exc:
            out.problems.append(f"the copy refused the apply: {exc}")
        out.writes = sum(1 for w in tap.writes if 200 <= w.status < 300)
        out.refused = len(tap.writes) - out.writes
        if out.refused and result is not None:
            out.problems.append(f"the copy refused {out.refused} writes")
        for error in tap.errors:
            out.problems.append(f"reading the copy after a write failed: {error}")
        for (target, name), at in sorted(cut.items(), key=lambda kv: kv[1]):
            label = back(target)
            out.problems.append(
                f"lifeline {name!r} was cut on {label} after write {at} of {out.writes}"
            )
        out.lifelines_held = sorted(
            {name for key in open_before if key not in cut for name in [key[1]]}
        )

        # The plan the copy applied must be the plan that would be applied for real.
        if result is not None:
            copy_facts = Counter(_facts(g, op, back) for g in result.plan.groups for op in g.ops)
            real_facts = Counter(_facts(g, op, _Back({})) for g in real for op in g.ops)
            out.changes = sum(copy_facts.values())
            if copy_facts != real_facts:
                extra = sum((copy_facts - real_facts).values())
                missing = sum((real_facts - copy_facts).values())
                log.debug("copy only: %s", list(copy_facts - real_facts))
                log.debug("plan only: %s", list(real_facts - copy_facts))
                out.problems.append(
                    f"the copy applied other changes than the plan ({extra} not in the plan, "
                    f"{missing} of the plan not applied)"
                )

            # And the native calls: those the copy's plan compiled, with copy ids turned back
            # into live ids, are the live plan's; the copy received exactly that many.
            copy_writes = list(getattr(result.plan, "writes", ()))
            if real_writes or copy_writes:
                mapped = Counter(_write_text(w.canonical, back) for w in copy_writes)
                planned = Counter(_write_text(w.canonical, _Back({})) for w in real_writes)
                if mapped != planned:
                    out.problems.append(
                        f"the copy's writes differ from the plan's ({len(copy_writes)} compiled on "
                        f"the copy, {len(real_writes)} in the plan, "
                        f"{sum((mapped - planned).values())} not in the plan)"
                    )
                # A provider not yet on the native contract bundles a target's operations into
                # one pseudo-write ("apply"), which is many calls: only native writes are counted.
                native = all(w.method != "apply" for w in copy_writes)
                if native and out.writes != len(copy_writes):
                    out.problems.append(
                        f"the copy received {out.writes} writes, the plan holds {len(copy_writes)}"
                    )

        # Convergence: a second plan on the copy.
        try:
            after_plan = api.plan(
                applied,
                settings=Settings(mode=loaded.config.mode, adopt_legacy=options.adopt_legacy),
            )
        except PortsyncError as exc:
            out.problems.append(f"a second plan on the copy failed: {exc}")
            after_plan = Plan(mode=loaded.config.mode)
        remaining = [
            f"{back(g.label or g.target)}: {op.action.value} {op.rule.protocol.value}"
            f"/{op.rule.ports_text} {op.rule.peer}"
            for g in after_plan.groups
            for op in g.ops
            if options.allow_exclusive or not (isinstance(op, DeleteRuleOp) and not op.rule.owned)
        ]
        out.converged = not remaining
        if remaining and result is not None:
            out.problems.append(
                "not converged: a second plan on the copy still changes " + "; ".join(remaining[:5])
            )

        # Unmanaged rules: every one the plan does not remove on purpose is still there.
        after = _read_live(reader, direct_cluster)
        removed_on_purpose = {
            _signature(op.rule)
            for g in (result.plan.groups if result is not None else ())
            for op in g.ops
            if isinstance(op, DeleteRuleOp) and not op.rule.owned
        }
        # Every rule of the copy portsync does not own is checked — the cloud's defaults and
        # deny rules too — and counted as the plan counts unmanaged rules.
        kept = {
            (target, _signature(rule))
            for target, rules in before.items()
            for rule in rules
            if not rule.owned and _signature(rule) not in removed_on_purpose
        }
        now = {(target, _signature(rule)) for target, rules in after.items() for rule in rules}
        gone = kept - now
        out.unmanaged = max(0, sum(len(g.unmanaged) for g in real) - len(gone))
        if gone:
            out.problems.append(
                f"{len(gone)} unmanaged {_plural(len(gone), 'rule')} changed or removed on the copy"
            )

        # Limits: every target's final state passes the provider's own check (compile checks
        # every limit on the state it is given, here with nothing left to write).
        unchanged = [
            GroupOps(
                cluster=direct_cluster.name,
                provider=direct_cluster.provider,
                target=t.id,
                role=t.role,
                label=t.label,
            )
            for t in provider.targets()
        ]
        try:
            provider.compile(unchanged, reader.snapshot(direct_cluster))
        except PortsyncError as exc:
            out.problems.append(f"a limit is exceeded on the copy: {exc}")
    finally:
        if tap is not None:
            tap.stop()
        copy.stop()
    return out


def rehearse(
    loaded: LoadedConfig,
    *,
    clusters: Sequence[str] = (),
    settings: Settings | None = None,
    max_deletes: int | None = None,
    allow_exclusive: bool = False,
    exclusive_on_managed: Collection[str] = (),
    allow_empty_target: bool = False,
    adopt_legacy: bool = False,
    progress: Callable[[str], None] | None = None,
    on_copy: Callable[[ClusterConfig, CloudCopy], None] | None = None,
) -> Rehearsal:
    """Plan against the live clouds, then apply that plan to local copies and check it.

    Nothing is written to a live cloud: the live side is only read. ``on_copy`` is called with
    each started copy before the plan is applied to it (tests inject faults there).

    Raises:
        ConfigError, PortTableError, TranslationError, GuardrailError: as :func:`api.plan` (a
            plan that cuts a lifeline is refused before any copy is made).
        ProviderError: the live cloud refused a read, or a copy could not be made.
    """
    started = time.monotonic()
    settings = settings or Settings(mode=loaded.config.mode, adopt_legacy=adopt_legacy)
    the_plan = api.plan(loaded, clusters=clusters, settings=settings, progress=progress)
    result = Rehearsal(plan=the_plan)
    options = _Options(
        max_deletes=max_deletes,
        allow_exclusive=allow_exclusive,
        exclusive_on_managed=tuple(exclusive_on_managed),
        allow_empty_target=allow_empty_target,
        adopt_legacy=settings.adopt_legacy,
        deadline=settings.control.remaining(),
    )
    changed = list(dict.fromkeys(g.cluster for g in the_plan.groups if not g.is_empty()))

    def one(name: str) -> ClusterRehearsal:
        if progress:
            progress(f"rehearsing {name} on a local copy")
        groups = [g for g in the_plan.groups if g.cluster == name]
        # The plan's native writes, once the plan carries them (portsync.writes).
        writes = [w for w in getattr(the_plan, "writes", ()) if w.cluster == name]
        return _rehearse_cluster(
            loaded, loaded.cluster(name), groups, writes, options, workdir, on_copy
        )

    # Each cluster has a copy of its own: they are rehearsed side by side (bounded).
    workers = max(1, min(settings.max_workers, len(changed), MAX_COPIES))
    with (
        tempfile.TemporaryDirectory(prefix="portsync-rehearse-") as tmp,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rehearse") as pool,
    ):
        workdir = Path(tmp)
        result.clusters.extend(pool.map(one, changed))
    result.seconds = time.monotonic() - started
    return result
