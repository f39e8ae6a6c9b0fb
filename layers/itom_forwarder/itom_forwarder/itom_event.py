"""The ServiceNow ITOM event: its fields, their limits and their normal forms.

Every input format produces `ItomEvent`s; only `ItomEvent.to_record()` decides what the
event API receives, so the limits and formats below are enforced in one place.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from itom_forwarder.failures import FailureReason, PermanentFailure

# Field limits of the em_event table (see the reference facts). A field over its limit is
# cut rather than letting ServiceNow reject or silently truncate the whole event.
FIELD_LIMITS: dict[str, int] = {
    "source": 100,
    "event_class": 100,
    "node": 100,
    "resource": 100,
    "metric_name": 100,
    "type": 100,
    "message_key": 1024,
    "description": 4000,
    "additional_info": 4000,
    "time_of_event": 40,
    "ci_type": 100,
}

ITOM_FIELDS: frozenset[str] = frozenset(
    {
        "source",
        "event_class",
        "node",
        "resource",
        "metric_name",
        "type",
        "severity",
        "description",
        "additional_info",
        "message_key",
        "time_of_event",
        "resolution_state",
        "ci_type",
    }
)

SEVERITY_BY_NAME: dict[str, str] = {
    "critical": "1",
    "major": "2",
    "minor": "3",
    "warning": "4",
    "ok": "5",
    "clear": "0",
}
RESOLUTION_STATES = ("New", "Closing")
SERVICENOW_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
ELLIPSIS = "…"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a payload: which record (if any), which field, why."""

    reason: str
    field: str | None = None
    index: int | None = None

    def __str__(self) -> str:
        return self.describe()

    def describe(self, collection: str = "records") -> str:
        where = f"{collection}[{self.index}]" if self.index is not None else ""
        if self.field:
            where = f"{where}.{self.field}" if where else self.field
        return f"{where}: {self.reason}" if where else self.reason


class InvalidPayload(PermanentFailure):
    """A payload that cannot become an ITOM event (step `map`). The message names the field
    and the problem (never a secret) and is what the dead-letter message carries as its
    reason; `problems` lists each one for an API answer."""

    def __init__(self, message: str, problems: tuple[Problem, ...] = ()) -> None:
        super().__init__(FailureReason("map", message))
        self.problems = problems or (Problem(message),)

    def __str__(self) -> str:
        return self.reason.message


def map_each(
    items: Sequence[object], convert: Callable[[Mapping[str, Any], int], ItomEvent], *, collection: str = "records"
) -> list[ItomEvent]:
    """Convert every item of a payload, listing every problem (with its index) before
    failing, so the sender can fix them all at once and nothing is sent half."""
    events: list[ItomEvent] = []
    problems: list[Problem] = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            problems.append(Problem(f"must be an object, got {type(item).__name__}", None, index))
            continue
        try:
            events.append(convert(item, index))
        except InvalidPayload as invalid:
            problems.extend(invalid.problems)
    if problems:
        raise InvalidPayload("; ".join(problem.describe(collection) for problem in problems), tuple(problems))
    return events


def normalise_severity(value: object, *, field_name: str = "severity") -> str:
    """Accept "0".."5", 0..5, or a severity name in any case; return ServiceNow's digit."""
    if isinstance(value, bool):
        raise InvalidPayload(f"{field_name}: {value!r} is not a severity")
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        text = str(int(value))
    elif isinstance(value, str):
        text = value.strip().lower()
    else:
        raise InvalidPayload(f"{field_name}: {type(value).__name__} is not a severity")
    if text in SEVERITY_BY_NAME:
        return SEVERITY_BY_NAME[text]
    if text in {"0", "1", "2", "3", "4", "5"}:
        return text
    shown = value if len(str(value)) <= 40 else f"{str(value)[:40]}{ELLIPSIS}"
    raise InvalidPayload(
        f"{field_name}: {shown!r} is not a severity (expected 0-5 or critical, major, minor, warning, ok, clear)"
    )


