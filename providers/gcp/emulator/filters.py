"""The list filter language of ``firewalls.list`` and ``globalOperations.list``: a parser and an
evaluator over one resource."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from .errors import _ApiError, _invalid
from .routes import Json

_FIREWALL_FILTER_FIELDS: Final[Mapping[str, str]] = {
    "allowed.IPProtocol": "string",
    "allowed.ports": "string",
    "creationTimestamp": "string",
    "denied.IPProtocol": "string",
    "denied.ports": "string",
    "description": "string",
    "destinationRanges": "string",
    "direction": "string",
    "disabled": "boolean",
    "id": "integer",
    "kind": "string",
    "logConfig.enable": "boolean",
    "logConfig.metadata": "string",
    "name": "string",
    "network": "string",
    "priority": "integer",
    "selfLink": "string",
    "sourceRanges": "string",
    "sourceServiceAccounts": "string",
    "sourceTags": "string",
    "targetServiceAccounts": "string",
    "targetTags": "string",
}
_OPERATION_FILTER_FIELDS: Final[Mapping[str, str]] = {
    "clientOperationId": "string",
    "endTime": "string",
    "httpErrorStatusCode": "integer",
    "id": "integer",
    "insertTime": "string",
    "kind": "string",
    "name": "string",
    "operationType": "string",
    "progress": "integer",
    "selfLink": "string",
    "startTime": "string",
    "status": "string",
    "targetId": "integer",
    "targetLink": "string",
    "user": "string",
}

_REGEX_OPS: Final = frozenset({"eq", "ne"})
_FIELD_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_OP_RE: Final = re.compile(r"!=|>=|<=|=|>|<|:|(?:eq|ne)(?=\s)")
_SINGLE_REGEX_RE: Final = re.compile(
    r"\s*(?P<field>[A-Za-z_][A-Za-z0-9_.]*)\s+(?P<op>eq|ne)\s+(?P<value>.*?)\s*", re.DOTALL
)


@dataclasses.dataclass(frozen=True, slots=True)
class _Comparison:
    field: str
    op: str
    value: str


@dataclasses.dataclass(frozen=True, slots=True)
class _Junction:
    kind: str  # "and" | "or" | "not"
    terms: tuple[_Node, ...]


_Node = _Comparison | _Junction


def _filter_error(text: str, why: str) -> _ApiError:
    return _invalid("filter", text, f"Invalid list filter expression: {why}")


class _FilterParser:
    """Parses the subset of Compute list filters the emulator understands.

    Two families, never mixed in one filter: AIP-160 comparisons (``=``,
    ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``:``) joined by ``AND``/``OR``/
    ``NOT``, parentheses and implicit AND (``OR`` binds tighter than ``AND``);
    and regular-expression comparisons (``eq``/``ne``) as one unparenthesised
    expression or several parenthesised ones.
    """

    def __init__(self, text: str, fields: Mapping[str, str]) -> None:
        self.text = text
        self.fields = fields
        self.pos = 0

    def parse(self) -> _Node:
        single = _SINGLE_REGEX_RE.fullmatch(self.text)
        if single is not None and not self.text.lstrip().startswith("("):
            value = _unquote(single.group("value"))
            node: _Node = self._comparison(single.group("field"), single.group("op"), value)
        else:
            node = self._conjunction()
            self._skip()
            if self.pos != len(self.text):
                raise _filter_error(self.text, f"unexpected text at offset {self.pos}")
        ops = {c.op for c in _comparisons(node)}
        if ops & _REGEX_OPS and ops - _REGEX_OPS:
            raise _filter_error(
                self.text, "regular-expression (eq/ne) and AIP-160 comparisons cannot be mixed"
            )
        return node

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _keyword(self, word: str) -> bool:
        self._skip()
        end = self.pos + len(word)
        if self.text.startswith(word, self.pos) and (
            end == len(self.text) or self.text[end].isspace() or self.text[end] == "("
        ):
            self.pos = end
            return True
        return False

    def _conjunction(self) -> _Node:
        terms = [self._disjunction()]
        while True:
            self._skip()
            if self.pos >= len(self.text) or self.text[self.pos] == ")":
                break
            self._keyword("AND")
            terms.append(self._disjunction())
        return terms[0] if len(terms) == 1 else _Junction("and", tuple(terms))

    def _disjunction(self) -> _Node:
        terms = [self._unary()]
        while self._keyword("OR"):
            terms.append(self._unary())
        return terms[0] if len(terms) == 1 else _Junction("or", tuple(terms))

    def _unary(self) -> _Node:
        self._skip()
        if self._keyword("NOT"):
            return _Junction("not", (self._unary(),))
        if self.text.startswith("-", self.pos):
            self.pos += 1
            return _Junction("not", (self._unary(),))
        if self.text.startswith("(", self.pos):
            self.pos += 1
            node = self._conjunction()
            self._skip()
            if not self.text.startswith(")", self.pos):
                raise _filter_error(self.text, "missing ')'")
            self.pos += 1
            return node
        return self._parse_comparison()

    def _parse_comparison(self) -> _Comparison:
        field = _FIELD_RE.match(self.text, self.pos)
        if field is None:
            raise _filter_error(self.text, f"expected a field name at offset {self.pos}")
        self.pos = field.end()
        self._skip()
        op = _OP_RE.match(self.text, self.pos)
        if op is None:
            raise _filter_error(self.text, f"expected an operator after '{field.group()}'")
        self.pos = op.end()
        self._skip()
        return self._comparison(field.group(), op.group(), self._value())

    def _value(self) -> str:
        if self.pos >= len(self.text):
            raise _filter_error(self.text, "missing value")
        quote = self.text[self.pos]
        if quote in "\"'":
            end = self.text.find(quote, self.pos + 1)
            if end < 0:
                raise _filter_error(self.text, "unterminated string")
            value = self.text[self.pos + 1 : end]
            self.pos = end + 1
            return value
        start, depth = self.pos, 0
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char.isspace() and depth == 0:
                break
            if char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    break
                depth -= 1
            self.pos += 1
        if self.pos == start:
            raise _filter_error(self.text, "missing value")
        return self.text[start : self.pos]

    def _comparison(self, field: str, op: str, value: str) -> _Comparison:
        kind = self.fields.get(field)
        if kind is None:
            raise _filter_error(self.text, f"unknown field '{field}'")
        if op in _REGEX_OPS:
            try:
                re.compile(value)
            except re.error as exc:
                raise _filter_error(self.text, f"bad regular expression ({exc})") from None
        elif op == ":" and value == "*":
            pass
        elif "*" in value:
            raise _filter_error(self.text, "wildcards are not supported by the emulator")
        elif kind == "integer" and not re.fullmatch(r"-?\d+", value):
            raise _filter_error(self.text, f"'{field}' takes an integer")
        elif kind == "boolean" and value.lower() not in ("true", "false"):
            raise _filter_error(self.text, f"'{field}' takes true or false")
        return _Comparison(field, op, value)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _comparisons(node: _Node) -> Iterator[_Comparison]:
    if isinstance(node, _Comparison):
        yield node
    else:
        for term in node.terms:
            yield from _comparisons(term)


def _field_values(resource: Json, path: str) -> list[Any]:
    current: list[Any] = [resource]
    for part in path.split("."):
        found: list[Any] = []
        for item in current:
            if isinstance(item, dict) and part in item:
                value = item[part]
                found.extend(value if isinstance(value, list) else [value])
        current = found
    return current


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _compare(kind: str, actual: Any, op: str, wanted: str) -> bool:
    left: Any
    right: Any
    if kind == "integer":
        left, right = int(actual), int(wanted)
    elif kind == "boolean":
        left, right = _text(actual), wanted.lower()
    else:
        left, right = _text(actual), wanted
    if op in ("=", ":"):
        return bool(left == right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _matches(node: _Node, resource: Json, fields: Mapping[str, str]) -> bool:
    if isinstance(node, _Junction):
        if node.kind == "not":
            return not _matches(node.terms[0], resource, fields)
        results = (_matches(term, resource, fields) for term in node.terms)
        return all(results) if node.kind == "and" else any(results)
    values = _field_values(resource, node.field)
    kind = fields[node.field]
    if node.op in _REGEX_OPS:
        candidates = [_text(v) for v in values] or [""]
        hit = any(re.fullmatch(node.value, text) for text in candidates)
        return hit if node.op == "eq" else not hit
    if node.op == ":" and node.value == "*":
        return bool(values)
    if node.op == "!=":
        return not any(_compare(kind, v, "=", node.value) for v in values)
    return any(_compare(kind, v, node.op, node.value) for v in values)
