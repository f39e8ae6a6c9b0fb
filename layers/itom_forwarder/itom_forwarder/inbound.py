"""What a Lambda event holds: the notifications to map, each with its original record
(the thing a dead-letter message must keep untouched)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from itom_forwarder.formats import Notification


@dataclass(frozen=True)
class Inbound:
    original: object  # the SNS or SQS record, the API request, or the whole direct event
    notification: Notification
    source: str  # "sns", "sqs", "direct" or "api"


def _records(event: object, source_key: str, source: str) -> list[Mapping[str, Any]] | None:
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list) or not records:
        return None
    if all(isinstance(record, Mapping) and record.get(source_key) == source for record in records):
        return records
    return None


def is_sqs_event(event: object) -> bool:
    return _records(event, "eventSource", "aws:sqs") is not None


def is_api_gateway_event(event: object) -> bool:
    """A REST API (payload 1.0) or HTTP API (payload 2.0) proxy event."""
    if not isinstance(event, Mapping) or not isinstance(event.get("requestContext"), Mapping):
        return False
    return "httpMethod" in event or (event.get("version") == "2.0" and "routeKey" in event)


def _text(value: object) -> str:
    # A malformed record must still be kept and mapped: anything that is not text is JSON.
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def notification_from_sns_json(text: str, fallback_id: str | None = None) -> Notification:
    """An SNS notification as SNS delivers it to SQS or HTTP (a JSON document with `Type`,
    `Message`...); any other text is a raw message (SNS raw message delivery)."""
    try:
        document = json.loads(text)
    except ValueError:
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


def read_event(event: Mapping[str, Any]) -> list[Inbound]:
    """SNS and SQS records become one Inbound each; any other event is one direct Inbound
    whose message is the event itself (an alarm action, an EventBridge event, a generic
    alert)."""
    sns_records = _records(event, "EventSource", "aws:sns")
    if sns_records is not None:
        inbound = []
        for record in sns_records:
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
            inbound.append(Inbound(record, notification, "sns"))
        return inbound
    sqs_records = _records(event, "eventSource", "aws:sqs")
    if sqs_records is not None:
        return [
            Inbound(
                record,
                notification_from_sns_json(_text(record.get("body")), _optional_text(record.get("messageId"))),
                "sqs",
            )
            for record in sqs_records
        ]
    return [Inbound(event, Notification(message=json.dumps(event, default=str)), "direct")]
