"""``portsync export``: the rules portsync owns, written for another tool to take over.

The driver (:mod:`portsync.export.terraform`) reads the live rules through the engine, keeps the
ones the cluster's owner identity owns, and hands each cluster's to its cloud's renderer
(``portsync.providers.<cloud>.export``), which turns them into Terraform resources and import
ids. :mod:`portsync.export.hcl` writes the text. No module here imports a cloud SDK.
"""

from __future__ import annotations

from portsync.export.model import ExportFile, OwnedTarget, TerraformResource
from portsync.export.terraform import export_terraform, render_cluster, render_files

__all__ = [
    "ExportFile",
    "OwnedTarget",
    "TerraformResource",
    "export_terraform",
    "render_cluster",
    "render_files",
]
