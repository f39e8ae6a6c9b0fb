"""What a Lambda event holds: the items to deliver, each with its original record (what a
dead-letter message must keep untouched) and what the formats may read of its route."""

from __future__ import annotations

import json
import reprlib
from collections.abc import Mapping
from typing import Any, NamedTuple

from itom_forwarder.formats import Notification

__all__ = ["History", "Inbound", "epoch_ms", "notification_from_sns_json", "read_records", "records_of"]


class History(NamedTuple):
    """What a replayed item went through before: the attempts made and its first failure."""

    attempts: int = 0
    first_failure_at: str | None = None


class Inbound(NamedTuple):
    original: object  # the SNS or SQS record, the API request, or the whole direct event
    notification: Notification
    source: str  # "sns", "sqs", "direct" or "api"
    # An API request's route: the route table names its format and mapper.
    route: str | None = None
    # A replayed item's earlier failures (a new dead letter adds to them).
    history: History | None = None
    # The SQS message it came in (a batch reports failures by message id).
    message_id: str | None = None
    # When it first reached AWS, in epoch milliseconds, where the event does not say when it
    # happened: an SQS message's SentTimestamp, a dead letter's first arrival. The ordering
    # guard's last fallback (see delivery.source_times); None: the time of this invocation.
    received_at_ms: int | None = None


def records_of(event: object, source_key: str, source: str) -> list[Mapping[str, Any]] | None:
    """The event's records when every one of them comes from `source`, else None."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list) or not records:
        return None
    if all(isinstance(record, Mapping) and record.get(source_key) == source for record in records):
        return records
    return None


def _text(value: object) -> str:
    # A malformed record must still be kept and mapped: anything that is not text is JSON.
    if value is None:
        return ""
    return value if isinstance(value, str) else _json_text(value)


def _json_text(value: object) -> str:
    """A value as JSON text; one nested too deep to encode is kept as its repr, as text."""
    try:
        return json.dumps(value, default=str)
    except (RecursionError, ValueError):
        return reprlib.repr(value)


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def notification_from_sns_json(text: str, fallback_id: str | None = None) -> Notification:
    """An SNS notification as SNS delivers it to SQS or HTTP (a JSON document with `Type`,
    `Message`...); any other text is a raw message (SNS raw message delivery)."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        document = None
    if isinstance(document, Mapping) and document.get("Type") == "Notification" and "Message" in document:
        return Notification(
            message=_text(document.get("Message")),
            message_id=_optional_text(document.get("MessageId")) or fallback_id,
            topic_arn=_optional_text(document.get("TopicArn")),
            subject=_optional_text(document.get("Subject")),
            timestamp=_optional_text(document.get("Timestamp")),
        )
    return Notification(message=text, message_id=fallback_id)


def _sns_item(record: Mapping[str, Any]) -> Inbound:
    raw_sns = record.get("Sns")
    sns: Mapping[str, Any] = raw_sns if isinstance(raw_sns, Mapping) else {}
    # .get: publishers omit Subject, and a malformed record must still be kept.
    notification = Notification(
        message=_text(sns.get("Message")),
        message_id=_optional_text(sns.get("MessageId")),
        topic_arn=_optional_text(sns.get("TopicArn")),
        subject=_optional_text(sns.get("Subject")),
        timestamp=_optional_text(sns.get("Timestamp")),
    )
    return Inbound(record, notification, "sns")


def epoch_ms(value: object) -> int | None:
    """A count of epoch milliseconds as SQS writes it ("1611050827340"), else None."""
    text = value if isinstance(value, str) else None
    return int(text) if text and text.isdigit() and len(text) <= 15 else None


def _sqs_item(record: Mapping[str, Any]) -> Inbound:
    message_id = _optional_text(record.get("messageId"))
    notification = notification_from_sns_json(_text(record.get("body")), message_id)
    attributes = record.get("attributes")
    sent = epoch_ms(attributes.get("SentTimestamp")) if isinstance(attributes, Mapping) else None
    return Inbound(record, notification, "sqs", message_id=message_id, received_at_ms=sent)


def read_records(event: object) -> list[Inbound]:
    """SNS and SQS records become one item each; any other event is one direct item whose
    message is the event itself (an alarm action, an EventBridge event, a generic alert, or
    any other value, kept as plain text rather than dropped)."""
    sns_records = records_of(event, "EventSource", "aws:sns")
    if sns_records is not None:
        return [_sns_item(record) for record in sns_records]
    sqs_records = records_of(event, "eventSource", "aws:sqs")
    if sqs_records is not None:
        return [_sqs_item(record) for record in sqs_records]
    message = _json_text(event)
    return [Inbound(event, Notification(message=message, origin="direct"), "direct")]
