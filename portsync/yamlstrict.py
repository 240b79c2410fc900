"""Strict YAML: what the file shows is what portsync reads.

Every YAML document portsync reads (the config, a catalog's front matter) goes through
:func:`load`, which differs from PyYAML's ``safe_load`` in five ways:

* **Duplicate keys are refused**, naming both lines: with ``mode: owned`` … ``mode: exclusive``
  plain YAML silently keeps the last one.
* **YAML 1.2 core scalars**: ``true``/``false`` (any case form YAML 1.2 lists) are the only
  booleans — ``yes``, ``no``, ``on``, ``off`` are text; integers are decimal, ``0o`` octal or
  ``0x`` hexadecimal — ``010250`` is 10250, not the YAML 1.1 octal 4264; there are no base-60
  numbers (``1:47:23`` is text, not 6443) and no timestamps; digits are ASCII only.
* **Only plain data**: mappings, sequences, strings, numbers, booleans and null. Other tags
  (``!!binary``, ``!!set``, ``!!timestamp``, ``!!python/…``) and merge keys (``<<``) are refused.
* **Bounded**: the text is at most :data:`MAX_BYTES`; nesting is at most :data:`MAX_DEPTH`
  deep; aliases may repeat at most :data:`MAX_ALIAS_NODES` nodes in all, so an alias bomb (a
  few lines that expand to billions of nodes) is refused in milliseconds, before anything is
  built from it.
* **Mapping keys are scalars**: a sequence or mapping as a key is refused.

The C parser (libyaml) is used when PyYAML has it; the rules are the same without it.
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar

import yaml
from yaml.resolver import BaseResolver

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "StrictYamlError",
    "load",
]

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_ALIAS_NODES = 10_000

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"


class StrictYamlError(yaml.MarkedYAMLError):
    """A document strict YAML refuses; ``problem_mark`` is where, ``hint`` how to fix it."""

    def __init__(self, problem: str, mark: Any = None, *, hint: str = "") -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.hint = hint


# --- YAML 1.2 core schema ------------------------------------------------------------------------

_INT_DEC = re.compile(r"^[-+]?[0-9]+$")
_INT_OCT = re.compile(r"^0o[0-7]+$")
_INT_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT_RE = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


class _Resolver(BaseResolver):
    """The YAML 1.2 core schema's implicit types, and nothing else."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 - PyYAML's per-class registry


_Resolver.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Resolver.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_Resolver.add_implicit_resolver(_FLOAT, _FLOAT_RE, list("-+0123456789."))
_Resolver.add_implicit_resolver(_NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])


class _Constructor(yaml.constructor.BaseConstructor):
    """Builds plain data only, refusing duplicate keys and non-scalar keys."""

    # PyYAML's per-class registries (filled below; no multi-constructors: every tag is listed).
    yaml_constructors: ClassVar[dict[Any, Any]] = {}
    yaml_multi_constructors: ClassVar[dict[Any, Any]] = {}
    #: Lines before the document in its file (front matter after a heading), for messages.
    line_offset = 0

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise StrictYamlError(f"expected a mapping, found {node.id}", node.start_mark)
        mapping: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise StrictYamlError(
                    "a mapping key must be plain text or a number, not a list or a mapping",
                    key_node.start_mark,
                    hint="write the key as text",
                )
            if key_node.tag == _STR and not key_node.style and key_node.value == "<<":
                raise StrictYamlError(
                    "merge keys (<<) are not supported",
                    key_node.start_mark,
                    hint="write the keys out; an anchor and alias (&name, *name) can still "
                    "repeat a whole value",
                )
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1 + self.line_offset
            if key in first_line:
                raise StrictYamlError(
                    f"duplicate key {key_node.value!r} on lines {first_line[key]} and {line}",
                    key_node.start_mark,
                    hint="YAML keeps only one of them; remove the other",
                )
            first_line[key] = line
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _construct_map(loader: _Constructor, node: Any) -> Any:
    data: dict[Any, Any] = {}
    yield data
    data.update(loader.construct_mapping(node))


def _construct_seq(loader: _Constructor, node: Any) -> Any:
    data: list[Any] = []
    yield data
    data.extend(loader.construct_sequence(node))


def _construct_str(loader: _Constructor, node: Any) -> str:
    return str(loader.construct_scalar(node))


def _construct_null(loader: _Constructor, node: Any) -> None:
    value = loader.construct_scalar(node)
    if value not in ("", "~", "null", "Null", "NULL"):
        raise StrictYamlError(f"{value!r} is not null", node.start_mark)
    return None


def _construct_bool(loader: _Constructor, node: Any) -> bool:
    value = str(loader.construct_scalar(node))
    if value in ("true", "True", "TRUE"):
        return True
    if value in ("false", "False", "FALSE"):
        return False
    raise StrictYamlError(f"{value!r} is not true or false", node.start_mark)


