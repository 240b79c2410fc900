"""The listing's NSG bodies are exactly what the SDK's own ``as_dict`` gives for the models of
the same NSGs: random NSGs over real HTTPS, several pages, a retried page, the SDK's errors, the
SDK's own request, hostile answers, and the model path with the conversion it falls back to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("azure.mgmt.network")

from azure.core.exceptions import HttpResponseError

from portsync.errors import ProviderError
from portsync.providers.azure.adapter import AzureAdapter, make_client
from portsync.providers.azure.emulator import AzureEmulator
from portsync.providers.azure.listing import list_pages, nsg_pages
from tests.reliability.endpoints import CannedEndpoint

from .conftest import SUBSCRIPTION_ID

RG = "list-rg"
ASGS = ("web-asg", "db-asg")


def _asg_id(name: str) -> str:
    return (
        f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{RG}/providers/"
        f"Microsoft.Network/applicationSecurityGroups/{name}"
    )


_cidr = st.sampled_from(["10.0.0.0/8", "10.1.2.0/24", "192.0.2.7/32", "2001:db8::/32", "::/0"])
_tag = st.sampled_from(["*", "VirtualNetwork", "Internet", "AzureLoadBalancer", "Storage.WestEU"])
_port = st.one_of(
    st.just("*"),
    st.integers(0, 65535).map(str),
    st.tuples(st.integers(0, 30000), st.integers(0, 30000)).map(lambda p: f"{min(p)}-{max(p)}"),
)


@st.composite
def _side(draw: st.DrawFn, side: str) -> dict[str, Any]:
    """One side's addresses and ports, in one of the shapes ARM accepts."""
    out: dict[str, Any] = {}
    shape = draw(st.sampled_from(["prefix", "tag", "prefixes", "asgs"]))
    if shape == "prefix":
        out[f"{side}AddressPrefix"] = draw(_cidr)
    elif shape == "tag":
        out[f"{side}AddressPrefix"] = draw(_tag)
    elif shape == "prefixes":
        out[f"{side}AddressPrefixes"] = draw(st.lists(_cidr, min_size=1, max_size=3))
    else:
        names = draw(st.lists(st.sampled_from(ASGS), min_size=1, max_size=2, unique=True))
        out[f"{side}ApplicationSecurityGroups"] = [{"id": _asg_id(n)} for n in names]
    if draw(st.booleans()):
        out[f"{side}PortRange"] = draw(_port)
    else:
        out[f"{side}PortRanges"] = draw(st.lists(_port, min_size=1, max_size=3))
    return out


@st.composite
def _rule(draw: st.DrawFn, index: int) -> dict[str, Any]:
    props: dict[str, Any] = {
        "protocol": draw(st.sampled_from(["Tcp", "Udp", "Icmp", "Esp", "Ah", "*"])),
        "access": draw(st.sampled_from(["Allow", "Deny"])),
        "direction": draw(st.sampled_from(["Inbound", "Outbound"])),
        "priority": 100 + index,
        **draw(_side("source")),
        **draw(_side("destination")),
    }
    if draw(st.booleans()):
        props["description"] = draw(st.text(max_size=40))
    return {"name": f"rule-{index}", "properties": props}


@st.composite
def _nsgs(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 5))
    out = []
    for n in range(count):
        rules = [draw(_rule(i)) for i in range(draw(st.integers(0, 4)))]
        tags = draw(
            st.none()
            | st.dictionaries(st.sampled_from(["team", "env", "ünï"]), st.text(max_size=8))
        )
        out.append({"name": f"nsg-{n}", "rules": rules, "tags": tags})
    return out


def _seed(emulator: AzureEmulator, nsgs: list[dict[str, Any]]) -> None:
    emulator.clear()
    for name in ASGS:
        emulator.seed_asg(SUBSCRIPTION_ID, RG, name)
    for nsg in nsgs:
        emulator.seed_nsg(SUBSCRIPTION_ID, RG, nsg["name"], rules=nsg["rules"], tags=nsg["tags"])


