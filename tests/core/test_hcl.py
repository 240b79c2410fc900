"""portsync.export.hcl: any text a cloud or config holds is written as one literal HCL string
that python-hcl2 parses back to the same text (no interpolation, no line break), and names
that are not HCL identifiers are refused or quoted."""

from __future__ import annotations

import json

import hcl2
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from portsync.export.hcl import Attribute, Block, Reference, format_blocks, quote


def _literal(text: str) -> str:
    """The text of an HCL string literal as python-hcl2 returns it (quotes and escapes kept)."""
    assert text.startswith('"') and text.endswith('"'), text
    return json.loads('"' + text[1:-1].replace("$${", "${").replace("%%{", "%{") + '"')


def _open_template(text: str) -> bool:
    """Whether ``text`` has a ``${`` or ``%{`` with no ``}`` after it.

    Doubled (``$${``), that is valid HCL, but python-hcl2 8 fails to parse an escaped sigil
    that no brace closes later in the string. The escaping itself is checked for such text by
    ``test_templates_and_controls_are_escaped`` below.
    """
    for sigil in ("${", "%{"):
        at = text.find(sigil)
        while at != -1:
            if "}" not in text[at + 2 :]:
                return True
            at = text.find(sigil, at + 1)
    return False


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_any_text_round_trips_as_one_literal(text: str) -> None:
    assume(not _open_template(text))
    block = Block("resource", ("kind", text), (Attribute("description", text),))
    written = format_blocks([block])
    assert written.count("\n") == 3, "a string never breaks the line"
    data = hcl2.loads(written)
    ((label, body),) = data["resource"][0]['"kind"'].items()
    assert _literal(label) == text
    assert _literal(body["description"]) == text


@pytest.mark.parametrize(
    "text", ["${var.x}", "%{ if x }", "$${x}", 'a\\"b', "\u2028", "\x00", "${", "50%{"]
)
def test_templates_and_controls_are_escaped(text: str) -> None:
    quoted = quote(text)
    assert "${" not in quoted.replace("$${", "")
    assert "%{" not in quoted.replace("%%{", "")
    assert all(ord(c) >= 0x20 and c != "\u2028" for c in quoted)


def test_map_keys_are_quoted_unless_identifiers() -> None:
    text = format_blocks(
        [Block("x", (), (Attribute("tags", {"portsync:owner": "a", "Name": "b"}),))]
    )
    assert (
        text == 'x {\n  tags = {\n    "portsync:owner" = "a"\n    Name             = "b"\n  }\n}\n'
    )


@pytest.mark.parametrize("name", ["", "1abc", "a b", "a.b", 'a"'])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        Attribute(name, 1)
    with pytest.raises(ValueError):
        Block(name)


def test_references_are_bare_traversals_only() -> None:
    assert format_blocks([Block("import", (), (Attribute("to", Reference("a_b.c-d")),))]) == (
        "import {\n  to = a_b.c-d\n}\n"
    )
    with pytest.raises(ValueError):
        Reference('a.b"}\nresource')
