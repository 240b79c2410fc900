"""The core learns a cloud's spellings from the provider's ``syntax`` hook, never from its own
code: a provider installed in-process (here a fake registered through the entry-point group)
declares a native peer kind, and config parsing, resolution, the evaluator and the audit accept
it with no core edit; it declares a discovery and its scope options, and ``portsync init
--discover`` takes them with no core edit. The core's own modules hold no cloud literal."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import ClassVar

import pytest
import yaml
from typer.testing import CliRunner

from portsync import peers, registry
from portsync.audit import Reach, classify_peer
from portsync.cli import app
from portsync.config import parse_config
from portsync.discover import Found, ScopeKey, discover
from portsync.errors import ConfigError, InputError, UnsupportedFeatureError
from portsync.evaluate import Match, match_peer
from portsync.exposure import config_warnings, is_world
from portsync.model import (
    Endpoint,
    EndpointKind,
    Peer,
    PeerKind,
    PortRange,
    Protocol,
    Rule,
    RuleSet,
)
from portsync.peers import CloudSyntax, NativePeer
from portsync.resolve import native_endpoint, resolve_peer

ROOT = Path(__file__).resolve().parents[2]

#: The fake cloud's gateway peers: ``gw-<digits>``, or ``gw:everyone`` style names.
GATEWAY = EndpointKind("gw")


def _gateway_problem(value: str) -> str | None:
    if re.fullmatch(r"gw-[0-9]{1,8}|gw-world|gw-inside", value):
        return None
    return f"{value!r} is not a gateway id like gw-42 (digits after gw-)"


class FakeProvider:
    """A cloud the core has never heard of; only its class-level declaration is used here."""

    name: ClassVar[str] = "fakecloud"
    syntax: ClassVar[CloudSyntax] = CloudSyntax(
        peers=(
            NativePeer(
                kind=GATEWAY,
                cloud="FakeCloud",
                form="gw-<n>",
                what="a FakeCloud gateway (only FakeCloud rules can name one)",
                noun="gateway",
                written=re.compile(r"^gw-"),
                problem=_gateway_problem,
                addresses=True,
                unseen="gateway {value} keeps its addresses to itself",
                world=frozenset({"gw-world"}),
                internal=frozenset({"gw-inside"}),
            ),
        ),
        kinds=("fk-node",),
        markers=("(fake) ",),
    )


#: What the fake cloud's discovery was called with, one scope per call.
DISCOVERED: list[dict[str, object]] = []


def fake_discover(scope: Mapping[str, object]) -> list[Found]:
    """The fake cloud's discovery: one cluster in the zone it is asked about."""
    DISCOVERED.append(dict(scope))
    entry = {"name": "fk-prod", "provider": "fakecloud", "zone": scope["zone"]}
    entry["roles"] = {"worker": {"gateway": "gw-7"}}
    return [Found(name="fk-prod", tool="fakebuilder", entry=entry, evidence={"worker": "gw-7"})]


class DiscoveringProvider(FakeProvider):
    """The fake cloud, able to discover: a zone to read and a key file to sign with."""

    discover: ClassVar[str] = f"{__name__}:fake_discover"
    discover_scope: ClassVar[tuple[ScopeKey, ...]] = (
        ScopeKey(name="zone", help="FakeCloud zone to read", metavar="ZONE", required=True),
        ScopeKey(name="key_file", flag="key", help="key to sign with", locates=False),
    )


class TakesOut(FakeProvider):
    discover: ClassVar[str] = f"{__name__}:fake_discover"
    discover_scope: ClassVar[tuple[ScopeKey, ...]] = (ScopeKey(name="out", help="clash"),)


class ClaimsCidr:
    name: ClassVar[str] = "badcloud"
    syntax: ClassVar[CloudSyntax] = CloudSyntax(kinds=("cidr",))


class ClaimsSg:
    name: ClassVar[str] = "copycloud"
    syntax: ClassVar[CloudSyntax] = CloudSyntax(kinds=("sg",))


class WrongSyntax:
    name: ClassVar[str] = "oddcloud"
    syntax: ClassVar[dict[str, str]] = {"peers": "gw-"}