def _sdk_bodies(client: Any) -> list[dict[str, Any]]:
    """The NSGs as the SDK's own pager and models give them."""
    return [model.as_dict() for model in client.network_security_groups.list(RG)]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(nsgs=_nsgs())
def test_random_nsgs_list_as_the_sdk_converts_them(
    azure_emulator: AzureEmulator, network_client: Any, nsgs: list[dict[str, Any]]
) -> None:
    azure_emulator.page_size = 2
    _seed(azure_emulator, nsgs)
    pages = list(nsg_pages(network_client, SUBSCRIPTION_ID, RG))
    assert [p.more for p in pages] == [True] * (len(pages) - 1) + [False]
    assert len(pages) == -(-len(nsgs) // 2)
    listed = [body for page in pages for body in page.bodies]
    assert listed == _sdk_bodies(network_client)
    assert sorted(b["name"] for b in listed) == sorted(n["name"] for n in nsgs)
    for body in listed:
        stored = azure_emulator.get_nsg(SUBSCRIPTION_ID, RG, body["name"])
        assert body == stored  # what the emulator serves, value for value
    # The model path (the fallback) gives the same.
    model_pages = list(list_pages(network_client.network_security_groups, RG))
    assert [b for page in model_pages for b in page.bodies] == listed
    for page in model_pages:
        assert page.bodies == [model.as_dict() for model in page.models]


def test_the_requests_are_the_sdks_own(azure_emulator: AzureEmulator, network_client: Any) -> None:
    azure_emulator.page_size = 1
    _seed(azure_emulator, [{"name": f"nsg-{i}", "rules": [], "tags": None} for i in range(3)])

    def requests() -> list[tuple[str, str, dict[str, str], str | None]]:
        return [
            (r.method, r.path, dict(r.query), r.headers.get("accept"))
            for r in azure_emulator.requests
            if r.operation == "nsg.list"
        ]

    azure_emulator.reset()
    _sdk_bodies(network_client)
    sdk = requests()
    azure_emulator.reset()
    list(nsg_pages(network_client, SUBSCRIPTION_ID, RG))
    assert requests() == sdk
    assert len(sdk) == 3  # one request a page


def test_a_retried_page_is_the_answer_that_succeeded(
    azure_emulator: AzureEmulator, network_client: Any
) -> None:
    azure_emulator.page_size = 1
    _seed(azure_emulator, [{"name": f"nsg-{i}", "rules": [], "tags": None} for i in range(3)])
    # A page is refused once before it is served: the client's retry policy gets it.
    azure_emulator.inject("server_error", route="nsg.list", status=503, times=1)
    pages = list(nsg_pages(network_client, SUBSCRIPTION_ID, RG))
    assert [body["name"] for page in pages for body in page.bodies] == ["nsg-0", "nsg-1", "nsg-2"]
    assert azure_emulator.calls.snapshot().get("nsg.list", 0) == 4
    azure_emulator.inject("server_error", route="nsg.list", status=503, times=1)
    model_pages = list(list_pages(network_client.network_security_groups, RG))
    assert [page.bodies for page in model_pages] == [page.bodies for page in pages]


def _raised(call: Any) -> BaseException:
    try:
        call()
    except Exception as exc:  # the SDK's error, whatever its class
        return exc
    raise AssertionError("nothing was raised")


@pytest.mark.parametrize(
    "fault", ["server_error 500", "server_error 503", "throttle", "unauthorised"]
)
def test_an_answer_other_than_200_raises_the_sdks_error(
    azure_emulator: AzureEmulator, make_network_client: Callable[..., Any], fault: str
) -> None:
    _seed(azure_emulator, [{"name": "nsg-0", "rules": [], "tags": None}])
    client = make_network_client(retry_total=0)
    if fault == "unauthorised":
        # No credentials at all: the emulator answers 401, which the SDK maps to its own class.
        azure_emulator.require_auth = True
        client = make_client(
            subscription_id=SUBSCRIPTION_ID,
            endpoint=azure_emulator.base_url,
            ca_bundle=azure_emulator.ca_bundle_path,
            anonymous=True,
        )

    def fail() -> None:
        kind, _, status = fault.partition(" ")
        if kind in ("server_error", "throttle"):
            azure_emulator.inject(kind, route="nsg.list", status=int(status) if status else None)

    fail()
    sdk = _raised(lambda: list(client.network_security_groups.list(RG)))
    fail()
    ours = _raised(lambda: list(nsg_pages(client, SUBSCRIPTION_ID, RG)))
    assert isinstance(ours, HttpResponseError)
    assert type(ours) is type(sdk)
    assert ours.status_code == sdk.status_code  # type: ignore[attr-defined]
    assert str(ours) == str(sdk)
    assert ours.error is not None and ours.error.code == sdk.error.code  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"value": "nsg-0"}', "is not Azure Resource Manager JSON"),
        (b'{"value": [1, 2]}', "is not Azure Resource Manager JSON"),
        (b'["nsg-0"]', "is not Azure Resource Manager JSON"),
        (b'{"value": [], "nextLink": 7}', "is not Azure Resource Manager JSON"),
        (b"not json at all", "is not Azure Resource Manager JSON"),
        (
            b'{"value": [], "nextLink": "https://collector.example/page2"}',
            "nextLink leads to https://collector.example",
        ),
        (
            b'{"value": [{"name": "cp-nsg", "properties": {"securityRules": "abc"}}]}',
            "properties.securityRules is not a list",
        ),
        (
            b'{"value": [{"name": "cp-nsg", "properties": {"securityRules": ["abc"]}}]}',
            "properties.securityRules[0] is not an object",
        ),
        (
            b'{"value": [{"name": "cp-nsg", "properties": {"securityRules": [{"name": "r", "properties": "p"}]}}]}',
            "properties.securityRules[0].properties is not an object",
        ),
        (
            b'{"value": [{"name": "cp-nsg", "properties": {"securityRules": [{"name": "r", "properties": {"access": "Allow", "sourceAddressPrefixes": 7}}]}}]}',
            "properties.securityRules[0].properties.sourceAddressPrefixes is not a list",
        ),
        (
            b'{"value": [{"name": "cp-nsg", "properties": {"securityRules": [], "defaultSecurityRules": 5}}]}',
            "properties.defaultSecurityRules is not a list",
        ),
        (
            b'{"value": [{"name": "cp-nsg", "properties": []}]}',
            "NSG 'cp-nsg' does not have Azure Resource Manager's shape: its properties are not an object",
        ),
        (
            b'{"value": [{"name": 5, "properties": {}}]}',
            "an NSG does not have Azure Resource Manager's shape: its name is not a string",
        ),
    ],
    ids=[
        "value not a list",
        "items not objects",
        "not an object",
        "nextLink",
        "not json",
        "away",
        "rules not a list",
        "rule not an object",
        "rule properties",
        "prefixes not a list",
        "defaults not a list",
        "properties not an object",
        "name not text",
    ],
)
def test_a_hostile_listing_is_one_clear_error(body: bytes, message: str) -> None:
    with CannedEndpoint(200, body, content_type="application/json") as canned:
        client = make_client(subscription_id=SUBSCRIPTION_ID, endpoint=canned.url, anonymous=True)
        adapter = AzureAdapter(
            client, subscription_id=SUBSCRIPTION_ID, resource_group=RG, endpoint=canned.url
        )
        with pytest.raises(ProviderError) as caught:
            list(adapter.nsg_pages())
        count = canned.count
    assert message in str(caught.value)
    assert count == 1  # nothing followed, nothing retried
