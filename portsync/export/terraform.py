"""The Terraform export driver: owned live rules → one ``.tf`` text per cluster.

For each selected cluster the driver reads the live rules through the engine (the same read
``plan`` makes), keeps the rules the cluster's owner identity owns (never unmanaged rules, rules
of another portsync owner, or rules of an earlier release not yet adopted), and asks the cloud's
renderer for resources. It then names every resource and writes, per resource, the resource
block and an ``import`` block with the live id, so ``terraform plan`` adopts the rules in place
instead of creating them again.

Resource names are ``<cluster>_<what the renderer calls it>_<8 hex digits of the import id>``,
lowercase, letters, digits and underscores only: stable across runs for the same live rule,
unique, and valid whatever the cluster or rule is called. Resources come out in target order,
then in the renderer's order, and a rule read through two clusters (two clusters sharing one
owner identity and one target) is written once.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Callable, Sequence
from types import ModuleType

from portsync.config import ClusterConfig, LoadedConfig
from portsync.errors import ConfigError
from portsync.export.hcl import Attribute, Block, Reference, format_blocks
from portsync.export.model import ExportFile, OwnedTarget, TerraformResource
from portsync.model import TargetRule
from portsync.provider import Settings, Target
from portsync.registry import get_provider_class
from portsync.session import Session, select_clusters

__all__ = ["export_terraform", "read_owned", "render_cluster", "render_files", "resource_name"]

_NOT_NAME = re.compile(r"[^a-z0-9]+")
_HINT_LENGTH = 48


def _slug(text: str) -> str:
    return _NOT_NAME.sub("_", text.lower()).strip("_")


def resource_name(cluster: str, hint: str, import_id: str) -> str:
    """A stable, valid Terraform resource name for the rule with ``import_id``."""
    digest = hashlib.sha256(import_id.encode()).hexdigest()[:8]
    readable = "_".join(p for p in (_slug(cluster), _slug(hint)) if p)[:_HINT_LENGTH].strip("_")
    name = f"{readable}_{digest}" if readable else f"rule_{digest}"
    return name if name[0].isalpha() else f"r_{name}"


def _renderer(cluster: ClusterConfig) -> ModuleType:
    """The cloud's export module (``<provider package>.export``), before any cloud read.

    Raises:
        ConfigError: the cluster's provider has no Terraform export.
    """
    cls = get_provider_class(cluster.provider)
    package = cls.__module__.rpartition(".")[0]
    try:
        module = importlib.import_module(f"{package}.export")
    except ModuleNotFoundError:
        module = None
    if module is None or not callable(getattr(module, "terraform", None)):
        raise ConfigError(
            f"cluster {cluster.name}: provider {cluster.provider} has no Terraform export",
            hint="select the clusters of another provider with --cluster",
        )
    return module


def read_owned(session: Session, cluster: ClusterConfig) -> list[OwnedTarget]:
    """The cluster's targets with the live rules its owner identity owns, in target order."""
    targets: list[Target] = session.provider(cluster).targets()
    live = session.live(cluster, targets)
    out = []
    for target in targets:
        rules = [r for r in live.get(target.id, ()) if r.owned and not r.legacy]
        out.append(OwnedTarget(target, tuple(sorted(rules, key=_order))))
    return out


def _order(rule: TargetRule) -> tuple[object, ...]:
    return (rule.key, rule.native_id or "")


def _file(cluster: ClusterConfig, resources: Sequence[TerraformResource], seen: set[str]) -> str:
    blocks: list[Block] = []
    for resource in resources:
        identity = f"{resource.type}\0{resource.import_id}"
        if identity in seen:
            continue
        seen.add(identity)
        name = resource_name(cluster.name, resource.hint, resource.import_id)
        blocks.append(Block("resource", (resource.type, name), resource.body))
        blocks.append(
            Block(
                "import",
                body=(
                    Attribute("to", Reference(f"{resource.type}.{name}")),
                    Attribute("id", resource.import_id),
                ),
            )
        )
    return format_blocks(blocks)


def render_cluster(
    cluster: ClusterConfig,
    owned: Sequence[OwnedTarget],
    *,
    seen: set[str] | None = None,
    renderer: ModuleType | None = None,
) -> str:
    """The Terraform text of one cluster's owned rules (no cloud call). ``seen`` holds the
    resources already written for earlier clusters, which are left out."""
    module = renderer or _renderer(cluster)
    resources: list[TerraformResource] = module.terraform(cluster, owned)
    return _file(cluster, resources, set() if seen is None else seen)


def export_terraform(
    loaded: LoadedConfig,
    *,
    clusters: Sequence[str] = (),
    settings: Settings | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[ExportFile]:
    """One :class:`ExportFile` per selected cluster, in config order.

    Raises:
        ConfigError: a cluster name is unknown, or a provider has no Terraform export (before
            any cloud is read).
        ProviderError: a cloud refused the read.
    """
    selected = select_clusters(loaded, clusters)
    renderers = {c.name: _renderer(c) for c in selected}
    session = Session(loaded, settings or Settings(mode=loaded.config.mode))
    session.select([c.name for c in selected])
    seen: set[str] = set()
    files: list[ExportFile] = []
    for cluster in selected:
        if progress:
            progress(f"reading {cluster.name} ({cluster.provider})")
        owned = read_owned(session, cluster)
        text = render_cluster(cluster, owned, seen=seen, renderer=renderers[cluster.name])
        count = text.count("\nimport {") + text.startswith("import {")
        stem = _slug(cluster.name) or "cluster"
        name = f"{stem}.tf"
        while any(f.name == name for f in files):
            name = f"{stem}_{len(files) + 1}.tf"
        files.append(ExportFile(name, cluster.name, text, count))
    return files


def render_files(files: Sequence[ExportFile]) -> str:
    """Every file's text in one stream, each after a comment naming its cluster's file."""
    parts = []
    for item in files:
        header = f"# {item.name}: {item.resources} rules portsync owns\n"
        parts.append(header + ("\n" + item.text if item.text else ""))
    return "\n".join(parts)
