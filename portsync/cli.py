"""The ``portsync`` command line: a thin typer app over :mod:`portsync.api`.

Exit codes (one place, DESIGN §6): 0 success / in sync; 1 error; 2 changes pending under
``--detailed-exitcode``; 130 interrupted.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import traceback
from enum import Enum, IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from portsync.errors import PortsyncError
from portsync.output import Output

if TYPE_CHECKING:
    from portsync.config import LoadedConfig

__all__ = ["ExitCode", "app", "main"]


class ExitCode(IntEnum):
    """Process exit codes, the same for every command."""

    OK = 0
    ERROR = 1
    CHANGES = 2
    INTERRUPTED = 130


class RulesFormat(str, Enum):
    table = "table"
    json = "json"


class PlanFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


app = typer.Typer(
    name="portsync",
    help="Keep cloud firewalls in line with port tables (AWS security groups, GCP firewall "
    "rules, Azure NSGs).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: rich-formatted help would double the start-up time of every command.
    rich_markup_mode=None,
)
catalog_app = typer.Typer(
    help="Built-in port tables, and parsing your own.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(catalog_app, name="catalog")


class _State:
    config: str | None = None
    debug: bool = False
    output: Output = Output()


state = _State()

ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config", "-c", help="Config file (default: $PORTSYNC_CONFIG or ./portsync.yaml)."
    ),
]


@app.callback()
def _root(
    config: ConfigOpt = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colours (NO_COLOR is honoured too).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only results and errors.")] = False,
) -> None:
    state.config = config
    state.debug = debug
    state.output = Output(color=not no_color, quiet=quiet)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _fail(exc: BaseException) -> NoReturn:
    out = state.output
    if state.debug:
        raise exc
    if isinstance(exc, PortsyncError):
        out.error(str(exc))
        raise typer.Exit(ExitCode.ERROR)
    if isinstance(exc, KeyboardInterrupt):
        out.error("interrupted")
        raise typer.Exit(ExitCode.INTERRUPTED)
    with tempfile.NamedTemporaryFile(
        "w", prefix="portsync-crash-", suffix=".log", delete=False
    ) as fh:
        traceback.print_exception(exc, file=fh)
    out.error(
        f"internal error, please report: {type(exc).__name__}: {exc} (traceback in {fh.name})"
    )
    raise typer.Exit(ExitCode.ERROR)


def _load() -> LoadedConfig:
    from portsync.config import load_config

    return load_config(state.config)


@app.command()
def rules(
    role: Annotated[
        list[str] | None, typer.Option("--role", "-r", help="Only this role (repeatable).")
    ] = None,
    output: Annotated[RulesFormat, typer.Option("--output", "-o")] = RulesFormat.table,
) -> None:
    """Print the neutral rule set (no cloud access; works with no config)."""
    from portsync.render import render_rules_json, render_rules_table
    from portsync.synthesis import synthesize

    try:
        ruleset = synthesize(_load())
        if role:
            unknown = [r for r in role if r not in ruleset.roles]
            if unknown:
                from portsync.errors import InputError

                raise InputError(
                    f"no rules for role {', '.join(unknown)}",
                    hint=f"roles in the rule set: {', '.join(ruleset.roles)}",
                )
            ruleset = type(ruleset)(tuple(r for r in ruleset if r.role in role))
    except Exception as exc:
        _fail(exc)
    if output is RulesFormat.json:
        state.output.raw(render_rules_json(ruleset))
    else:
        state.output.print(render_rules_table(ruleset, title=f"{len(ruleset)} rules"))


@catalog_app.command("list")
def catalog_list() -> None:
    """List the built-in port tables."""
    from portsync.catalog import builtin_catalogs, load_catalog

    for name in builtin_catalogs():
        catalog = load_catalog(name)
        state.output.print(f"{name}\t{len(catalog.rows)} rows\t{catalog.description}")


@catalog_app.command("show")
def catalog_show(
    name: str,
    output: Annotated[RulesFormat, typer.Option("--output", "-o")] = RulesFormat.table,
) -> None:
    """Show a built-in port table and the rules it yields."""
    from portsync.catalog import load_catalog
    from portsync.catalog.parser import rows_to_rules
    from portsync.render import render_rules_json, render_rules_table

    try:
        catalog = load_catalog(name)
        ruleset = rows_to_rules(catalog.rows)
    except Exception as exc:
        _fail(exc)
    if output is RulesFormat.json:
        state.output.raw(render_rules_json(ruleset))
        return
    state.output.print(render_rules_table(ruleset, title=f"catalog {name}: {catalog.description}"))
    if catalog.retired:
        state.output.print("Retired ports (open ones are an audit finding):")
        for port in catalog.retired:
            state.output.print(f"  {port}")


@catalog_app.command("parse")
def catalog_parse(
    file: Annotated[Path, typer.Argument(help="A Markdown document holding port tables.")],
    output: Annotated[RulesFormat, typer.Option("--output", "-o")] = RulesFormat.table,
    etcd: Annotated[str, typer.Option(help="stacked or external")] = "stacked",
) -> None:
    """Parse any port-table document and print the rules it defines."""
    from portsync.catalog.parser import parse_file, rows_to_rules
    from portsync.render import render_rules_json, render_rules_table

    try:
        if etcd not in ("stacked", "external"):
            from portsync.errors import InputError

            raise InputError(f"--etcd {etcd!r} must be stacked or external")
        ruleset = rows_to_rules(parse_file(file), etcd=etcd)  # type: ignore[arg-type]
    except Exception as exc:
        _fail(exc)
    if output is RulesFormat.json:
        state.output.raw(render_rules_json(ruleset))
    else:
        state.output.print(render_rules_table(ruleset, title=f"{file}: {len(ruleset)} rules"))


ClusterOpt = Annotated[
    list[str] | None, typer.Option("--cluster", help="Only this cluster (repeatable).")
]


@app.command()
def plan(
    cluster: ClusterOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Save the plan as JSON for apply.")
    ] = None,
    output: Annotated[PlanFormat, typer.Option("--output", "-o")] = PlanFormat.text,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when changes are pending.")
    ] = False,
) -> None:
    """Read live rules and show the drift."""
    from portsync import api
    from portsync.render import render_plan_markdown, render_plan_text

    try:
        loaded = _load()
        the_plan = api.plan(loaded, clusters=cluster or (), progress=state.output.info)
        if out is not None:
            out.write_text(the_plan.to_json(), encoding="utf-8")
    except Exception as exc:
        _fail(exc)
    if output is PlanFormat.json:
        state.output.raw(the_plan.to_json())
    elif output is PlanFormat.markdown:
        state.output.raw(render_plan_markdown(the_plan))
    else:
        state.output.print(render_plan_text(the_plan))
        if out is not None:
            state.output.info(f"plan saved to {out}; apply it with `portsync apply {out}`")
    if detailed_exitcode and not the_plan.is_empty():
        raise typer.Exit(ExitCode.CHANGES)


@app.command()
def apply(
    plan_file: Annotated[Path | None, typer.Argument(help="A plan saved with plan --out.")] = None,
    cluster: ClusterOpt = None,
    auto_approve: Annotated[
        bool, typer.Option("--auto-approve", help="Do not ask for confirmation.")
    ] = False,
    max_deletes: Annotated[
        int | None,
        typer.Option(
            "--max-deletes",
            help="Refuse plans removing more rules (default: config max_deletes, 10).",
        ),
    ] = None,
    exclusive: Annotated[
        bool, typer.Option("--exclusive", help="Allow mode exclusive to remove unmanaged rules.")
    ] = False,
) -> None:
    """Make live rules match the port tables (or apply exactly a saved plan)."""
    from portsync import api
    from portsync.errors import GuardrailError
    from portsync.ops import Plan
    from portsync.render import render_plan_text

    out = state.output

    def confirm(the_plan: Plan) -> bool:
        out.print(render_plan_text(the_plan))
        if auto_approve:
            return True
        if not out.interactive:
            raise GuardrailError(
                "apply needs confirmation but stdin is not a terminal",
                hint="pass --auto-approve in CI after reviewing the plan",
            )
        return typer.confirm("Apply these changes?", default=False)

    try:
        loaded = _load()
        if plan_file is not None and cluster:
            from portsync.errors import InputError

            raise InputError(
                "--cluster cannot be combined with a saved plan; the plan fixes its clusters"
            )
        saved = Plan.load(str(plan_file)) if plan_file is not None else None
        result = api.apply(
            loaded,
            saved=saved,
            clusters=cluster or (),
            max_deletes=max_deletes,
            allow_exclusive=exclusive,
            confirm=confirm,
            progress=out.info,
        )
    except Exception as exc:
        _fail(exc)
    if not result.changed:
        out.print(render_plan_text(result.plan))
        return
    counts = result.plan.summary()
    out.print(
        f"Applied: {counts['add']} added, {counts['update']} updated, {counts['remove']} removed. "
        "Live rules now match."
    )


@app.command()
def demo(
    keep: Annotated[bool, typer.Option(help="Keep the emulators running until Ctrl-C.")] = False,
) -> None:
    """The whole job offline: local emulators seeded with drift → plan → apply → clean plan."""
    from portsync.demo import run_demo

    try:
        code = run_demo(state.output, keep=keep)
    except Exception as exc:
        _fail(exc)
    raise typer.Exit(code)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(ExitCode.INTERRUPTED)