def format_time(moment: datetime) -> str:
    """ServiceNow's `yyyy-MM-dd HH:mm:ss` in UTC; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(SERVICENOW_TIME_FORMAT)


_EPOCH_MS_THRESHOLD = 100_000_000_000  # later than 5138 CE in seconds: must be milliseconds
_NUMERIC = re.compile(r"^-?\d+(\.\d+)?$")
# CloudWatch writes `+0000`; Python 3.11's fromisoformat accepts it, but not all the
# variants tools emit (`Z` with 7 fractional digits, say), so normalise first.
_FRACTION = re.compile(r"\.(\d+)")


def parse_time(value: object, *, field_name: str = "time_of_event") -> datetime:
    """Parse ISO-8601, ServiceNow's own format, or epoch seconds/milliseconds into UTC."""
    if isinstance(value, bool):
        raise InvalidPayload(f"{field_name}: {value!r} is not a time")
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMERIC.match(value.strip())):
        number = float(value)
        if not math.isfinite(number):
            raise InvalidPayload(f"{field_name}: {value!r} is not a time")
        if abs(number) >= _EPOCH_MS_THRESHOLD:
            number /= 1000.0
        try:
            return datetime.fromtimestamp(number, tz=UTC)
        except (OverflowError, OSError, ValueError) as error:
            raise InvalidPayload(f"{field_name}: {value!r} is out of range") from error
    if not isinstance(value, str) or not value.strip():
        raise InvalidPayload(f"{field_name}: {type(value).__name__} is not a time")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = _FRACTION.sub(lambda match: "." + (match.group(1) + "000000")[:6], text, count=1)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidPayload(
            f"{field_name}: {value[:60]!r} is not a time (expected ISO-8601, "
            "'yyyy-MM-dd HH:mm:ss' UTC, or epoch seconds/milliseconds)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def valid_text(text: str) -> str:
    """The text with any lone surrogate (what a cut emoji leaves in JSON: "\\ud83d")
    replaced by U+FFFD, so it can be encoded as UTF-8; everything else is kept."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Through UTF-16, a surrogate pair written as two code points becomes its character.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def cut(text: str, limit: int) -> str:
    """Cut to `limit` characters, marking the cut so a reader knows text is missing."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def stringify(value: object) -> str:
    """ServiceNow wants strings: numbers and booleans as JSON writes them, objects as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)  # what json.dumps writes for a finite float, without its overhead
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def encode_additional_info(info: Mapping[str, object], limit: int = FIELD_LIMITS["additional_info"]) -> str:
    """A JSON object of string values that fits `limit`, still valid JSON.

    Cutting the JSON text would break it, so the longest values are shortened instead
    until the whole fits; keys are kept so the reader sees what was there.
    """
    values = {str(key): stringify(value) for key, value in info.items() if value is not None}
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    while len(text) > limit:
        longest = max(values, key=lambda key: len(values[key]))
        current = values[longest]
        if len(current) <= 1:
            # Only keys are left to blame: drop entries from the end.
            values.pop(next(reversed(values)))
        else:
            excess = len(text) - limit
            values[longest] = cut(current, max(1, len(current) - excess - 1))
        text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return text


@dataclass(frozen=True)
class ItomEvent:
    """One event for `POST /api/global/em/jsonv2`. None means "not sent" (as in Kibana)."""

    severity: str
    source: str | None = None
    event_class: str | None = None
    node: str | None = None
    resource: str | None = None
    metric_name: str | None = None
    type: str | None = None
    description: str | None = None
    message_key: str | None = None
    time_of_event: str | None = None
    resolution_state: str | None = None
    ci_type: str | None = None
    additional_info: Mapping[str, object] = field(default_factory=dict)

    def to_record(self) -> dict[str, str]:
        """The record as the event API takes it: strings only, each within its limit."""
        record: dict[str, str] = {}
        for name in _STRING_FIELDS:
            value = getattr(self, name)
            if value is None or value == "":
                continue
            text = valid_text(str(value))
            limit = FIELD_LIMITS.get(name)
            record[name] = cut(text, limit) if limit else text
        if self.additional_info:
            record["additional_info"] = valid_text(encode_additional_info(self.additional_info))
        return record


# Field order of the record, read once (dataclasses.fields() per call is measurably slow).
_STRING_FIELDS = tuple(item.name for item in fields(ItomEvent) if item.name != "additional_info")
