"""One paged ``networkSecurityGroups.list``, each page as the REST JSON it came in.

portsync reads NSGs as plain dicts. ``client.network_security_groups.list`` parses each page and
builds a model for every NSG, rule and nested object of it, which is most of what the listing
costs the client (about four fifths at 1,000 NSGs of 20 rules), and turning the models back into
dicts walks every value once more. So the read sends the very request the SDK's ``list`` builds
(its own request builder: path, ``api-version``, ``Accept``) through the client's
``send_request``: the same pipeline (TLS, credentials, retries with ``Retry-After``, logging),
over the same HTTP. What the SDK's pager adds is done here the way it does it: the next page is
the answer's ``nextLink``, a status other than 200 raises the SDK's error for it
(``map_error``, then ``HttpResponseError`` with ARM's error format).

Stricter than the SDK, since the answer is treated as hostile: a body that is not an object
whose ``value`` is a list of objects raises ``DecodeError`` (the models would carry anything
along), an NSG whose rules do not have the shape the read walks is refused (:func:`check_nsg`),
and a ``nextLink`` to another host than the one asked is not followed (the SDK would send the
credentials there).

The SDK's models keep the JSON's keys and values as they are (no field of the NSG models has a
client-side default), so a body here is what ``as_dict`` of the SDK's model gives;
``tests/providers/azure/test_listing.py`` checks that on random NSGs read from the emulator.
When the request builder is not where this SDK release has it, :func:`list_pages` reads the
SDK's models and converts them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from portsync.errors import ProviderError

from .convert import model_to_dict

__all__ = ["Page", "check_nsg", "json_pages", "list_pages", "nsg_pages"]

#: The fields of a security rule's properties that the read walks as lists.
_RULE_LISTS = (
    "sourceAddressPrefixes",
    "destinationAddressPrefixes",
    "sourcePortRanges",
    "destinationPortRanges",
    "sourceApplicationSecurityGroups",
    "destinationApplicationSecurityGroups",
)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing: its NSGs as REST JSON, whether a ``nextLink`` follows, and (from
    :func:`list_pages` only) the SDK's models they were converted from."""

    bodies: list[dict[str, Any]]
    more: bool
    models: tuple[Any, ...] = ()


def _shape_problem(nsg: dict[str, Any]) -> str | None:
    if not isinstance(nsg.get("name"), str):
        return "its name is not a string"
    props = nsg.get("properties")
    if props is None:
        return None
    if type(props) is not dict:
        return "its properties are not an object"
    for key in ("securityRules", "defaultSecurityRules"):
        rules = props.get(key)
        if rules is None:
            continue
        if type(rules) is not list:
            return f"properties.{key} is not a list"
        for index, rule in enumerate(rules):
            where = f"properties.{key}[{index}]"
            if type(rule) is not dict:
                return f"{where} is not an object"
            fields = rule.get("properties")
            if fields is None:
                continue
            if type(fields) is not dict:
                return f"{where}.properties is not an object"
            for name in _RULE_LISTS:
                value = fields.get(name)
                if value is not None and type(value) is not list:
                    return f"{where}.properties.{name} is not a list"
    return None


def check_nsg(nsg: dict[str, Any], resource_group: str) -> None:
    """Refuse a listed NSG whose rules do not have the shape the read walks: the properties an
    object, the rule lists lists of objects, and a rule's address, port and ASG lists lists.

    Raises:
        ProviderError: naming the NSG (its position in the page when its name is not text) and
            the field.
    """
    problem = _shape_problem(nsg)
    if problem is None:
        return
    name = nsg.get("name")
    what = f"NSG {name[:80]!r}" if isinstance(name, str) else "an NSG"
    raise ProviderError(
        f"Azure listing of the network security groups of resource group {resource_group}: "
        f"{what} does not have Azure Resource Manager's shape: {problem}",
        hint="check the cluster's endpoint: (it must be Azure Resource Manager) and any proxy "
        "in between",
    )


def _request_builder() -> Callable[..., Any] | None:
    """The SDK's builder of the ``networkSecurityGroups.list`` request, if this release has it
    where 33.x does."""
    try:
        from azure.mgmt.network.operations import _operations
    except ImportError:  # pragma: no cover - depends on the install
        return None
    builder = getattr(_operations, "build_network_security_groups_list_request", None)
    return builder if callable(builder) else None


