"""The compute v1 discovery document's firewall subset, and request checks read from it.

The GCP emulator refuses what Compute Engine refuses because it reads the rules from Google's
own machine-readable definition rather than restating them: per-method required fields
(``annotations.required``), JSON types and formats, enums, ``pattern``, ``minimum``/``maximum``
and the integer bounds the document states in a field's description ("an integer between `0`
and `65535`").

The definition is the subset of ``compute.v1.json`` (shipped in google-api-python-client, under
``googleapiclient/discovery_cache/documents/``) that the emulator serves: the ``firewalls`` and
``globalOperations`` methods, the standard query parameters and every schema a request body of
those methods reaches.  It is vendored in ``spec/`` (see ``spec/README.md`` for provenance and
licence) so that the emulator, which ``portsync demo`` runs, needs no dev-only package at run
time.  Refresh it from the installed client with::

    python -m portsync.providers.gcp.discovery --refresh

``tests/providers/gcp/test_emulator_conformance.py`` fails when the vendored copy and the
installed document disagree.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import re
import sys
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Final

__all__ = ["SPEC_FILE", "Discovery", "SpecViolation", "extract", "load"]

Json = dict[str, Any]

SPEC_FILE: Final = Path(__file__).with_name("spec") / "compute-v1-firewalls.json"
RESOURCES: Final = ("firewalls", "globalOperations")
SERVICE: Final = "compute"

# Bounds of the JSON formats the discovery format uses (protobuf JSON mapping).
_FORMAT_BOUNDS: Final[Mapping[str, tuple[int, int]]] = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}
# How the document states an integer field's range in prose, e.g. Firewall.priority.
_DOCUMENTED_RANGE: Final = re.compile(r"integer between `(-?\d+)` and `(-?\d+)`")


@dataclasses.dataclass(frozen=True, slots=True)
class SpecViolation(Exception):
    """A request body breaks the discovery document.

    Attributes:
        kind: ``required``, ``unknown``, ``type``, ``enum``, ``pattern`` or ``range``.
        location: the field as Google names it in errors, e.g. ``resource.allowed[0].ports``.
        value: the offending value (None for a missing field).
        expected: the type name, pattern, enum values or bounds that were broken.
    """

    kind: str
    location: str
    value: Any = None
    expected: str = ""

    def __str__(self) -> str:
        return f"{self.kind} at {self.location}: {self.value!r} ({self.expected})"


class Discovery:
    """Request-body checks of one discovery (sub)document."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.schemas: Mapping[str, Json] = document["schemas"]
        self.revision = str(document.get("revision", ""))

    def method(self, method_id: str) -> Json:
        """The discovery method, e.g. ``"firewalls.patch"`` (without the ``compute.`` prefix)."""
        resource, name = method_id.split(".", 1)
        found: Json = self.document["resources"][resource]["methods"][name]
        return found

    def request_schema(self, method_id: str) -> str | None:
        """Name of the schema of the method's request body, None when it takes no body."""
        request = self.method(method_id).get("request")
        return None if request is None else str(request["$ref"])

    def required_fields(self, method_id: str) -> list[str]:
        """Top-level body fields annotated as required for this method."""
        schema_name = self.request_schema(method_id)
        if schema_name is None:
            return []
        full_id = f"{SERVICE}.{method_id}"
        return [
            name
            for name, prop in self.schemas[schema_name].get("properties", {}).items()
            if full_id in prop.get("annotations", {}).get("required", ())
        ]

    def property(self, schema_name: str, field: str) -> Json:
        """One property of a schema, e.g. ``("Firewall", "priority")``."""
        found: Json = self.schemas[schema_name]["properties"][field]
        return found

    def integer_bounds(self, schema_name: str, field: str) -> tuple[int, int]:
        """The bounds of an integer property: documented range, else min/max, else format."""
        return _integer_bounds(self.property(schema_name, field))

    def pattern(self, schema_name: str, field: str) -> str:
        """The ``pattern`` of a string property."""
        return str(self.property(schema_name, field)["pattern"])

    def check_request(self, method_id: str, body: Mapping[str, Any]) -> None:
        """Check a request body against the method's request schema.

        Raises:
            SpecViolation: the first breach found, fields in document order.
        """
        schema_name = self.request_schema(method_id)
        if schema_name is None:
            return
        for field in self.required_fields(method_id):
            if body.get(field) in (None, ""):
                raise SpecViolation("required", f"resource.{field}", None, "required")
        self._check({"$ref": schema_name}, body, "resource")

    # ------------------------------------------------------------------ walking

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"]]
        return schema

    def _check(self, schema: Mapping[str, Any], value: Any, where: str) -> None:
        schema = self._resolve(schema)
        kind = schema.get("type")
        if value is None:
            return  # JSON null means "not set" in the protobuf JSON mapping
        if kind == "object":
            self._check_object(schema, value, where)
        elif kind == "array":
            if not isinstance(value, list):
                raise SpecViolation("type", where, value, "TYPE_LIST")
            for i, item in enumerate(value):
                self._check(schema["items"], item, f"{where}[{i}]")
        elif kind == "string":
            _check_string(schema, value, where)
        elif kind == "integer":
            _check_integer(schema, value, where)
        elif kind == "boolean":
            if not isinstance(value, bool):
                raise SpecViolation("type", where, value, "TYPE_BOOL")
        elif kind in ("number", "any"):
            return
        else:
            raise ValueError(f"discovery schema type {kind!r} at {where} is not understood")

    def _check_object(self, schema: Mapping[str, Any], value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise SpecViolation("type", where, value, "TYPE_MESSAGE")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                self._check(properties[key], item, f"{where}.{key}")
            elif extra is not None:
                self._check(extra, item, f"{where}[{key!r}]")
            else:
                raise SpecViolation("unknown", where, key, "Cannot find field.")


def _integer_bounds(prop: Mapping[str, Any]) -> tuple[int, int]:
    low, high = _FORMAT_BOUNDS.get(str(prop.get("format", "int64")), _FORMAT_BOUNDS["int64"])
    if "minimum" in prop:
        low = max(low, int(prop["minimum"]))
    if "maximum" in prop:
        high = min(high, int(prop["maximum"]))
    documented = _DOCUMENTED_RANGE.search(str(prop.get("description", "")))
    if documented is not None:
        low, high = max(low, int(documented.group(1))), min(high, int(documented.group(2)))
    return low, high


def _check_string(schema: Mapping[str, Any], value: Any, where: str) -> None:
    fmt = schema.get("format")
    if fmt in _FORMAT_BOUNDS:  # 64-bit integers travel as strings; ints are accepted too
        _check_integer(schema, value, where)
        return
    if not isinstance(value, str):
        raise SpecViolation("type", where, value, "TYPE_STRING")
    if "enum" in schema and value not in schema["enum"]:
        raise SpecViolation("enum", where, value, ", ".join(schema["enum"]))
    pattern = schema.get("pattern")
    if pattern is not None and re.fullmatch(pattern, value) is None:
        raise SpecViolation("pattern", where, value, pattern)


def _check_integer(schema: Mapping[str, Any], value: Any, where: str) -> None:
    fmt = str(schema.get("format", "int32")).upper()
    type_name = f"TYPE_{fmt}"
    if isinstance(value, bool):
        raise SpecViolation("type", where, value, type_name)
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        number = int(value)
    else:
        raise SpecViolation("type", where, value, type_name)
    low, high = _integer_bounds(schema)
    if not low <= number <= high:
        raise SpecViolation("range", where, value, f"between {low} and {high}")


# --------------------------------------------------------------------------- the vendored file


def extract(document: Mapping[str, Any]) -> Json:
    """The subset of a full ``compute.v1.json`` the emulator needs (what ``spec/`` holds)."""
    resources_ = {name: document["resources"][name] for name in RESOURCES}
    wanted: set[str] = set()
    for resource in resources_.values():
        for method in resource["methods"].values():
            if "request" in method:
                wanted.add(method["request"]["$ref"])
    schemas: Json = {}
    pending = sorted(wanted)
    while pending:
        name = pending.pop()
        if name in schemas:
            continue
        schemas[name] = document["schemas"][name]
        pending.extend(sorted(set(_refs(schemas[name])) - schemas.keys()))
    return {
        "name": document["name"],
        "version": document["version"],
        "revision": document["revision"],
        "servicePath": document["servicePath"],
        "parameters": document["parameters"],
        "resources": resources_,
        "schemas": dict(sorted(schemas.items())),
    }


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def installed_document() -> Json | None:
    """The full ``compute.v1.json`` of the installed google-api-python-client, if any."""
    try:
        root = resources.files("googleapiclient")
    except ModuleNotFoundError:
        return None
    loaded: Json = json.loads(
        (root / "discovery_cache/documents/compute.v1.json").read_text(encoding="utf-8")
    )
    return loaded


@functools.cache
def load() -> Discovery:
    """The vendored subset, read once per process.

    Raises:
        RuntimeError: the file is missing from the installation.
    """
    try:
        text = SPEC_FILE.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuntimeError(
            f"the compute v1 discovery subset is missing ({SPEC_FILE}); reinstall portsync, "
            "or run: python -m portsync.providers.gcp.discovery --refresh"
        ) from None
    return Discovery(json.loads(text))


def main(argv: list[str] | None = None) -> int:
    """Write the vendored subset from the installed google-api-python-client."""
    parser = argparse.ArgumentParser(prog="python -m portsync.providers.gcp.discovery")
    parser.add_argument(
        "--refresh", action="store_true", help="rewrite spec/ from the installed client"
    )
    args = parser.parse_args(argv)
    if not args.refresh:
        parser.print_help()
        return 0
    document = installed_document()
    if document is None:
        print("google-api-python-client is not installed (pip install 'portsync[dev]')")
        return 1
    SPEC_FILE.write_text(json.dumps(extract(document), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {SPEC_FILE} (compute v1 revision {document['revision']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
