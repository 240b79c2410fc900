"""ARM's error envelope, as the emulator answers it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .routes import JSON


class ArmError(Exception):
    """An ARM error response: ``{"error": {"code", "message", "details"}}`` with a status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Sequence[JSON] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})

    def body(self) -> JSON:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


def _not_found(kind: str, resource_group: str, name: str) -> ArmError:
    """ARM's 404 for ``Microsoft.Network/<kind>/<name>`` (networkSecurityGroups, …)."""
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource 'Microsoft.Network/{kind}/{name}' under resource group "
        f"'{resource_group}' was not found. For more details please go to "
        "https://aka.ms/ARMResourceNotFoundFix",
    )


def _bad_format(path: str, problem: str) -> ArmError:
    # Microsoft.Network answers body-shape problems (wrong JSON type, unknown enum value)
    # with InvalidRequestFormat and the JSON path in an InvalidJson detail.
    return ArmError(
        400,
        "InvalidRequestFormat",
        "Cannot parse the request.",
        details=[{"code": "InvalidJson", "message": f"{problem} Path '{path}'."}],
    )
