"""Tolerant reading of third-party JSON: a payload with a null, a number, a string, a list
or an object where another type belongs must still map with what it has (or be refused
with InvalidPayload naming the field), never fail with another exception.

Every iteration over third-party JSON goes through `as_list` or `first_items`, both
bounded: a payload with thousands of tags, labels or dimensions costs no more than one
with MAX_ITEMS (no AWS or Alertmanager object has more: 50 tags, 30 dimensions).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from itertools import islice
from typing import Any

from itom_forwarder.itom_event import ELLIPSIS, stringify

__all__ = [
    "MAX_ITEMS",
    "as_list",
    "as_mapping",
    "decode_json",
    "first_items",
    "json_type",
    "shown",
    "text_map",
    "text_of",
    "text_or_none",
]

MAX_ITEMS = 100


def as_mapping(value: object) -> Mapping[str, Any]:
    """JSON navigation that tolerates nulls and wrong types in third-party payloads."""
    # type() first: a JSON object is a dict, and an ABC's isinstance is several times slower.
    return value if type(value) is dict or isinstance(value, Mapping) else {}


def as_list(value: object, limit: int = MAX_ITEMS) -> list[Any]:
    """The items where a list belongs, at most `limit` of them: a list as it is, null as
    none, and any single value (a number, a string, an object) as a list of that one value,
    so a string is never iterated character by character. Callers still check each item."""
    if value is None:
        return []
    if isinstance(value, list):
        return value[:limit]
    return [value]


def first_items(value: object, limit: int = MAX_ITEMS) -> list[tuple[str, Any]]:
    """The first `limit` entries of an object (none when it is not one)."""
    return list(islice(as_mapping(value).items(), limit))


def text_of(value: object) -> str:
    """Any JSON value as text: a string as it is, anything else as JSON writes it (never
    Python's repr, which fails on nesting too deep)."""
    return stringify(value)


def text_or_none(value: object) -> str | None:
    """A text field of a third-party payload: None for null or empty, anything else as text."""
    if type(value) is str:
        return value or None
    if value is None or value == "":
        return None
    return stringify(value)


def text_map(value: object, limit: int = MAX_ITEMS) -> dict[str, str]:
    """An object of text values (labels, annotations, attributes): its first `limit`
    entries, each value as text; nulls are left out."""
    return {key: stringify(item) for key, item in first_items(value, limit) if item is not None}


def json_type(value: object) -> str:
    """The JSON name of a value's type, for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    return "array" if isinstance(value, list) else type(value).__name__


def shown(value: object, width: int = 40) -> str:
    """A short quotation of a wrong value for an error message."""
    text = stringify(value)
    return repr(text if len(text) <= width else text[:width] + ELLIPSIS)


def decode_json(text: str) -> object | None:
    """The JSON value of `text`, or None when it is not JSON (nested too deep to decode
    counts as not JSON: the text is kept as it is)."""
    try:
        value: object = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value
