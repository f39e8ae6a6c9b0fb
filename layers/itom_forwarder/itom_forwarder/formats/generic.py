"""Generic alerts: payloads that already speak ServiceNow's event field names.

Accepted: one object, a list of objects, or `{"records": [...]}`. Severity may be a digit,
a number or a name; time_of_event ISO-8601 or epoch seconds/milliseconds. Keys that are not
ITOM fields are kept in additional_info. A payload with any invalid record is rejected
whole, with every problem listed, so a replay after the fix sends it exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from itom_forwarder.config import MappingSettings
from itom_forwarder.event import (
    ITOM_FIELDS,
    RESOLUTION_STATES,
    InvalidPayload,
    ItomEvent,
    format_time,
    normalise_severity,
    parse_time,
    stringify,
)
from itom_forwarder.formats.notification import Notification

MAX_RECORDS = 1000


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


def _additional_info(value: object, where: str) -> dict[str, object]:
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
    raise InvalidPayload(f"{where}.additional_info: must be an object or a string")


def _record_to_event(
    record: Mapping[str, Any], where: str, notification: Notification, settings: MappingSettings
) -> ItomEvent:
    fields: dict[str, str] = {}
    for key in ITOM_FIELDS - {"severity", "time_of_event", "additional_info", "resolution_state"}:
        value = record.get(key)
        if value is not None and value != "":
            fields[key] = stringify(value)
    severity_value = record.get("severity")
    if severity_value is None or severity_value == "":
        severity = settings.default_severity
    else:
        severity = normalise_severity(severity_value, field_name=f"{where}.severity")
    time_of_event = None
    if record.get("time_of_event") not in (None, ""):
        time_of_event = format_time(parse_time(record["time_of_event"], field_name=f"{where}.time_of_event"))
    resolution_state = record.get("resolution_state")
    if resolution_state not in (None, ""):
        matched = next((state for state in RESOLUTION_STATES if state.lower() == str(resolution_state).lower()), None)
        if matched is None:
            raise InvalidPayload(f"{where}.resolution_state: must be New or Closing")
        resolution_state = matched
    else:
        resolution_state = None
    info = _additional_info(record.get("additional_info"), where)
    info.update({key: value for key, value in record.items() if key not in ITOM_FIELDS})
    for key, value in notification.context().items():
        info.setdefault(key, value)
    return ItomEvent(
        severity=severity,
        source=fields.pop("source", settings.sns_source),
        time_of_event=time_of_event,
        resolution_state=resolution_state,
        additional_info={key: value for key, value in info.items() if value is not None},
        **fields,
    )


def to_events(payload: object, notification: Notification, settings: MappingSettings) -> list[ItomEvent]:
    records = records_of(payload)
    if records is None:
        raise InvalidPayload('payload: expected an ITOM event object, a list of them, or {"records": [...]}')
    if not records:
        raise InvalidPayload("records: empty, expected at least one event")
    if len(records) > MAX_RECORDS:
        raise InvalidPayload(f"records: {len(records)} events, at most {MAX_RECORDS} per message")
    events: list[ItomEvent] = []
    problems: list[str] = []
    for index, record in enumerate(records):
        where = f"records[{index}]"
        if not isinstance(record, Mapping):
            problems.append(f"{where}: must be an object, got {type(record).__name__}")
            continue
        try:
            events.append(_record_to_event(record, where, notification, settings))
        except InvalidPayload as problem:
            problems.append(str(problem))
    if problems:
        raise InvalidPayload("; ".join(problems))
    return events
