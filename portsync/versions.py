"""What is installed, for ``portsync --version`` and bug reports (``portsync version -o json``).

Versions come from the installed distributions' metadata: no SDK is imported, so asking costs a few
milliseconds even with every cloud extra installed.
"""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata

__all__ = [
    "DISTRIBUTIONS",
    "portsync_version",
    "project_url",
    "version_json",
    "version_report",
    "version_text",
]

#: The distributions a bug report needs, in the order they are shown: the CLI's own, then each
#: cloud's SDK, then the emulators the tests and the demo use.
DISTRIBUTIONS = (
    "typer",
    "click",
    "rich",
    "pydantic",
    "PyYAML",
    "boto3",
    "botocore",
    "google-cloud-compute",
    "google-api-core",
    "azure-mgmt-network",
    "azure-identity",
    "azure-core",
    "moto",
)


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def portsync_version() -> str:
    """The installed portsync's version (``0+unknown`` when run from a bare source tree)."""
    return _installed("portsync") or "0+unknown"


def version_report() -> dict[str, object]:
    """portsync, Python, the platform and every relevant distribution (``None``: not installed)."""
    return {
        "portsync": portsync_version(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "packages": {name: _installed(name) for name in DISTRIBUTIONS},
    }


def version_text(report: dict[str, object]) -> str:
    """The report as aligned ``name  version`` lines."""
    packages = report["packages"]
    assert isinstance(packages, dict)
    rows = [
        ("portsync", str(report["portsync"])),
        ("python", f"{report['python']} ({report['implementation']})"),
        ("platform", str(report["platform"])),
        *((name, version or "not installed") for name, version in packages.items()),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows) + "\n"


def version_json(report: dict[str, object]) -> str:
    """The report as JSON (``--compact`` puts it on one line)."""
    return json.dumps(report, indent=2) + "\n"


def project_url(label: str, default: str) -> str:
    """The ``[project.urls]`` entry ``label`` of the installed portsync (``default`` when the
    metadata is missing, as when running from a source tree that was never installed)."""
    try:
        entries = metadata.metadata("portsync").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return default
    for entry in entries:
        name, _, url = str(entry).partition(",")
        if name.strip().lower() == label.lower() and url.strip():
            return url.strip().rstrip("/")
    return default
