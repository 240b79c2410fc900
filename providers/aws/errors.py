"""Mapping botocore errors to the portsync error tree, in one place."""

from __future__ import annotations

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

__all__ = ["ERROR_CODES", "map_sdk_errors"]

#: EC2 error codes portsync expects, and the portsync class each becomes.
ERROR_CODES: dict[str, type[PortsyncError]] = {
    "AuthFailure": AuthError,
    "UnauthorizedOperation": AuthError,
    "AccessDenied": AuthError,
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

#: Codes of a call the caller's policy does not allow.
DENIED_CODES = frozenset({"UnauthorizedOperation", "AccessDenied", "AccessDeniedException"})

_HINTS = {
    AuthError: "check the AWS credentials (profile, env, role) and the IAM policy in docs/providers/aws.md",
    NotFoundError: "check the security_group ids and region in the config",
    ThrottledError: "the account is being throttled; retry later or lower concurrency",
    ProviderLimitError: "request a higher rules-per-group quota or remove rules",
}


@contextmanager
def map_sdk_errors(what: str, *, cluster: str = "", endpoint: str = "") -> Iterator[None]:
    """Re-raise botocore errors as portsync errors, naming ``what`` was being done (and, when
    given, the cluster and the endpoint: a timeout names both).

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
    from botocore.parsers import ResponseParserError

    whose = f"cluster {cluster}: " if cluster else ""
    try:
        yield
    except (ConnectTimeoutError, ReadTimeoutError) as exc:
        kind = "connect" if isinstance(exc, ConnectTimeoutError) else "read"
        raise ProviderError(
            f"{whose}AWS {what} failed: no answer from {endpoint or 'the EC2 endpoint'} "
            f"({kind} timeout, {TIMEOUT_ATTEMPTS} attempts at most)",
            hint="check the endpoint: and region: of the cluster, the network or a proxy; "
            "raise timeout: if the endpoint is only slow",
        ) from exc
    except ResponseParserError as exc:
        raise ProviderError(
            f"{whose}AWS {what} failed: the answer from {endpoint or 'the EC2 endpoint'} is not "
            "EC2 XML, so it does not come from EC2",
            hint="check the cluster's region: and endpoint: (a typo can reach another server), "
            "and any proxy in between",
        ) from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        message = exc.response.get("Error", {}).get("Message", str(exc))
        cls = ERROR_CODES.get(code, ProviderError)
        if code in DENIED_CODES:
            action = f"ec2:{exc.operation_name}"
            raise AuthError(
                f"{whose}AWS {what} was denied ({code}): the caller may not call {action}",
                hint=f"allow {action} in the IAM policy of the identity portsync runs as "
                "(docs/providers/aws.md lists every action it needs)",
                code=code,
                permission=action,
            ) from exc
        raise cls(f"AWS {what} failed: {code}: {message}", hint=_HINTS.get(cls), code=code) from exc
    except NoCredentialsError as exc:
        raise AuthError(
            f"{whose}AWS {what} failed: no AWS credentials found; looked at the environment "
            "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), the profile (AWS_PROFILE or profile:) "
            "in the shared credentials and config files, SSO and web identity, and the container "
            "and instance metadata",
            hint="run `aws configure` (or `aws sso login`), set AWS_PROFILE, or give the cluster "
            "a profile:; on AWS compute attach a role",
        ) from exc
    except NoRegionError as exc:
        raise ProviderError(
            f"AWS {what} failed: no region", hint="set region: in the cluster"
        ) from exc
    except EndpointConnectionError as exc:
        raise ProviderError(
            f"{whose}AWS {what} failed: cannot reach {endpoint or 'the EC2 endpoint'}",
            hint="check the network, the region, or the cluster's endpoint:",
        ) from exc
    except BotoCoreError as exc:
        raise ProviderError(f"AWS {what} failed: {exc}") from exc