def nsg_pages(client: Any, subscription_id: str, resource_group: str) -> Iterator[Page]:
    """The NSGs of ``resource_group`` page by page: :func:`json_pages`, or :func:`list_pages`
    when this SDK release has no request builder where portsync looks for it.

    Raises:
        azure.core.exceptions.AzureError: or a subclass, as the SDK raises it for a page.
        ProviderError: a ``nextLink`` points to another host.
    """
    builder = _request_builder()
    if builder is None:  # pragma: no cover - depends on the install
        return list_pages(client.network_security_groups, resource_group)
    return json_pages(client, builder(resource_group, subscription_id), resource_group)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def json_pages(client: Any, request: Any, resource_group: str) -> Iterator[Page]:
    """Send ``request`` (the SDK's list request) with ``client.send_request``, then each
    ``nextLink``; yield every page's NSGs as the JSON they arrived in.

    Raises:
        azure.core.exceptions.HttpResponseError: or the subclass ``map_error`` picks, for an
            answer other than 200, as the SDK's pager raises it.
        azure.core.exceptions.DecodeError: a body that is not an object whose ``value`` is a list
            of objects.
        ProviderError: a ``nextLink`` points to another host than the first request went to.
    """
    from azure.core.exceptions import (
        ClientAuthenticationError,
        DecodeError,
        HttpResponseError,
        ResourceExistsError,
        ResourceNotFoundError,
        ResourceNotModifiedError,
        map_error,
    )
    from azure.core.rest import HttpRequest
    from azure.mgmt.core.exceptions import ARMErrorFormat

    # What the generated pager maps (its error_map), the rest being HttpResponseError.
    error_map = {
        401: ClientAuthenticationError,
        404: ResourceNotFoundError,
        409: ResourceExistsError,
        304: ResourceNotModifiedError,
    }
    origin: tuple[str, str] | None = None
    while True:
        response = client.send_request(request)
        if origin is None:
            origin = _origin(response.request.url)
        if response.status_code != 200:
            map_error(status_code=response.status_code, response=response, error_map=error_map)
            raise HttpResponseError(response=response, error_format=ARMErrorFormat)
        parsed = response.json()  # json.JSONDecodeError for a body that is not JSON at all
        values = parsed.get("value", []) if isinstance(parsed, dict) else None
        if not isinstance(values, list) or not all(type(v) is dict for v in values):
            raise DecodeError(
                "the network security groups listing is not an object whose value is a list "
                "of objects",
                response=response,
            )
        next_link = parsed.get("nextLink") or None
        if next_link is not None and not isinstance(next_link, str):
            raise DecodeError("the listing's nextLink is not a string", response=response)
        if next_link is not None and urlsplit(next_link).netloc:
            found = _origin(next_link)
            if found != origin:
                raise ProviderError(
                    f"Azure listing of the network security groups of resource group "
                    f"{resource_group}: the answer's nextLink leads to {found[0]}://{found[1]}, "
                    f"not to {origin[0]}://{origin[1]}, where the listing was asked; portsync "
                    "does not follow it (it would send the credentials there)",
                    hint="check the cluster's endpoint: and any proxy in between; Azure Resource "
                    "Manager's pages stay on its own host",
                )
        for body in values:
            check_nsg(body, resource_group)
        yield Page(bodies=values, more=next_link is not None)
        if next_link is None:
            return
        request = HttpRequest("GET", next_link)


def list_pages(operations: Any, resource_group: str) -> Iterator[Page]:
    """``operations.list(resource_group)`` (a client's ``network_security_groups``) page by
    page, through the SDK's pager and models, each model converted (:mod:`.convert`): the way
    the read takes when this SDK release has no request builder where portsync looks for it,
    and the reference the tests compare :func:`json_pages` with.

    Raises:
        azure.core.exceptions.HttpResponseError: or a subclass, as the SDK raises it for a page.
    """
    pager = operations.list(resource_group).by_page()
    for page in pager:
        models = tuple(page)
        bodies = [model_to_dict(model) for model in models]
        for body in bodies:
            check_nsg(body, resource_group)
        yield Page(
            bodies=bodies,
            more=bool(getattr(pager, "continuation_token", None)),
            models=models,
        )
