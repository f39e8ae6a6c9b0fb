"""Any other SNS message (plain text, or JSON in no shape we know): one event that keeps it.

Publishers such as AWS Budgets, RDS event subscriptions or a script's `aws sns publish`
send text. Dropping it would lose an alert, so it becomes one event whose description is
the subject and the text, with a message key stable per topic and subject.
"""

from __future__ import annotations

import hashlib

from itom_forwarder.formats.notification import Notification
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.itom_event import InvalidPayload, ItomEvent, format_time, parse_time, valid_text


def message_key(notification: Notification) -> str:
    """Same topic and subject, same alert. Without a subject the text itself decides,
    so unrelated messages on one topic do not collapse into one alert."""
    topic = notification.topic_arn or "sns"
    if notification.subject:
        return f"{topic}:{notification.subject}"
    digest = hashlib.sha256(valid_text(notification.message).encode("utf-8")).hexdigest()[:16]
    return f"{topic}:sha256:{digest}"


def _topic_name(topic_arn: str | None) -> str | None:
    return topic_arn.rsplit(":", 1)[-1] if topic_arn else None


def to_events(notification: Notification, options: MappingOptions) -> list[ItomEvent]:
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
            message_key=message_key(notification),
            time_of_event=time_of_event,
            additional_info={**notification.context(), "sns_subject": subject or None},
        )
    ]