def _install(monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    """Install the built-in providers plus ``extra`` (name → class in this module)."""
    builtin = list(entry_points(group=registry.ENTRY_POINT_GROUP))
    added = [
        EntryPoint(name, f"{__name__}:{cls}", registry.ENTRY_POINT_GROUP)
        for name, cls in extra.items()
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: [*builtin, *added])
    _forget()


def _forget() -> None:
    registry._entry_points.cache_clear()
    registry.get_provider_class.cache_clear()
    peers.forget()
    from portsync import model

    model._parse_peer.cache_clear()


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield
    monkeypatch.undo()
    _forget()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> None:
    _install(monkeypatch, fakecloud="FakeProvider")


def test_without_the_provider_its_peer_is_not_a_peer(monkeypatch: pytest.MonkeyPatch) -> None:
    _install(monkeypatch)
    with pytest.raises(ValueError, match=r"peer 'gw-42' is not one of any, self") as err:
        Peer.parse("gw-42")
    # The list of forms is the installed providers' declarations.
    assert "sg-… or <account>/sg-… and pl-… (AWS)" in str(err.value)
    assert "service-tag:<Name> (Azure)" in str(err.value)
    with pytest.raises(ValueError, match="no installed provider has kind 'gw'"):
        Endpoint.parse("gw:gw-42")


@pytest.mark.usefixtures("fake")
def test_a_declared_native_peer_is_parsed_resolved_and_listed() -> None:
    peer = Peer.parse("gw-42")
    assert (peer.kind, str(peer)) == (PeerKind.NATIVE, "gw-42")
    assert native_endpoint(peer) == Endpoint(GATEWAY, "gw-42")
    assert Endpoint.parse("gw:gw-42") == Endpoint(GATEWAY, "gw-42")
    assert Endpoint.parse("fk-node:n1").kind == "fk-node"
    with pytest.raises(ValueError, match=r"gw-<n> \(FakeCloud\)"):
        Peer.parse("nothing-like-a-peer")


@pytest.mark.usefixtures("fake")
def test_the_config_accepts_the_declared_peer_and_explains_a_misspelling_its_way() -> None:
    loaded = parse_config(
        "sources: {all: [gw-7], load_balancers: [gw-8]}\n"
        "extra_rules: [{role: worker, protocol: tcp, ports: 9100, peer: gw-9}]\n"
    )
    assert loaded.config.sources.all == ("gw-7",)
    assert str(loaded.config.extra_rules[0].to_rules()[0].peer) == "gw-9"
    with pytest.raises(ConfigError, match=r"'gw-x' is not a gateway id like gw-42") as err:
        parse_config("sources: {all: [gw-x]}\n")
    assert str(err.value) == (
        "<defaults>:1: sources.all.0: 'gw-x' is not a gateway id like gw-42 (digits after gw-)"
    )


@pytest.mark.usefixtures("fake")
def test_a_cloud_without_the_kind_refuses_it_in_the_providers_words() -> None:
    rule = Rule(
        role="worker",
        protocol=Protocol.TCP,
        ports=PortRange(9100, 9100),
        peer=Peer.parse("gw-9"),
    )
    with pytest.raises(UnsupportedFeatureError) as err:
        resolve_peer(
            rule,
            cluster="prod",
            bindings={"worker": [Endpoint.cidr("10.0.0.0/8")]},
            sources_all=[],
            load_balancers=[],
            binding_keys="security_group",
            load_balancers_hint="",
            cloud="AWS",
            native=(),
        )
    assert str(err.value).startswith(
        "cluster prod: rule worker tcp 9100: peer gw-9 is a FakeCloud gateway (only FakeCloud "
        "rules can name one); AWS cannot write it"
    )


@pytest.mark.usefixtures("fake")
def test_a_cloud_writes_the_native_peers_it_declares_and_no_other() -> None:
    # The kinds a provider hands to resolve_peer are its declaration's, never a second list.
    assert peers.syntax("fakecloud").writable == (GATEWAY,)
    assert peers.syntax("aws").writable == ("sg", "pl")
    assert peers.syntax("azure").writable == ("service-tag",)
    assert peers.syntax("gcp").writable == ()
    rule = Rule(
        role="worker", protocol=Protocol.TCP, ports=PortRange(9100, 9100), peer=Peer.parse("gw-9")
    )
    common = {
        "cluster": "prod",
        "bindings": {"worker": [Endpoint.cidr("10.0.0.0/8")]},
        "sources_all": [],
        "load_balancers": [],
    }
    written = resolve_peer(rule, **common, native=peers.syntax("fakecloud").writable)
    assert written == [Endpoint(GATEWAY, "gw-9")]
    for other in ("aws", "azure", "gcp"):
        with pytest.raises(UnsupportedFeatureError, match="peer gw-9 is a FakeCloud gateway"):
            resolve_peer(rule, **common, native=peers.syntax(other).writable)


@pytest.mark.usefixtures("fake")
def test_the_evaluator_exposure_and_audit_ask_the_declaration() -> None:
    world, inside, other = (Endpoint(GATEWAY, v) for v in ("gw-world", "gw-inside", "gw-3"))
    public = Endpoint.cidr("0.0.0.0/0")
    assert is_world(world) and not is_world(inside)
    assert match_peer(public, world)[0] is Match.YES
    assert match_peer(public, inside, from_internet=True)[0] is Match.NO
    assert match_peer(Endpoint.cidr("10.0.0.1"), other) == (
        Match.UNKNOWN,
        "gateway gw-3 keeps its addresses to itself",
    )
    assert classify_peer(inside) is Reach.INTERNAL
    assert classify_peer(other) is Reach.UNKNOWN
    assert classify_peer(world) is Reach.WORLD
    loaded = parse_config("sources: {all: [gw-world]}\n")
    assert [line.split(" (")[0] for line in config_warnings(loaded)] == [
        "sources.all holds gw-world"
    ]


@pytest.mark.usefixtures("fake")
def test_the_markers_are_every_providers_own() -> None:
    assert "(fake) " in peers.markers()
    assert peers.syntax("fakecloud").markers == ("(fake) ",)
    assert peers.strip_marker("(fake) kubelet", peers.syntax("fakecloud").markers) == "kubelet"


@pytest.mark.parametrize(
    ("name", "cls", "message"),
    [
        ("badcloud", "ClaimsCidr", "provider 'badcloud' declares the endpoint kind 'cidr', which "),
        ("copycloud", "ClaimsSg", "providers 'aws' and 'copycloud' both declare the kind 'sg'"),
        ("oddcloud", "WrongSyntax", "provider 'oddcloud' declares a syntax that is not"),
    ],
)
def test_a_declaration_that_clashes_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str, cls: str, message: str
) -> None:
    _install(monkeypatch, **{name: cls})
    with pytest.raises(ConfigError, match=re.escape(message)):
        peers.known_kinds()


