"""Protobuf messages of google-cloud-compute → the REST JSON shape, quickly.

proto-plus's ``to_dict`` goes through ``google.protobuf.json_format``, which is written in pure
Python and walks every field descriptor of every message: on a 2,000-firewall project it costs as
much as the list calls themselves. The firewalls portsync reads only need the JSON shape, so this
walks the fields that are set (``ListFields``, implemented natively by the upb backend) and fills
in the empty lists ``to_dict`` adds. ``tests/providers/gcp/test_convert.py`` checks the result
against ``to_dict`` field for field.

A read needs the JSON shape of none of the firewalls it lists: it expands each one from the
fields of its message (:func:`view_of_message`), and :class:`Converted` converts a firewall whole
only when a write needs it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from .limits import DEFAULT_PRIORITY
from .peers import SERVICE_ACCOUNT, TAG
from .translate import FirewallShape, FirewallView, RawEntries, is_egress

__all__ = [
    "Converted",
    "items_of",
    "items_to_dicts",
    "message_to_dict",
    "targets_of_message",
    "view_of_message",
]

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

_TAG = f"{TAG.value}:"
_ACCOUNT = f"{SERVICE_ACCOUNT.value}:"

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


def message_to_dict(message: Any) -> dict[str, Any]:
    """``type(message).to_dict(message, preserving_proto_field_name=False)``, without
    json_format: the message in the REST JSON shape (camelCase keys, 64-bit integers as
    strings, enums by name, every repeated field present)."""
    return _pb_to_dict(type(message).pb(message))


def items_to_dicts(page: Any) -> list[dict[str, Any]]:
    """The ``items`` of a list page (a proto-plus message), each as :func:`message_to_dict`
    gives it. Walks the raw protobuf items: proto-plus would wrap each one in a new object on
    the way."""
    return [_pb_to_dict(item) for item in type(page).pb(page).items]


def items_of(page: Any) -> list[Any]:
    """The raw protobuf ``items`` of a list page (a proto-plus message), unconverted."""
    return list(type(page).pb(page).items)


def targets_of_message(pb: Any) -> list[str]:
    """:func:`.translate.targets_of` of a raw ``Firewall`` message."""
    tags = pb.target_tags
    accounts = pb.target_service_accounts
    if not len(accounts):
        # The common case, one tag, without a loop.
        return [_TAG + tags[0]] if len(tags) == 1 else [_TAG + t for t in tags]
    return [_TAG + t for t in tags] + [_ACCOUNT + a for a in accounts]


def view_of_message(pb: Any, targets: list[str] | None = None) -> FirewallView:
    """``translate.view_of(message_to_dict(message))`` of a raw ``Firewall`` message, read from
    its fields directly (``targets``: its :func:`targets_of_message`, when already known).

    A read expands every listed firewall, and converting each into the JSON shape first cost
    more than expanding it. Every field read here is a proto3 ``optional`` or repeated field, so
    an absent one reads as its empty value, as its missing key does in the JSON shape;
    ``priority`` alone has a default other than zero, so its presence is asked. A repeated field
    costs a container object each time it is read: each is read once, and only on the side
    (sources or destinations) the direction looks at."""
    denied = pb.denied
    denying = len(denied) > 0
    direction = pb.direction or "INGRESS"
    if is_egress(direction):
        ranges: tuple[Any, ...] = tuple(pb.destination_ranges[:])
        tags: tuple[Any, ...] = ()
        accounts: tuple[Any, ...] = ()
    else:
        ranges = tuple(pb.source_ranges[:])
        tags = pb.source_tags
        tags = tuple(tags[:]) if len(tags) else ()
        accounts = pb.source_service_accounts
        accounts = tuple(accounts[:]) if len(accounts) else ()
    return _view(
        (
            pb.name,
            targets_of_message(pb) if targets is None else targets,
            pb.disabled,
            pb.network,
            _shape(
                (
                    pb.description,
                    direction,
                    pb.priority if pb.HasField("priority") else DEFAULT_PRIORITY,
                    denying,
                    _entries(denied if denying else pb.allowed),
                    ranges,
                    tags,
                    accounts,
                )
            ),
        )
    )


#: ``FirewallView(*values)`` and ``FirewallShape(*values)`` without the Python-level ``__new__``
#: named tuples are given: two of each listed firewall.
_view = functools.partial(tuple.__new__, FirewallView)
_shape = functools.partial(tuple.__new__, FirewallShape)


def _entries(entries: Any) -> RawEntries:
    """``allowed`` (or ``denied``) as :data:`.translate.RawEntries`."""
    if len(entries) == 1:
        # The common case, one entry, without a loop.
        entry = entries[0]
        return ((entry.I_p_protocol, tuple(entry.ports[:])),)
    return tuple([(e.I_p_protocol, tuple(e.ports[:])) for e in entries])


class Converted(Mapping[str, Mapping[str, Any]]):
    """Raw messages by name, each given as :func:`message_to_dict` gives it (read-only),
    converted the first time it is asked for."""

    __slots__ = ("_done", "_messages")

    def __init__(self, messages: Mapping[str, Any]) -> None:
        self._messages = dict(messages)
        self._done: dict[str, Mapping[str, Any]] = {}

    def __getitem__(self, name: str) -> Mapping[str, Any]:
        found = self._done.get(name)
        if found is None:
            # Two threads may convert one message at once: both get equal dicts.
            found = self._done[name] = MappingProxyType(_pb_to_dict(self._messages[name]))
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._messages)

    def __len__(self) -> int:
        return len(self._messages)


#: How a field's values convert: as they are, as decimal text (64-bit integers), by enum name, or
#: as a nested message.
_PLAIN, _TEXT, _ENUM, _MESSAGE = range(4)
#: Per field: (json name, repeated, map, how its values convert, enum values by number).
_field_cache: dict[FieldDescriptor, tuple[str, bool, bool, int, Any]] = {}


def _field(fd: FieldDescriptor) -> tuple[str, bool, bool, int, Any]:
    """What converting ``fd`` needs, worked out once per field descriptor."""
    found = _field_cache.get(fd)
    if found is None:
        repeated = _is_repeated(fd)
        is_map = repeated and _is_map(fd)
        inner = fd.message_type.fields_by_name["value"] if is_map else fd
        if inner.type in _INT64_TYPES:
            kind, extra = _TEXT, None
        elif inner.type == FieldDescriptor.TYPE_ENUM:
            kind, extra = _ENUM, inner.enum_type.values_by_number
        elif inner.type == FieldDescriptor.TYPE_MESSAGE:
            kind, extra = _MESSAGE, None
        else:
            kind, extra = _PLAIN, None
        found = (fd.json_name, repeated, is_map, kind, extra)
        _field_cache[fd] = found
    return found


def _pb_to_dict(pb: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fd, value in pb.ListFields():
        name, repeated, is_map, kind, extra = _field_cache.get(fd) or _field(fd)
        if is_map:
            out[name] = {str(k): _convert(kind, extra, v) for k, v in value.items()}
        elif repeated:
            if kind == _PLAIN:
                out[name] = list(value)
            else:
                out[name] = [_convert(kind, extra, v) for v in value]
        elif kind == _PLAIN:
            out[name] = value
        else:
            out[name] = _convert(kind, extra, value)
    for name, is_map in _repeated_cache.get(pb.DESCRIPTOR) or _repeated_fields(pb.DESCRIPTOR):
        if name not in out:
            out[name] = {} if is_map else []
    return out


def _convert(kind: int, extra: Any, value: Any) -> Any:
    if kind == _MESSAGE:
        return _pb_to_dict(value)
    if kind == _TEXT:
        return str(value)
    if kind == _ENUM:
        known = extra.get(value)
        return known.name if known is not None else value
    return value
