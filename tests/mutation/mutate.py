"""``make mutate``: mutation testing of the code that decides what portsync writes or removes.

mutmut (configured under ``[tool.mutmut]`` in pyproject.toml) copies the source to ``mutants/``,
maps every selected test to the functions it calls, and runs only those tests, stopping at the
first failure, against each mutant. This script chooses the mutants (one set of functions per
module), prints killed / survived / timed-out per module, and fails when a mutant survives that
``tests/mutation/allowed.yaml`` does not explain.

Then it makes the mutants written by hand in ``tests/mutation/named.yaml`` (changes mutmut does
not make: module tables, another variable, a dropped argument), one at a time and in memory, and
fails when the test an entry names still passes.

The write path (``writes``: the plan's native calls; ``aws``, ``gcp``, ``azure``: each
provider's pure ``compile`` in its ``translate.py``, and the read that decides which live
rules are portsync's; ``azure-read``: the Azure snapshot) is mutated in a
tree of its own per module, ``mutants/stages/<module>/``: the package laid out as it is imported
(``providers/`` as ``portsync/providers/``, so mutmut's names match the modules the tests
import) with its own, short test selection (the golden cases and the module's unit tests, see
:data:`STAGED`).

Usage: ``python -m tests.mutation.mutate [--fresh] [--named-only] [MODULE ...]``
(``diff``, ``ops``, ..., ``session``, ``writes``, ``aws``, ``gcp``, ``azure``, ``azure-read``).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = Path(__file__).with_name("allowed.yaml")
NAMED = Path(__file__).with_name("named.yaml")
MUTANTS = ROOT / "mutants"

#: Module → the mutant names mutated there. In api.py only the apply guards decide anything;
#: the rest of it is orchestration the engine tests cover.
MODULES: dict[str, tuple[str, ...]] = {
    "diff": ("portsync.diff.*",),
    "ops": ("portsync.ops.*",),
    "resolve": ("portsync.resolve.*",),
    "exposure": ("portsync.exposure.*",),
    "protect": ("portsync.protect.*",),
    "planmatch": ("portsync.planmatch.*",),
    "planfile": ("portsync.planfile.*",),
    "api": ("portsync.api.x_check_*",),
    # Which rules of a target two clusters bind each of them owns.
    "session": (
        "portsync.session.x__seen_by*",
        "portsync.session.xǁSessionǁlive*",
        "portsync.session.xǁSessionǁ_shared_targets*",
        "portsync.session.xǁSessionǁmembers*",
        "portsync.session.xǁSessionǁscope*",
    ),
}


@dataclass(frozen=True)
class Staged:
    """A module mutated in a stage of its own: its file as imported (relative to the package
    root), the functions mutated (mutmut names, fnmatch patterns) and the tests mutmut may run
    against them: quick ones, with no emulator, so a module takes minutes on two cores."""

    path: str
    functions: tuple[str, ...]
    tests: tuple[str, ...]


_GOLDEN = "tests/providers/test_golden_cases.py"

#: The write path: the plan's writes and each provider's pure compile (not the snapshot types
#: the read builds, such as ``AwsNative``). For GCP the read half too: which live firewalls are
#: portsync's and what each one expands to, with its offline unit tests; for Azure likewise
#: (which live security rules are owned, the ones a plan removes) and its snapshot.
STAGED: dict[str, Staged] = {
    "writes": Staged(
        "portsync/writes.py",
        ("portsync.writes.*",),
        (
            "tests/core/test_writes.py",
            "tests/core/test_ops.py",
            "tests/core/test_guards.py",
            _GOLDEN,
        ),
    ),
    "aws": Staged(
        "portsync/providers/aws/translate.py",
        tuple(
            f"portsync.providers.aws.translate.{f}"
            for f in (
                "x_compile_writes*",
                "x_check_counts*",
                "x_check_own_account*",
                "x__tag_list*",
                "x__rule_id*",
                "x__append*",
                "x_permissions_for*",
                "x_modify_request*",
                "x__ip_protocol*",
                "x_owner_tags*",
                "x_group_pair*",
                # The read: which live rules a group has, and which of them are whose.
                "x_live_rules*",
                "x_rules_from_group*",
                "x__item_fields*",
                "x__item_peer*",
                "x__protocol*",
                "x__ports*",
                "x__icmp*",
                "x__label*",
                "x_group_endpoint*",
                "x_is_owned*",
                "x_is_default_egress*",
            )
        ),
        (
            _GOLDEN,
            "tests/providers/aws/test_aws_translate.py",
            "tests/providers/aws/test_aws_read.py",
        ),
    ),
    "gcp": Staged(
        "portsync/providers/gcp/translate.py",
        tuple(
            f"portsync.providers.gcp.translate.{f}"
            for f in (
                "x_compile_writes*",
                "x_write_order*",
                "x_check_quota*",
                "x_target_writes*",
                "x__unmanaged_drops*",
                "x_drop_writes*",
                "x_delete_body*",
                "x__write*",
                "x__keep_logging*",
                "x__coverage*",
                "x__names*",
                "x_pack*",
                "x__firewall_body*",
                "x_check_firewall*",
                "x__group_priority*",
                "x__packed_description*",
                "x__ports_text*",
                "x_group_of*",
                "x_patch_for*",
                "x_canonical*",
                "x__canonical_list*",
                "x__port_sort_key*",
                # The read half: which live firewalls are portsync's (owned rules are the ones
                # a plan removes) and what each one expands to.
                "x_network_matches*",
                "x__purpose_of*",
                "x_targets_of*",
                "x_ownership*",
                "x__ownership*",
                "x__owner_marks*",
                "x_is_owned*",
                "x_parse_description*",
                "x__protocol*",
                "x__raw_entries*",
                "x__entry*",
                "x__parsed_entries*",
                "x__listed_peers*",
                "x__peers_of*",
                "x__origin*",
                "x__direction*",
                "x_is_egress*",
                "x__extra*",
                "x_view_of*",
                "xǁ_ShapeRulesǁ*",
                "xǁReadMemoǁ*",
                "x__distinct_peers*",
                "x_expand*",
                "x__binds*",
                "x__expand*",
                "x_listing*",
                "xǁWriterǁon_network*",
                "xǁWriterǁhas_network*",
                "xǁWriterǁbinds*",
                "xǁWriterǁexpand*",
            )
        ),
        (
            _GOLDEN,
            "tests/providers/gcp/test_gcp_translate.py",
            "tests/providers/gcp/test_gcp_compile_checks.py",
            "tests/providers/gcp/test_gcp_read.py",
            "tests/providers/gcp/test_convert.py",
        ),
    ),
    "azure": Staged(
        "portsync/providers/azure/translate.py",
        tuple(
            f"portsync.providers.azure.translate.{f}"
            for f in (
                "x_compile_writes*",
                "x__phase*",
                "x__change_of*",
                "x__security_rules*",
                "x_compose*",
                "x__entries*",
                "xǁ_Entryǁ*",
                "x_nsg_body*",
                "x_render*",
                "x__side_fields*",
                "x__peer_item*",
                "x__field_order*",
                "x_strip*",
                "x__semantic*",
                "x_rule_name*",
                "x_unique_name*",
                # The read: which live security rules are portsync's (owned rules are the ones
                # a plan removes) and what each expands to.
                "x_has_legacy_marks*",
                "x_ownership*",
                "x__props*",
                "x__items*",
                "x__is_ip*",
                "x__canonical_item*",
                "x__endpoints*",
                "x__port_texts*",
                "x__parse_port*",
                "x__protocols*",
                "x__direction*",
                "x__sides*",
                "x_role_items*",
                "x_expand*",
                "x__origin*",
                "x_reach_extra*",
                "xǁMachinesǁ*",
                "x_path_rules*",
                "x__hashable*",
                "xǁBindingǁcovers*",
                "xǁNsgLayoutǁ*",
            )
        ),
        (
            _GOLDEN,
            "tests/providers/azure/test_azure_read.py",
            "tests/providers/azure/test_azure_translate.py",
            "tests/providers/azure/test_azure_compile_checks.py",
            "tests/providers/azure/test_convert.py",
        ),
    ),
    # The Azure read's other half: which NSGs of a listing are kept and, per cluster, which
    # of their rules each target holds (allow, deny, defaults) with that cluster's owner.
    "azure-read": Staged(
        "portsync/providers/azure/snapshot.py",
        ("portsync.providers.azure.snapshot.*",),
        (_GOLDEN, "tests/providers/azure/test_azure_read.py"),
    ),
}
STAGES = MUTANTS / "stages"

# mutmut's exit codes for a mutant's test run.
_KILLED = {1, 3, 37}
_TIMEOUT = {36, 24, -24, 152, 255}
_SURVIVED = {0}
_NO_TESTS = {5, 33}


@dataclass(frozen=True)
class Allowance:
    """One surviving mutant explained: the function, the original line, optionally the mutated
    line, and why the change does not matter."""

    function: str
    line: str
    to: str | None
    kind: str
    reason: str

    def explains(self, function: str, removed: list[str], added: list[str]) -> bool:
        if function != self.function or self.line not in removed:
            return False
        return self.to is None or self.to in added


def load_allowed(path: Path = ALLOWED) -> list[Allowance]:
    """Read the allowlist; every entry needs a function, a line, a kind and a reason."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    out = []
    for i, item in enumerate(data):
        missing = [k for k in ("function", "line", "kind", "reason") if not item.get(k)]
        if missing:
            raise SystemExit(f"{path}: entry {i} lacks {', '.join(missing)}")
        if item["kind"] not in ("equivalent", "wording"):
            raise SystemExit(f"{path}: entry {i}: kind must be 'equivalent' or 'wording'")
        out.append(
            Allowance(
                function=str(item["function"]),
                line=str(item["line"]).strip(),
                to=None if item.get("to") is None else str(item["to"]).strip(),
                kind=str(item["kind"]),
                reason=str(item["reason"]),
            )
        )
    return out


