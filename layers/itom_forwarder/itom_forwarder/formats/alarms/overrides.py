"""Per-alarm overrides, set by the alarm's owner without touching the deployment.

Alarm tags in the `itom:` namespace (when the alarm sends its tags with notifications),
or the same `itom:<key>=<value>` lines in the alarm description (where tags are not
propagated). Tags win over description lines.

    itom:severity                   the severity in ALARM state (a digit or a name)
    itom:severity:ok                the severity in OK state (default Clear closes the alert)
    itom:severity:insufficient_data the severity in INSUFFICIENT_DATA; `none` sends nothing
    itom:node, itom:resource, itom:type, itom:source, itom:event_class, itom:metric_name,
    itom:message_key, itom:ci_type, itom:description    the field as given

An override that cannot be used (an unknown key, a severity that is no severity) is
reported in additional_info and the log; the alert is still sent with the built-in value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from itom_forwarder.formats.json_values import as_list, first_items, text_map, text_of
from itom_forwarder.itom_event import InvalidPayload, normalise_severity

PREFIX = "itom:"
FIELD_KEYS = (
    "node",
    "resource",
    "type",
    "source",
    "event_class",
    "metric_name",
    "message_key",
    "ci_type",
    "description",
)
SEVERITY_KEYS = {
    "severity": "ALARM",
    "severity:alarm": "ALARM",
    "severity:ok": "OK",
    "severity:insufficient_data": "INSUFFICIENT_DATA",
}
SUPPRESS = "none"
# The value is stripped afterwards: `\s*(.*?)\s*$` backtracks quadratically on a line of spaces.
_DESCRIPTION_LINE = re.compile(r"^\s*itom:([a-z_:]+)\s*=(.*)$", re.IGNORECASE)
_OVERRIDE_PREFIX = re.compile(PREFIX, re.IGNORECASE)


def tags_of(raw: object) -> dict[str, str]:
    """Alarm tags as a map, from a map or a list of {Key, Value} (any key case); at most
    MAX_ITEMS of them (an AWS resource has at most 50)."""
    if isinstance(raw, Mapping):
        return text_map(raw)
    tags: dict[str, str] = {}
    for item in as_list(raw):
        if isinstance(item, Mapping):
            # A {Key, Value} pair has two fields: the first few are enough to find them.
            lowered = {key.lower(): value for key, value in first_items(item, 8) if isinstance(key, str)}
            if lowered.get("key") is not None and lowered.get("value") is not None:
                tags[text_of(lowered["key"])] = text_of(lowered["value"])
    return tags


def split_description(description: str | None) -> tuple[str | None, dict[str, str]]:
    """The description without its `itom:key=value` lines, and those lines as a map."""
    if not description:
        return description, {}
    if not _OVERRIDE_PREFIX.search(description):  # the common case: no line to take out
        return "\n".join(description.splitlines()).strip() or None, {}
    kept: list[str] = []
    found: dict[str, str] = {}
    for line in description.splitlines():
        match = _DESCRIPTION_LINE.match(line)
        if match:
            found[PREFIX + match.group(1).lower()] = match.group(2).strip()
        else:
            kept.append(line)
    return "\n".join(kept).strip() or None, found


class AlarmOverrides(NamedTuple):
    fields: Mapping[str, str] = MappingProxyType({})
    # State → severity digit, or None for "send nothing".
    severity_by_state: Mapping[str, str | None] = MappingProxyType({})
    problems: tuple[str, ...] = ()


NO_OVERRIDES = AlarmOverrides()


def parse_overrides(tags: Mapping[str, str], description_lines: Mapping[str, str]) -> AlarmOverrides:
    if not tags and not description_lines:
        return NO_OVERRIDES  # the common case, shared: AlarmOverrides is immutable
    fields: dict[str, str] = {}
    severities: dict[str, str | None] = {}
    problems: list[str] = []
    # Description lines first, so tags (applied after) win.
    for origin, source in (("description", description_lines), ("tag", tags)):
        for raw_key, value in source.items():
            if not raw_key.lower().startswith(PREFIX):
                continue
            key = raw_key[len(PREFIX) :].lower()
            if key in FIELD_KEYS:
                if value.strip():
                    fields[key] = value.strip()
            elif key in SEVERITY_KEYS:
                state = SEVERITY_KEYS[key]
                if value.strip().lower() == SUPPRESS:
                    severities[state] = None
                    continue
                try:
                    severities[state] = normalise_severity(value, field_name=f"{origin} {raw_key}")
                except InvalidPayload as problem:
                    problems.append(str(problem))
            else:
                problems.append(
                    f"{origin} {raw_key}: not an override key (itom:{', itom:'.join(FIELD_KEYS)}, itom:severity...)"
                )
    return AlarmOverrides(fields, severities, tuple(problems))
