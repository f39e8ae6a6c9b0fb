"""Generic alerts: payloads that already speak ServiceNow's event field names.

Accepted: one object, a list of objects, or `{"records": [...]}`. Severity may be a digit,
a number or a name; time_of_event ISO-8601 or epoch seconds/milliseconds. Keys that are not
ITOM fields are kept in additional_info. A payload with any invalid record is rejected
whole, with every problem listed, so a replay after the fix sends it exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from itom_forwarder.formats.json_values import decode_json, json_type
from itom_forwarder.formats.notification import Notification
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.formats.shapes import generic_records as records_of
from itom_forwarder.itom_event import (
    ITOM_FIELDS,
    MAX_INFO_ENTRIES,
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


def _additional_info(value: object) -> Mapping[str, object]:
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        parsed = decode_json(value)
        # ServiceNow turns plain text into {"additional_content": ...}; do the same here
        # so extra keys can be merged into one object.
        return parsed if isinstance(parsed, Mapping) else {"additional_content": value}
    raise InvalidPayload(f"additional_info: must be an object or a string, got {json_type(value)}")


def _resolution_state(value: object) -> str | None:
    if value in (None, ""):
        return None
    text = value.strip().lower() if isinstance(value, str) else None
    matched = next((state for state in RESOLUTION_STATES if state.lower() == text), None)
    if matched is None:
        raise InvalidPayload("resolution_state: must be New or Closing")
    return matched


def _merged_info(
    record: Mapping[str, Any], own: Mapping[str, object], context: Mapping[str, object]
) -> tuple[dict[str, object], int]:
    """additional_info: the route's context first (so it survives a cut), then the record's
    own additional_info and its keys that are not ITOM fields, which win over the context.
    At most MAX_INFO_ENTRIES entries are copied, however many the record has; the number
    of keys left out is returned (counted, not visited)."""
    info: dict[str, object] = {key: value for key, value in context.items() if value is not None}
    extras = ((key, value) for key, value in record.items() if key not in ITOM_FIELDS)
    extras_count = len(record) - sum(1 for name in ITOM_FIELDS if name in record)
    omitted = 0
    for items, count in ((iter(own.items()), len(own)), (extras, extras_count)):
        looked = 0
        for key, value in items:
            if len(info) >= MAX_INFO_ENTRIES:
                break
            looked += 1
            if value is not None:
                info[key] = value
        omitted += count - looked
    return info, omitted


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
    moment = None
    if record.get("time_of_event") not in (None, ""):
        moment = checked("time_of_event", lambda: parse_time(record["time_of_event"]))
    resolution_state = checked("resolution_state", lambda: _resolution_state(record.get("resolution_state")))
    own = checked("additional_info", lambda: _additional_info(record.get("additional_info"))) or {}
    if problems:
        raise InvalidPayload("; ".join(map(str, problems)), tuple(problems))
    info, omitted = _merged_info(record, own, notification.context())
    return ItomEvent(
        severity=severity,
        source=fields.pop("source", options.sns_source),
        time_of_event=format_time(moment) if moment else None,
        source_time=moment,
        resolution_state=resolution_state,
        additional_info=info,
        additional_info_omitted=omitted,
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
