"""Catalog options: the mode choices of a port table that change which ports it needs.

A catalog declares its options in its front matter::

    options:
      encapsulation:
        values: [ipip, vxlan, none]
        default: ipip
        about: How pod traffic crosses between nodes.
      typha:
        values: [false, true]
        default: false

and marks the rows that depend on them in a ``When`` column (the sixth column of a port table,
found by its header)::

    | Protocol | Direction | Port range | Purpose     | Used by | When                        |
    | UDP      | Inbound   | 4789       | VXLAN       | …       | encapsulation=vxlan         |
    | TCP      | Inbound   | 179        | BGP         | …       | encapsulation=ipip/none     |
    | TCP      | Inbound   | 5473       | Typha       | …       | typha                       |

A row without a condition is always needed. A condition is one or more terms separated by ``,``
or ``and``, all of which must hold: ``name=value``, ``name=value/value`` (any of them; ``|``
works too outside a Markdown table), ``name``
(a boolean option that is true) or ``!name`` (one that is false). Values are compared as lower
case text, so ``true`` in a table matches ``true`` (or YAML's ``true``) in the config.

This module reads conditions and options and picks rows; it never reads a file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "BOOLEAN_VALUES",
    "CatalogOption",
    "Condition",
    "matches",
    "option_text",
    "parse_condition",
    "resolve_choices",
]

#: The values of an on/off option, as written in a table and accepted in the config.
BOOLEAN_VALUES = ("false", "true")

#: One term of a row's condition: the option and the values under which the row applies.
Condition = tuple[str, frozenset[str]]

_NAME = r"[a-z][a-z0-9_-]*"
_TERM = re.compile(
    rf"^(?:(?P<neg>!|not\s+)?(?P<flag>{_NAME})|(?P<key>{_NAME})\s*=\s*(?P<vals>.+))$"
)
_TERM_SPLIT = re.compile(r"\s*,\s*|\s+and\s+", re.IGNORECASE)
_VALUE_SPLIT = re.compile(r"[|/]")
_ALWAYS = frozenset({"", "-", "—", "always", "any"})


def option_text(value: object) -> str:
    """The comparable text of an option value from YAML or the command line.

    ``True`` → ``true``, ``" VXLAN "`` → ``vxlan``, ``5`` → ``5``.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower()


def parse_condition(text: str) -> tuple[tuple[Condition, ...], str | None]:
    """Read the text of a ``When`` cell.

    Args:
        text: the cell, cleaned of Markdown.

    Returns:
        ``(terms, None)``, or ``((), problem)`` when the text is not a condition. An empty cell,
        ``-`` or ``always`` is the empty condition (the row always applies).

    Raises:
        Nothing.
    """
    cell = " ".join(text.split()).lower()
    if cell in _ALWAYS:
        return (), None
    terms: list[Condition] = []
    for part in _TERM_SPLIT.split(cell):
        match = _TERM.match(part)
        if not match:
            return (), (
                f"condition {part!r} is not readable — write option=value, option=a|b, option "
                "(a true flag) or !option, joined by commas"
            )
        if match.group("flag"):
            value = "false" if match.group("neg") else "true"
            terms.append((match.group("flag").replace("-", "_"), frozenset({value})))
        else:
            values = frozenset(
                v.strip() for v in _VALUE_SPLIT.split(match.group("vals")) if v.strip()
            )
            if not values:
                return (), f"condition {part!r} names no value — write option=value"
            terms.append((match.group("key").replace("-", "_"), values))
    return tuple(terms), None


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogOption:
    """One declared option of a catalog."""

    name: str
    values: tuple[str, ...]
    default: str
    about: str = ""

    @property
    def is_flag(self) -> bool:
        """Whether the option is on/off."""
        return set(self.values) == set(BOOLEAN_VALUES)

    def describe(self) -> str:
        """``encapsulation: ipip|vxlan|none (default ipip)``."""
        return f"{self.name}: {'|'.join(self.values)} (default {self.default})"


def resolve_choices(
    declared: Sequence[CatalogOption], chosen: Mapping[str, object], *, catalog: str
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Fill the defaults in and check every chosen option and value.

    Args:
        declared: the catalog's options.
        chosen: what the user asked for, option name → value (``-`` and ``_`` alike).
        catalog: the catalog's name, for messages.

    Returns:
        ``(choices, problems)``: every declared option's value, and one ``(option as given,
        message)`` per unknown option or value (each message says what is accepted). Choices are only complete when there
        are no problems.

    Raises:
        Nothing.
    """
    by_name = {option.name: option for option in declared}
    choices = {option.name: option.default for option in declared}
    problems: list[tuple[str, str]] = []
    for raw_name, raw_value in chosen.items():
        name = str(raw_name).strip().lower().replace("-", "_")
        option = by_name.get(name)
        if option is None:
            known = ", ".join(o.describe() for o in declared) or "none"
            problems.append(
                (
                    str(raw_name),
                    f"catalog {catalog!r} has no option {raw_name!r} — its options: {known}",
                )
            )
            continue
        value = option_text(raw_value)
        if value not in option.values:
            problems.append(
                (
                    str(raw_name),
                    f"{catalog} option {option.name}={value!r} is not one of "
                    f"{'|'.join(option.values)} — choose one of them",
                )
            )
            continue
        choices[name] = value
    return choices, problems


def matches(when: Iterable[Condition], choices: Mapping[str, str]) -> bool:
    """Whether a row with condition ``when`` applies under ``choices``."""
    return all(choices.get(name) in values for name, values in when)
