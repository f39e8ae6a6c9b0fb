"""Null-tolerant reading of third-party JSON: a payload with a null, a number or an object
where text or an object belongs must still map."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["as_mapping", "text_or_none"]


def as_mapping(value: object) -> Mapping[str, Any]:
    """JSON navigation that tolerates nulls and wrong types in third-party payloads."""
    return value if isinstance(value, Mapping) else {}


def text_or_none(value: object) -> str | None:
    """A text field of a third-party payload: None for null or empty, anything else as text."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return json.dumps(value, default=str, sort_keys=True)
