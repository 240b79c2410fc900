"""Mapping azure-core and azure-identity errors to the portsync error tree, in one place
Also tells which errors the adapter's own retry loop handles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

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
    "BUSY_CODES",
    "CODES",
    "PRECONDITION_FAILED",
    "SDK_ERRORS",
    "STATUSES",
    "classify",
    "error_code",
    "is_busy",
    "is_precondition_failed",
    "is_sdk_error",
    "map_sdk_errors",
]

#: ARM error codes portsync expects, and the portsync class each becomes. The code decides first,
#: whatever the HTTP status or the azure-core class.
CODES: dict[str, type[PortsyncError]] = {
    # credentials and permissions
    "AuthenticationFailed": AuthError,
    "AuthenticationFailedInvalidHeader": AuthError,
    "InvalidAuthenticationToken": AuthError,
    "InvalidAuthenticationTokenTenant": AuthError,
    "ExpiredAuthenticationToken": AuthError,
    "AuthorizationFailed": AuthError,
    "LinkedAuthorizationFailed": AuthError,
    "MissingSubscriptionRegistration": AuthError,
    # something named in the config does not exist
    "ResourceNotFound": NotFoundError,
    "ResourceGroupNotFound": NotFoundError,
    "SubscriptionNotFound": NotFoundError,
    "NotFound": NotFoundError,
    "InvalidResourceReference": NotFoundError,
    # another writer
    "PreconditionFailed": ConflictError,
    "AnotherOperationInProgress": ConflictError,
    "Conflict": ConflictError,
    # throttling
    "SubscriptionRequestsThrottled": ThrottledError,
    "TooManyRequests": ThrottledError,
    "ResourceCollectionRequestsThrottled": ThrottledError,
    "RetryableError": ThrottledError,
    # Azure limits (portsync checks them at plan time; these are the last line)
    "SecurityRuleCountLimitReached": ProviderLimitError,
    "SecurityRuleInvalidPriority": ProviderLimitError,
    "SecurityRuleDescriptionTooLong": ProviderLimitError,
    "QuotaExceeded": ProviderLimitError,
    # the request itself was refused
    "SecurityRuleConflict": ProviderError,
    "SecurityRuleInvalidAddressPrefix": ProviderError,
    "SecurityRuleInvalidPortRange": ProviderError,
    "SecurityRuleParameterContainsUnsupportedValue": ProviderError,
    "SecurityRuleParametersMissing": ProviderError,
    "SecurityRuleParameterMissing": ProviderError,
    "ResourceCannotContainAddressPrefixesFromDifferentAddressFamilies": ProviderError,
    "DuplicateResourceName": ProviderError,
    "InvalidResourceName": ProviderError,
    "InvalidResourceLocation": ProviderError,
    "LocationRequired": ProviderError,
    "InvalidRequestFormat": ProviderError,
    "InvalidRequestContent": ProviderError,
    "MissingApiVersionParameter": ProviderError,
    "InvalidApiVersionParameter": ProviderError,
    "InternalServerError": ProviderError,
    "ServiceUnavailable": ProviderError,
}

#: HTTP statuses that decide the class when the code is unknown.
STATUSES: dict[int, type[PortsyncError]] = {
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    409: ConflictError,
    412: ConflictError,
    429: ThrottledError,
}

#: azure-core / azure-identity exception classes, by name; looked up along the MRO last.
SDK_ERRORS: dict[str, type[PortsyncError]] = {
    "ClientAuthenticationError": AuthError,
    "CredentialUnavailableError": AuthError,
    "ResourceNotFoundError": NotFoundError,
    "ResourceExistsError": ConflictError,
    "ResourceModifiedError": ConflictError,
    "ResourceNotModifiedError": ProviderError,
    "ServiceRequestError": ProviderError,
    "ServiceRequestTimeoutError": ProviderError,
    "ServiceResponseError": ProviderError,
    "ServiceResponseTimeoutError": ProviderError,
    "TooManyRedirectsError": ProviderError,
    "DecodeError": ProviderError,
    "HttpResponseError": ProviderError,
    "AzureError": ProviderError,
}

#: Codes of a write refused because the NSG is busy with another operation (retried).
BUSY_CODES = frozenset({"AnotherOperationInProgress", "RetryableError"})
#: Code of a write whose ``If-Match`` etag is stale (re-read and re-composed).
PRECONDITION_FAILED = "PreconditionFailed"

_HINTS: dict[type[PortsyncError], str] = {
    AuthError: "check the Azure credentials (DefaultAzureCredential: `az login`, a managed "
    "identity or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET) and the RBAC role in "
    "docs/providers/azure.md",
    NotFoundError: "check subscription_id, resource_group and the nsg/asg names in the config",
    ThrottledError: "Azure Resource Manager is throttling the subscription; retry later or "
    "lower max_workers",
    ProviderLimitError: "see the Limits section of docs/providers/azure.md",
    ConflictError: "another writer is changing the same NSG; run apply again",
}


def error_code(exc: BaseException) -> str:
    """The ARM error code an azure-core exception carries (empty when none)."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    return str(code) if code else ""


def classify(exc: BaseException) -> type[PortsyncError]:
    """The portsync class for an azure-core or azure-identity exception: by ARM error code, then
    by HTTP status, then by exception class."""
    code = error_code(exc)
    if code in CODES:
        return CODES[code]
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status in STATUSES:
        return STATUSES[status]
    for cls in type(exc).__mro__:
        if cls.__name__ in SDK_ERRORS and cls.__module__.startswith("azure."):
            return SDK_ERRORS[cls.__name__]
    return ProviderError


