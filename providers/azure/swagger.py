"""The Microsoft.Network swagger for network security groups, and request checks read from it.

The Azure emulator refuses what Azure Resource Manager refuses because it reads the rules from
Microsoft's published OpenAPI 2.0 definition (``spec/networkSecurityGroup.json``, a verbatim copy;
see ``spec/README.md`` for provenance and licence) rather than restating them: required
properties, JSON types, integer formats and enums.  Read-only properties are dropped from a
request body without being checked, as ARM ignores them on PUT.

Definitions the swagger takes from other files of the specification (``./network.json#/…``,
``./applicationSecurityGroup.json#/…``) are not part of the copy; values they describe are passed
through unchecked, and the emulator's own checks cover the parts portsync uses (``location``,
``tags``, application security group ids).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Final

__all__ = ["SWAGGER_FILE", "Swagger", "SwaggerViolation", "load"]

JSON = dict[str, Any]

SWAGGER_FILE: Final = Path(__file__).with_name("spec") / "networkSecurityGroup.json"

_INT_FORMATS: Final[Mapping[str, tuple[int, int]]] = {
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}
_LOCAL: Final = "#/definitions/"
# How the swagger states bounds in prose: "The value can be between 100 and 4096",
# "Restricted to 140 chars".
_DOCUMENTED_RANGE: Final = re.compile(r"between (\d+) and (\d+)")
_DOCUMENTED_LENGTH: Final = re.compile(r"Restricted to (\d+) chars")


@dataclasses.dataclass(frozen=True, slots=True)
class SwaggerViolation(Exception):
    """A request body breaks the swagger.

    Attributes:
        kind: ``required``, ``type`` or ``enum``.
        path: JSON path in the request body, e.g. ``properties.securityRules[0].properties``.
        field: the property concerned (for ``required``, the missing one).
        value: the offending value (None for a missing property).
        expected: the type name or the allowed enum values.
        definition: the swagger definition that states the rule, e.g.
            ``SecurityRulePropertiesFormat``.
    """

    kind: str
    path: str
    field: str
    value: Any = None
    expected: str = ""
    definition: str = ""

    def __str__(self) -> str:
        return f"{self.kind} at {self.path or '<body>'}.{self.field}: {self.value!r}"


class Swagger:
    """Request-body checks of one swagger file."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.definitions: Mapping[str, JSON] = document["definitions"]

    def operation(self, operation_id: str) -> tuple[str, str, JSON]:
        """``(method, path template, operation)`` of an ``operationId``."""
        for path, item in self.document["paths"].items():
            for method, op in item.items():
                if isinstance(op, dict) and op.get("operationId") == operation_id:
                    return method, path, op
        raise KeyError(operation_id)

    def body_definition(self, operation_id: str) -> str | None:
        """Local definition name of the operation's body, None when it has none here."""
        _method, _path, op = self.operation(operation_id)
        for parameter in op.get("parameters", []):
            if parameter.get("in") == "body":
                ref = str(parameter["schema"].get("$ref", ""))
                return ref[len(_LOCAL) :] if ref.startswith(_LOCAL) else None
        return None

    def required(self, definition: str) -> list[str]:
        """The ``required`` properties of a definition (own and from local ``allOf`` parts)."""
        return list(self._merged(self.definitions[definition])[1])

    def properties(self, definition: str) -> list[str]:
        """The property names of a definition (own and from local ``allOf`` parts)."""
        return list(self._merged(self.definitions[definition])[0])

    def enum(self, definition: str, prop: str) -> list[str]:
        """The enum values of a property, following a local ``$ref``."""
        schema = self._resolve(self._merged(self.definitions[definition])[0][prop])
        return [str(v) for v in schema["enum"]]

    def property(self, definition: str, prop: str) -> JSON:
        """A property's schema, following a local ``$ref``."""
        return self._resolve(self._merged(self.definitions[definition])[0][prop])

    def documented_range(self, definition: str, prop: str) -> tuple[int, int]:
        """The bounds a property's description states ("between 100 and 4096").

        Raises:
            ValueError: the description states none.
        """
        found = _DOCUMENTED_RANGE.search(str(self.property(definition, prop).get("description")))
        if found is None:
            raise ValueError(f"{definition}.{prop} documents no range")
        return int(found.group(1)), int(found.group(2))

    def documented_max_length(self, definition: str, prop: str) -> int:
        """The length limit a property's description states ("Restricted to 140 chars").

        Raises:
            ValueError: the description states none.
        """
        found = _DOCUMENTED_LENGTH.search(str(self.property(definition, prop).get("description")))
        if found is None:
            raise ValueError(f"{definition}.{prop} documents no length limit")
        return int(found.group(1))

    def check(
        self,
        definition: str,
        value: Any,
        path: str = "",
        *,
        stop_at: Collection[str] = (),
    ) -> Any:
        """Check ``value`` against a definition; return it without read-only properties.

        Args:
            definition: local definition name, e.g. ``NetworkSecurityGroup``.
            value: the request body (or part of it).
            path: JSON path of ``value`` in the request, for messages.
            stop_at: definitions not descended into (the caller checks them itself).

        Raises:
            SwaggerViolation: the first breach found.
        """
        return self._check({"$ref": _LOCAL + definition}, value, path, "", set(stop_at))

    # ------------------------------------------------------------------ walking

    def _resolve(self, schema: Mapping[str, Any]) -> JSON:
        while isinstance(schema.get("$ref"), str) and schema["$ref"].startswith(_LOCAL):
            schema = {**self.definitions[schema["$ref"][len(_LOCAL) :]], **_siblings(schema)}
        return dict(schema)

    def _merged(self, schema: Mapping[str, Any]) -> tuple[JSON, list[str]]:
        """Properties and required names of a schema with its local ``allOf`` parts."""
        properties: JSON = {}
        required: list[str] = []
        for part in schema.get("allOf", []):
            ref = part.get("$ref", "")
            if ref.startswith(_LOCAL):
                more, needed = self._merged(self.definitions[ref[len(_LOCAL) :]])
                properties.update(more)
                required.extend(needed)
        properties.update(schema.get("properties", {}))
        required.extend(schema.get("required", []))
        return properties, required

    def _check(
        self, schema: Mapping[str, Any], value: Any, path: str, name: str, stop_at: set[str]
    ) -> Any:
        ref = schema.get("$ref")
        if isinstance(ref, str) and not ref.startswith(_LOCAL):
            return value  # defined in a file of the specification that is not kept here
        if isinstance(ref, str) and ref[len(_LOCAL) :] in stop_at:
            return value
        definition = ref[len(_LOCAL) :] if isinstance(ref, str) else name
        schema = self._resolve(schema)
        kind = schema.get("type")
        if kind is None and ("properties" in schema or "allOf" in schema):
            kind = "object"
        where = path.rsplit(".", 1)
        field = where[-1]
        if kind == "object":
            return self._check_object(schema, value, path, definition, stop_at)
        if kind == "array":
            if not isinstance(value, list):
                raise SwaggerViolation("type", path, field, value, "array", definition)
            return [
                self._check(schema["items"], item, f"{path}[{i}]", definition, stop_at)
                for i, item in enumerate(value)
            ]
        if kind == "string":
            if not isinstance(value, str):
                raise SwaggerViolation("type", path, field, value, "string", definition)
            allowed = schema.get("enum")
            # Microsoft.Network compares enum values without regard to case.
            if allowed and value.lower() not in {str(a).lower() for a in allowed}:
                raise SwaggerViolation(
                    "enum", path, field, value, ", ".join(map(str, allowed)), definition
                )
            return value
        if kind == "integer":
            low, high = _INT_FORMATS.get(str(schema.get("format", "int64")), _INT_FORMATS["int64"])
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise SwaggerViolation(
                    "type", path, field, value, str(schema.get("format", "integer")), definition
                )
            return value
        if kind == "boolean":
            if not isinstance(value, bool):
                raise SwaggerViolation("type", path, field, value, "boolean", definition)
            return value
        return value

    def _check_object(
        self, schema: Mapping[str, Any], value: Any, path: str, definition: str, stop_at: set[str]
    ) -> Any:
        field = path.rsplit(".", 1)[-1]
        if not isinstance(value, dict):
            raise SwaggerViolation("type", path, field, value, "object", definition)
        properties, required = self._merged(schema)
        for needed in required:
            if value.get(needed) is None:
                raise SwaggerViolation("required", path, needed, None, "", definition)
        out: JSON = {}
        for key, item in value.items():
            prop = properties.get(key)
            if prop is None:
                out[key] = item  # ARM ignores properties it does not know
                continue
            if prop.get("readOnly") or self._resolve(prop).get("readOnly"):
                continue  # read-only: ignored on PUT, as ARM does
            if item is None:
                out[key] = None  # JSON null: not set
                continue
            sub = f"{path}.{key}" if path else key
            out[key] = self._check(prop, item, sub, definition, stop_at)
        return out


def _siblings(schema: Mapping[str, Any]) -> JSON:
    """Keys written next to a ``$ref`` (``readOnly``, ``description``) that still apply."""
    return {k: v for k, v in schema.items() if k != "$ref"}


@functools.cache
def load() -> Swagger:
    """The kept swagger, read once per process.

    Raises:
        RuntimeError: the file is missing from the installation.
    """
    try:
        text = SWAGGER_FILE.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuntimeError(
            f"the Azure network swagger is missing ({SWAGGER_FILE}); reinstall portsync"
        ) from None
    return Swagger(json.loads(text))
