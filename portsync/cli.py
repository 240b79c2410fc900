"""The ``portsync`` command line: a thin typer app over :mod:`portsync.api`.

Exit codes (one place, the same for every command; docs/reports.md): 0 success / in sync / nothing to
report; 1 error; 2 only under ``--detailed-exitcode``: changes pending (plan), findings at or above
``--fail-on`` (audit), not allowed (explain); 130 interrupted.
"""

# No ``from __future__ import annotations`` here: typer reads every command's parameters from
# its annotations when it builds the command line, and string annotations made it compile and
# evaluate some 400 strings on every start (10 ms of ``portsync --help``'s own 15 ms). Names
# imported only for type checking are quoted instead.
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum, IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

try:  # recent typer vendors click privately; older ones use click itself
    from typer._click.exceptions import UsageError as _UsageError
except ImportError:  # pragma: no cover - depends on the typer version
    from click.exceptions import UsageError as _UsageError  # type: ignore[assignment]

from portsync.errors import LifelineCutDuringApply, PortsyncError
from portsync.output import Output, literal

if TYPE_CHECKING:
    from portsync.api import ApplyResult
    from portsync.config import LoadedConfig
    from portsync.control import RunControl
    from portsync.fleet import Shard
    from portsync.history import History
    from portsync.ops import Plan
    from portsync.output import LiveStatus
    from portsync.provider import Settings
    from portsync.rehearse import Rehearsal

__all__ = ["ExitCode", "app", "main"]


class ExitCode(IntEnum):
    """Process exit codes, the same for every command."""

    OK = 0
    ERROR = 1
    CHANGES = 2
    FINDINGS = 2  # audit --detailed-exitcode: findings at or above --fail-on
    NOT_ALLOWED = 2  # explain --detailed-exitcode: the source cannot (surely) reach the port
    INTERRUPTED = 130


class RulesFormat(str, Enum):
    text = "text"
    json = "json"
    table = "table"  # the old name of text, kept so existing scripts keep working


def _rules_format(output: RulesFormat) -> str:
    """The renderer's format name (``table`` is the old name of ``text``)."""
    return "json" if output is RulesFormat.json else "text"


class PlanFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"
    sarif = "sarif"


class ExplainFormat(str, Enum):
    text = "text"
    json = "json"


class RehearseFormat(str, Enum):
    text = "text"
    json = "json"


class ApplyFormat(str, Enum):
    text = "text"
    json = "json"


class FailOn(str, Enum):
    high = "high"
    warning = "warning"
    info = "info"


class LogFormat(str, Enum):
    text = "text"
    json = "json"


