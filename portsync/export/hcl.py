"""Terraform configuration text, written the way ``terraform fmt`` leaves it.

Only what an export needs: blocks with quoted labels, attributes whose values are strings,
numbers, booleans, references, lists of those on one line, and maps of strings. The layout rules
``terraform fmt`` applies and this module follows:

* two spaces of indentation per nesting level;
* the ``=`` of consecutive single-line attributes aligned one space after the longest name (a
  multi-line value, such as a map, ends the run and is not aligned with it);
* map keys aligned the same way inside the map;
* a blank line before every nested block, and between top-level blocks;
* strings in double quotes, escaped so that nothing in them is read as an interpolation
  (``${`` and ``%{`` are doubled) or breaks the line.

Every string comes from a cloud or a config and is treated as hostile: nothing is written
unescaped, and identifiers that are not valid HCL names are quoted (map keys) or refused (labels
are always quoted; attribute and block names are portsync's own).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Attribute", "Block", "Reference", "Value", "format_blocks", "quote"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_TRAVERSAL = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)+\Z")
_SIMPLE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(frozen=True, slots=True)
class Reference:
    """A bare traversal such as ``aws_vpc_security_group_ingress_rule.api`` (not quoted)."""

    path: str

    def __post_init__(self) -> None:
        if not _TRAVERSAL.match(self.path):
            raise ValueError(f"{self.path!r} is not an HCL reference")


Scalar = str | int | bool | Reference
Value = Scalar | Sequence[str | int] | Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Attribute:
    """``name = value``."""

    name: str
    value: Value

    def __post_init__(self) -> None:
        if not _IDENTIFIER.match(self.name):
            raise ValueError(f"{self.name!r} is not an HCL attribute name")


@dataclass(frozen=True, slots=True)
class Block:
    """``type "label" ... { body }``."""

    type: str
    labels: tuple[str, ...] = ()
    body: tuple[Attribute | Block, ...] = field(default=())

    def __post_init__(self) -> None:
        if not _IDENTIFIER.match(self.type):
            raise ValueError(f"{self.type!r} is not an HCL block type")


def quote(text: str) -> str:
    """``text`` as an HCL string literal, with no interpolation and on one line."""
    out: list[str] = []
    for char in text:
        escaped = _SIMPLE_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 or char in "\u2028\u2029\ufeff":
            # Control characters and Unicode line breaks: a reader should never see them raw.
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    # Template sequences start with ${ and %{; doubling the sigil makes them literal text.
    return '"' + "".join(out).replace("${", "$${").replace("%{", "%%{") + '"'


def _scalar(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Reference):
        return value.path
    return quote(value)


def _key(name: str) -> str:
    return name if _IDENTIFIER.match(name) else quote(name)


def _single_line(value: Value) -> str | None:
    """The value on one line, or None when it is a non-empty map (written over several)."""
    if isinstance(value, Mapping):
        return "{}" if not value else None
    if isinstance(value, (str, int, bool, Reference)):
        return _scalar(value)
    return "[" + ", ".join(_scalar(v) for v in value) + "]"


def _aligned(pairs: Sequence[tuple[str, str]], indent: str) -> list[str]:
    width = max(len(name) for name, _ in pairs)
    return [f"{indent}{name.ljust(width)} = {text}" for name, text in pairs]


def _body(items: Sequence[Attribute | Block], depth: int) -> list[str]:
    indent = "  " * depth
    lines: list[str] = []
    run: list[tuple[str, str]] = []

    def flush() -> None:
        if run:
            lines.extend(_aligned(run, indent))
            run.clear()

    for item in items:
        if isinstance(item, Block):
            flush()
            if lines:
                lines.append("")
            lines.extend(_block(item, depth))
            continue
        text = _single_line(item.value)
        if text is not None:
            run.append((item.name, text))
            continue
        flush()
        assert isinstance(item.value, Mapping)
        lines.append(f"{indent}{item.name} = {{")
        entries = [(_key(k), quote(v)) for k, v in item.value.items()]
        lines.extend(_aligned(entries, indent + "  "))
        lines.append(f"{indent}}}")
    flush()
    return lines


def _block(block: Block, depth: int) -> list[str]:
    indent = "  " * depth
    head = " ".join([block.type, *(quote(label) for label in block.labels)])
    if not block.body:
        return [f"{indent}{head} {{", f"{indent}}}"]
    return [f"{indent}{head} {{", *_body(block.body, depth + 1), f"{indent}}}"]


def format_blocks(blocks: Sequence[Block]) -> str:
    """Top-level blocks separated by blank lines, ending in one newline."""
    parts = ["\n".join(_block(block, 0)) for block in blocks]
    return "\n\n".join(parts) + "\n" if parts else ""
