"""A pytest plugin that loads one module of portsync with one change made to its source.

``make mutate`` runs the tests named in ``tests/mutation/named.yaml`` with this plugin
(``-p tests.mutation.named_plugin``) and ``PORTSYNC_NAMED_MUTANT`` set to
``{"file": ..., "from": ..., "to": ...}``. The change is made in memory, as the module is first
imported, so the working tree and the bytecode cache are never touched.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

ENV = "PORTSYNC_NAMED_MUTANT"
ROOT = Path(__file__).resolve().parents[2]


def mutated_source(path: Path, old: str, new: str) -> str:
    """The source of ``path`` with its one occurrence of ``old`` replaced by ``new``.

    Raises:
        ValueError: ``old`` is not in the file exactly once (the code moved on: update the entry).
    """
    source = path.read_text(encoding="utf-8")
    count = source.count(old)
    if count != 1:
        raise ValueError(f"{path.relative_to(ROOT)}: {old!r} occurs {count} times, not once")
    return source.replace(old, new)


class _Loader(importlib.abc.Loader):
    def __init__(self, path: Path, source: str) -> None:
        self.path, self.source = path, source

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        exec(compile(self.source, str(self.path), "exec"), module.__dict__)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, name: str, path: Path, source: str) -> None:
        self.name, self.path, self.source = name, path, source

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        return importlib.util.spec_from_file_location(
            fullname, self.path, loader=_Loader(self.path, self.source)
        )


def _install() -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    mutant = json.loads(spec)
    path = ROOT / mutant["file"]
    parts = Path(mutant["file"]).with_suffix("").parts
    # providers/ is installed as portsync.providers (pyproject's package-dir).
    name = ".".join(("portsync", *parts) if parts[0] == "providers" else parts)
    if name in sys.modules:
        raise RuntimeError(f"{name} was imported before the mutant could be installed")
    sys.meta_path.insert(0, _Finder(name, path, mutated_source(path, mutant["from"], mutant["to"])))


_install()
