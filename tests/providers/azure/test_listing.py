"""The listing's NSG bodies are exactly what the SDK's own ``as_dict`` gives for the models it
built from the same response: random NSGs over real HTTPS, several pages, retried pages, and
the conversion it falls back to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("azure.mgmt.network")

from azure.core.exceptions import HttpResponseError

from portsync.providers.azure.emulator import AzureEmulator
from portsync.providers.azure.listing import list_pages, page_bodies

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
    pages = list(list_pages(network_client.network_security_groups, RG))
    assert [p.more for p in pages] == [True] * (len(pages) - 1) + [False]
    assert len(pages) == -(-len(nsgs) // 2)
    for page in pages:
        assert page.from_response  # the response's own JSON, not the fallback conversion
        assert page.bodies == [model.as_dict() for model in page.models]
    listed = [body for page in pages for body in page.bodies]
    assert sorted(b["name"] for b in listed) == sorted(n["name"] for n in nsgs)
    for body in listed:
        stored = azure_emulator.get_nsg(SUBSCRIPTION_ID, RG, body["name"])
        assert body == stored  # what the emulator serves, value for value


def test_a_retried_page_is_the_answer_that_succeeded(
    azure_emulator: AzureEmulator, network_client: Any
) -> None:
    azure_emulator.page_size = 1
    _seed(azure_emulator, [{"name": f"nsg-{i}", "rules": [], "tags": None} for i in range(3)])
    # A page is refused once before it is served: the SDK's retry gets it.
    azure_emulator.inject("server_error", route="nsg.list", status=503, times=1)
    pages = list(list_pages(network_client.network_security_groups, RG))
    assert [body["name"] for page in pages for body in page.bodies] == ["nsg-0", "nsg-1", "nsg-2"]
    for page in pages:
        assert page.from_response
        assert page.bodies == [model.as_dict() for model in page.models]
    assert azure_emulator.calls.snapshot().get("nsg.list", 0) >= 4


def test_a_page_that_keeps_failing_raises_the_sdk_error(
    azure_emulator: AzureEmulator, strict_network_client: Any
) -> None:
    _seed(azure_emulator, [{"name": "nsg-0", "rules": [], "tags": None}])
    azure_emulator.inject("server_error", route="nsg.list", status=500, times=1)
    with pytest.raises(HttpResponseError) as caught:
        list(list_pages(strict_network_client.network_security_groups, RG))
    assert caught.value.status_code == 500


class _Answer:
    """An HTTP answer whose body is ``parsed`` (``None``: not JSON)."""

    def __init__(self, parsed: Any) -> None:
        self.parsed = parsed

    def json(self) -> Any:
        if self.parsed is None:
            raise ValueError("not JSON")
        return self.parsed


def _models(network_client: Any) -> list[Any]:
    return [
        model
        for page in list_pages(network_client.network_security_groups, RG)
        for model in page.models
    ]


@pytest.mark.parametrize(
    "answer",
    [
        lambda bodies: None,
        lambda bodies: _Answer(None),
        lambda bodies: _Answer([]),
        lambda bodies: _Answer({"value": bodies[:1]}),
        lambda bodies: _Answer({"value": list(reversed(bodies))}),
        lambda bodies: _Answer({"value": ["nsg-0", "nsg-1"]}),
    ],
    ids=["no answer", "not json", "not an object", "fewer", "other order", "not objects"],
)
def test_a_page_the_answer_does_not_match_is_converted_from_its_models(
    azure_emulator: AzureEmulator, network_client: Any, answer: Callable[[list[Any]], Any]
) -> None:
    _seed(
        azure_emulator,
        [{"name": f"nsg-{i}", "rules": [], "tags": {"i": str(i)}} for i in range(2)],
    )
    models = _models(network_client)
    expected = [model.as_dict() for model in models]
    bodies, from_response = page_bodies(models, answer(expected))
    assert not from_response
    assert bodies == expected
    assert all(type(body) is dict for body in bodies)
