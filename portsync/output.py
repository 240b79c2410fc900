"""The only module that writes to the terminal.

Rich consoles for humans; plain text when stdout is not a terminal (CI), with ``NO_COLOR`` and
``--no-color`` honoured.

Text is text: the consoles never read rich markup or emoji codes, so a cluster name ``a[/b]`` or
a hint ``pip install 'portsync[emulators]'`` prints exactly as written. Only portsync's own fixed
strings carry style, as :class:`rich.text.Text` spans. Every diagnostic (error line, progress
line, traceback) goes through :func:`portsync.redact.redact` first.
"""

from __future__ import annotations

import os
import sys
import traceback as _traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from portsync.redact import redact

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

__all__ = ["LiveStatus", "Output", "literal"]


def literal(message: str, style: str = "") -> Text:
    """``message`` as inert rich text: brackets are characters, never markup."""
    from rich.text import Text

    return Text(message, style=style)


class LiveStatus:
    """A live status line on the terminal; each update is redacted and printed literally."""

    def __init__(self, status: Any) -> None:
        self._status = status

    def update(self, message: str) -> None:
        """Show ``message`` as the status."""
        self._status.update(literal(redact(message)))

    def stop(self) -> None:
        """Hide the line (while a prompt talks to the terminal)."""
        self._status.stop()

    def start(self) -> None:
        """Show the line again."""
        self._status.start()


@dataclass
class Output:
    """Where messages go: results to stdout, diagnostics to stderr."""

    color: bool = True
    quiet: bool = False
    #: ``--compact``: JSON documents (JSON, SARIF) on one line each, for log pipelines.
    compact: bool = False
    _consoles: dict[str, Console] = field(default_factory=dict, repr=False)

    def _console(self, stream: str) -> Console:
        # rich is imported on first use so `portsync --help` does not pay for it.
        if stream not in self._consoles:
            from rich.console import Console

            no_color = not self.color or bool(os.environ.get("NO_COLOR"))
            # markup=False, emoji=False: a str is printed as the characters it holds — names,
            # paths and cloud messages may contain "[/x]" or ":smile:".
            common: dict[str, Any] = {
                "no_color": no_color,
                "highlight": False,
                "soft_wrap": True,
                "markup": False,
                "emoji": False,
            }
            if stream == "out":
                # CI logs are wide; rich's 80-column fallback would squeeze tables unreadably.
                width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "140"))
                console = Console(width=width, **common)
            else:
                console = Console(stderr=True, **common)
            self._consoles[stream] = console
        return self._consoles[stream]

    @property
    def out(self) -> Console:
        """The stdout console."""
        return self._console("out")

    @property
    def err(self) -> Console:
        """The stderr console."""
        return self._console("err")

    def raw(self, text: str) -> None:
        """Machine output (JSON, SARIF, markdown): written verbatim (JSON on one line if compact)."""
        if self.compact and text.lstrip()[:1] in ("{", "["):
            import json

            text = json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
        sys.stdout.write(text)
        if not text.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()

    def print(self, *objects: object) -> None:
        """Human output on stdout; a str is printed literally (never as markup)."""
        self.out.print(*(literal(o) if isinstance(o, str) else o for o in objects))

    def info(self, message: str) -> None:
        """A progress note on stderr, silenced by --quiet."""
        if not self.quiet:
            self.err.print(literal(redact(message), style="dim"))

    def warning(self, message: str) -> None:
        """One warning line on stderr; shown under --quiet too (it is about safety, not
        progress)."""
        line = literal("warning:", style="bold yellow")
        line.append(" " + redact(message))
        self.err.print(line)

    def error(self, message: str) -> None:
        """One error line on stderr."""
        line = literal("error:", style="bold red")
        line.append(" " + redact(message))
        self.err.print(line)

    def traceback(self, exc: BaseException) -> None:
        """The traceback of ``exc`` on stderr (``--debug``), redacted."""
        text = "".join(_traceback.format_exception(exc))
        sys.stderr.write(redact(text))
        sys.stderr.flush()

    @contextmanager
    def status(self, label: str) -> Iterator[LiveStatus]:
        """A live status line on stderr, showing ``label`` until the first update."""
        with self.err.status(literal(redact(label))) as status:
            yield LiveStatus(status)

    @property
    def interactive(self) -> bool:
        """Whether stdin and stdout are terminals."""
        return sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty()