# -- discovery: the scope options are the provider's ----------------------------------------

runner = CliRunner()


@pytest.fixture
def discovering(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    _install(monkeypatch, fakecloud="DiscoveringProvider")
    DISCOVERED.clear()
    return DISCOVERED


def test_a_new_providers_discovery_takes_its_own_scope_options(
    discovering: list[dict[str, object]],
) -> None:
    result = runner.invoke(
        app, ["init", "--discover", "fakecloud", "--zone", "z1", "--key=k.pem", "--out", "-"]
    )
    assert result.exit_code == 0, result.output
    assert discovering == [
        {"zone": "z1", "key_file": "k.pem", "endpoint": None, "credentials": None}
    ]
    assert "reading fakecloud z1 (read-only)" in result.stderr  # the key file is not a place
    (cluster,) = yaml.safe_load(result.stdout)["clusters"]
    assert cluster == {
        "name": "fk-prod",
        "provider": "fakecloud",
        "zone": "z1",
        "roles": {"worker": {"gateway": "gw-7"}},
    }
    help_text = runner.invoke(app, ["init", "--help"]).stdout
    assert (
        "--zone ZONE" in help_text and "fakecloud: FakeCloud zone to read (required)" in help_text
    )
    assert "--region REGION" in help_text  # the built-in providers' options are listed the same way


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--discover", "fakecloud", "--zone", "z1", "--region", "eu-west-1"],
            "error: --discover fakecloud: '--region' is not an option fakecloud discovery reads "
            "(--region is read by aws) (fakecloud takes --zone ZONE, --key VALUE; see "
            "`portsync init --help`)\n",
        ),
        (
            ["--discover", "fakecloud", "--key", "k.pem"],
            "error: --discover fakecloud needs --zone (add --zone ZONE (FakeCloud zone to read))\n",
        ),
        (
            ["--discover", "fakecloud", "--zone"],
            "error: --discover fakecloud: --zone needs a value (e.g. --zone ZONE)\n",
        ),
        (
            ["--discover", "fakecloud", "--zone", "a", "--zone=b"],
            "error: --discover fakecloud: --zone is given twice (give it once)\n",
        ),
        (
            ["--discover", "nocloud", "--zone", "z1"],
            "error: --discover nocloud: no provider named 'nocloud' is installed (providers "
            "that can: aws, azure, fakecloud, gcp; a provider from another package is found "
            "once pip-installed)\n",
        ),
        (
            ["--zone", "z1"],
            "error: init: '--zone' is not an option of init without --discover (scope options "
            "such as --region go with --discover PROVIDER; see `portsync init --help`)\n",
        ),
    ],
)
def test_a_scope_option_the_provider_does_not_take_is_one_message_and_no_call(
    discovering: list[dict[str, object]], args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["init", *args, "--out", "-"])
    assert (result.exit_code, result.stderr, result.stdout) == (1, message, "")
    assert discovering == []


