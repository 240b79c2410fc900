"""botocore's retries, bounded and reported (imported by :mod:`.adapter` only, after boto3).

botocore's standard retry handler decides whether and how long to wait; around it, portsync

- tries a call that got no answer (connect or read timeout, endpoint unreachable) at most
  :data:`~portsync.control.TIMEOUT_ATTEMPTS` times, so a hung endpoint is reported in about
  ``3 × (connect + read)`` seconds instead of ``max_attempts × read``;
- retries every 429 and transient 5xx answer whatever its body: botocore only knows a 429 by an
  error code inside EC2 XML, and cannot parse an error body that is not XML at all (a proxy's or a
  load balancer's page), which it then raised without retrying;
- gives up when the backoff would end after the command's ``--deadline``;
- reports each retry on the progress stream (``retrying prod-aws DescribeSecurityGroups after
  throttling (3/8)``).
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape

from portsync.control import TIMEOUT_ATTEMPTS, RunControl

__all__ = ["NOT_XML_CODES", "NO_ANSWER_BACKOFF", "install_retries"]

#: Longest total backoff between the attempts of a call that gets no answer: botocore's
#: non-throttling scale, 0.05 s × 2^i for the retries i = 1, 2 (jitter only shortens it).
NO_ANSWER_BACKOFF = sum(0.05 * 2**i for i in range(1, TIMEOUT_ATTEMPTS))

#: Statuses retried whatever the body says.
_TRANSIENT = frozenset({429, 500, 502, 503, 504})
#: Error codes portsync gives an answer whose body is not EC2 XML, by status (see
#: :func:`_not_xml_body`); 429 becomes botocore's own throttling code so it backs off as for one.
NOT_XML_CODES = {429: "Throttling"}
_THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "RequestThrottled"}
)
_CONTEXT_KEY = "portsync_no_answer"


def _is_xml(body: bytes) -> bool:
    try:
        ET.fromstring(body)
    except ET.ParseError:
        return False
    return True


def _not_xml_body(response_dict: dict[str, Any], **_: Any) -> None:
    """A 429 or 5xx whose body is not XML gets an EC2 error document in its place, so botocore
    raises a ``ClientError`` (retried as throttling or a server error) instead of a parser error.
    The original body is not copied: it may echo the request's headers."""
    status = response_dict.get("status_code")
    body = response_dict.get("body") or b""
    if status not in _TRANSIENT or _is_xml(body):
        return
    kind = response_dict.get("headers", {}).get("content-type", "no content type")
    code = NOT_XML_CODES.get(status, "InternalError" if status == 500 else "Unavailable")
    message = escape(f"HTTP {status} with a body that is not EC2 XML ({kind}, {len(body)} bytes)")
    response_dict["body"] = (
        f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        "</Errors><RequestID>none</RequestID></Response>"
    ).encode()


def _no_answer(exc: BaseException | None) -> str | None:
    """Why a call got no answer at all, or None when it got one (or failed otherwise)."""
    if exc is None:
        return None
    from botocore.exceptions import (
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    if isinstance(exc, ReadTimeoutError):
        return "a read timeout"
    if isinstance(exc, ConnectTimeoutError):
        return "a connect timeout"
    if isinstance(exc, EndpointConnectionError):
        return "a connection error"
    return None


def _reason(exc: BaseException | None, response: Any) -> str:
    no_answer = _no_answer(exc)
    if no_answer:
        return no_answer
    if exc is not None:
        return type(exc).__name__
    http, parsed = response
    code = (parsed or {}).get("Error", {}).get("Code", "")
    if code in _THROTTLING_CODES or http.status_code == 429:
        return "throttling"
    return f"HTTP {http.status_code}" + (f" {code}" if code else "")


def install_retries(client: Any, *, cluster: str, control: RunControl, max_attempts: int) -> None:
    """Wrap the client's standard retry handler (see the module docstring)."""
    from botocore.retries import standard

    service = client.meta.service_model.service_id.hyphenize()
    event, unique_id = f"needs-retry.{service}", f"retry-config-{service}"
    # The client registered botocore's handler under this id; register a fresh one to hold on to,
    # then put the wrapper in its place.
    client.meta.events.unregister(event, unique_id=unique_id)
    handler = standard.register_retry_handler(client, max_attempts=max_attempts)
    client.meta.events.unregister(event, unique_id=unique_id)

    def needs_retry(**kwargs: Any) -> Any:
        exc = kwargs.get("caught_exception")
        response: Any = kwargs.get("response")
        attempts: int = kwargs["attempts"]
        delay = handler.needs_retry(**kwargs)
        if exc is None and (response is None or response[0].status_code < 300):
            return delay
        if _no_answer(exc):
            context = kwargs["request_dict"]["context"]
            context[_CONTEXT_KEY] = context.get(_CONTEXT_KEY, 0) + 1
            if context[_CONTEXT_KEY] >= TIMEOUT_ATTEMPTS:
                return None
        if delay is None and exc is None and attempts < max_attempts:
            status = response[0].status_code
            if status in _TRANSIENT:
                # A 429 with an error code botocore does not know: back off as for throttling.
                scale = 1.0 if status == 429 else 0.05
                delay = random.random() * min(scale * 2**attempts, 20.0)
        if delay is None or delay is False:
            return delay
        if not control.allows_wait(delay):
            return None
        operation = kwargs["operation"].name
        of = min(TIMEOUT_ATTEMPTS, max_attempts) if _no_answer(exc) else max_attempts
        control.retrying(cluster, operation, _reason(exc, response), attempts + 1, of)
        return delay

    client.meta.events.register(event, needs_retry, unique_id=unique_id)
    client.meta.events.register(f"before-parse.{service}", _not_xml_body)
