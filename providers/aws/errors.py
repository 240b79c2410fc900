"""Mapping botocore errors to the portsync error tree, in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from portsync.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    PortsyncError,
    ProviderError,
    ProviderLimitError,
    ThrottledError,
)

__all__ = ["ERROR_CODES", "map_sdk_errors"]

#: EC2 error codes portsync expects, and the portsync class each becomes.
ERROR_CODES: dict[str, type[PortsyncError]] = {
    "AuthFailure": AuthError,
    "UnauthorizedOperation": AuthError,
    "InvalidClientTokenId": AuthError,
    "ExpiredToken": AuthError,
    "RequestExpired": AuthError,
    "OptInRequired": AuthError,
    "InvalidGroup.NotFound": NotFoundError,
    "InvalidGroupId.Malformed": NotFoundError,
    "InvalidSecurityGroupRuleId.NotFound": NotFoundError,
    "InvalidPermission.NotFound": NotFoundError,
    "InvalidPrefixListId.NotFound": NotFoundError,
    "InvalidPermission.Duplicate": ConflictError,
    "RulesPerSecurityGroupLimitExceeded": ProviderLimitError,
    "RequestLimitExceeded": ThrottledError,
    "Throttling": ThrottledError,
    "InvalidParameterValue": ProviderError,
    "InternalError": ProviderError,
    "Unavailable": ProviderError,
}

_HINTS = {
    AuthError: "check the AWS credentials (profile, env, role) and the IAM policy in docs/providers/aws.md",
    NotFoundError: "check the security_group ids and region in the config",
    ThrottledError: "the account is being throttled; retry later or lower concurrency",
    ProviderLimitError: "request a higher rules-per-group quota or remove rules",
}


@contextmanager
def map_sdk_errors(what: str) -> Iterator[None]:
    """Re-raise botocore errors as portsync errors, naming ``what`` was being done.

    Raises:
        ProviderError: or a subclass, from the botocore exception.
    """
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        ReadTimeoutError,
    )

    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        message = exc.response.get("Error", {}).get("Message", str(exc))
        cls = ERROR_CODES.get(code, ProviderError)
        raise cls(f"AWS {what} failed: {code}: {message}", hint=_HINTS.get(cls), code=code) from exc
    except NoCredentialsError as exc:
        raise AuthError(
            f"AWS {what} failed: no credentials found",
            hint="configure an AWS profile, environment variables or an instance role",
        ) from exc
    except NoRegionError as exc:
        raise ProviderError(
            f"AWS {what} failed: no region", hint="set region: in the cluster"
        ) from exc
    except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError) as exc:
        raise ProviderError(
            f"AWS {what} failed: cannot reach the endpoint ({exc})",
            hint="check the network, the region, or the cluster's endpoint:",
        ) from exc
    except BotoCoreError as exc:
        raise ProviderError(f"AWS {what} failed: {exc}") from exc