def test_the_discover_function_checks_the_scope_against_the_declaration_too(
    discovering: list[dict[str, object]],
) -> None:
    # Callers of portsync.discover.discover (not only the CLI) get the same checks, before the
    # provider's function runs.
    with pytest.raises(InputError, match=r"fakecloud discovery does not read region \(it reads"):
        discover("fakecloud", {"zone": "z1", "region": "eu-west-1"})
    with pytest.raises(InputError, match=r"^--discover fakecloud needs --zone "):
        discover("fakecloud", {"key_file": "k.pem", "endpoint": None})
    assert discovering == []
    (found,) = discover("fakecloud", {"zone": "z2", "credentials": "anonymous"})
    assert found.entry["zone"] == "z2"


def test_a_scope_key_that_takes_an_init_option_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _install(monkeypatch, fakecloud="TakesOut")
    result = runner.invoke(app, ["init", "--discover", "fakecloud", "--out", "-"])
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: provider 'fakecloud': the scope key 'out' takes the option --out, init's own"
    )


# -- the core holds no cloud's spelling ---------------------------------------------------------

#: Spellings of particular clouds: security groups, prefix lists, service tags, and the
#: description markers providers write.
CLOUD_LITERAL = re.compile(r"\bsg-|\bpl-[0-9a-z.]|service-tag|\[portsync\]|^portsync: ")


def _string_literals(path: Path) -> Iterator[tuple[int, str]]:
    """Every string constant of ``path`` except docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
        if is_text and id(node) not in docstrings:
            yield node.lineno, node.value


def test_the_literal_finder_finds_a_cloud_literal(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text('"""Docs may say sg-1."""\nX = "sg-1"\nY = f"{X}[portsync] "\n')
    found = [line for line, text in _string_literals(sample) if CLOUD_LITERAL.search(text)]
    assert found == [2, 3]


def test_the_core_holds_no_cloud_literal() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text[:60]!r}"
        for path in sorted((ROOT / "portsync").rglob("*.py"))
        for line, text in _string_literals(path)
        if CLOUD_LITERAL.search(text)
    ]
    assert found == []


def test_the_core_names_no_cloud_kind() -> None:
    # The kinds live in the providers (providers/<cloud>/peers.py); the core has cidr only.
    names = re.compile(r"\b(?:EndpointKind|PeerKind)\.(?!CIDR\b|ANY\b|SELF\b|ROLE\b)[A-Z_]+")
    allowed = re.compile(r"PeerKind\.(?:LOAD_BALANCERS|NATIVE)\b")
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "portsync").rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if names.search(allowed.sub("", line))
    ]
    assert found == []


# -- role order is the declared order -----------------------------------------------------------


def _on(role: str, port: int) -> Rule:
    return Rule(
        role=role, protocol=Protocol.TCP, ports=PortRange(port, port), peer=Peer.parse("any")
    )


def test_roles_keep_the_order_they_are_declared_in() -> None:
    # No role name is special: a table that names the workers first lists them first.
    rules = RuleSet(
        (_on("worker", 2), _on("bastion", 9), _on("control-plane", 1), _on("worker", 1))
    )
    assert [(r.role, r.ports_text) for r in rules] == [
        ("worker", "1"),
        ("worker", "2"),
        ("bastion", "9"),
        ("control-plane", "1"),
    ]
    picked = rules.for_roles(["control-plane", "worker"])
    assert [r.role for r in picked] == ["worker", "worker", "control-plane"]
