"""protect: matchers and what they do to a plan's operations."""

from __future__ import annotations

import pytest

from portsync.config import parse_config
from portsync.errors import ConfigError
from portsync.model import Endpoint, PortRange, Protocol, TargetRule
from portsync.ops import CreateRuleOp, DeleteRuleOp, UpdateRuleOp
from portsync.protect import Protector, protect_ops


def _rule(port: int, **kw: object) -> TargetRule:
    return TargetRule(
        target="sg-1",
        protocol=Protocol.TCP,
        ports=PortRange(port, port),
        peer=Endpoint.parse("cidr:10.0.0.0/8"),
        **kw,  # type: ignore[arg-type]
    )


def _protectors(yaml_text: str) -> list[Protector]:
    return parse_config(yaml_text).config.protectors()


def test_tag_key_and_key_value() -> None:
    by_key = _protectors("protect: [{tag: team}]")
    by_value = _protectors("protect: [{tag: team=net}]")
    tagged = _rule(22, tags=(("team", "net"),))
    other = _rule(22, tags=(("team", "web"),))
    assert by_key[0].matches(tagged) and by_key[0].matches(other)
    assert by_value[0].matches(tagged) and not by_value[0].matches(other)
    assert not by_key[0].matches(_rule(22))


def test_every_part_of_an_entry_must_match() -> None:
    (both,) = _protectors("protect: [{description: '^kops', name: '^sgr-1'}]")
    assert both.matches(_rule(22, description="kops ssh", native_id="sgr-123"))
    assert not both.matches(_rule(22, description="kops ssh", native_id="sgr-999"))
    assert not both.matches(_rule(22, description="web", native_id="sgr-123"))
    assert not both.matches(_rule(22, description="kops ssh"))


def test_removals_and_updates_of_protected_rules_are_dropped_additions_kept() -> None:
    (protector,) = _protectors("protect: [{description: keep}]")
    kept_live = _rule(22, description="keep me")
    gone_live = _rule(80, description="other")
    ops = [
        DeleteRuleOp(kept_live),
        DeleteRuleOp(gone_live),
        UpdateRuleOp(kept_live, kept_live.replace(description="x")),
        CreateRuleOp(_rule(443, description="keep new")),
    ]
    left, protected = protect_ops(ops, [kept_live, gone_live], [protector])
    assert left == [ops[1], ops[3]]
    assert protected == [kept_live]
    assert protect_ops(ops, [kept_live], []) == (ops, [])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{}", "at least one of tag, description or name"),
        ("{description: '('}", "not a regular expression"),
        ("{colour: red}", "colour"),
        ("{name: " + "a" * 201 + "}", "at most 200"),
    ],
)
def test_bad_entries_are_config_errors(entry: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(f"protect: [{entry}]")
