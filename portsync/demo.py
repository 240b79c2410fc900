"""``portsync demo``: the whole job offline against local emulators of every cloud.

Each provider that ships a demo names a ``DemoCloud`` class (``demo = "module:Class"`` on the
provider class): it starts its emulator, seeds drift, and returns the cluster entry for the config.
The core only knows this small protocol, never a cloud.
"""

from __future__ import annotations

import importlib
import shlex
import tempfile
from pathlib import Path
from typing import Any, Protocol

import yaml
from rich.text import Text

from portsync import api
from portsync.config import load_config
from portsync.errors import MissingDependencyError
from portsync.output import Output
from portsync.registry import available_providers, get_provider_class
from portsync.rehearse import rehearse
from portsync.render.text import render_plan_text

__all__ = ["DemoCloud", "keep_instructions", "run_demo"]

DEMO_SOURCES = {"all": ["203.0.113.0/24", "2001:db8::/32"]}

#: The flow the demo must never break: every demo cluster admits the API server from the first
#: ``all`` range today (with a stale description the apply rewrites), on every cloud.
DEMO_LIFELINES = [
    {"name": "ci -> api", "from": "cidr:203.0.113.0/24", "to": "control-plane", "port": 6443}
]


class DemoCloud(Protocol):
    """A local emulator seeded with drift."""

    def start(self, workdir: Path) -> dict[str, Any]:
        """Start the emulator, seed drift, return the cluster config entry (and sources)."""
        ...

    def stop(self) -> None:
        """Stop the emulator."""
        ...


#: The extra that installs a package the demo imports, by top-level module.
_EXTRAS = {
    "moto": "emulators",
    "trustme": "emulators",
    "werkzeug": "emulators",
    "flask": "emulators",
    "boto3": "aws",
    "botocore": "aws",
    "google": "gcp",
    "azure": "azure",
}


def _missing(exc: ImportError) -> MissingDependencyError:
    """The error of a package the demo needs and cannot import, naming the extra to install."""
    top = (exc.name or "").partition(".")[0]
    extra = _EXTRAS.get(top, "all")
    return MissingDependencyError(
        f"portsync demo needs {top or 'a package'} that is not installed",
        hint=f"pip install 'portsync[{extra}]'",
    )


def _demo_clouds() -> list[tuple[str, DemoCloud]]:
    clouds = []
    for name in available_providers():
        spec = getattr(get_provider_class(name), "demo", None)
        if not spec:
            continue
        module, _, attr = spec.partition(":")
        try:
            clouds.append((name, getattr(importlib.import_module(module), attr)()))
        except ImportError as exc:
            raise _missing(exc) from exc
    return clouds


def _step(title: str, rest: str = "") -> Text:
    """A bold step title (portsync's own words) followed by plain, literal text."""
    line = Text(title, style="bold")
    line.append(rest)
    return line


def run_demo(out: Output, *, keep: bool = False) -> int:
    """Start emulators, plan (with a lifeline), rehearse and apply, plan again; 0 when the
    rehearsal passed and the final plan is clean."""
    clouds = _demo_clouds()
    started: list[DemoCloud] = []
    try:
        with tempfile.TemporaryDirectory(prefix="portsync-demo-") as tmp:
            workdir = Path(tmp)
            clusters = []
            sources: dict[str, list[str]] = {k: list(v) for k, v in DEMO_SOURCES.items()}
            for name, cloud in clouds:
                out.info(f"starting the local {name} emulator and seeding drift")
                try:
                    entry = cloud.start(workdir)
                except ImportError as exc:
                    raise _missing(exc) from exc
                started.append(cloud)
                for key, values in entry.pop("sources", {}).items():
                    sources.setdefault(key, []).extend(values)
                clusters.append(entry)
            config = {
                "mode": "owned",
                "sources": sources,
                "lifelines": DEMO_LIFELINES,
                "clusters": clusters,
            }
            path = workdir / "portsync.yaml"
            path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
            out.print(
                _step(
                    "portsync demo",
                    f": {len(clusters)} clusters on local emulators "
                    f"({', '.join(n for n, _ in clouds)}); config at {path}\n",
                )
            )
            loaded = load_config(path)

            out.print(_step("1. portsync plan", " — drift seeded on purpose:"))
            first = api.plan(loaded)
            out.print(render_plan_text(first, show_unmanaged=True))

            out.print(
                _step(
                    "\n2. portsync apply --rehearse --auto-approve",
                    " — first on a local copy of every target it changes:",
                )
            )
            rehearsal = rehearse(loaded, progress=out.info)
            out.print(rehearsal.summary())
            if not rehearsal.ok:
                return 1
            # Exactly the rehearsed plan, as apply --rehearse does.
            result = api.apply(loaded, saved=rehearsal.plan, progress=out.info)
            counts = result.plan.summary()
            out.print(
                f"applied: {counts['add']} added, {counts['update']} updated, "
                f"{counts['remove']} removed; {counts['unmanaged']} unmanaged rules left alone; "
                f"{result.lifelines_kept} lifelines held after every write "
                f"({result.lifeline_reads} read back)"
            )

            out.print(_step("\n3. portsync plan", " — again:"))
            final = api.plan(loaded)
            out.print(render_plan_text(final))
            if keep:
                # raw() flushes: piped output (`demo --keep | tee log`) shows the lines now.
                out.raw(keep_instructions(path, clusters))
                import threading

                threading.Event().wait()
            return 0 if final.is_empty() else 1
    finally:
        for cloud in started:
            cloud.stop()


def keep_instructions(path: Path, clusters: list[dict[str, Any]]) -> str:
    """What ``demo --keep`` prints: how to point portsync (and the clouds' own tools) at the
    running emulators, and what Ctrl-C does."""
    config = shlex.quote(str(path))
    lines = [
        "",
        "The emulators keep running until Ctrl-C (which also deletes the demo config).",
        "Use them from another terminal:",
        "",
        f"  export PORTSYNC_CONFIG={config}",
        "  portsync plan                 # in sync after the demo; change a rule and plan again",
        "  portsync audit",
        "  portsync explain 203.0.113.7 control-plane:6443/tcp",
        "",
        "Every cluster in that config names its emulator (endpoint) and sends no real",
        "credentials (credentials: anonymous):",
    ]
    for entry in clusters:
        where = (
            f"  {entry.get('name', '?')} ({entry.get('provider', '?')}): {entry.get('endpoint')}"
        )
        if entry.get("ca_bundle"):
            where += f", CA bundle {entry['ca_bundle']}"
        lines.append(where)
    aws = next((c for c in clusters if c.get("provider") == "aws"), None)
    if aws is not None:
        lines += [
            "",
            "The AWS emulator is moto server; the AWS CLI and boto3 reach it with:",
            f"  export AWS_ENDPOINT_URL={shlex.quote(str(aws.get('endpoint')))} "
            f"AWS_DEFAULT_REGION={shlex.quote(str(aws.get('region')))} "
            "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing",
        ]
    return "\n".join(lines) + "\n"