def _construct_int(loader: _Constructor, node: Any) -> int:
    value = str(loader.construct_scalar(node))
    if _INT_DEC.match(value):
        return int(value, 10)
    if _INT_OCT.match(value):
        return int(value[2:], 8)
    if _INT_HEX.match(value):
        return int(value[2:], 16)
    raise StrictYamlError(f"{value!r} is not an integer", node.start_mark)


def _construct_float(loader: _Constructor, node: Any) -> float:
    value = str(loader.construct_scalar(node))
    if not _FLOAT_RE.match(value):
        raise StrictYamlError(f"{value!r} is not a number", node.start_mark)
    lowered = value.lower()
    if lowered.endswith(".inf"):
        return -math.inf if lowered.startswith("-") else math.inf
    if lowered == ".nan":
        return math.nan
    return float(value)


def _construct_other(loader: _Constructor, node: Any) -> Any:
    raise StrictYamlError(
        f"the tag {node.tag} is not allowed here",
        node.start_mark,
        hint="write plain values: text, numbers, true/false, lists and mappings",
    )


_Constructor.yaml_constructors = {
    _MAP: _construct_map,
    _SEQ: _construct_seq,
    _STR: _construct_str,
    _NULL: _construct_null,
    _BOOL: _construct_bool,
    _INT: _construct_int,
    _FLOAT: _construct_float,
    None: _construct_other,  # every other tag
}


# libyaml's parser and composer (C) when PyYAML was built with it: much faster on large configs.
_CParser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)

if _CParser is not None:

    class _Loader(_CParser, _Constructor, _Resolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _Constructor.__init__(self)
            _Resolver.__init__(self)

else:  # pragma: no cover - PyYAML built without libyaml

    class _Loader(  # type: ignore[no-redef]
        yaml.reader.Reader,
        yaml.scanner.Scanner,
        yaml.parser.Parser,
        yaml.composer.Composer,
        _Constructor,
        _Resolver,
    ):
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            _Constructor.__init__(self)
            _Resolver.__init__(self)


def _check_shape(root: yaml.Node) -> None:
    """Refuse documents nested deeper than MAX_DEPTH or whose aliases repeat more than
    MAX_ALIAS_NODES nodes; linear in the distinct nodes, however far the aliases expand."""
    # Post-order over distinct nodes (an alias is the same node object reached twice).
    expanded: dict[int, int] = {}
    depth: dict[int, int] = {}
    distinct = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    seen: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        if done:
            expanded[key] = 1 + sum(expanded[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if depth[key] > MAX_DEPTH:
                raise StrictYamlError(
                    f"the document is nested more than {MAX_DEPTH} levels deep",
                    node.start_mark,
                    hint="no portsync file needs that; check the file",
                )
            if expanded[key] - distinct > MAX_ALIAS_NODES:
                raise StrictYamlError(
                    f"aliases repeat more than {MAX_ALIAS_NODES:,} nodes",
                    node.start_mark,
                    hint="write the values out, or use fewer aliases",
                )
            continue
        if key in seen:
            continue
        seen.add(key)
        distinct += 1
        stack.append((node, True))
        for child in children:
            if id(child) not in seen:
                stack.append((child, False))
    total = expanded[id(root)]
    if total - distinct > MAX_ALIAS_NODES:
        raise StrictYamlError(
            f"aliases repeat more than {MAX_ALIAS_NODES:,} nodes",
            root.start_mark,
            hint="write the values out, or use fewer aliases",
        )


def load(
    text: str, *, max_bytes: int = MAX_BYTES, line_offset: int = 0
) -> tuple[Any, yaml.Node | None]:
    """Parse one strict YAML document.

    Args:
        text: the document.
        max_bytes: the largest document accepted, in UTF-8 bytes.
        line_offset: lines of the file before the document, so that lines named in messages
            are the file's (marks stay relative to the document).

    Returns:
        The data (None for an empty document) and the composed node tree (line numbers).

    Raises:
        yaml.YAMLError: invalid YAML; :class:`StrictYamlError` (a subclass) for what strict
            YAML refuses. ``problem`` and ``problem_mark`` say what and where.
    """
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise StrictYamlError(
            f"the document is over the {max_bytes // 1024:,} KiB cap",
            hint="no portsync file needs that; check the file",
        )
    loader = _Loader(text)
    loader.line_offset = line_offset
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise StrictYamlError(
                f"the document is nested more than {MAX_DEPTH} levels deep",
                hint="no portsync file needs that; check the file",
            ) from None
        if node is None:
            return None, None
        _check_shape(node)
        return loader.construct_document(node), node
    finally:
        loader.dispose()