class _Group(TyperGroup):
    """Usage errors (unknown option, bad choice) exit 1 like every other error.

    click's default is 2, which a CI job running ``--detailed-exitcode`` would read as
    "changes pending" or "findings": 2 is reserved for that.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_argument_help(self)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        from portsync.cliargs import hoist_global_options

        return super().parse_args(ctx, hoist_global_options(self, ctx, args))

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except _UsageError as exc:
            setattr(exc, "exit_code", int(ExitCode.ERROR))  # noqa: B010 - class attribute
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _UsageError as exc:
            setattr(exc, "exit_code", int(ExitCode.ERROR))  # noqa: B010 - class attribute
            raise
        except Exception as exc:
            # typer's and click's own exceptions (Exit, Abort, usage) carry their exit; anything
            # else escaped a command's handler: one redacted line, never a raw traceback.
            if type(exc).__module__.split(".")[0] in ("typer", "click"):
                raise
            _fail(exc)


def _plain_argument_help(group: Any) -> None:
    """Help names an argument by its metavar (``FILE``), not by a Python type (``<path>``)."""
    for command in getattr(group, "commands", {}).values():
        _plain_argument_help(command)
        for param in getattr(command, "params", ()):
            if getattr(param, "param_type_name", "") == "argument" and param.metavar:
                param.display_type_rich = lambda ctx: None


app = typer.Typer(
    name="portsync",
    cls=_Group,
    help="Keep cloud firewalls in line with port tables (AWS security groups, GCP firewall "
    "rules, Azure NSGs).",
    no_args_is_help=True,
    # --install-completion / --show-completion (bash, zsh, fish, PowerShell): docs/cli.md.
    add_completion=True,
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
    log_format: str = "text"
    output: Output = Output()
    #: The command was asked for JSON on stdout: a failure writes a JSON error document there
    #: too, so a pipeline reading stdout never gets an empty file.
    json_errors: bool = False


state = _State()

RulesOutputOpt = Annotated[
    RulesFormat,
    typer.Option(
        "--output", "-o", help="text (a table) for people, json for machines; table = text."
    ),
]
PlanOutputOpt = Annotated[
    PlanFormat,
    typer.Option(
        "--output", "-o", help="text for people; json, markdown (PR comment) or sarif for machines."
    ),
]

ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config",
        "-c",
        metavar="FILE",
        help="Config file (default: $PORTSYNC_CONFIG or ./portsync.yaml).",
    ),
]


def _print_version(value: bool) -> None:
    if value:
        from portsync.versions import portsync_version

        sys.stdout.write(f"portsync {portsync_version()}\n")
        raise typer.Exit()


@app.callback()
def _root(
    config: ConfigOpt = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colours (NO_COLOR is honoured too).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only results and errors.")] = False,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format",
            help="Logs on stderr as text, or as one JSON object per line (progress and errors "
            "included).",
        ),
    ] = LogFormat.text,
    compact: Annotated[
        bool,
        typer.Option(
            "--compact", help="JSON and SARIF output as one line per document (for log pipelines)."
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print portsync's version and exit (`portsync version` for a bug report).",
        ),
    ] = False,
) -> None:
    from portsync.logs import LogOutput, configure_logging

    state.config = config
    state.debug = debug
    state.json_errors = False  # each command that prints JSON turns it on for itself
    state.log_format = log_format.value
    configure_logging(log_format.value, debug=debug)
    if log_format is LogFormat.json:
        state.output = LogOutput(color=not no_color, quiet=quiet, compact=compact)
    else:
        state.output = Output(color=not no_color, quiet=quiet, compact=compact)


def _error_document(exc: BaseException) -> str:
    """The JSON error document (docs/schemas/error.schema.json) for ``exc``."""
    from portsync.redact import redact

    if isinstance(exc, PortsyncError):
        kind, message, hint = type(exc).__name__, exc.message, exc.hint
    elif isinstance(exc, KeyboardInterrupt):
        kind, message, hint = "Interrupted", "interrupted", None
    else:
        kind, message, hint = "InternalError", f"{type(exc).__name__}: {exc}", None
    error: dict[str, Any] = {
        "kind": kind,
        "message": redact(str(message)),
        "hint": redact(hint) if hint else None,
    }
    if isinstance(exc, LifelineCutDuringApply):
        error["lifeline"] = {
            k: redact(v) if isinstance(v, str) else v for k, v in exc.to_dict().items()
        }
    body = {"format_version": 1, "error": error}
    return json.dumps(body, ensure_ascii=False)


def _fail(exc: BaseException) -> NoReturn:
    """Report ``exc`` and exit: one error line (every message redacted and printed literally).

    ``--debug`` adds the traceback (redacted). A bug — any exception that is not a
    :class:`PortsyncError` — also leaves its traceback in a private crash log in the user's state
    folder, which the message names.
    """
    out = state.output
    if state.json_errors and not isinstance(exc, typer.Exit):
        sys.stdout.write(_error_document(exc) + "\n")
        sys.stdout.flush()
    if isinstance(exc, KeyboardInterrupt):
        out.error("interrupted")
        raise typer.Exit(ExitCode.INTERRUPTED)
    if state.debug:
        out.traceback(exc)
    if isinstance(exc, PortsyncError):
        out.error(str(exc))
        raise typer.Exit(ExitCode.ERROR)
    from portsync.crashlog import write_crash_log

    try:
        where = f"traceback in {write_crash_log(exc)}"
    except OSError as err:
        where = f"no crash log written: {err.strerror or err}; run with --debug to see it"
    # The log's path first: the exception's own text is anything, to the end of the line.
    out.error(f"internal error, please report ({where}): {type(exc).__name__}: {exc}")
    raise typer.Exit(ExitCode.ERROR)


def _history() -> "History":
    """The record of what applies added, in the user's state folder (fight detection)."""
    from portsync.crashlog import state_dir
    from portsync.history import History

    return History(state_dir() / "history.json")


def _load() -> "LoadedConfig":
    from portsync.config import load_config

    return load_config(state.config)


