"""Mapping google-api-core, google-auth and requests errors to the portsync error tree, in one place
Also decides which errors are transient and worth a retry."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from portsync.control import TIMEOUT_ATTEMPTS
from portsync.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    PortsyncError,
    ProviderError,
    ProviderLimitError,
    ThrottledError,
)

__all__ = [
    "OPERATION_ERRORS",
    "RATE_LIMIT_REASONS",
    "REASONS",
    "SDK_ERRORS",
    "classify",
    "is_no_answer",
    "is_rate_limited",
    "is_retryable",
    "map_sdk_errors",
    "operation_error",
    "retry_reason",
]

#: ``google.api_core.exceptions`` classes portsync expects, by class name, and the portsync class
#: each becomes. A raised exception is looked up along its MRO, so the most specific entry wins.
SDK_ERRORS: dict[str, type[PortsyncError]] = {
    "BadRequest": ProviderError,
    "InvalidArgument": ProviderError,
    "FailedPrecondition": ProviderError,
    "OutOfRange": ProviderError,
    "Unauthorized": AuthError,
    "Unauthenticated": AuthError,
    "Forbidden": AuthError,
    "PermissionDenied": AuthError,
    "NotFound": NotFoundError,
    "Conflict": ConflictError,
    "AlreadyExists": ConflictError,
    "Aborted": ConflictError,
    "PreconditionFailed": ConflictError,
    "TooManyRequests": ThrottledError,
    "ResourceExhausted": ThrottledError,
    "InternalServerError": ProviderError,
    "BadGateway": ProviderError,
    "ServiceUnavailable": ProviderError,
    "GatewayTimeout": ProviderError,
    "DeadlineExceeded": ProviderError,
}

#: ``errors[].reason`` values (and ``ErrorInfo.reason``) of a rate limit. A 403 carrying one of
#: them is throttling, not a permission problem.
RATE_LIMIT_REASONS = frozenset(
    {"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"}
)

#: Reasons that decide the class whatever the HTTP status.
REASONS: dict[str, type[PortsyncError]] = {
    **dict.fromkeys(RATE_LIMIT_REASONS, ThrottledError),
    "quotaExceeded": ProviderLimitError,
    "resourceNotReady": ConflictError,
}

#: ``Operation.error.errors[].code`` values of a failed operation.
OPERATION_ERRORS: dict[str, type[PortsyncError]] = {
    "QUOTA_EXCEEDED": ProviderLimitError,
    "RESOURCE_NOT_FOUND": NotFoundError,
    "RESOURCE_ALREADY_EXISTS": ConflictError,
    "RESOURCE_NOT_READY": ConflictError,
    "PERMISSION_DENIED": AuthError,
}

_HINTS: dict[type[PortsyncError], str] = {
    AuthError: "check the Google credentials (ADC: `gcloud auth application-default login` or "
    "GOOGLE_APPLICATION_CREDENTIALS) and the IAM roles in docs/providers/gcp.md",
    NotFoundError: "check the cluster's project and network in the config",
    ThrottledError: "the project is being rate limited; retry later or lower max_workers",
    ProviderLimitError: "request a higher FIREWALLS quota or remove firewall rules",
    ConflictError: "another writer is changing the same firewall; run apply again",
}

# Statuses retried besides rate limits: 429 and the transient server errors.
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def _reasons(exc: BaseException) -> set[str]:
    found: set[str] = set()
    for item in getattr(exc, "errors", None) or ():
        if isinstance(item, dict) and item.get("reason"):
            found.add(str(item["reason"]))
    try:
        reason = getattr(exc, "reason", None)
    except (AttributeError, TypeError):  # pragma: no cover - malformed error info
        reason = None
    if reason:
        found.add(str(reason))
    return found


def is_rate_limited(exc: BaseException) -> bool:
    """Whether ``exc`` is GCP throttling: a 429, or a 403 whose reason is a rate limit."""
    code = getattr(exc, "code", None)
    if code == 429:
        return True
    return code == 403 and bool(_reasons(exc) & RATE_LIMIT_REASONS)


def is_retryable(exc: BaseException) -> bool:
    """The retry predicate: rate limits, 429, 500, 502, 503, 504, a resource busy with another
    operation, and connection errors or timeouts of ``requests``."""
    import requests

    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        return True
    code = getattr(exc, "code", None)
    if not isinstance(code, int):
        return False
    if code in _RETRY_STATUSES or is_rate_limited(exc):
        return True
    return code == 400 and "resourceNotReady" in _reasons(exc)


def is_no_answer(exc: BaseException) -> bool:
    """Whether a call got no answer at all: a connect or read timeout, or no connection."""
    import requests

    return isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout))


def retry_reason(exc: BaseException) -> str:
    """Why a call is retried, for the retry notice."""
    import requests

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "a connect timeout"
    if isinstance(exc, requests.exceptions.Timeout):
        return "a read timeout"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "a connection error"
    if is_rate_limited(exc):
        return "throttling"
    code = getattr(exc, "code", None)
    if code == 400:
        return "resourceNotReady"
    return f"HTTP {code}" if isinstance(code, int) else type(exc).__name__


def classify(exc: BaseException) -> type[PortsyncError]:
    """The portsync class for a google-api-core exception."""
    for reason in sorted(_reasons(exc)):
        if reason in REASONS:
            return REASONS[reason]
    for cls in type(exc).__mro__:
        if cls.__name__ in SDK_ERRORS and cls.__module__.startswith("google.api_core"):
            return SDK_ERRORS[cls.__name__]
    return ProviderError


def operation_error(what: str, operation: Any) -> PortsyncError | None:
    """The error a finished ``compute.Operation`` carries, or None when it succeeded."""
    errors = list(getattr(getattr(operation, "error", None), "errors", None) or ())
    if not errors:
        return None
    first = errors[0]
    code = str(getattr(first, "code", "") or "")
    message = str(getattr(first, "message", "") or "")
    status = getattr(operation, "http_error_status_code", 0) or ""
    cls = OPERATION_ERRORS.get(code, ProviderError)
    detail = f"{code}: {message}" if message else code or "unknown error"
    return cls(
        f"GCP {what} failed: operation {getattr(operation, 'name', '?')} ended with "
        f"{detail}{f' (HTTP {status})' if status else ''}",
        hint=_HINTS.get(cls, "nothing wanted was removed; run apply again to converge"),
        code=code,
    )


def _wrap(
    what: str, exc: BaseException, *, cluster: str = "", permission: str = ""
) -> PortsyncError:
    cls = classify(exc)
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None) or str(exc)
    if cls is AuthError and code == 403 and permission:
        return AuthError(
            f"{f'cluster {cluster}: ' if cluster else ''}GCP {what} was denied (403): the caller "
            f"lacks the permission {permission}",
            hint=f"grant a role holding {permission} on the project to the account portsync runs "
            "as (docs/providers/gcp.md lists the permissions)",
            code=code,
            permission=permission,
        )
    if cls is ProviderError and code == 400:
        return ProviderError(f"GCP {what} was refused: {message}", code=code)
    return cls(f"GCP {what} failed: {code} {message}", hint=_HINTS.get(cls), code=code)


@contextmanager
def map_sdk_errors(
    what: str, *, cluster: str = "", endpoint: str = "", permission: str = ""
) -> Iterator[None]:
    """Re-raise Google client errors as portsync errors, naming ``what`` was being done (and,
    when given, the cluster and the endpoint: a call that got no answer names both).

    Raises:
        ProviderError: or a subclass (AuthError, NotFoundError, ConflictError, ThrottledError,
            ProviderLimitError for the FIREWALLS quota), from the original exception.
    """
    import requests
    from google.api_core import exceptions as core
    from google.auth import exceptions as auth
    from google.protobuf.json_format import ParseError

    try:
        yield
    except (ParseError, UnicodeDecodeError) as exc:
        raise ProviderError(
            f"{f'cluster {cluster}: ' if cluster else ''}GCP {what} failed: the answer from "
            f"{endpoint or 'the Compute API'} is not Compute Engine JSON, so it does not come "
            "from Compute Engine",
            hint="check the cluster's endpoint: (a typo can reach another server) and any proxy "
            "in between",
        ) from exc
    except core.RetryError as exc:
        cause = exc.cause
        if cause is not None and is_rate_limited(cause):
            raise ThrottledError(
                f"GCP {what} was still rate limited when portsync's retries ran out",
                hint=_HINTS[ThrottledError],
            ) from exc
        if isinstance(cause, core.GoogleAPICallError):
            raise _wrap(what, cause, cluster=cluster, permission=permission) from exc
        raise ProviderError(
            f"GCP {what} kept failing until portsync's retries ran out: {cause or exc}",
            hint="check the endpoint and the network, then run again",
        ) from exc
    except core.GoogleAPICallError as exc:
        raise _wrap(what, exc, cluster=cluster, permission=permission) from exc
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        whose = f"cluster {cluster}: " if cluster else ""
        where = endpoint or "the Compute API"
        if isinstance(exc, requests.exceptions.Timeout):
            kind = "connect" if isinstance(exc, requests.exceptions.ConnectTimeout) else "read"
            raise ProviderError(
                f"{whose}GCP {what} failed: no answer from {where} ({kind} timeout, "
                f"{TIMEOUT_ATTEMPTS} attempts at most)",
                hint="check the cluster's endpoint:, the network or a proxy; raise timeout: if "
                "the endpoint is only slow",
            ) from exc
        raise ProviderError(
            f"{whose}GCP {what} failed: cannot reach {where} ({type(exc).__name__})",
            hint="check the network, a proxy, or the cluster's endpoint:",
        ) from exc
    except auth.DefaultCredentialsError as exc:
        raise AuthError(
            f"{f'cluster {cluster}: ' if cluster else ''}GCP {what} failed: no Google "
            "credentials found; looked at GOOGLE_APPLICATION_CREDENTIALS, the gcloud "
            "application-default file (application_default_credentials.json in the gcloud "
            "config folder) and the GCE metadata server",
            hint="run `gcloud auth application-default login`, set "
            "GOOGLE_APPLICATION_CREDENTIALS, or use credentials: anonymous for an emulator",
        ) from exc
    except auth.RefreshError as exc:
        raise AuthError(
            f"GCP {what} failed: the Google credentials could not be refreshed ({exc})",
            hint=_HINTS[AuthError],
        ) from exc
    except auth.TransportError as exc:
        raise ProviderError(
            f"GCP {what} failed: cannot reach the Google auth endpoint ({exc})",
            hint="check the network or a proxy",
        ) from exc
