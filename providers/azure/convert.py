"""azure-mgmt-network models → plain dicts in the REST JSON shape, quickly.

The SDK's models are mappings over the REST JSON they were built from (camelCase keys, nested
models for nested objects). Their own ``as_dict`` returns the same thing but, for every key of
every nested model, scans the model's field table: listing 200 NSGs of 20 rules costs about as much
as the list call itself. This walks the same mapping without that scan. The listing itself takes
each page's JSON as the response parsed it (:mod:`.listing`) and comes here only for a page it
cannot take that way; single NSGs (a GET, the answer to a PUT) are converted here.
``tests/providers/azure/test_convert.py`` checks the result against ``as_dict`` on real
responses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azure.core.serialization import NULL

__all__ = ["model_to_dict"]


_SCALARS = (str, int, float, bool)


def _fields(model: Any) -> Any:
    """The model's REST fields as a mapping. The generated models keep them in ``_data``; reading
    it directly skips a per-key ``hasattr`` pair in ``__getitem__`` that only matters after an
    attribute was read and mutated, which never happens to a model fresh off a response."""
    data = getattr(model, "_data", None)
    return data if type(data) is dict else model


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind in _SCALARS or value is None:
        return value
    if kind is list or kind is tuple or kind is set:
        return kind(_plain(item) for item in value)
    if kind is dict:
        return {key: _plain(item) for key, item in value.items()}
    if value is NULL:
        return None
    if isinstance(value, Mapping):
        # A model: a mapping whose keys are the REST names already.
        return {key: _plain(item) for key, item in _fields(value).items()}
    if isinstance(value, (list, tuple, set)):
        return type(value)(_plain(item) for item in value)
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return value


def model_to_dict(model: Any) -> dict[str, Any]:
    """``model.as_dict()`` for a model of azure-mgmt-network: its REST JSON as plain dicts and
    lists (read-only fields included, explicit nulls as None)."""
    if not isinstance(model, Mapping):
        data: dict[str, Any] = model.as_dict() if hasattr(model, "as_dict") else dict(model)
        return data
    return {key: _plain(item) for key, item in _fields(model).items()}
