"""Any other SNS message (plain text, or JSON in no shape we know): one event that keeps it.

Publishers such as AWS Budgets, RDS event subscriptions or a script's `aws sns publish`
send text. Dropping it would lose an alert, so it becomes one event whose description is
the subject and the text.

The message key is `<topic ARN>:<subject>:<identity>` (without a subject,
`<topic ARN>:<identity>`), where the identity is what the message says it is about:

- a JSON object in no known shape: the first of its identifying fields that has a value,
  in the order of IDENTITY_FIELDS (`Source ARN`, `SourceArn`, `ResourceArn`, `arn`,
  `Source ID`, `SourceId`, `ResourceId`, `Identifier Link`, `resource`, `Budget Name`...;
  names compared without case, spaces, `_` or `-`). An RDS event notification
  (`{"Event Source": "db-instance", "Source ID": "prod-db-1", "Source ARN": ...}`) is
  keyed on its source: `Source ARN`, else `<Event Source>/<Source ID>`;
- text: the first line `<identifying field>: <value>` (`Budget Name: prod-monthly`);
- otherwise `sha256:<16 hex>`, a hash of the whole text.

So repeats of one notification about one object update one alert, and notifications of
one subject about different objects (every RDS event's subject is "RDS Notification
Message") or with different texts are different alerts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from itertools import islice

from itom_forwarder.formats.json_values import MAX_ITEMS, first_items, text_or_none
from itom_forwarder.formats.notification import Notification
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.itom_event import InvalidPayload, ItomEvent, format_time, parse_time, valid_text

# Fields naming the object a message is about, the most specific first (normalised: lower
# case without spaces, `_` or `-`).
IDENTITY_FIELDS = (
    "sourcearn",
    "resourcearn",
    "arn",
    "sourceid",
    "resourceid",
    "identifierlink",
    "resource",
    "resourcename",
    "budgetname",
)
_RANK = {name: rank for rank, name in enumerate(IDENTITY_FIELDS)}
_QUALIFIER = "eventsource"  # RDS: "db-instance", "db-cluster"... qualifies a bare Source ID
_TEXT_LINES = 200  # lines of a text message looked at for an identity
_MAX_NAME = 40  # a longer field name is no identifying field


def _normal(name: str) -> str:
    return "".join(character for character in name.lower() if character not in " _-")


def _identity_of_object(payload: Mapping[str, object]) -> str | None:
    """The most specific identifying field of the object's first MAX_ITEMS fields."""
    found: dict[str, str] = {}
    for key, value in first_items(payload, MAX_ITEMS):
        name = _normal(key) if isinstance(key, str) and len(key) <= _MAX_NAME else ""
        if name not in _RANK and name != _QUALIFIER:
            continue
        text = (text_or_none(value) or "").strip()
        if text:
            found.setdefault(name, text)
    best = min((name for name in found if name in _RANK), key=_RANK.__getitem__, default=None)
    if best is None:
        return None
    if best == "sourceid" and _QUALIFIER in found:
        return f"{found[_QUALIFIER]}/{found[best]}"
    return found[best]


def _identity_of_text(text: str) -> str | None:
    """The value of the first `<identifying field>: <value>` line of the text."""
    for line in islice(text.splitlines(), _TEXT_LINES):
        name, separator, value = line.partition(": ")
        if separator and len(name) <= _MAX_NAME and _normal(name.strip()) in _RANK and value.strip():
            return value.strip()
    return None


def message_key(notification: Notification, payload: object = None) -> str:
    """Topic, subject and what the message is about (see the module's docstring)."""
    topic = notification.topic_arn or "sns"
    if isinstance(payload, Mapping):
        identity = _identity_of_object(payload)
    else:
        identity = _identity_of_text(notification.message[: 64 * 1024])
    if identity is None:
        digest = hashlib.sha256(valid_text(notification.message).encode("utf-8")).hexdigest()[:16]
        identity = f"sha256:{digest}"
    # A key past ServiceNow's limit is shortened by to_record, keeping a hash of all of it.
    return ":".join(part for part in (topic, notification.subject, identity) if part)


def _topic_name(topic_arn: str | None) -> str | None:
    return topic_arn.rsplit(":", 1)[-1] if topic_arn else None


def to_events(notification: Notification, options: MappingOptions, payload: object = None) -> list[ItomEvent]:
    """One event for the message; `payload` is its JSON value when it is JSON (None when not)."""
    text = notification.message.strip()
    subject = (notification.subject or "").strip()
    if not text and not subject:
        raise InvalidPayload("Message: empty, nothing to report")
    description = f"{subject}\n\n{text}" if subject and text else subject or text
    time_of_event = None
    if notification.timestamp:
        try:
            time_of_event = format_time(parse_time(notification.timestamp, field_name="Timestamp"))
        except InvalidPayload:
            time_of_event = None  # ServiceNow then uses the time it receives the event
    return [
        ItomEvent(
            severity=options.default_severity,
            source=options.sns_source,
            event_class=_topic_name(notification.topic_arn),
            description=description,
            message_key=message_key(notification, payload),
            time_of_event=time_of_event,
            additional_info={**notification.context(), "sns_subject": subject or None},
        )
    ]
