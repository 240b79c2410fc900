"""azure-core's retry policy, bounded and reported (imported by :mod:`.adapter` only, after the SDK).

azure-core already retries 408, 429, 500, 502, 503 and 504 whatever the body, and connection and
read errors, with exponential backoff (``Retry-After`` honoured). Its defaults, though, wait up to
300 s for each read and retry a read that timed out three times: an endpoint that accepts the
connection and never answers was reported after more than 15 minutes. portsync gives it the
cluster's ``timeout:`` (``connection_timeout`` / ``read_timeout`` on the client), tries a call
that gets no answer :data:`~portsync.control.TIMEOUT_ATTEMPTS` times (``retry_connect`` and
``retry_read``), stops retrying at the command's ``--deadline``, and announces every retry
(``retrying prod-azure networkSecurityGroups.list after throttling (2/7)``).
"""

from __future__ import annotations

from typing import Any

from azure.core.pipeline.policies import RetryPolicy

from portsync.control import TIMEOUT_ATTEMPTS, RunControl

__all__ = ["RETRY_BACKOFF_FACTOR", "RETRY_BACKOFF_MAX", "RETRY_TOTAL", "NoticeRetryPolicy"]

#: Retries in all (throttling, 5xx, no answer), and the exponential backoff (the first retry is
#: immediate, then ``factor × 2^(n-1)`` seconds up to ``max``).
RETRY_TOTAL = 6
RETRY_BACKOFF_FACTOR = 0.2
RETRY_BACKOFF_MAX = 10.0


def _reason(settings: dict[str, Any], response: Any) -> str:
    if response is not None:
        status = getattr(getattr(response, "http_response", None), "status_code", None)
        if status == 429:
            return "throttling"
        return f"HTTP {status}"
    history = settings.get("history") or []
    error = getattr(history[-1], "error", None) if history else None
    name = type(error).__name__
    if name == "ServiceResponseError" and "timed out" in str(error).lower():
        return "a read timeout"
    if name in ("ServiceRequestError", "ServiceRequestTimeoutError"):
        return (
            "a connection error" if "timed out" not in str(error).lower() else "a connect timeout"
        )
    if name == "ServiceResponseTimeoutError":
        return "a read timeout"
    return name


class NoticeRetryPolicy(RetryPolicy):  # type: ignore[type-arg]
    """azure-core's ``RetryPolicy`` that stops at the deadline and announces each retry."""

    def __init__(self, *, cluster: str, control: RunControl, **kwargs: Any) -> None:
        kwargs.setdefault("retry_total", RETRY_TOTAL)
        kwargs.setdefault("retry_status", RETRY_TOTAL)
        kwargs.setdefault("retry_connect", TIMEOUT_ATTEMPTS - 1)
        kwargs.setdefault("retry_read", TIMEOUT_ATTEMPTS - 1)
        kwargs.setdefault("retry_backoff_factor", RETRY_BACKOFF_FACTOR)
        kwargs.setdefault("retry_backoff_max", RETRY_BACKOFF_MAX)
        super().__init__(**kwargs)
        self._cluster = cluster
        self._control = control

    def increment(self, settings: dict[str, Any], response: Any = None, error: Any = None) -> bool:
        active: bool = super().increment(settings, response=response, error=error)
        if active and self._control.expired():
            return False
        return active

    def sleep(self, settings: dict[str, Any], transport: Any, response: Any = None) -> None:
        history = settings.get("history") or []
        request = history[-1].http_request if history else None
        call = _call_name(request)
        attempt = len(history) + 1
        reason = _reason(settings, response)
        no_answer = response is None and reason != "throttling" and not reason.startswith("HTTP")
        of = TIMEOUT_ATTEMPTS if no_answer else self.total_retries + 1
        self._control.retrying(self._cluster, call, reason, attempt, of)
        super().sleep(settings, transport, response=response)


def _call_name(request: Any) -> str:
    """``networkSecurityGroups.list`` / ``.get`` / ``.put`` … from the request's method and path."""
    if request is None:
        return "request"
    method = str(getattr(request, "method", "")).upper()
    path = str(getattr(request, "url", "")).split("?")[0].rstrip("/")
    if "/operations/" in path.lower() or "/operationresults/" in path.lower():
        return "operation poll"
    if path.lower().endswith("/networksecuritygroups"):
        return "networkSecurityGroups.list"
    verb = {"GET": "get", "PUT": "createOrUpdate", "DELETE": "delete"}.get(method, method.lower())
    return f"networkSecurityGroups.{verb}"
