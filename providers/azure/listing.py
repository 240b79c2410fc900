"""One paged ``networkSecurityGroups.list`` through the SDK, each page as the REST JSON it came in.

The SDK parses each page's JSON and builds a model for every NSG, rule and nested object of it;
portsync reads plain dicts, and turning the models back into dicts (:mod:`.convert`) walks every
value a second time: at 1,000 NSGs of 20 rules, most of what portsync's read adds to the list
call itself. The generated operation passes each HTTP response to azure-core's per-call
``raw_response_hook`` before it deserialises the page, and the response keeps the JSON it parsed
(``HttpResponse.json``), so the page's ``value`` there is the very list the models were built
from: no second parse and no conversion. Paging (``nextLink``), retries, error mapping and the
models themselves stay the SDK's; the hook only remembers which response came last.

The SDK's models keep the JSON's keys and values as they are (no field of the NSG models has a
client-side default), so a body is what ``as_dict`` of its model gives;
``tests/providers/azure/test_listing.py`` checks that on random NSGs read back from the emulator.
A page whose ``value`` does not match its models one for one (a transport that parses afresh on
every call, a later SDK) is converted from the models instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .convert import model_to_dict

__all__ = ["Page", "list_pages", "page_bodies"]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing: its NSGs as REST JSON, the SDK's models of them, whether the
    bodies are the response's own JSON (else converted from the models), and whether a
    ``nextLink`` follows."""

    bodies: list[dict[str, Any]]
    models: list[Any]
    from_response: bool
    more: bool


class _LastResponse:
    """A ``raw_response_hook`` that keeps the latest HTTP response of a call (every attempt and
    redirect calls it; the last one is what the SDK deserialised)."""

    __slots__ = ("response",)

    def __init__(self) -> None:
        self.response: Any = None

    def __call__(self, pipeline_response: Any) -> None:
        self.response = getattr(pipeline_response, "http_response", None)


def page_bodies(models: list[Any], response: Any) -> tuple[list[dict[str, Any]], bool]:
    """The NSGs of one page as REST JSON, and whether they are ``response``'s own ``value``
    (when it holds one object per model, in order and under the same names; otherwise each
    model is converted)."""
    values: Any = None
    if response is not None:
        try:
            parsed = response.json()  # cached by the response: the SDK parsed it already
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            values = parsed.get("value")
    if (
        isinstance(values, list)
        and len(values) == len(models)
        and all(
            type(body) is dict and body.get("name") == model.get("name")
            for body, model in zip(values, models, strict=True)
        )
    ):
        return values, True
    return [model_to_dict(model) for model in models], False


def list_pages(operations: Any, resource_group: str) -> Iterator[Page]:
    """``operations.list(resource_group)`` (a client's ``network_security_groups``) page by page.

    Raises:
        azure.core.exceptions.HttpResponseError: or a subclass, as the SDK raises it for a page.
    """
    last = _LastResponse()
    pager = operations.list(resource_group, raw_response_hook=last).by_page()
    for page in pager:
        models = list(page)
        bodies, from_response = page_bodies(models, last.response)
        yield Page(
            bodies=bodies,
            models=models,
            from_response=from_response,
            more=bool(getattr(pager, "continuation_token", None)),
        )
