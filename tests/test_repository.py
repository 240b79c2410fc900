"""The repository itself: it stands alone, and its modules import one way.

- No file cites design notes that are not in the repository; docs/architecture.md is what code
  and docs cite instead.
- The import graph of ``portsync`` (``portsync/`` and ``providers/``) has no cycle, counting
  imports inside functions and under ``TYPE_CHECKING``: a cycle hidden in a function still ties
  two modules' designs together.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"portsync": ROOT / "portsync", "portsync.providers": ROOT / "providers"}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yaml", ".yml", ".cfg", ".txt", ".json"}
# Written with character classes so this line does not match itself.
OUTSIDE = re.compile(r"DESIGN[ ]§|STYLE[ ]rule|\.\.[/]shared|DESIGN[.]md|STYLE[.]md")


def _files() -> list[Path]:
    skip = {".git", ".venv", "node_modules", "mutants", ".mypy_cache", ".ruff_cache"}
    out = []
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if path.is_file() and path.suffix in TEXT_SUFFIXES and not skip.intersection(parts):
            out.append(path)
    return out


def test_nothing_cites_design_notes_outside_the_repository() -> None:
    me = Path(__file__).resolve()
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in _files()
        if path != me
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert found == []


def _module_name(path: Path) -> str:
    for package, folder in sorted(PACKAGES.items(), key=lambda kv: -len(kv[0])):
        if folder in path.parents or path.parent == folder:
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            return ".".join([package, *parts])
    raise ValueError(path)


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for folder in PACKAGES.values():
        for path in folder.rglob("*.py"):
            mods[_module_name(path)] = path
    return mods


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            # ``from pkg import sub`` depends on the submodule, not on the package.
            targets = [
                f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                for alias in node.names
            ]
        for target in targets:
            # The deepest known module the import names (a name imported from a package may be
            # a submodule or an attribute).
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    graph = {name: _imports(name, path, known) for name, path in mods.items()}
    # Importing a package's submodule runs the package's __init__ first; that edge is implied
    # and is not a design dependency, so only explicit imports count.
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    # Function-level and type-checking imports count: a cycle is a cycle however it is hidden.
    assert _cycles(_graph()) == []


def test_every_package_is_listed_for_the_wheel() -> None:
    # pyproject.toml lists the packages by hand (the providers live outside portsync/ on disk):
    # a package left out installs in editable mode and is missing from the wheel.
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
            "packages"
        ]
    )
    found = {
        _module_name(init)
        for folder in PACKAGES.values()
        for init in folder.rglob("__init__.py")
        if not {"mutants", "__pycache__"}.intersection(init.parts)
    }
    assert found - listed == set()
