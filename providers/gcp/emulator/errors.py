"""Google's JSON error shapes, as the emulator answers them, and small helpers for resources."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from typing import Any

from .routes import API_ROOT, Json


class _ApiError(Exception):
    """An error answered in Google's JSON error shape."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        status: str | None = None,
        details: list[Json] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.domain = domain
        self.status = status
        self.details = details

    def body(self) -> Json:
        error: Json = {
            "code": self.code,
            "message": self.message,
            "errors": [{"message": self.message, "domain": self.domain, "reason": self.reason}],
        }
        if self.status is not None:
            error["status"] = self.status
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


def _invalid(field: str, value: Any, must: str) -> _ApiError:
    shown = value if isinstance(value, str) else json.dumps(value)
    return _ApiError(400, "invalid", f"Invalid value for field '{field}': '{shown}'. {must}")


def _bad_request(message: str, reason: str = "invalid") -> _ApiError:
    return _ApiError(400, reason, message)


def _required(field: str) -> _ApiError:
    return _ApiError(400, "required", f"Required field '{field}' not specified")


def _type_error(location: str, type_name: str, value: Any) -> _ApiError:
    return _ApiError(
        400, "invalid", f"Invalid value at '{location}' ({type_name}), {json.dumps(value)}"
    )


def _unknown_field(name: str, location: str) -> _ApiError:
    return _ApiError(
        400,
        "invalid",
        f"Invalid JSON payload received. Unknown name \"{name}\" at '{location}': "
        "Cannot find field.",
    )


def _not_found(path: str) -> _ApiError:
    return _ApiError(404, "notFound", f"The resource '{path}' was not found")


def _already_exists(path: str) -> _ApiError:
    return _ApiError(409, "alreadyExists", f"The resource '{path}' already exists")


def _not_ready(path: str) -> _ApiError:
    return _ApiError(400, "resourceNotReady", f"The resource '{path}' is not ready")


def _rate_limited(status_code: int, project: str) -> _ApiError:
    message = (
        "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service "
        f"'compute.googleapis.com' for consumer 'project:{project}'."
    )
    detail: Json = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "RATE_LIMIT_EXCEEDED",
        "domain": "googleapis.com",
        "metadata": {
            "service": "compute.googleapis.com",
            "consumer": f"projects/{project}",
            "quota_metric": "compute.googleapis.com/default",
            "quota_limit": "defaultPerMinutePerProject",
        },
    }
    return _ApiError(
        status_code,
        "rateLimitExceeded",
        message,
        domain="usageLimits",
        status="PERMISSION_DENIED" if status_code == 403 else "RESOURCE_EXHAUSTED",
        details=[detail],
    )


def _server_error(status_code: int) -> _ApiError:
    if status_code == 503:
        return _ApiError(503, "backendError", "The service is currently unavailable.")
    return _ApiError(
        500, "backendError", "Internal error. Please try again or contact Google Support."
    )


# --------------------------------------------------------------------------- helpers


def _now() -> str:
    """RFC 3339 timestamp with milliseconds, as the API writes them."""
    stamp = datetime.now(UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}+00:00"


def _link(project: str, collection: str, name: str | None = None) -> str:
    tail = f"/{name}" if name is not None else ""
    return f"{API_ROOT}projects/{project}/global/{collection}{tail}"


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge, lists and scalars replace, null deletes."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _as_int(value: Any, location: str) -> int:
    if isinstance(value, bool):
        raise _type_error(location, "TYPE_INT32", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise _type_error(location, "TYPE_INT32", value)


def _as_str(value: Any, location: str) -> str:
    if not isinstance(value, str):
        raise _type_error(location, "TYPE_STRING", value)
    return value


def _as_bool(value: Any, location: str) -> bool:
    if not isinstance(value, bool):
        raise _type_error(location, "TYPE_BOOL", value)
    return value


def _as_str_list(value: Any, location: str) -> list[str]:
    if not isinstance(value, list):
        raise _type_error(location, "TYPE_STRING", value)
    return [_as_str(item, f"{location}[{i}]") for i, item in enumerate(value)]
