"""Read port tables out of Markdown documents.

A *port table* is a Markdown table whose rows read, by column position::

    | Protocol | Direction | Port range | Purpose | Used by |

The parser finds such tables by the shape of their cells (a protocol word, a direction word, a
port or range), never by header words, so translated pages and unrelated tables on the same page
are handled alike. The role of a table comes from the nearest heading above it. Tables and
headings inside HTML comments, fenced code blocks and YAML front matter are not read.

Reading happens in two steps (load, then build): :func:`parse_document` yields :class:`PortRow`
values that carry ``file:line``, raising one :class:`~portsync.errors.PortTableError` listing every
bad row. What the rows mean as neutral rules (:func:`portsync.synthesis.rows_to_rules`) is the
synthesis' business, not the reader's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, TypeVar

from portsync.catalog import vocabulary as vocab
from portsync.catalog.options import Condition, parse_condition
from portsync.catalog.portspec import read_port_spec
from portsync.errors import PortTableError
from portsync.files import CATALOG_CAP, read_bounded
from portsync.model import (
    Direction,
    PortRange,
    Protocol,
    canonical_cidr,
    parse_protocol,
    slugify,
)

__all__ = [
    "FrontMatter",
    "PortRow",
    "clean_text",
    "front_matter",
    "parse_document",
    "parse_file",
    "read_text",
]

EtcdMode = Literal["stacked", "external"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PortRow:
    """One port of one role, as written in a port table (one protocol, one range).

    A table row listing ``TCP/UDP`` or several ports yields one ``PortRow`` per protocol and
    range, all with the row's line.
    """

    source: str
    line: int
    role: str
    protocol: Protocol
    direction: Direction
    ports: PortRange | None  # None for protocols without ports (ICMP, IP-in-IP …)
    purpose: str
    component: str | None = None
    used_by: tuple[str, ...] = ()
    #: When the row applies: catalog option terms that must all hold (empty: always).
    when: tuple[Condition, ...] = ()
    #: ICMP type and code (ICMP and ICMPv6 rows only; None: every type or code).
    icmp_type: int | None = None
    icmp_code: int | None = None

    @property
    def location(self) -> str:
        """``source:line`` of the row, for messages."""
        return f"{self.source}:{self.line}"


# --- text helpers ------------------------------------------------------------------------------

_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_REF_LINK = re.compile(r"!?\[([^\]]*)\]\[[^\]]*\]")
_HTML_TAG = re.compile(r"<[^>]*>")
_MARKS = re.compile(r"\\?\*|[†‡¹²³⁴⁵⁶⁷⁸⁹⁰]")
_ESCAPE = re.compile(r"\\([\\`_{}\[\]()#+\-.!|<>~])")


def clean_text(text: str) -> str:
    """Reduce Markdown cell or heading text to plain words.

    Links become their text, HTML tags and code backticks go, footnote marks (``†``, ``‡``,
    ``*``, ``**``, ``\\*``, superscript digits) are removed, escapes are undone and whitespace is
    collapsed.

    Args:
        text: raw Markdown.

    Returns:
        The plain text.

    Raises:
        Nothing.
    """
    text = _LINK.sub(r"\1", text)
    text = _REF_LINK.sub(r"\1", text)
    text = _HTML_TAG.sub(" ", text)
    text = _MARKS.sub("", text).replace("`", "")
    text = _ESCAPE.sub(r"\1", text)
    return " ".join(text.split())


_SENTENCE_BREAK = re.compile(r"(?<=[^\s.]{2}[.!?])\s+(?=[A-ZÀ-ÖØ-ÞА-ЯЁЄІЇҐ])|(?<=[。！？])(?=\S)")


def _first_sentence(text: str) -> str:
    """A purpose is a label: keep the first sentence of a cell that holds several."""
    head, *rest = _SENTENCE_BREAK.split(text, maxsplit=1)
    return head.rstrip(" .。") if rest else head


def _split_lines(text: str) -> list[str]:
    text = text.removeprefix("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


class FrontMatter(NamedTuple):
    """YAML front matter of a document: its text and the 1-based lines of its fences."""

    text: str
    start: int  # line of the opening ---
    end: int  # line of the closing --- (or ...)


def front_matter(text: str) -> FrontMatter | None:
    """Find the YAML front matter that opens a document.

    Args:
        text: the whole document.

    Returns:
        The front matter, or None when the first line is not ``---`` or no closing fence follows.

    Raises:
        Nothing.
    """
    lines = _split_lines(text)
    if not lines or lines[0].strip() != "---":
        return None
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            return FrontMatter("\n".join(lines[1:index]), 1, index + 1)
    return None


_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")


def _visible_lines(text: str) -> tuple[list[str], bool]:
    """The document's lines with front matter, fenced code and HTML comments blanked.

    Line numbers are kept (hidden text becomes empty strings). The flag tells whether a table
    delimiter row was hidden inside a comment, for the "no port table" hint.
    """
    lines = _split_lines(text)
    matter = front_matter(text)
    hidden_from = matter.end if matter else 0
    out: list[str] = []
    in_comment = False
    hidden_table = False
    fence: str | None = None
    for number, line in enumerate(lines, start=1):
        if number <= hidden_from:
            out.append("")
            continue
        if fence is not None:
            marker = line.strip()
            if marker.startswith(fence) and not marker.strip(fence[0]):
                fence = None
            out.append("")
            continue
        if not in_comment and (opening := _FENCE.match(line)):
            fence = opening.group(1)
            out.append("")
            continue
        visible: list[str] = []
        rest = line
        while rest:
            if in_comment:
                end = rest.find("-->")
                if end < 0:
                    if _DELIMITER.match(rest) and "|" in rest:
                        hidden_table = True
                    break
                rest, in_comment = rest[end + 3 :], False
            else:
                start = rest.find("<!--")
                if start < 0:
                    visible.append(rest)
                    break
                visible.append(rest[:start])
                rest, in_comment = rest[start + 4 :], True
        out.append("".join(visible))
    return out, hidden_table


_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_ANCHOR = re.compile(r"\{\s*#([^}\s]*)\s*\}")
_PIPE = re.compile(r"(?<!\\)\|")


def _cells(line: str) -> list[str]:
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return [cell.strip().replace("\\|", "|") for cell in _PIPE.split(body)]


# --- document structure ------------------------------------------------------------------------


@dataclass(slots=True)
class _Heading:
    title: str
    role: str
    #: Other names the section gives its machines, in parentheses: ``Master Nodes (master-sg)``.
    aliases: tuple[str, ...] = ()


@dataclass(slots=True)
class _Table:
    heading: _Heading | None
    line: int
    columns: int
    rows: list[tuple[int, list[str]]]
    header: list[str]

    @property
    def layout(self) -> dict[str, int] | None:
        """Columns named by the header, when the table is read by header rather than position.

        A header is read when it names where the ports are and whose machines the rule is for
        or who connects (Source, Host(s), Destination or Connection type), and its columns are
        not already in the Kubernetes order (which position reads, in every language).
        """
        found: dict[str, int] = {}
        for index, cell in enumerate(self.header):
            kind = _lookup(_HEADER_WORDS, clean_text(cell))
            if kind is not None and kind not in found:
                found[kind] = index
        has_ports = "port_protocol" in found or {"protocol", "ports"} <= found.keys()
        has_whom = bool(found.keys() & {"source", "hosts", "connection"})
        positional = (
            found.get("protocol") == 0
            and found.get("ports") == 2
            and found.get("direction") in (1, None)
        )
        if has_ports and has_whom and not positional:
            return found
        return None

    @property
    def when_column(self) -> int | None:
        """Index of the ``When`` column (a catalog's option conditions), if the header has one.

        Only a column after the five positional ones counts, so a header word can never take
        the place of Protocol … Used by."""
        for index, cell in enumerate(self.header):
            if index >= 5 and vocab.phrase_key(clean_text(cell)) in vocab.CONDITION_HEADERS:
                return index
        return None


_ROLE_WORDS = vocab.build_lookup(vocab.ROLE_HEADINGS)
_HEADER_WORDS = vocab.build_lookup(vocab.COLUMN_HEADERS)
_CONNECTION_WORDS = vocab.build_lookup(vocab.CONNECTION_TYPES)
_NODE_GROUP_WORDS = vocab.build_lookup(vocab.NODE_GROUPS)
#: The roles of every node, for "All nodes" in a Host(s), Destination or Source cell.
_EVERY_NODE = ("control-plane", "worker")
_USED_BY_WORDS = vocab.build_lookup(vocab.USED_BY)
_DIRECTION_WORDS = vocab.build_lookup(vocab.DIRECTIONS)
_PROTOCOL_SPLIT = re.compile(r"\s*(?:[/,+&、]|\band\b)\s*|\s+")
_PORTS_SHAPE = re.compile(
    r"^[0-9]+(?:\s*[-–—~]\s*[0-9]+)?(?:\s*[,、，]\s*[0-9]+(?:\s*[-–—~]\s*[0-9]+)?)*$"
)
_PORT_ITEM_SPLIT = re.compile(r"\s*[,、，]\s*")
_USED_BY_SPLIT = re.compile(r"\s*(?:[,、，;；]|<br\s*/?>)\s*", re.IGNORECASE)


_T = TypeVar("_T")


def _lookup(words: Mapping[str, _T], text: str) -> _T | None:
    return next((words[k] for k in vocab.lookup_keys(text) if k in words), None)


def _direction(text: str) -> Direction | None:
    return _lookup(_DIRECTION_WORDS, clean_text(text))


def _protocol_words(text: str) -> list[str]:
    return [w for w in _PROTOCOL_SPLIT.split(clean_text(text).casefold()) if w]


def _is_protocol_cell(text: str) -> bool:
    words = _protocol_words(text)
    known = vocab.PROTOCOLS.keys() | vocab.OTHER_PROTOCOLS
    return bool(words) and all(w in known for w in words)


def _is_ports_cell(text: str) -> bool:
    return bool(_PORTS_SHAPE.match(clean_text(text)))


def _looks_like_port_row(cells: list[str]) -> bool:
    """Two of three shapes in columns 1-3: protocol word, direction word, port or range."""
    if len(cells) < 3:
        return False
    score = (
        _is_protocol_cell(cells[0]) + (_direction(cells[1]) is not None) + _is_ports_cell(cells[2])
    )
    return score >= 2


_PARENTHESES = re.compile(r"\(([^)]*)\)")


def _heading_role(title: str, anchor: str | None) -> str:
    role = _lookup(_ROLE_WORDS, title)
    if role is None:
        # Upstream section titles: "Master Nodes (master-sg) Rules" names the control plane.
        bare = _PARENTHESES.sub(" ", title).strip(" :")
        for noise in vocab.HEADING_NOISE:
            if vocab.phrase_key(bare).endswith(f" {noise}"):
                bare = bare[: -len(noise)].strip(" :")
                break
        if bare != title:
            role = _lookup(_ROLE_WORDS, bare)
    if role is None and anchor:
        role = vocab.ANCHOR_ROLES.get(anchor.casefold())
    return role or slugify(title)


def _heading_aliases(title: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in _PARENTHESES.findall(title) if a.strip())


def _scan(lines: list[str]) -> list[_Table]:
    """Headings and tables of the visible document, port tables or not."""
    tables: list[_Table] = []
    heading: _Heading | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        match = _HEADING.match(line)
        if match:
            raw = match.group(2) or ""
            anchor = _ANCHOR.search(raw)
            title = clean_text(_ANCHOR.sub("", raw))
            role = _heading_role(title, anchor.group(1) if anchor else None)
            heading = _Heading(title, role, _heading_aliases(title))
            index += 1
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if "|" in line and "|" in following and _DELIMITER.match(following):
            table = _Table(heading, index + 1, len(_cells(following)), [], _cells(line))
            index += 2
            while index < len(lines):
                row = lines[index]
                if not row.strip() or "|" not in row or _HEADING.match(row):
                    break
                table.rows.append((index + 1, _cells(row)))
                index += 1
            tables.append(table)
            continue
        index += 1
    return tables


# --- rows --------------------------------------------------------------------------------------


_FIX_PROTOCOL = (
    "write TCP, UDP, SCTP, ICMP, ICMPv6, IPIP, ESP, AH, GRE or an IANA protocol number "
    "(TCP/UDP for both)"
)
_FIX_PORTLESS = "leave the port cell empty or write '-' (only TCP, UDP and SCTP carry ports)"
_FIX_ICMP = "write an ICMP type (8), a type and code (8/0), or '-' for every type"
_NO_PORTS = frozenset({"", "-", "—", "–", "n/a", "none", "all", "any"})
_ICMP_CELL = re.compile(r"^(?:type\s*)?([0-9]{1,3})(?:\s*/\s*(?:code\s*)?([0-9]{1,3}))?$")
_FIX_DIRECTION = "write Inbound or Outbound (or a translation: Ingress, 入站, Entrant, …)"
_FIX_PORTS = "write a port 1-65535 or a range like 30000-32767"


class _RowReader:
    """Turns the cells of a document's port tables into rows, collecting every problem."""

    def __init__(self, source: str, tables: list[_Table]) -> None:
        self.source = source
        self.problems: list[str] = []
        # Headings that own a port table may be named in "Used by": phrase key → role slug.
        self.role_headings: dict[str, str] = {}
        self.role_titles: list[str] = []
        for table in tables:
            if table.heading is None or not table.heading.role:
                continue
            if table.heading.title not in self.role_titles:
                self.role_titles.append(table.heading.title)
            for text in (table.heading.title, table.heading.role, *table.heading.aliases):
                for key in vocab.lookup_keys(text):
                    self.role_headings.setdefault(key, table.heading.role)

    def problem(self, line: int, what: str, fix: str) -> None:
        self.problems.append(f"{self.source}:{line}: {what} — {fix}")

    def read(self, table: _Table, role: str) -> list[PortRow]:
        layout = table.layout
        if layout is not None:
            return self._read_by_header(table, layout, role)
        rows: list[PortRow] = []
        for line, cells in table.rows:
            if not any(cells):
                continue
            if len(cells) < 3:
                self.problem(
                    line,
                    f"row has {len(cells)} cell(s)",
                    "a port row reads Protocol | Direction | Port range | Purpose | Used by",
                )
                continue
            cells = (cells + [""] * table.columns)[: table.columns]
            when_at = table.when_column
            when_cell = cells[when_at] if when_at is not None else ""
            rows.extend(
                self._row(line, cells, role, has_used_by=table.columns >= 5, when_cell=when_cell)
            )
        return rows

    def _row(
        self, line: int, cells: list[str], role: str, *, has_used_by: bool, when_cell: str = ""
    ) -> list[PortRow]:
        before = len(self.problems)
        when, problem = parse_condition(clean_text(when_cell))
        if problem:
            self.problem(line, problem, "see 'Catalog options' in docs/port-tables.md")
        protocols = self._protocols(line, cells[0])
        direction = _direction(cells[1])
        if direction is None:
            self.problem(line, f"direction {clean_text(cells[1])!r} is not known", _FIX_DIRECTION)
        targets = [t for protocol in protocols for t in self._targets(line, protocol, cells[2])]
        purpose = _first_sentence(clean_text(cells[3]))
        component = next(
            (name for name, pattern in vocab.COMPONENT_PATTERNS if pattern.search(purpose)), None
        )
        used_by = self._used_by(line, cells[4]) if has_used_by else vocab.IMPLIED_USED_BY[component]
        if len(self.problems) > before or direction is None:
            return []
        return [
            PortRow(
                source=self.source,
                line=line,
                role=role,
                protocol=protocol,
                direction=direction,
                ports=port_range,
                purpose=purpose,
                component=component,
                used_by=used_by,
                when=when,
                icmp_type=icmp_type,
                icmp_code=icmp_code,
            )
            for protocol, port_range, icmp_type, icmp_code in targets
        ]

    def _targets(
        self, line: int, protocol: Protocol, cell: str
    ) -> list[tuple[Protocol, PortRange | None, int | None, int | None]]:
        """What one protocol of a row opens, from its port cell."""
        if protocol.has_ports:
            return [(protocol, r, None, None) for r in self._ports(line, cell)]
        text = clean_text(cell).casefold()
        if text in _NO_PORTS:
            return [(protocol, None, None, None)]
        if protocol.is_icmp:
            match = _ICMP_CELL.match(text)
            if match and int(match.group(1)) <= 255 and int(match.group(2) or 0) <= 255:
                code = int(match.group(2)) if match.group(2) is not None else None
                return [(protocol, None, int(match.group(1)), code)]
            self.problem(line, f"{clean_text(cell)!r} is not an ICMP type or type/code", _FIX_ICMP)
            return []
        self.problem(
            line,
            f"protocol {protocol.value!r} carries no ports, not {clean_text(cell)!r}",
            _FIX_PORTLESS,
        )
        return []

    # --- tables read by header (upstream requirement pages) -----------------------------------

    def _read_by_header(self, table: _Table, layout: dict[str, int], role: str) -> list[PortRow]:
        rows: list[PortRow] = []
        for line, cells in table.rows:
            if not any(cells):
                continue
            cells = (cells + [""] * table.columns)[: table.columns]

            def cell(kind: str, cells: list[str] = cells) -> str | None:
                index = layout.get(kind)
                return clean_text(cells[index]) if index is not None else None

            rows.extend(self._header_row(line, cell, role))
        return rows

    def _header_row(self, line: int, cell: Callable[[str], str | None], role: str) -> list[PortRow]:
        before = len(self.problems)
        specs = self._port_specs(line, cell("port_protocol"), cell("protocol"), cell("ports"))
        direction = Direction.INGRESS
        if (text := cell("direction")) is not None:
            direction = _direction(text) or Direction.INGRESS
            if _direction(text) is None:
                self.problem(line, f"direction {text!r} is not known", _FIX_DIRECTION)
        elif (text := cell("connection")) is not None:
            found = _lookup(_CONNECTION_WORDS, text)
            if found is None:
                self.problem(
                    line,
                    f"connection type {text!r} is not known",
                    "write Bidirectional, Incoming or Outgoing",
                )
            direction = found or Direction.INGRESS
        roles: tuple[str, ...] = (role,)
        if (text := cell("hosts")) is not None:
            roles = self._node_groups(line, text, what="Host(s)/Destination")
        purpose = _first_sentence(cell("purpose") or "")
        component = next(
            (name for name, pattern in vocab.COMPONENT_PATTERNS if pattern.search(purpose)), None
        )
        source = cell("source")
        if source is None:
            # No Source column (Calico): the hosts accept every node of the cluster.
            used_by: tuple[str, ...] = tuple(f"role:{r}" for r in _EVERY_NODE)
        else:
            used_by = self._sources(line, source)
        if len(self.problems) > before:
            return []
        return [
            PortRow(
                source=self.source,
                line=line,
                role=target,
                protocol=protocol,
                direction=direction,
                ports=port_range,
                purpose=purpose,
                component=component,
                used_by=used_by,
                icmp_type=icmp_type,
                icmp_code=icmp_code,
            )
            for target in roles
            for protocol, port_range, icmp_type, icmp_code in specs
        ]

    def _port_specs(
        self, line: int, combined: str | None, protocol: str | None, ports: str | None
    ) -> list[tuple[Protocol, PortRange | None, int | None, int | None]]:
        text = combined if combined is not None else f"{protocol or ''} {ports or ''}"
        if combined is None and ports is not None and protocol is not None:
            # Separate columns: "TCP" and "2379-2380", or "ICMP" and "8/0".
            words = _protocol_words(protocol)
            text = " ".join(f"{w} {ports}" if w in ("tcp", "udp", "sctp") else w for w in words)
            if any(w.startswith("icmp") for w in words):
                text += f" {ports}"
        specs = read_port_spec(text)
        if not specs:
            self.problem(
                line,
                f"{clean_text(text)!r} names no protocol and port portsync can read",
                "write e.g. TCP 179, 8472/udp, UDP 4789 or ICMP 8/0",
            )
            return []
        out: list[tuple[Protocol, PortRange | None, int | None, int | None]] = []
        for spec in specs:
            known = vocab.PROTOCOLS.get(spec.protocol)
            if known is None:
                self.problem(line, f"protocol {spec.protocol!r} is not known", _FIX_PROTOCOL)
            elif known.has_ports:
                out.extend((known, r, None, None) for r in self._ports(line, spec.ports or ""))
            else:
                out.append((known, None, spec.icmp_type, spec.icmp_code))
        return out

    def _node_groups(self, line: int, text: str, *, what: str) -> tuple[str, ...]:
        roles: list[str] = []
        for part in (p for p in (clean_text(x) for x in _USED_BY_SPLIT.split(text)) if p):
            group = _lookup(_NODE_GROUP_WORDS, part)
            if group is None:
                role = _lookup(self.role_headings, _PARENTHESES.sub(" ", part).strip())
                group = role
            if group is None:
                self.problem(
                    line,
                    f"{part!r} in {what} does not name machines portsync knows",
                    "use All nodes, Servers / Control plane, Agents / Worker nodes, or a role "
                    "heading of this document",
                )
                continue
            for role in _EVERY_NODE if group == "*" else (group,):
                if role not in roles:
                    roles.append(role)
        return tuple(roles)

    def _sources(self, line: int, text: str) -> tuple[str, ...]:
        symbols: list[str] = []
        for part in (p for p in (clean_text(x) for x in _USED_BY_SPLIT.split(text)) if p):
            bare = _PARENTHESES.sub(" ", part).strip()
            if vocab.phrase_key(part).endswith("(self)") and self._symbol(bare) is not None:
                part = bare  # "master-sg (self)": the role named, which is the row's own
            symbol = self._symbol(part) or self._symbol(bare)
            found: tuple[str, ...]
            if symbol is not None:
                found = (symbol,)
            else:
                group = _lookup(_NODE_GROUP_WORDS, bare)
                if group is None:
                    self.problem(
                        line, f"{part!r} in Source is not a known peer", self._used_by_hint()
                    )
                    continue
                found = tuple(f"role:{r}" for r in (_EVERY_NODE if group == "*" else (group,)))
            symbols.extend(s for s in found if s not in symbols)
        if not symbols and not text.strip():
            self.problem(line, "the Source cell is empty", self._used_by_hint())
        return tuple(symbols)

    def _protocols(self, line: int, cell: str) -> list[Protocol]:
        protocols: list[Protocol] = []
        for word in _protocol_words(cell) or [""]:
            protocol = vocab.PROTOCOLS.get(word)
            if protocol is None and word.isdigit():
                protocol = parse_protocol(word)
            if protocol is None:
                what = (
                    f"protocol {clean_text(cell)!r} is not supported in port tables"
                    if word in vocab.OTHER_PROTOCOLS
                    else f"protocol {clean_text(cell)!r} is not known"
                )
                self.problem(line, what, _FIX_PROTOCOL)
                return []
            if protocol not in protocols:
                protocols.append(protocol)
        return protocols

    def _ports(self, line: int, cell: str) -> list[PortRange]:
        text = clean_text(cell)
        ranges: list[PortRange] = []
        for item in _PORT_ITEM_SPLIT.split(text) if text else [""]:
            try:
                port_range = PortRange.parse(item)
            except ValueError as exc:
                what = str(exc) if item.isdigit() or "-" in item else None
                self.problem(line, what or f"{item!r} is not a port or port range", _FIX_PORTS)
                continue
            if port_range.from_port == 0:
                self.problem(line, f"port 0 in {item!r} cannot be opened", _FIX_PORTS)
                continue
            ranges.append(port_range)
        return ranges

    def _used_by(self, line: int, cell: str) -> tuple[str, ...]:
        symbols: list[str] = []
        parts = [clean_text(p) for p in _USED_BY_SPLIT.split(cell)]
        parts = [p for p in parts if p]
        if not parts:
            self.problem(line, "the Used by cell is empty", self._used_by_hint())
        for part in parts:
            symbol = self._symbol(part)
            if symbol is None:
                self.problem(line, f"{part!r} in Used by is not a known peer", self._used_by_hint())
            elif symbol not in symbols:
                symbols.append(symbol)
        return tuple(symbols)

    def _symbol(self, word: str) -> str | None:
        symbol = _lookup(_USED_BY_WORDS, word)
        if symbol is not None:
            return symbol
        role = _lookup(self.role_headings, word)
        if role is not None:
            return f"role:{role}"
        if any(ch.isdigit() for ch in word) and ("." in word or ":" in word):
            try:
                return f"cidr:{canonical_cidr(word)}"
            except ValueError:
                return None
        return None

    def _used_by_hint(self) -> str:
        words = ", ".join(vocab.USED_BY_EXAMPLES)
        hint = f"use {words} (or a translation), a CIDR like 10.0.0.0/8"
        if self.role_titles:
            hint += f", or a role heading of this document: {', '.join(self.role_titles)}"
        return hint


def parse_document(text: str, *, source: str = "<string>") -> list[PortRow]:
    """Read every port table of a Markdown document.

    Args:
        text: the document.
        source: where it came from, used in ``PortRow.source`` and in messages.

    Returns:
        The rows, in document order.

    Raises:
        PortTableError: the document has no port table, or some rows cannot be read; the error
            lists every problem as ``file:line: what is wrong — how to fix``.
    """
    lines, hidden_table = _visible_lines(text)
    tables = [
        t
        for t in _scan(lines)
        if (t.columns >= 4 and any(_looks_like_port_row(cells) for _, cells in t.rows))
        or (t.columns >= 3 and t.layout is not None and t.rows)
    ]
    if not tables:
        note = " (tables inside HTML comments are not read)" if hidden_table else ""
        raise PortTableError(
            f"{source}:1: no port table found{note} — add a Markdown table with the columns "
            "Protocol | Direction | Port range | Purpose | Used by under a heading that names "
            "the role, e.g. '## Control plane' (see docs/port-tables.md)",
            source=source,
        )
    reader = _RowReader(source, tables)
    rows: list[PortRow] = []
    for table in tables:
        if table.heading is None or not table.heading.role:
            reader.problem(
                table.line,
                "this port table has no heading naming its role",
                "put a heading such as '## Control plane' or '## Database nodes' above it",
            )
            continue
        rows.extend(reader.read(table, table.heading.role))
    if reader.problems:
        count = len(reader.problems)
        raise PortTableError(
            f"{source}: {count} problem{'s' if count > 1 else ''} in port tables, nothing loaded:",
            problems=reader.problems,
            source=source,
        )
    return rows


def read_text(path: str | Path) -> str:
    """Read a port-table document as UTF-8 (a leading byte-order mark is allowed).

    Args:
        path: the file.

    Returns:
        Its text.

    Raises:
        PortTableError: the file is missing, unreadable or not UTF-8 (``file:line`` given).
    """
    path = Path(path)
    data = read_bounded(
        path,
        limit=CATALOG_CAP,
        what="the port table",
        error=PortTableError,
        hint="check the path and permissions",
    )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PortTableError(
            f"{path}:{line}: the file is not valid UTF-8 — save it as UTF-8",
            source=str(path),
        ) from exc


def parse_file(path: str | Path) -> list[PortRow]:
    """Read every port table of a Markdown file.

    Args:
        path: the file (UTF-8).

    Returns:
        The rows, in document order, with ``source`` set to ``str(path)``.

    Raises:
        PortTableError: the file is unreadable or not UTF-8, has no port table, or has rows that
            cannot be read.
    """
    return parse_document(read_text(path), source=str(path))
