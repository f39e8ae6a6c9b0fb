"""The ServiceNow ITOM event: its fields, their limits and their normal forms.

Every input format produces `ItomEvent`s; only `ItomEvent.to_record()` decides what the
event API receives, so the limits and formats below are enforced in one place.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple

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


class Problem:
    """One thing wrong with a payload: which record (if any), which field, why. Immutable,
    equal by value. (A plain class: its `index` would clash with a tuple's, and a frozen
    dataclass costs a cold start about a millisecond to define.)"""

    __slots__ = ("field", "index", "reason")
    reason: str
    field: str | None
    index: int | None

    def __init__(self, reason: str, field: str | None = None, index: int | None = None) -> None:
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "field", field)
        object.__setattr__(self, "index", index)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Problem is immutable: cannot set {name}")

    def _key(self) -> tuple[str, str | None, int | None]:
        return (self.reason, self.field, self.index)

    def __eq__(self, other: object) -> bool:
        return self._key() == other._key() if isinstance(other, Problem) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Problem(reason={self.reason!r}, field={self.field!r}, index={self.index!r})"

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
    elif moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # Written out: strftime's %Y does not pad years before 1000 on every platform, and it is slower.
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )


_EPOCH_MS_THRESHOLD = 100_000_000_000  # later than 5138 CE in seconds: must be milliseconds
_NUMERIC = re.compile(r"^-?\d+(\.\d+)?$")
# CloudWatch writes `+0000`; Python 3.11's fromisoformat accepts it, but not all the
# variants tools emit (`Z` with 7 fractional digits, say), so normalise first.
_FRACTION = re.compile(r"\.(\d+)")


def _quoted(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)  # only str, int and float get here
    return repr(text if len(text) <= 60 else text[:60] + ELLIPSIS)


def _from_epoch(value: str | float, field_name: str) -> datetime:
    try:
        number = float(value)
        if not math.isfinite(number):
            raise InvalidPayload(f"{field_name}: {_quoted(value)} is not a time")
        if abs(number) >= _EPOCH_MS_THRESHOLD:
            number /= 1000.0
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise InvalidPayload(f"{field_name}: {_quoted(value)} is out of range") from error


def parse_time(value: object, *, field_name: str = "time_of_event") -> datetime:
    """Parse ISO-8601, ServiceNow's own format, or epoch seconds/milliseconds into UTC."""
    if isinstance(value, bool):
        raise InvalidPayload(f"{field_name}: {value!r} is not a time")
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMERIC.match(value.strip())):
        return _from_epoch(value, field_name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidPayload(f"{field_name}: {type(value).__name__} is not a time")
    text = value.strip()
    try:
        try:
            # The common shapes (CloudWatch's `...T21:40:49.611+0000`, RFC 3339) as they are;
            # normalised only when fromisoformat refuses them.
            moment = datetime.fromisoformat(text)
        except ValueError:
            if text.endswith(("Z", "z")):
                text = text[:-1] + "+00:00"
            text = _FRACTION.sub(lambda match: "." + (match.group(1) + "000000")[:6], text, count=1)
            moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-05:00 is after datetime's last moment in UTC
        raise InvalidPayload(f"{field_name}: {_quoted(value)} is out of range") from None
    except ValueError:
        raise InvalidPayload(
            f"{field_name}: {_quoted(value)} is not a time (expected ISO-8601, "
            "'yyyy-MM-dd HH:mm:ss' UTC, or epoch seconds/milliseconds)"
        ) from None


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


# ServiceNow is Java: its field limits count UTF-16 code units, in which a character
# outside the Basic Multilingual Plane (an emoji, say) takes two.
def utf16_len(text: str) -> int:
    """The length of `text` as ServiceNow counts it: UTF-16 code units."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _prefix(text: str, units: int) -> str:
    """The longest start of `text` within `units` UTF-16 code units, never half a character."""
    if units <= 0:
        return ""
    head = text[:units]  # each character is one or two units: this holds the prefix
    if head.isascii():
        return head
    encoded = head.encode("utf-16-le", "surrogatepass")[: 2 * units]
    if len(encoded) >= 2 and 0xD8 <= encoded[-1] <= 0xDB:
        encoded = encoded[:-2]  # the first half of a surrogate pair: keep neither half
    return encoded.decode("utf-16-le", "surrogatepass")


def cut(text: str, limit: int) -> str:
    """Cut to `limit` UTF-16 code units, marking the cut so a reader knows text is missing."""
    if len(text) <= limit and utf16_len(text) <= limit:
        return text
    return _prefix(text, limit - 1) + ELLIPSIS


KEY_DIGEST_PREFIX = "sha256:"
_KEY_DIGEST_UNITS = len(ELLIPSIS) + len(KEY_DIGEST_PREFIX) + 32


def shorten_key(text: str, limit: int) -> str:
    """A key within `limit` UTF-16 units that stays distinct: a key over the limit keeps a
    readable start and ends with a hash of the whole key (`<start>…sha256:<32 hex>`), so
    two long keys that differ only at the end stay two keys. A key within it is untouched."""
    if len(text) <= limit and utf16_len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{_prefix(text, limit - _KEY_DIGEST_UNITS)}{ELLIPSIS}{KEY_DIGEST_PREFIX}{digest}"


NESTED_TOO_DEEP = "[nested too deep]"
_SMALL_INT = 10**18
UNREPRESENTABLE = "[not representable as text]"


def stringify(value: object) -> str:
    """ServiceNow wants strings: numbers and booleans as JSON writes them, objects as JSON.

    Never fails: a value nested too deep to encode (json.loads accepts nesting that
    json.dumps, called deeper in the stack, may refuse) becomes NESTED_TOO_DEEP; what JSON
    cannot hold at all (an int past Python's digit limit) becomes UNREPRESENTABLE."""
    # Exact types first, the common cases: isinstance (and bool, a subclass of int) after.
    if type(value) is str:
        return value
    if type(value) is int and -_SMALL_INT < value < _SMALL_INT:
        return str(value)  # far within Python's digit limit: str() cannot fail
    return _stringify_any(value)


def _stringify_any(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)  # what json.dumps writes for a finite float, without its overhead
    for sort_keys in (True, False):
        try:
            if isinstance(value, int):
                return str(value)
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys, default=str)
        except RecursionError:
            return NESTED_TOO_DEEP
        except ValueError:
            break
        except TypeError:
            continue  # keys of mixed types cannot be sorted: once more, unsorted
    return UNREPRESENTABLE


# additional_info: at most this many entries are considered (the rest are counted in a
# note), and a key longer than MAX_INFO_KEY is shortened (distinct keys stay distinct).
MAX_INFO_ENTRIES = 200
MAX_INFO_KEY = 128
TRUNCATED_NOTE_KEY = "additional_info_truncated"
_MIN_VALUE = 3  # the shortest a cut value gets: '"…"'


def _json_string(text: str) -> str:
    """`json.dumps(text, ensure_ascii=False)`, without the encoder's set-up per call."""
    return _encode_string(text)


_encode_string: Callable[[str], str] = json.encoder.encode_basestring
# An object of strings as compact JSON: json.dumps with these arguments builds an encoder per call.
_encode_object: Callable[[Mapping[str, str]], str] = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _info_entries(info: Mapping[str, object], limit: int) -> tuple[dict[str, str], int]:
    """The first MAX_INFO_ENTRIES entries that are not None, as valid text (a value longer
    than the whole limit is pre-cut: it will be shortened anyway), and how many are left."""
    entries: dict[str, str] = {}
    room = MAX_INFO_ENTRIES
    left = 0
    for key, value in info.items():
        if value is None:
            continue
        if not room:
            left += 1
            continue
        room -= 1
        if type(key) is str and len(key) <= MAX_INFO_KEY and key.isascii():
            name = key  # the common case, as the line below would leave it
        else:
            name = shorten_key(valid_text(key if isinstance(key, str) else stringify(key)), MAX_INFO_KEY)
        text = value if type(value) is str else stringify(value)
        if text.isascii():
            # Past the limit the value is cut anyway; one more character keeps it over the limit.
            entries[name] = text if len(text) <= limit else text[: limit + 1]
        else:
            entries[name] = valid_text(text if len(text) <= limit else text[: limit + 1])
    return entries, left


def _note(count: int) -> str:
    return f"{count} more keys not shown"


class _Plan:
    """Which entries fit and the longest a value may stay, decided from the lengths (UTF-16
    units) of each entry's encoded key and value, measured once."""

    def __init__(self, keys: Sequence[int], values: Sequence[int], left: int, limit: int) -> None:
        self.keys, self.values, self.left, self.limit = keys, values, left, limit

    def _note(self, count: int) -> int:
        """The length the note adds (with its comma) when `count` entries are kept."""
        note = self.left + len(self.keys) - count
        if not note:
            return 0
        return len(_json_string(TRUNCATED_NOTE_KEY)) + 1 + len(_json_string(_note(note))) + (1 if count else 0)

    def count(self) -> int | None:
        """The most entries that fit with every value at its shortest: entries are dropped
        from the end only when their keys do not fit. None when not even the note fits."""
        # The JSON length of the first n entries, values at their shortest, before the note:
        # braces, and per entry its key, colon, value and comma (the last has none).
        size = 2 + sum(self.keys) + sum(min(value, _MIN_VALUE) + 2 for value in self.values) - bool(self.keys)
        for count in range(len(self.keys), -1, -1):
            if size + self._note(count) <= self.limit:
                return count
            if count:
                size -= self.keys[count - 1] + min(self.values[count - 1], _MIN_VALUE) + 2 - (count == 1)
        return None

    def total(self, count: int, cap: int | None) -> int:
        """The JSON length with the first `count` entries, values cut to `cap`, and the note."""
        values = self.values[:count]
        size = 2 + sum(self.keys[:count]) + 2 * count - bool(count)
        size += sum(values) if cap is None else sum(min(value, cap) for value in values)
        return size + self._note(count)

    def cap(self, count: int) -> int | None:
        """The longest (in JSON) a value may stay, so that the longest are cut first, each to
        the same length; None when nothing needs cutting."""
        if self.total(count, None) <= self.limit:
            return None
        low, high = _MIN_VALUE, max(self.values[:count], default=_MIN_VALUE)
        while low < high:  # the largest cap that fits (count() made sure `low` does)
            middle = (low + high + 1) // 2
            low, high = (middle, high) if self.total(count, middle) <= self.limit else (low, middle - 1)
        return low


def _cut_value(value: str, cap: int) -> str:
    """`value` cut so that its JSON string (quotes and escapes included) takes at most `cap` units."""
    head = _prefix(value, cap - 3)  # the quotes and the ellipsis
    over = utf16_len(_json_string(head + ELLIPSIS)) - cap
    if over > 0:
        # Escapes made it longer; every character dropped takes at least one unit with it.
        head = head[: max(0, len(head) - over)]
    return head + ELLIPSIS


def encode_additional_info(
    info: Mapping[str, object], limit: int = FIELD_LIMITS["additional_info"], *, omitted: int = 0
) -> str:
    """A JSON object of string values within `limit` UTF-16 units, still valid JSON.

    Cutting the JSON text would break it, so the longest values are shortened instead
    (each value longer than one common cap is cut to it, with the ellipsis); keys are kept
    so the reader sees what was there, and entries are dropped from the end only when the
    keys alone do not fit. At most MAX_INFO_ENTRIES entries are considered; what is left
    out (with `omitted`, entries a format already left out) is counted in a last entry,
    `"additional_info_truncated": "N more keys not shown"`. Linear: each entry's encoded
    length is measured once, the text is serialised once.
    """
    entries, left = _info_entries(info, limit)
    left += omitted
    if not left:
        # The common case: everything fits as it is (what the plan below would also keep).
        text = _encode_object(entries)
        if len(text) <= limit and (text.isascii() or utf16_len(text) <= limit):
            return text
    while True:  # twice at most: once more when an entry of the input has the note's key
        names = list(entries)
        plan = _Plan(
            [utf16_len(_json_string(name)) for name in names],
            [utf16_len(_json_string(value)) for value in entries.values()],
            left,
            limit,
        )
        count = plan.count()
        if count is None:
            return "{}"
        note = left + len(names) - count
        if not note or TRUNCATED_NOTE_KEY not in entries:
            break
        del entries[TRUNCATED_NOTE_KEY]  # the note takes its place
        left += 1
    cap = plan.cap(count)
    kept = {
        name: entries[name] if cap is None or size <= cap else _cut_value(entries[name], cap)
        for name, size in zip(names[:count], plan.values, strict=False)
    }
    if note:
        kept[TRUNCATED_NOTE_KEY] = _note(note)
    return _encode_object(kept)


_NO_INFO: Mapping[str, object] = MappingProxyType({})


class ItomEvent(NamedTuple):
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
    additional_info: Mapping[str, object] = _NO_INFO
    # Entries a format left out of additional_info to bound its work; counted in its note.
    additional_info_omitted: int = 0
    # When the source says the event happened (not sent: time_of_event is the field, to
    # the second): the ordering guard compares it, to the millisecond.
    source_time: datetime | None = None

    def to_record(self) -> dict[str, str]:
        """The record as the event API takes it: strings only, each within its limit in
        UTF-16 units (how ServiceNow counts), a long message key shortened so it stays distinct."""
        record: dict[str, str] = {}
        # The string fields come first: zip stops at the last of them.
        for (name, limit), value in zip(_STRING_FIELDS, self, strict=False):
            if value is None or value == "":
                continue
            text = value if type(value) is str else stringify(value)
            if text.isascii():  # the common case: one unit per character, nothing to replace
                if 0 < limit < len(text):
                    text = shorten_key(text, limit) if name == "message_key" else cut(text, limit)
            else:
                text = valid_text(text)
                if limit:
                    text = shorten_key(text, limit) if name == "message_key" else cut(text, limit)
            record[name] = text
        if self.additional_info or self.additional_info_omitted:
            record["additional_info"] = encode_additional_info(
                self.additional_info, omitted=self.additional_info_omitted
            )
        return record


# Field order of the record and each field's limit (0: none): the fields before
# additional_info, in ItomEvent's order.
_STRING_FIELDS: tuple[tuple[str, int], ...] = tuple(
    (name, FIELD_LIMITS.get(name, 0)) for name in ItomEvent._fields[: ItomEvent._fields.index("additional_info")]
)