def is_busy(exc: BaseException) -> bool:
    """Whether a portsync error is a write refused because another operation is running."""
    return isinstance(exc, PortsyncError) and exc.context.get("code") in BUSY_CODES


def is_precondition_failed(exc: BaseException) -> bool:
    """Whether a portsync error is a write refused because the NSG's etag changed (412)."""
    if not isinstance(exc, ConflictError):
        return False
    return exc.context.get("code") == PRECONDITION_FAILED or exc.context.get("status") == 412


def _message(exc: BaseException) -> str:
    error = getattr(exc, "error", None)
    text = getattr(error, "message", None) or getattr(exc, "message", None) or str(exc)
    text = " ".join(str(text).split()) or type(exc).__name__
    return text if len(text) <= 400 else text[:399] + "…"


def _wrap(
    what: str, exc: BaseException, *, cluster: str = "", endpoint: str = "", permission: str = ""
) -> PortsyncError:
    cls = classify(exc)
    code = error_code(exc)
    status = getattr(exc, "status_code", None)
    message = _message(exc)
    label = f"({code}) " if code and not message.startswith(f"({code})") else ""
    if cls is AuthError and (
        type(exc).__name__ == "CredentialUnavailableError" or "DefaultAzureCredential" in message
    ):
        return AuthError(
            f"{f'cluster {cluster}: ' if cluster else ''}Azure {what} failed: no usable Azure "
            "credentials were found; DefaultAzureCredential looked at the environment "
            "(AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET or a certificate), workload "
            "identity, managed identity, the Azure CLI, Azure PowerShell and the Azure Developer "
            "CLI",
            hint="run `az login`, use a managed identity or set AZURE_CLIENT_ID, "
            "AZURE_TENANT_ID and AZURE_CLIENT_SECRET; or credentials: anonymous for an emulator",
            code=code,
            status=status,
        )
    whose = f"cluster {cluster}: " if cluster else ""
    where = endpoint or "Azure Resource Manager"
    if cls is AuthError and status == 403 and permission:
        return AuthError(
            f"{whose}Azure {what} was denied ({code or 403}): the caller may not perform "
            f"{permission}",
            hint=f"assign the identity a role allowing {permission} on the resource group "
            "(docs/providers/azure.md names a built-in role and a custom one)",
            code=code,
            status=status,
            permission=permission,
        )
    name = type(exc).__name__
    timed_out = "timed out" in message.lower() or name.endswith("TimeoutError")
    if name.startswith(("ServiceRequest", "ServiceResponse")) and timed_out:
        kind = "connect" if name.startswith("ServiceRequest") else "read"
        return ProviderError(
            f"{whose}Azure {what} failed: no answer from {where} ({kind} timeout, "
            f"{TIMEOUT_ATTEMPTS} attempts at most)",
            hint="check the cluster's endpoint:, the network or a proxy; raise timeout: if the "
            "endpoint is only slow",
            code=code,
            status=status,
        )
    if name == "DecodeError":
        return ProviderError(
            f"{whose}Azure {what} failed: the answer from {where} is not Azure Resource Manager "
            "JSON, so it does not come from Azure Resource Manager",
            hint="check the cluster's endpoint: (a typo can reach another server) and any proxy "
            "in between",
            code=code,
            status=status,
        )
    if name in ("ServiceRequestError", "ServiceRequestTimeoutError"):
        return ProviderError(
            f"{whose}Azure {what} failed: cannot reach {where} ({message})",
            hint="check the cluster's endpoint:, its ca_bundle: (TLS verification), the network "
            "or a proxy",
            code=code,
            status=status,
        )
    return cls(
        f"Azure {what} failed: {label}{message}",
        hint=_HINTS.get(cls),
        code=code,
        status=status,
    )


@contextmanager
def map_sdk_errors(
    what: str, *, cluster: str = "", endpoint: str = "", permission: str = ""
) -> Iterator[None]:
    """Re-raise Azure SDK errors as portsync errors, naming ``what`` was being done (and, when
    given, the cluster and the endpoint: a call that got no answer names both).

    Raises:
        ProviderError: or a subclass (AuthError, NotFoundError, ConflictError, ThrottledError,
            ProviderLimitError), from the original exception; ``context`` carries the ARM
            ``code`` and HTTP ``status``.
    """
    try:
        yield
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        # The SDK deserialises a 2xx body with json.loads: a body that is not JSON at all is an
        # answer from something other than Azure Resource Manager.
        raise ProviderError(
            f"{f'cluster {cluster}: ' if cluster else ''}Azure {what} failed: the answer from "
            f"{endpoint or 'Azure Resource Manager'} is not Azure Resource Manager JSON, so it "
            "does not come from Azure Resource Manager",
            hint="check the cluster's endpoint: (a typo can reach another server) and any proxy "
            "in between",
        ) from exc
    except Exception as exc:
        if not is_sdk_error(exc):
            raise
        raise _wrap(what, exc, cluster=cluster, endpoint=endpoint, permission=permission) from exc


def is_sdk_error(exc: BaseException) -> bool:
    """Whether ``exc`` is an azure-core (or azure-identity) error, told by its class ancestry so
    that this module never imports the SDK (only :mod:`.adapter` does)."""
    return any(
        cls.__name__ == "AzureError" and cls.__module__.startswith("azure.core")
        for cls in type(exc).__mro__
    )
