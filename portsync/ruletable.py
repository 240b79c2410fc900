"""The human table of neutral rules, laid out for the width it is printed at.

A port table is read on an 80-column terminal as often as in a wide CI log. The table therefore
decides its layout when rich renders it, from the width it is given:

* a column whose value is the same on every row (``direction`` when every rule is ingress) is left
  out, and the title says the value once;
* the purpose column wraps and never gets narrower than :data:`PURPOSE_MIN` characters;
* when the table would not fit with that much room for the purpose, the rules are shown one table
  per role (the role becomes a heading instead of a column); when even that is too wide, ports and
  peers fold onto a second line rather than squeezing the purpose.

Every cell is a :class:`rich.text.Text`, so text from a port table or a file name is printed
literally, never read as markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from portsync.model import Rule

__all__ = ["PURPOSE_MIN", "RulesTable"]

#: The purpose column is never narrower than this (a short sentence per line stays readable).
PURPOSE_MIN = 24

# The columns that can be left out when every row has the same value, in display order.
_COLUMNS: tuple[tuple[str, Callable[[Rule], str]], ...] = (
    ("role", lambda r: r.role),
    ("direction", lambda r: r.direction.value),
    ("protocol", lambda r: r.protocol.value),
    ("ports", lambda r: r.ports_text),
    ("peer", lambda r: str(r.peer)),
)
# Columns that may fold onto a second line when the terminal is narrow.
_FOLDABLE = frozenset({"ports", "peer"})
# Never left out: a table that drops its ports says nothing.
_KEPT = frozenset({"ports"})


@dataclass(frozen=True)
class RulesTable:
    """A rich renderable: the rules as a table that fits the width it is printed at."""

    rules: Sequence[Rule]
    title: str = ""

    def constant_columns(self) -> dict[str, str]:
        """Columns with one value on every row (two rows at least), and that value."""
        if len(self.rules) < 2:
            return {}
        constant: dict[str, str] = {}
        for name, cell in _COLUMNS:
            values = {cell(r) for r in self.rules}
            if name not in _KEPT and len(values) == 1:
                constant[name] = values.pop()
        return constant

    def _title(self, constant: dict[str, str]) -> Text | None:
        text = self.title
        if constant:
            same = ", ".join(f"{name} {value}" for name, value in constant.items())
            text = f"{text} (every rule: {same})" if text else f"every rule: {same}"
        return Text(text) if text else None

    def _table(
        self,
        rules: Sequence[Rule],
        columns: Sequence[str],
        *,
        title: Text | None,
        width: int | None = None,
    ) -> Table:
        """The table; with ``width``, ports and peers fold so that it fits in ``width``."""
        cells = dict(_COLUMNS)
        natural = _widths(rules, columns)
        if width is not None:
            natural = _squeeze(natural, columns, width - _overhead(len(columns)) - PURPOSE_MIN)
        table = Table(title=title, show_lines=False)
        for name in columns:
            if width is not None and name in _FOLDABLE:
                table.add_column(name, width=natural[name], overflow="fold")
            else:
                table.add_column(name, no_wrap=True)
        table.add_column("purpose", min_width=PURPOSE_MIN, overflow="fold")
        for rule in rules:
            table.add_row(*(Text(cells[c](rule)) for c in columns), Text(rule.purpose))
        return table

    def fit(self, width: int) -> list[Table | Text]:
        """The widest layout that fits ``width`` with the purpose at :data:`PURPOSE_MIN` or more.

        One table; else (when roles differ) one table per role; else ports and peers fold.
        """
        constant = self.constant_columns()
        title = self._title(constant)
        shown = [name for name, _ in _COLUMNS if name not in constant]
        if _needed(self.rules, shown) <= width:
            return [self._table(self.rules, shown, title=title)]
        if "role" not in shown:
            return [self._table(self.rules, shown, title=title, width=width)]
        shown.remove("role")
        parts: list[Table | Text] = [title] if title is not None else []
        for role in dict.fromkeys(r.role for r in self.rules):
            mine = [r for r in self.rules if r.role == role]
            heading = Text(f"role {role}: {len(mine)} rule{'' if len(mine) == 1 else 's'}")
            fits = _needed(mine, shown) <= width
            parts.append(self._table(mine, shown, title=heading, width=None if fits else width))
        return parts

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.fit(options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(PURPOSE_MIN, options.max_width)


def _widths(rules: Sequence[Rule], columns: Sequence[str]) -> dict[str, int]:
    """Each column's natural width: its widest cell or its header."""
    cells = dict(_COLUMNS)
    return {
        name: max([cell_len(name)] + [cell_len(cells[name](r)) for r in rules]) for name in columns
    }


def _overhead(columns: int) -> int:
    """Padding (a space either side of a cell) and borders of ``columns`` plus the purpose."""
    count = columns + 1
    return 2 * count + count + 1


def _needed(rules: Sequence[Rule], columns: Sequence[str]) -> int:
    """The width a table needs to show ``columns`` unwrapped and the purpose at its minimum.

    Computed rather than asked of rich: rich measures a no-wrap column by its longest word.
    """
    return sum(_widths(rules, columns).values()) + PURPOSE_MIN + _overhead(len(columns))


def _squeeze(widths: dict[str, int], columns: Sequence[str], budget: int) -> dict[str, int]:
    """Narrow the foldable columns, widest first, until ``columns`` fit in ``budget``.

    A folded column keeps room for its header (and at least 6 characters), so on a terminal
    too narrow even for that the table overflows rather than turning cells into slivers.
    """
    out = dict(widths)
    while sum(out.values()) > budget:
        foldable = [c for c in columns if c in _FOLDABLE and out[c] > max(len(c), 6)]
        if not foldable:
            break
        widest = max(foldable, key=lambda c: out[c])
        out[widest] -= 1
    return out
