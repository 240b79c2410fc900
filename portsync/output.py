"""The only module that writes to the terminal.

Rich consoles for humans; plain text when stdout is not a terminal (CI), with ``NO_COLOR`` and
``--no-color`` honoured.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Output"]


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
            if stream == "out":
                # CI logs are wide; rich's 80-column fallback would squeeze tables unreadably.
                width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "140"))
                console = Console(no_color=no_color, highlight=False, soft_wrap=True, width=width)
            else:
                console = Console(stderr=True, no_color=no_color, highlight=False, soft_wrap=True)
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
        """Human output on stdout."""
        self.out.print(*objects)

    def info(self, message: str) -> None:
        """A progress note on stderr, silenced by --quiet."""
        if not self.quiet:
            self.err.print(f"[dim]{message}[/dim]")

    def error(self, message: str) -> None:
        """One error line on stderr."""
        self.err.print(f"[bold red]error:[/bold red] {message}", markup=True, highlight=False)

    @property
    def interactive(self) -> bool:
        """Whether stdin and stdout are terminals."""
        return sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty()