class _Progress:
    """Progress of a long operation: a live status line on a terminal, plain lines otherwise."""

    def __init__(self, status: "LiveStatus | None" = None) -> None:
        self._status = status

    def __call__(self, message: str) -> None:
        if self._status is None:
            state.output.info(message)
        else:
            self._status.update(message)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hide the status line while something else talks to the terminal (a prompt)."""
        if self._status is None:
            yield
            return
        self._status.stop()
        try:
            yield
        finally:
            self._status.start()


@contextmanager
def _progress(label: str) -> Iterator[_Progress]:
    """A progress reporter: rich status on an interactive stderr, ``info`` lines in CI.

    The live display is used only when stderr is a terminal (not dumb), logs are text and
    --quiet is off; otherwise each step is one plain line (or one JSON log record).
    """
    out = state.output
    err = out.err
    live = (
        not out.quiet
        and state.log_format == "text"
        and err.is_terminal
        and not err.is_dumb_terminal
    )
    if not live:
        yield _Progress()
        return
    with out.status(label) as status:
        yield _Progress(status)


def _shard(text: str | None) -> "Shard | None":
    if text is None:
        return None
    from portsync.fleet import parse_shard

    return parse_shard(text)


def _fleet(loaded: "LoadedConfig", names: list[str] | None, shard: "Shard | None") -> list[str]:
    """The clusters to work on: --cluster names (or all), then the --shard share of them."""
    from portsync.api import select_clusters
    from portsync.fleet import select_shard

    chosen = [c.name for c in select_clusters(loaded, names or ())]
    if shard is None:
        return chosen
    picked = select_shard(chosen, shard)
    state.output.info(
        f"shard {shard}: {len(picked)} of {len(chosen)} clusters"
        + (f" ({', '.join(picked)})" if picked and len(picked) <= 10 else "")
    )
    return picked


@app.command()
def rules(
    role: Annotated[
        list[str] | None,
        typer.Option("--role", "-r", metavar="ROLE", help="Only this role (repeatable)."),
    ] = None,
    output: RulesOutputOpt = RulesFormat.text,
) -> None:
    """Print the neutral rule set (no cloud access; works with no config)."""
    from portsync.render import RenderOptions, emit
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
    options = RenderOptions(title=f"{len(ruleset)} rules")
    emit(state.output, "rules", _rules_format(output), ruleset, options)


@catalog_app.command("list")
def catalog_list() -> None:
    """List the built-in port tables, the upstream version each was read from, and its options."""
    from rich.text import Text

    from portsync.catalog import builtin_catalogs, load_catalog

    for name in builtin_catalogs():
        catalog = load_catalog(name)
        upstream = catalog.upstream
        version = f"{upstream.project} {upstream.version}" if upstream else "-"
        state.output.print(
            Text(f"{name}\t{version}\t{len(catalog.all_rows)} rows\t{catalog.description}")
        )
        for option in catalog.options:
            state.output.print(Text(f"  option {option.describe()}"))


@catalog_app.command("show")
def catalog_show(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="A built-in table (catalog list), or a file.")
    ],
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            metavar="NAME=VALUE",
            help="Choose a catalog option, NAME=VALUE (repeatable), e.g. --option tunnel=geneve.",
        ),
    ] = None,
    output: RulesOutputOpt = RulesFormat.text,
) -> None:
    """Show a port table (built-in or a file) and the rules it yields under its options."""
    from rich.text import Text

    from portsync.catalog import load_catalog
    from portsync.errors import InputError
    from portsync.render import RenderOptions, emit
    from portsync.synthesis import rows_to_rules

    try:
        chosen: dict[str, str] = {}
        for item in option or []:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise InputError(
                    f"--option {item!r} is not NAME=VALUE",
                    hint="e.g. --option encapsulation=vxlan; `portsync catalog list` shows each "
                    "catalog's options",
                )
            chosen[key.strip()] = value.strip()
        catalog = load_catalog(name, options=chosen)
        ruleset = rows_to_rules(catalog.rows)
    except Exception as exc:
        _fail(exc)
    title = f"catalog {name}: {catalog.description}"
    if catalog.choice_text:
        title += f" ({catalog.choice_text})"
    emit(state.output, "rules", _rules_format(output), ruleset, RenderOptions(title=title))
    if output is RulesFormat.json:
        return
    if catalog.upstream:
        state.output.print(Text(f"Upstream: {catalog.upstream}"))
    if catalog.options:
        state.output.print(Text("Options (choose with --option NAME=VALUE):"))
        for opt in catalog.options:
            about = f" — {opt.about}" if opt.about else ""
            state.output.print(Text(f"  {opt.describe()}{about}"))
    if catalog.sensitive:
        state.output.print(
            "Sensitive ports (never open to the internet; audit and apply check them):"
        )
        for sensitive in catalog.sensitive:
            state.output.print(Text(f"  {sensitive}"))
    if catalog.retired:
        state.output.print(Text("Retired ports (open ones are an audit finding):"))
        for port in catalog.retired:
            state.output.print(Text(f"  {port}"))


@catalog_app.command("parse")
def catalog_parse(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="A Markdown document holding port tables.")
    ],
    output: RulesOutputOpt = RulesFormat.text,
    etcd: Annotated[
        str, typer.Option(metavar="stacked|external", help="etcd topology.")
    ] = "stacked",
) -> None:
    """Parse any port-table document and print the rules it defines."""
    from portsync.catalog.parser import parse_file
    from portsync.render import RenderOptions, emit
    from portsync.synthesis import rows_to_rules

    try:
        if etcd not in ("stacked", "external"):
            from portsync.errors import InputError

            raise InputError(f"--etcd {etcd!r} must be stacked or external")
        ruleset = rows_to_rules(parse_file(file), etcd=etcd)  # type: ignore[arg-type]
    except Exception as exc:
        _fail(exc)
    options = RenderOptions(title=f"{file}: {len(ruleset)} rules")
    emit(state.output, "rules", _rules_format(output), ruleset, options)


ClusterOpt = Annotated[
    list[str] | None,
    typer.Option("--cluster", metavar="NAME", help="Only this cluster (repeatable)."),
]


ShowUnmanagedOpt = Annotated[
    bool,
    typer.Option(
        "--show-unmanaged",
        help="List the unmanaged rules (text, markdown) instead of counting them per target.",
    ),
]

DeadlineOpt = Annotated[
    float | None,
    typer.Option(
        "--deadline",
        metavar="SECONDS",
        min=0.001,
        help="Give up (exit 1) when the whole command has run this long; apply starts no write "
        "after it. Default: none (each call is bounded by the clusters' timeout:).",
    ),
]


def _settings(
    loaded: "LoadedConfig", control: "RunControl", *, adopt_legacy: bool = False
) -> "Settings":
    """Run-wide settings carrying the command's deadline, its retry notices and
    ``--adopt-legacy``."""
    from portsync.provider import Settings

    return Settings(mode=loaded.config.mode, control=control, adopt_legacy=adopt_legacy)


def _control(deadline: float | None) -> "RunControl":
    """The run's control, started now: retry notices go to the progress stream."""
    from portsync.control import RunControl

    return RunControl(deadline=deadline, notice=state.output.info)


