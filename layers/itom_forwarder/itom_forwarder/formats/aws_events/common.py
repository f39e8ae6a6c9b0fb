"""One ITOM event from one signal of an AWS service, the same way for every service:

- `source` is the service's name (MappingOptions.aws_event_sources, configurable);
- `event_class` is `<account>/<region>`, as for alarms;
- the description is the title, then each detail line (what is affected, the
  recommended action...);
- `additional_info` keeps the signal's ids and fields, the account, the region and a
  link to the console page;
- `time_of_event` (and the ordering guard's source time) is the source's update time;
- the deployment's field templates apply, with `<service>.<value>` and `tags.<Key>`
  values, then the `itom:` tags of the affected resource, as an alarm's tags do.

A severity of "0" (Clear) closes the ServiceNow alert with the same message key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from itom_forwarder.formats.alarms.overrides import parse_overrides
from itom_forwarder.formats.customise import customised
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.itom_event import ItomEvent, format_time

__all__ = ["CLEAR", "Signal", "to_event"]

CLEAR = "0"


@dataclass(frozen=True)
class Signal:
    service: str  # "health", "guardduty", "securityhub", "config" or "devopsguru"
    message_key: str
    severity: str  # a digit; CLEAR closes the alert
    title: str
    account: str | None = None
    region: str | None = None
    updated_at: datetime | None = None
    node: str | None = None
    resource: str | None = None
    type: str | None = None
    metric_name: str | None = None
    details: Sequence[str] = ()
    console_url: str | None = None
    info: Mapping[str, object] = field(default_factory=dict)
    # The affected resource's tags: `itom:` ones override fields, all are `tags.<Key>`.
    tags: Mapping[str, str] = field(default_factory=dict)
    # The service's template values, by name without the namespace (SIGNAL_VALUES).
    values: Mapping[str, object] = field(default_factory=dict)


def _description(signal: Signal) -> str:
    return "\n".join(line for line in (signal.title, *signal.details) if line)


def to_event(signal: Signal, options: MappingOptions, context: Mapping[str, object]) -> ItomEvent:
    """The ITOM event of `signal`; `context` adds route details (SNS message id...)."""
    overrides = parse_overrides(signal.tags, {})
    open_severity = overrides.severity_by_state.get("ALARM")
    severity = open_severity if open_severity and signal.severity != CLEAR else signal.severity
    info: dict[str, object] = {
        **signal.info,
        "account_id": signal.account,
        "region": signal.region,
        "console_url": signal.console_url,
    }
    if signal.tags:
        info["resource_tags"] = dict(signal.tags)
    if overrides.problems:
        info["override_problems"] = list(overrides.problems)
    info |= context
    built_in = ItomEvent(
        severity=severity,
        source=options.aws_event_sources.get(signal.service) or signal.service,
        event_class="/".join(part for part in (signal.account, signal.region) if part) or None,
        node=signal.node,
        resource=signal.resource,
        metric_name=signal.metric_name,
        type=signal.type,
        description=_description(signal),
        message_key=signal.message_key,
        time_of_event=format_time(signal.updated_at) if signal.updated_at else None,
        source_time=signal.updated_at,
        additional_info={key: value for key, value in info.items() if value not in (None, "", [], {})},
    )
    values = {f"{signal.service}.{name}": value for name, value in signal.values.items()}
    values |= {f"tags.{key}": value for key, value in signal.tags.items()}
    return customised(
        built_in,
        options.field_templates,
        values,
        overrides.fields,
        severity_overridden=bool(open_severity) and signal.severity != CLEAR,
    )


def first_source_time(*candidates: object) -> datetime | None:
    """The first of `candidates` that reads as a time: ISO-8601, ServiceNow's format or epoch
    (parse_time), or an RFC 1123 date as AWS Health writes them ("Thu, 27 Jan 2023 13:44:13
    GMT"); None when none does. A time that cannot be read is skipped for the next one, never
    a reason to refuse the event."""
    from datetime import UTC
    from email.utils import parsedate_to_datetime

    from itom_forwarder.itom_event import InvalidPayload, parse_time

    for value in candidates:
        if value is None or value == "":
            continue
        try:
            return parse_time(value, field_name="time")
        except InvalidPayload:
            pass
        if not isinstance(value, str):
            continue
        try:
            moment = parsedate_to_datetime(value.strip())
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
    return None


def eventbridge_context(event: Mapping[str, object], route: Mapping[str, object]) -> dict[str, object]:
    """The `context` of an EventBridge event's ITOM event, as for alarms: the route's details
    (`Notification.context()`: the SNS message id and topic...), the event's id and its
    detail-type."""
    from itom_forwarder.formats.json_values import text_or_none

    return {
        **route,
        "eventbridge_event_id": text_or_none(event.get("id")),
        "eventbridge_detail_type": text_or_none(event.get("detail-type")),
    }


def digest_key(value: object) -> str:
    """A stable stand-in for a missing id: `sha256:<32 hex>` of the value as JSON (keys
    sorted), the same for the same content."""
    import hashlib

    from itom_forwarder.formats.json_values import text_of

    return "sha256:" + hashlib.sha256(text_of(value).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def console_base(region: object) -> str | None:
    """The AWS console's address for `region`, without a trailing slash:
    `https://<region>.console.aws.amazon.com`, or the partition's own console in AWS
    GovCloud (US) (`https://console.amazonaws-us-gov.com`) and China
    (`https://console.amazonaws.cn`), where the page's `?region=` picks the region. None
    when `region` is no region code: a payload's text never becomes a link's host."""
    import re

    if not isinstance(region, str) or not re.fullmatch(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d", region):
        return None
    if region.startswith("us-gov-"):
        return "https://console.amazonaws-us-gov.com"
    if region.startswith("cn-"):
        return "https://console.amazonaws.cn"
    return f"https://{region}.console.aws.amazon.com"
