"""Generic alerts: payloads that already speak ServiceNow's event field names.

Accepted: one object, a list of objects, or `{"records": [...]}`. Severity may be a digit,
a number or a name; time_of_event ISO-8601 or epoch seconds/milliseconds. Keys that are not
ITOM fields are kept in additional_info. A payload with any invalid record is rejected
whole, with every problem listed, so a replay after the fix sends it exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from itom_forwarder.formats.notification import Notification
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.itom_event import (
    ITOM_FIELDS,
    RESOLUTION_STATES,
    InvalidPayload,
    ItomEvent,
    Problem,
    format_time,
    map_each,
    normalise_severity,
    parse_time,
    stringify,
)

MAX_RECORDS = 1000
T = TypeVar("T")


def records_of(payload: object) -> list[object] | None:
    """The records of a generic payload, or None when it is not a generic payload."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, Mapping):
        if set(payload) == {"records"} and isinstance(payload["records"], list):
            return list(payload["records"])
        if ITOM_FIELDS & set(payload):
            return [payload]
    return None


def is_generic(payload: object) -> bool:
    return records_of(payload) is not None


def _additional_info(value: object) -> dict[str, object]:
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        # ServiceNow turns plain text into {"additional_content": ...}; do the same here
        # so extra keys can be merged into one object.
        return dict(parsed) if isinstance(parsed, dict) else {"additional_content": value}
    raise InvalidPayload("additional_info: must be an object or a string")


def _resolution_state(value: object) -> str | None:
    if value in (None, ""):
        return None
    matched = next((state for state in RESOLUTION_STATES if state.lower() == str(value).lower()), None)
    if matched is None:
        raise InvalidPayload("resolution_state: must be New or Closing")
    return matched


def _record_to_event(
    record: Mapping[str, Any], index: int, notification: Notification, options: MappingOptions
) -> ItomEvent:
    """One record, or InvalidPayload listing every field that is wrong in it."""
    problems: list[Problem] = []

    def checked(field: str, parse: Callable[[], T]) -> T | None:
        try:
            return parse()
        except InvalidPayload as error:
            problems.append(Problem(str(error).removeprefix(f"{field}: "), field, index))
            return None

    fields = {
        key: stringify(record[key])
        for key in ITOM_FIELDS - {"severity", "time_of_event", "additional_info", "resolution_state"}
        if record.get(key) not in (None, "")
    }
    severity_value = record.get("severity")
    severity = options.default_severity
    if severity_value not in (None, ""):
        severity = checked("severity", lambda: normalise_severity(severity_value)) or severity
    time_of_event = None
    if record.get("time_of_event") not in (None, ""):
        time_of_event = checked("time_of_event", lambda: format_time(parse_time(record["time_of_event"])))
    resolution_state = checked("resolution_state", lambda: _resolution_state(record.get("resolution_state")))
    info = checked("additional_info", lambda: _additional_info(record.get("additional_info"))) or {}
    if problems:
        raise InvalidPayload("; ".join(map(str, problems)), tuple(problems))
    info.update({key: value for key, value in record.items() if key not in ITOM_FIELDS})
    for key, value in notification.context().items():
        info.setdefault(key, value)
    return ItomEvent(
        severity=severity,
        source=fields.pop("source", options.sns_source),
        time_of_event=time_of_event,
        resolution_state=resolution_state,
        additional_info={key: value for key, value in info.items() if value is not None},
        **fields,
    )


def to_events(payload: object, notification: Notification, options: MappingOptions) -> list[ItomEvent]:
    records = records_of(payload)
    if records is None:
        raise InvalidPayload('payload: expected an ITOM event object, a list of them, or {"records": [...]}')
    if not records:
        raise InvalidPayload("records: empty, expected at least one event")
    if len(records) > MAX_RECORDS:
        raise InvalidPayload(f"records: {len(records)} events, at most {MAX_RECORDS} per message")
    return map_each(records, lambda record, index: _record_to_event(record, index, notification, options))