ShardOpt = Annotated[
    str | None,
    typer.Option(
        "--shard",
        metavar="I/N",
        help="Only shard I of N of the selected clusters (1-based; stable hash of the cluster "
        "name), to split a fleet across CI jobs.",
    ),
]


AllowEmptyTargetOpt = Annotated[
    bool,
    typer.Option(
        "--allow-empty-target",
        help="Allow a plan that removes every rule portsync owns on a target and adds none there "
        "(refused by default: it is what a mistyped role binding looks like).",
    ),
]


AdoptLegacyOpt = Annotated[
    bool,
    typer.Option(
        "--adopt-legacy",
        help="Adopt the rules an earlier portsync release marked by description only: they are "
        "rewritten with this cluster's owner identity (or removed when no longer wanted). Review "
        "the plan first; pass it to plan and apply alike.",
    ),
]


def _notes(loaded: "LoadedConfig") -> None:
    """Print the config's warnings (the world in sources.all) and notes (unbound table roles) on
    stderr, once per plan or apply."""
    from portsync.exposure import config_warnings
    from portsync.synthesis import config_notes

    for line in config_warnings(loaded):
        state.output.warning(line)
    for line in config_notes(loaded):
        state.output.info(line)


@app.command()
def plan(
    cluster: ClusterOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="PLAN.json", help="Save the plan as JSON (for apply and show)."
        ),
    ] = None,
    output: PlanOutputOpt = PlanFormat.text,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when changes are pending.")
    ] = False,
    shard: ShardOpt = None,
    allow_empty_target: AllowEmptyTargetOpt = False,
    show_unmanaged: ShowUnmanagedOpt = False,
    deadline: DeadlineOpt = None,
    adopt_legacy: AdoptLegacyOpt = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            help="Also list the cloud writes apply would send (text output; JSON always "
            "holds them).",
        ),
    ] = False,
) -> None:
    """Read live rules and show the drift."""
    from portsync import api
    from portsync.planview import emit_plan, render_writes

    state.json_errors = output is PlanFormat.json
    control = _control(deadline)
    try:
        from portsync.planfile import plan_key

        plan_key()  # an unusable signing key is refused before any cloud call
        the_shard = _shard(shard)
        loaded = _load()
        names = _fleet(loaded, cluster, the_shard)
        _notes(loaded)
        if names:
            with _progress("reading live rules") as progress:
                the_plan = api.plan(
                    loaded,
                    clusters=names,
                    progress=progress,
                    history=_history(),
                    settings=_settings(loaded, control, adopt_legacy=adopt_legacy),
                )
        else:
            the_plan = _empty_plan(loaded)
        if not allow_empty_target:
            api.check_empty_targets(loaded, the_plan)
        if out is not None:
            out.write_text(the_plan.to_json(sign=True), encoding="utf-8")
    except Exception as exc:
        _fail(exc)
    emit_plan(
        state.output,
        the_plan,
        output.value,
        config=loaded,
        sign=True,
        show_unmanaged=show_unmanaged,
    )
    if verbose and output is PlanFormat.text:
        state.output.raw("\n" + render_writes(the_plan))
    if output is PlanFormat.text and out is not None:
        state.output.info(f"plan saved to {out}; apply it with `portsync apply {out}`")
    if detailed_exitcode and not the_plan.is_empty():
        raise typer.Exit(ExitCode.CHANGES)


