"""What the export driver and the per-cloud renderers pass between them."""

from __future__ import annotations

from dataclasses import dataclass

from portsync.export.hcl import Attribute, Block
from portsync.model import TargetRule
from portsync.provider import Target

__all__ = ["ExportFile", "OwnedTarget", "TerraformResource"]


@dataclass(frozen=True, slots=True)
class OwnedTarget:
    """One target of a cluster and the live rules the cluster's owner identity owns there."""

    target: Target
    rules: tuple[TargetRule, ...]


@dataclass(frozen=True, slots=True)
class TerraformResource:
    """One resource a renderer describes: its type, a readable part of its name, the id that
    Terraform's ``import`` takes for it, and its body (attributes, then nested blocks)."""

    type: str
    hint: str
    import_id: str
    body: tuple[Attribute | Block, ...]


@dataclass(frozen=True, slots=True)
class ExportFile:
    """One cluster's configuration: a file name (``<cluster>.tf``) and its text."""

    name: str
    cluster: str
    text: str
    resources: int
