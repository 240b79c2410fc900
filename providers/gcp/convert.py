"""Protobuf messages of google-cloud-compute → the REST JSON shape, quickly.

proto-plus's ``to_dict`` goes through ``google.protobuf.json_format``, which is written in pure
Python and walks every field descriptor of every message: on a 2,000-firewall project it costs as
much as the list calls themselves. The firewalls portsync reads only need the JSON shape, so this
walks the fields that are set (``ListFields``, implemented natively by the upb backend) and fills
in the empty lists ``to_dict`` adds. ``tests/providers/gcp/test_convert.py`` checks the result
against ``to_dict`` field for field.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

__all__ = ["message_to_dict"]

# JSON has no 64-bit integers: json_format writes these as decimal strings, and so does the API.
_INT64_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)

_repeated_cache: dict[Descriptor, tuple[tuple[str, bool], ...]] = {}


def _repeated_fields(descriptor: Descriptor) -> tuple[tuple[str, bool], ...]:
    """(json name, is a map) of every repeated field: ``to_dict`` always prints them."""
    found = _repeated_cache.get(descriptor)
    if found is None:
        found = tuple((fd.json_name, _is_map(fd)) for fd in descriptor.fields if _is_repeated(fd))
        _repeated_cache[descriptor] = found
    return found


def _is_repeated(fd: FieldDescriptor) -> bool:
    # protobuf 7 dropped ``label`` for ``is_repeated``; older releases only have ``label``.
    flag = getattr(fd, "is_repeated", None)
    if flag is None:
        return bool(fd.label == FieldDescriptor.LABEL_REPEATED)
    return bool(flag)


def _is_map(fd: FieldDescriptor) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def _scalar(fd: FieldDescriptor, value: Any) -> Any:
    if fd.type in _INT64_TYPES:
        return str(value)
    if fd.type == FieldDescriptor.TYPE_ENUM:
        known = fd.enum_type.values_by_number.get(value)
        return known.name if known is not None else value
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        return _pb_to_dict(value)
    return value


def _pb_to_dict(pb: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fd, value in pb.ListFields():
        if not _is_repeated(fd):
            out[fd.json_name] = _scalar(fd, value)
        elif _is_map(fd):
            value_fd = fd.message_type.fields_by_name["value"]
            out[fd.json_name] = {str(k): _scalar(value_fd, v) for k, v in value.items()}
        else:
            out[fd.json_name] = [_scalar(fd, v) for v in value]
    for name, is_map in _repeated_fields(pb.DESCRIPTOR):
        if name not in out:
            out[name] = {} if is_map else []
    return out


def message_to_dict(message: Any) -> dict[str, Any]:
    """``type(message).to_dict(message, preserving_proto_field_name=False)``, without
    json_format: the message in the REST JSON shape (camelCase keys, 64-bit integers as
    strings, enums by name, every repeated field present)."""
    return _pb_to_dict(type(message).pb(message))