def _empty_plan(loaded: "LoadedConfig") -> "Plan":
    """The plan of an empty selection (a shard holding no cluster): valid, and empty."""
    from datetime import UTC, datetime

    from portsync import api
    from portsync.ops import Plan

    return Plan(
        mode=loaded.config.mode,
        config_digest=api.config_digest(loaded, api.synthesize(loaded)),
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


@app.command()
def apply(
    plan_file: Annotated[
        Path | None, typer.Argument(metavar="PLAN.json", help="A plan saved with plan --out.")
    ] = None,
    cluster: ClusterOpt = None,
    auto_approve: Annotated[
        bool, typer.Option("--auto-approve", help="Do not ask for confirmation.")
    ] = False,
    max_deletes: Annotated[
        int | None,
        typer.Option(
            "--max-deletes",
            metavar="N",
            help="Refuse plans removing more rules (default: config max_deletes, 10).",
        ),
    ] = None,
    exclusive: Annotated[
        bool, typer.Option("--exclusive", help="Allow mode exclusive to remove unmanaged rules.")
    ] = False,
    exclusive_on_managed: Annotated[
        list[str] | None,
        typer.Option(
            "--exclusive-on-managed",
            metavar="TARGET",
            help="Allow exclusive removals on TARGET although kops, a Cluster API provider, "
            "EKS or AKS manages it (repeatable).",
        ),
    ] = None,
    shard: ShardOpt = None,
    allow_empty_target: AllowEmptyTargetOpt = False,
    deadline: DeadlineOpt = None,
    adopt_legacy: AdoptLegacyOpt = False,
    rehearse: Annotated[
        bool,
        typer.Option(
            "--rehearse",
            help="First apply the plan to a local emulator holding a copy of the targets it "
            "changes, and apply for real only when the copy converged with every unmanaged rule "
            "untouched, every lifeline held and no limit exceeded (docs/rehearse.md).",
        ),
    ] = False,
    rehearse_only: Annotated[
        bool,
        typer.Option(
            "--rehearse-only",
            help="Rehearse (as --rehearse) and stop: exit 0 when the rehearsal proves the plan, "
            "1 when not. Nothing is written to the cloud.",
        ),
    ] = False,
    output: Annotated[
        ApplyFormat,
        typer.Option(
            "--output",
            "-o",
            help="text for people; json for machines: one document on stdout (what was applied, "
            "or the error), the plan shown for confirmation on stderr.",
        ),
    ] = ApplyFormat.text,
) -> None:
    """Make live rules match the port tables (or apply exactly a saved plan).

    SIGINT or SIGTERM while writing starts no new write, lets the writes in flight finish, says
    how much was applied and exits 130 (a second signal quits at once).
    """
    from portsync import api
    from portsync.errors import GuardrailError, Interrupted
    from portsync.ops import Plan
    from portsync.render.text import render_plan_text

    out = state.output
    reporter = _Progress()
    control = _control(deadline)
    as_json = output is ApplyFormat.json
    state.json_errors = as_json

    def show(what: object) -> None:
        # With -o json, stdout carries the one document only: people's text goes to stderr.
        if as_json:
            out.err.print(literal(what) if isinstance(what, str) else what)
        else:
            out.print(what)

    def confirm(the_plan: "Plan") -> bool:
        with reporter.paused():
            show(render_plan_text(the_plan))
            if auto_approve:
                return True
            if not out.interactive:
                raise GuardrailError(
                    "apply needs confirmation but stdin is not a terminal",
                    hint="pass --auto-approve in CI after reviewing the plan",
                )
            try:
                return typer.confirm("Apply these changes?", default=False)
            except typer.Abort:
                # click turns Ctrl-C (and end of input) at a prompt into Abort.
                raise _Cancelled() from None

    try:
        the_shard = _shard(shard)
        loaded = _load()
        if plan_file is not None and (cluster or the_shard is not None):
            from portsync.errors import InputError

            raise InputError(
                "--cluster and --shard cannot be combined with a saved plan; the plan fixes its "
                "clusters"
            )
        saved = Plan.load(str(plan_file)) if plan_file is not None else None
        names = None if saved is not None else _fleet(loaded, cluster, the_shard)
        if names == []:
            out.print("Nothing to apply: the selection holds no cluster.")
            return
        _notes(loaded)
        rehearsed = None
        if rehearse or rehearse_only:
            rehearsed = _rehearse(
                loaded,
                names or (saved.clusters() if saved is not None else []),
                control,
                max_deletes=max_deletes,
                allow_exclusive=exclusive,
                exclusive_on_managed=exclusive_on_managed or (),
                allow_empty_target=allow_empty_target,
                adopt_legacy=adopt_legacy,
            )
            show(rehearsed.summary())
            if rehearse_only:
                if as_json:
                    out.raw(rehearsed.to_json())
                raise typer.Exit(ExitCode.OK if rehearsed.ok else ExitCode.ERROR)
            if not rehearsed.ok:
                from portsync.rehearse import RehearsalFailed

                raise RehearsalFailed(
                    "the rehearsal did not prove the plan; nothing was written",
                    hint="fix what the rehearsal names, or run `portsync rehearse -o json` for "
                    "the details",
                )
        with _progress("applying") as reporter, _stop_on_signals(control):
            result = api.apply(
                loaded,
                history=_history(),
                # After a rehearsal, exactly the rehearsed plan: a change to the live rules
                # since is refused as a stale plan.
                saved=saved if rehearsed is None or saved is not None else rehearsed.plan,
                clusters=names or (),
                max_deletes=max_deletes,
                allow_exclusive=exclusive,
                exclusive_on_managed=exclusive_on_managed or (),
                allow_empty_target=allow_empty_target,
                confirm=confirm,
                progress=reporter,
                settings=_settings(loaded, control, adopt_legacy=adopt_legacy),
            )
    except typer.Exit:
        raise
    except _Cancelled:
        if as_json:
            out.raw(_error_document(GuardrailError("apply cancelled; nothing was changed")))
        out.error("cancelled, nothing changed")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    except Interrupted as exc:
        if state.debug:
            raise
        if as_json:
            out.raw(_error_document(exc))
        out.error(str(exc))
        stopped = not exc.context.get("deadline")
        raise typer.Exit(ExitCode.INTERRUPTED if stopped else ExitCode.ERROR) from None
    except KeyboardInterrupt:
        if control.writing:
            out.error(
                "interrupted while writing; some changes may be applied; run portsync plan to "
                "see what remains"
            )
        else:
            out.error("interrupted before any write; nothing changed")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    except Exception as exc:
        _fail(exc)
    if as_json:
        out.raw(_apply_document(result))
    if not result.changed:
        show(render_plan_text(result.plan))
        return
    counts = result.plan.summary()
    show(
        f"Applied: {counts['add']} added, {counts['update']} updated, {counts['remove']} removed. "
        "Live rules now match."
    )
    if result.lifelines_kept:
        show(
            f"{result.lifelines_kept} {'lifeline' if result.lifelines_kept == 1 else 'lifelines'} "
            f"held after every write ({result.lifeline_reads} read back)."
        )


def _apply_document(result: "ApplyResult") -> str:
    """The JSON document of a finished apply (docs/schemas/apply.schema.json)."""
    counts = result.plan.summary()
    body = {
        "format_version": 1,
        "kind": "apply",
        "changed": result.changed,
        "summary": {key: counts[key] for key in ("add", "update", "remove")},
        "writes": len(result.plan.writes) if result.changed else 0,
        "lifelines": {"kept": result.lifelines_kept, "reads": result.lifeline_reads},
    }
    return json.dumps(body, ensure_ascii=False)


def _rehearse(
    loaded: "LoadedConfig",
    names: list[str],
    control: "RunControl",
    *,
    max_deletes: int | None,
    allow_exclusive: bool,
    exclusive_on_managed: list[str] | tuple[str, ...],
    allow_empty_target: bool,
    adopt_legacy: bool,
) -> "Rehearsal":
    """Rehearse the plan of ``names`` on local copies (nothing is written to a cloud)."""
    from portsync.rehearse import rehearse

    with _progress("rehearsing") as progress:
        return rehearse(
            loaded,
            clusters=names,
            settings=_settings(loaded, control, adopt_legacy=adopt_legacy),
            max_deletes=max_deletes,
            allow_exclusive=allow_exclusive,
            exclusive_on_managed=exclusive_on_managed,
            allow_empty_target=allow_empty_target,
            progress=progress,
        )


@app.command("rehearse")
def rehearse_command(
    cluster: ClusterOpt = None,
    output: Annotated[
        RehearseFormat, typer.Option("--output", "-o", help="text for people; json for machines.")
    ] = RehearseFormat.text,
    max_deletes: Annotated[
        int | None,
        typer.Option(
            "--max-deletes", metavar="N", help="As for apply: the rehearsal applies like apply."
        ),
    ] = None,
    exclusive: Annotated[
        bool, typer.Option("--exclusive", help="As for apply: allow removing unmanaged rules.")
    ] = False,
    exclusive_on_managed: Annotated[
        list[str] | None,
        typer.Option("--exclusive-on-managed", metavar="TARGET", help="As for apply."),
    ] = None,
    shard: ShardOpt = None,
    allow_empty_target: AllowEmptyTargetOpt = False,
    deadline: DeadlineOpt = None,
    adopt_legacy: AdoptLegacyOpt = False,
) -> None:
    """Apply the plan to local emulators holding a copy of the targets it changes, and prove it.

    Nothing is written to the cloud. Exit 0 when the copy converged, every unmanaged rule is
    untouched, every lifeline held at every write and no limit was exceeded; 1 otherwise.
    """
    state.json_errors = output is RehearseFormat.json
    control = _control(deadline)
    try:
        loaded = _load()
        names = _fleet(loaded, cluster, _shard(shard))
        if not names:
            state.output.print("Nothing to rehearse: the selection holds no cluster.")
            return
        _notes(loaded)
        result = _rehearse(
            loaded,
            names,
            control,
            max_deletes=max_deletes,
            allow_exclusive=exclusive,
            exclusive_on_managed=exclusive_on_managed or (),
            allow_empty_target=allow_empty_target,
            adopt_legacy=adopt_legacy,
        )
    except Exception as exc:
        _fail(exc)
    if output is RehearseFormat.json:
        state.output.raw(result.to_json() + "\n")
    else:
        state.output.print(result.summary())
    raise typer.Exit(ExitCode.OK if result.ok else ExitCode.ERROR)


class _Cancelled(Exception):
    """Ctrl-C (or end of input) at the confirmation prompt."""


@contextmanager
def _stop_on_signals(control: "RunControl") -> Iterator[None]:
    """SIGINT and SIGTERM during apply's writes ask for a clean stop (no new write; the writes
    in flight finish); before the writes, or a second time, they interrupt at once."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread (an embedding host)
        return

    def handler(signum: int, frame: Any) -> None:
        if control.writing and not control.stopping:
            control.request_stop()
            state.output.info(
                "stopping: no new write starts; waiting for the writes in flight "
                "(press Ctrl-C again to quit at once)"
            )
            return
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@app.command()
def audit(
    cluster: ClusterOpt = None,
    output: PlanOutputOpt = PlanFormat.text,
    fail_on: Annotated[
        FailOn,
        typer.Option(
            "--fail-on",
            metavar="high|warning|info",
            help="Lowest severity that counts for --detailed-exitcode (default high).",
        ),
    ] = FailOn.high,
    detailed_exitcode: Annotated[
        bool,
        typer.Option("--detailed-exitcode", help="Exit 2 when findings at or above --fail-on."),
    ] = False,
    shard: ShardOpt = None,
    summary: Annotated[
        Path | None,
        typer.Option(
            "--summary",
            metavar="FILE",
            help="Also append the Markdown report to FILE (e.g. $GITHUB_STEP_SUMMARY), so one "
            "cloud read gives both SARIF and a job summary.",
        ),
    ] = None,
    deadline: DeadlineOpt = None,
) -> None:
    """Report exposures on the live rules (etcd, kubelet, retired ports open to the world, …)."""
    state.json_errors = output is PlanFormat.json
    from portsync import audit as audit_mod
    from portsync.render import RenderOptions, emit
    from portsync.render.markdown import render_audit_markdown

    severity = audit_mod.Severity(fail_on.value)
    control = _control(deadline)
    try:
        the_shard = _shard(shard)
        loaded = _load()
        names = _fleet(loaded, cluster, the_shard)
        if names:
            with _progress("reading live rules") as progress:
                report = audit_mod.audit(
                    loaded,
                    clusters=names,
                    progress=progress,
                    settings=_settings(loaded, control),
                )
        else:
            report = audit_mod.empty_report()
        if summary is not None:
            _append(summary, render_audit_markdown(report, fail_on=severity))
    except Exception as exc:
        _fail(exc)
    options = RenderOptions(fail_on=severity, config=loaded)
    emit(state.output, "audit", output.value, report, options)
    if detailed_exitcode and report.failing(severity):
        raise typer.Exit(ExitCode.FINDINGS)


def _append(path: Path, text: str) -> None:
    from portsync.errors import InputError

    try:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise InputError(f"cannot write to {path}: {exc.strerror}") from None


@app.command()
def explain(
    source: Annotated[
        str,
        typer.Argument(
            metavar="SOURCE",
            help="An IP or CIDR, any / internet (0.0.0.0/0), role:NAME or load-balancers.",
        ),
    ],
    destination: Annotated[
        str, typer.Argument(metavar="ROLE:PORT/PROTO", help="e.g. control-plane:6443/tcp")
    ],
    cluster: ClusterOpt = None,
    plan_file: Annotated[
        Path | None,
        typer.Option(
            "--plan", metavar="PLAN.json", help="Answer on the state this saved plan would produce."
        ),
    ] = None,
    output: Annotated[
        ExplainFormat, typer.Option("--output", "-o", help="text for people, json for machines.")
    ] = ExplainFormat.text,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode",
            help="Exit 2 unless the source is allowed on every selected cluster binding the role.",
        ),
    ] = False,
    deadline: DeadlineOpt = None,
) -> None:
    """Can SOURCE reach that port of that role? Names the rule(s) that decide, per cluster."""
    state.json_errors = output is ExplainFormat.json
    from portsync import explain as explain_mod
    from portsync.ops import Plan
    from portsync.render import emit

    control = _control(deadline)
    try:
        the_source = explain_mod.parse_source(source)
        the_destination = explain_mod.parse_destination(destination)
        loaded = _load()
        saved = Plan.load(str(plan_file)) if plan_file is not None else None
        with _progress("reading live rules") as progress:
            answer = explain_mod.explain(
                loaded,
                the_source,
                the_destination,
                clusters=cluster or (),
                plan=saved,
                plan_path=str(plan_file) if plan_file is not None else None,
                progress=progress,
                settings=_settings(loaded, control),
            )
    except Exception as exc:
        _fail(exc)
    emit(state.output, "explain", output.value, answer)
    if detailed_exitcode and answer.answer is not explain_mod.Answer.ALLOWED:
        raise typer.Exit(ExitCode.NOT_ALLOWED)


class ExportFormat(str, Enum):
    terraform = "terraform"


@app.command()
def export(
    format: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="What to write (terraform).")
    ] = ExportFormat.terraform,
    out: Annotated[
        str,
        typer.Option(
            "--out",
            metavar="DIR|-",
            help="Write one <cluster>.tf per cluster into DIR (created if missing); - for "
            "standard output (default).",
        ),
    ] = "-",
    cluster: ClusterOpt = None,
    deadline: DeadlineOpt = None,
) -> None:
    """Write the rules portsync owns as Terraform resources with import blocks."""
    from portsync.export import export_terraform, render_files

    control = _control(deadline)
    try:
        loaded = _load()
        if out != "-":
            _write_export(Path(out), [])  # a directory that cannot be written: before any read
        with _progress("reading live rules") as progress:
            files = export_terraform(
                loaded,
                clusters=cluster or (),
                progress=progress,
                settings=_settings(loaded, control),
            )
        if out != "-":
            _write_export(Path(out), files)
    except Exception as exc:
        _fail(exc)
    if out == "-":
        state.output.raw(render_files(files))
        return
    for item in files:
        state.output.info(
            f"wrote {item.resources} rules of {item.cluster} to {Path(out, item.name)}"
        )


def _write_export(directory: Path, files: Any) -> None:
    from portsync.errors import InputError

    try:
        directory.mkdir(parents=True, exist_ok=True)
        for item in files:
            (directory / item.name).write_text(item.text, encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot write the export to {directory}: {exc.strerror}",
            hint="give --out a directory you can write to, or - for standard output",
        ) from None


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


@app.command()
def show(
    plan_file: Annotated[
        Path, typer.Argument(metavar="PLAN.json", help="A plan saved with plan --out.")
    ],
    output: PlanOutputOpt = PlanFormat.text,
    writes: Annotated[
        bool,
        typer.Option("--writes", help="List the cloud writes apply would make, in their order."),
    ] = False,
    show_unmanaged: ShowUnmanagedOpt = False,
) -> None:
    """Print a saved plan in any format, offline: no cloud call, no credentials."""
    state.json_errors = output is PlanFormat.json
    from portsync.planview import emit_plan, render_writes

    try:
        from portsync.ops import Plan

        the_plan = Plan.load(str(plan_file))
        # The config only places SARIF results on its lines, as plan does; reading it is offline.
        loaded = _load() if output is PlanFormat.sarif else None
    except Exception as exc:
        _fail(exc)
    if writes:
        state.output.raw(render_writes(the_plan))
        return
    emit_plan(state.output, the_plan, output.value, config=loaded, show_unmanaged=show_unmanaged)


@app.command()
def validate(
    output: Annotated[
        ExplainFormat,
        typer.Option("--output", "-o", help="text for people, json for machines."),
    ] = ExplainFormat.text,
) -> None:
    """Check the config offline (port tables, translation, plan-time limits); exit 0 or 1.

    Reads no credential and contacts no cloud: for pre-commit hooks and pull-request checks.
    """
    from portsync.validate import validate as run_validate

    try:
        result = run_validate(_load())
    except Exception as exc:
        _fail(exc)
    state.output.raw(result.to_json() if output is ExplainFormat.json else result.to_text())
    if not result.ok:
        raise typer.Exit(ExitCode.ERROR)


def _discover_providers(incomplete: str) -> list[str]:
    """Shell completion of ``--discover``: the installed providers that can discover."""
    from portsync.discover import discoverable_providers

    try:
        return [name for name in discoverable_providers() if name.startswith(incomplete)]
    except Exception:  # completion must never print a traceback into the shell
        return []


def _own_options(ctx: Any) -> set[str]:
    """The options ``init`` and the global group already take: no provider scope key may."""
    taken: set[str] = {"--help"}
    while ctx is not None:
        for param in getattr(ctx.command, "params", ()):
            taken.update(getattr(param, "opts", ()))
            taken.update(getattr(param, "secondary_opts", ()))
        ctx = ctx.parent
    return taken


class _InitCommand(TyperCommand):
    """``init``: the scope options of ``--discover`` are each installed provider's own
    (``discover_scope`` on its class), taken as extra arguments and listed in the help."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        super().format_options(ctx, formatter)
        from portsync.discover import discoverable_providers, scope_keys

        try:
            names = discoverable_providers()
            rows = []
            for name in names:
                for key in scope_keys(name, reserved=_own_options(ctx)):
                    label = f"{key.option} {key.metavar}"
                    rows.append(
                        (label, f"{name}: {key.help}" + (" (required)" if key.required else ""))
                    )
        except PortsyncError as exc:
            rows = [("(unavailable)", str(exc))]
        with formatter.section("Scope options of --discover (per provider)"):
            formatter.write_dl(rows or [("(none)", "no installed provider can discover")])


@app.command(
    cls=_InitCommand,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def init(
    ctx: typer.Context,
    discover: Annotated[
        str | None,
        typer.Option(
            "--discover",
            metavar="PROVIDER",
            autocompletion=_discover_providers,
            help="Read this provider's cloud (read-only) and bind the groups of an existing "
            "cluster built by a tool it recognises; the scope options below say where.",
        ),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster", metavar="NAME", help="The cluster to write when several are found."
        ),
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(metavar="URL", help="API endpoint (an emulator, a VPC endpoint).")
    ] = None,
    anonymous: Annotated[
        bool, typer.Option("--anonymous", help="Send no credentials (local emulators only).")
    ] = False,
    out: Annotated[
        str,
        typer.Option("--out", metavar="FILE", help="Where to write the config (- for stdout)."),
    ] = "portsync.yaml",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented portsync.yaml; with --discover, bound to an existing cluster's groups."""
    from portsync.errors import InputError
    from portsync.scaffold import render_config

    try:
        target = None if out == "-" else Path(out)
        found = None
        scope: dict[str, Any] = {}
        if discover is not None:
            from portsync.discover import parse_scope

            # Every check of the command line comes before the file check and any cloud call.
            scope = parse_scope(discover, ctx.args, reserved=_own_options(ctx))
        elif ctx.args:
            raise InputError(
                f"init: {ctx.args[0]!r} is not an option of init without --discover",
                hint="scope options such as --region go with --discover PROVIDER; "
                "see `portsync init --help`",
            )
        if target is not None and target.exists() and not force:
            raise InputError(f"{target} already exists", hint="pass --force to overwrite it")
        if discover is not None:
            from portsync.discover import discover as run_discover
            from portsync.discover import pick, where

            scope["endpoint"] = endpoint
            scope["credentials"] = "anonymous" if anonymous else None
            place = where(discover, scope)
            state.output.info(f"reading {place} (read-only)")
            found = pick(run_discover(discover, scope), cluster, where=place)
        text = render_config(found)
        if target is None:
            state.output.raw(text)
        else:
            target.write_text(text, encoding="utf-8")
    except Exception as exc:
        _fail(exc)
    if target is not None:
        what = f"cluster {found.name} ({found.tool})" if found else "a commented template"
        state.output.info(f"wrote {target}: {what}; check it with `portsync validate`")
        for note in found.notes if found else ():
            state.output.info(f"note: {note}")


class VersionFormat(str, Enum):
    text = "text"
    json = "json"


@app.command()
def version(
    output: Annotated[
        VersionFormat,
        typer.Option("--output", "-o", help="text for people, json for a bug report."),
    ] = VersionFormat.text,
) -> None:
    """portsync, Python and cloud SDK versions (for bug reports); imports no SDK."""
    from portsync.versions import version_json, version_report, version_text

    report = version_report()
    if output is VersionFormat.json:
        state.output.raw(version_json(report))
    else:
        state.output.raw(version_text(report))


def main() -> None:
    """Console-script entry point."""
    from portsync.runtime import tune_gc

    tune_gc()
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(ExitCode.INTERRUPTED)