def changed_lines(diff: str) -> tuple[list[str], list[str]]:
    """The original and mutated lines of a unified diff, stripped."""
    removed = [
        line[1:].strip()
        for line in diff.splitlines()
        if line.startswith("-") and not line.startswith("---")
    ]
    added = [
        line[1:].strip()
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    return removed, added


def _mutmut(*args: str, cwd: Path = ROOT) -> int:
    """Run mutmut in ``cwd``; its per-mutant listing goes to ``cwd``'s mutants/mutmut-run.log."""
    exe = Path(sys.executable).with_name("mutmut")
    (cwd / "mutants").mkdir(parents=True, exist_ok=True)
    with open(cwd / "mutants" / "mutmut-run.log", "w", encoding="utf-8") as log:
        return subprocess.call([str(exe), *args], cwd=cwd, stdout=log, stderr=subprocess.STDOUT)


def _sync(source: Path, dest: Path, *, skip: Path | None = None) -> None:
    """Copy every file of ``source`` that ``dest`` lacks or holds otherwise (caches aside)."""
    for path in sorted(source.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path == skip:
            continue
        target = dest / path.relative_to(source)
        if not target.is_file() or target.read_bytes() != path.read_bytes():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def _toml_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def build_stage(name: str, staged: Staged) -> Path:
    """Lay out (or bring up to date) the stage of one write-path module: the package as
    imported, the tests, and a pyproject.toml holding the project's pytest settings and this
    module's mutmut settings. Returns the stage's folder."""
    stage = STAGES / name
    _sync(ROOT / "portsync", stage / "portsync")
    _sync(ROOT / "providers", stage / "portsync" / "providers")
    _sync(ROOT / "tests", stage / "tests")
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    start = text.index("[tool.pytest.ini_options]")
    end = text.index("\n[", start + 1)
    config = (
        text[start:end].rstrip()
        + "\n\n[tool.mutmut]\n"
        + 'source_paths = ["portsync/"]\n'
        + f"only_mutate = {_toml_list((staged.path,))}\n"
        + f"pytest_add_cli_args_test_selection = {_toml_list(staged.tests)}\n"
        + 'pytest_add_cli_args = ["-p", "no:xdist", "-p", "no:cacheprovider"]\n'
    )
    pyproject = stage / "pyproject.toml"
    if not pyproject.is_file() or pyproject.read_text(encoding="utf-8") != config:
        pyproject.write_text(config, encoding="utf-8")
    # mutmut copies the package into the stage's mutants/ once: keep what it does not mutate
    # current there too.
    copy = stage / "mutants" / "portsync"
    if copy.is_dir():
        _sync(stage / "portsync", copy, skip=stage / staged.path)
    return stage


def refresh_copies() -> list[Path]:
    """Bring mutmut's copy of the tree up to date with what it does not mutate.

    mutmut copies the source once, into ``mutants/``, and later only rewrites the modules it
    mutates: a changed schema, catalog or provider module would otherwise be tested in its old
    form. Returns the files copied.
    """
    copied: list[Path] = []
    if not MUTANTS.is_dir():
        return copied
    # A module newly added to MODULES has a plain copy here, newer than its source, which mutmut
    # would keep instead of mutating it: without its mutants' metadata, the copy goes.
    for module in {
        pattern.rsplit(".", 1)[0] for patterns in MODULES.values() for pattern in patterns
    }:
        plain = MUTANTS / (module.replace(".", "/") + ".py")
        if plain.is_file() and not plain.with_name(plain.name + ".meta").is_file():
            plain.unlink()
    for top in ("portsync", "providers", "benchmarks"):
        for path in sorted((ROOT / top).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            if top == "portsync" and path.suffix == ".py":
                continue  # mutmut's own business
            dest = MUTANTS / path.relative_to(ROOT)
            if not dest.is_file() or dest.read_bytes() != path.read_bytes():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
                copied.append(dest)
    return copied


def _results(module: str) -> dict[str, int | None]:
    if module in STAGED:
        staged = STAGED[module]
        meta = STAGES / module / "mutants" / f"{staged.path}.meta"
        patterns = staged.functions
    else:
        meta = MUTANTS / "portsync" / f"{module}.py.meta"
        patterns = MODULES[module]
    if not meta.is_file():
        return {}
    codes: dict[str, int | None] = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    return {k: v for k, v in codes.items() if any(fnmatch.fnmatchcase(k, p) for p in patterns)}


def _diff(name: str, module: str) -> str:
    if module in STAGED:
        # mutmut's settings are read once per process: ask a fresh one in the stage.
        exe = Path(sys.executable).with_name("mutmut")
        done = subprocess.run(
            [str(exe), "show", name],
            cwd=STAGES / module,
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return get_diff_for_mutant(name)
    finally:
        os.chdir(cwd)


@dataclass(frozen=True)
class NamedMutant:
    """A change made by hand to ``file`` and the tests that must fail when it is made."""

    protects: str
    file: str
    old: str
    new: str
    killed_by: str


def load_named(path: Path = NAMED) -> list[NamedMutant]:
    """Read the hand-written mutants; every entry needs all five fields."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    out = []
    for i, item in enumerate(data):
        missing = [k for k in ("protects", "file", "from", "to", "killed_by") if not item.get(k)]
        if missing:
            raise SystemExit(f"{path}: entry {i} lacks {', '.join(missing)}")
        out.append(
            NamedMutant(
                protects=str(item["protects"]),
                file=str(item["file"]),
                old=str(item["from"]),
                new=str(item["to"]),
                killed_by=str(item["killed_by"]),
            )
        )
    return out


def run_named(mutant: NamedMutant) -> str:
    """``killed``, ``survived``, or what went wrong, for one hand-written mutant."""
    from tests.mutation.named_plugin import ENV, mutated_source

    try:
        mutated_source(ROOT / mutant.file, mutant.old, mutant.new)
    except ValueError as exc:
        return f"stale entry: {exc}"
    env = {
        **os.environ,
        ENV: json.dumps({"file": mutant.file, "from": mutant.old, "to": mutant.new}),
    }
    argv = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    argv += ["-p", "no:xdist", "-p", "tests.mutation.named_plugin", mutant.killed_by]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode == 1:
        return "killed"
    if done.returncode == 0:
        return "survived"
    tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
    return f"pytest exit {done.returncode}: {' / '.join(tail)}"


def check_named(workers: int) -> int:
    """Run every hand-written mutant; 0 when each is killed by the test it names."""
    named = load_named()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(run_named, named))
    print(f"\nhand-written mutants ({NAMED.relative_to(ROOT)}):")
    for mutant, outcome in zip(named, outcomes, strict=True):
        print(f"  {outcome:8} {mutant.protects}  [{mutant.killed_by.rpartition('::')[2]}]")
    bad = [(m, o) for m, o in zip(named, outcomes, strict=True) if o != "killed"]
    for mutant, outcome in bad:
        print(f"\n# {mutant.file}: {mutant.old!r} -> {mutant.new!r}: {outcome}")
    killed = len(named) - len(bad)
    print(f"\n{killed} of {len(named)} hand-written mutants killed by the test they name")
    return 1 if bad else 0


def _module_of(function: str) -> str:
    """The ``make mutate`` module a mutant's function belongs to."""
    for module, staged in STAGED.items():
        if any(fnmatch.fnmatchcase(function + "__mutmut_1", p) for p in staged.functions):
            return module
    return function.split(".")[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    every = [*MODULES, *STAGED]
    parser.add_argument("modules", nargs="*", help=f"any of {', '.join(every)} (default: all)")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results first")
    parser.add_argument("--max-children", default="2", help="parallel mutant runs (default 2)")
    parser.add_argument(
        "--named-only", action="store_true", help="only the hand-written mutants of named.yaml"
    )
    args = parser.parse_args(argv)
    if args.named_only:
        return check_named(int(args.max_children))
    modules = args.modules or every
    unknown = [m for m in modules if m not in every]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}; choose from {', '.join(every)}")
    allowed = load_allowed()
    if args.fresh and MUTANTS.exists():
        shutil.rmtree(MUTANTS)
    refresh_copies()
    names = [p for m in modules if m in MODULES for p in MODULES[m]]
    if names:
        code = _mutmut("run", "--max-children", args.max_children, *names)
        if code != 0:
            print(f"mutmut run failed (exit {code})", file=sys.stderr)
            return code
    # The write path's modules one at a time, each in its stage with its own tests.
    for module in (m for m in modules if m in STAGED):
        stage = build_stage(module, STAGED[module])
        code = _mutmut(
            "run", "--max-children", args.max_children, *STAGED[module].functions, cwd=stage
        )
        if code != 0:
            print(f"mutmut run of {module} failed (exit {code})", file=sys.stderr)
            return code

    used: set[Allowance] = set()
    unexplained: list[tuple[str, str, str]] = []
    rows: list[tuple[str, Counter[str]]] = []
    for module in modules:
        counts: Counter[str] = Counter()
        for name, exit_code in sorted(_results(module).items()):
            if exit_code in _KILLED:
                counts["killed"] += 1
            elif exit_code in _TIMEOUT:
                counts["timeout"] += 1
            elif exit_code in _SURVIVED or exit_code in _NO_TESTS:
                function = name.partition("__mutmut_")[0]
                diff = _diff(name, module)
                removed, added = changed_lines(diff)
                match = next((a for a in allowed if a.explains(function, removed, added)), None)
                if match is None:
                    counts["survived"] += 1
                    status = "no test reaches it" if exit_code in _NO_TESTS else "survived"
                    unexplained.append((name, status, diff))
                else:
                    used.add(match)
                    counts[f"allowed ({match.kind})"] += 1
            else:
                counts["other"] += 1
                unexplained.append((name, f"mutmut status {exit_code}", ""))
        rows.append((module, counts))

    columns = [
        "killed",
        "survived",
        "timeout",
        "allowed (equivalent)",
        "allowed (wording)",
        "other",
    ]
    print()
    print(f"{'module':10} {'mutants':>8} " + " ".join(f"{c:>20}" for c in columns))
    for module, counts in rows:
        total = sum(counts.values())
        print(f"{module:10} {total:>8} " + " ".join(f"{counts[c]:>20}" for c in columns))
    stale = [a for a in allowed if a not in used and _module_of(a.function) in modules]
    for a in stale:
        print(f"note: allowed.yaml entry no longer matches a survivor: {a.function}: {a.line}")
    if unexplained:
        print(
            f"\n{len(unexplained)} surviving mutants are not explained in {ALLOWED.relative_to(ROOT)}:"
        )
        for name, status, diff in unexplained:
            print(f"\n# {name}: {status}\n{diff}")
        print(
            "\nKill each with a test that names what it protects, or list it in allowed.yaml "
            "with its reason (equivalent code, or message wording only)."
        )
        check_named(int(args.max_children))
        return 1
    print("\nno unexplained surviving mutants")
    return check_named(int(args.max_children))


if __name__ == "__main__":
    raise SystemExit(main())
