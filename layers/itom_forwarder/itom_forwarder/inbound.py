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
    original: object  # the SNS record, or the whole event when invoked directly
    notification: Notification
    source: str  # "sns", "direct" or "api"


def is_sns_event(event: object) -> bool:
    records = event.get("Records") if isinstance(event, Mapping) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(record, Mapping) and record.get("EventSource") == "aws:sns" for record in records)
    )


def is_api_gateway_event(event: object) -> bool:
    """A REST API (payload 1.0) or HTTP API (payload 2.0) proxy event."""
    if not isinstance(event, Mapping) or not isinstance(event.get("requestContext"), Mapping):
        return False
    return "httpMethod" in event or (event.get("version") == "2.0" and "routeKey" in event)


def read_event(event: Mapping[str, Any]) -> list[Inbound]:
    """SNS records become one Inbound each; any other event is one direct Inbound whose
    message is the event itself (an alarm action, an EventBridge event, a generic alert)."""
    if is_sns_event(event):
        from aws_lambda_powertools.utilities.data_classes import SNSEvent

        inbound = []
        for record in SNSEvent(dict(event)).records:
            sns = record.sns
            # .get: publishers omit Subject, and a malformed record must still be kept.
            notification = Notification(
                message=sns.get("Message") or "",
                message_id=sns.get("MessageId"),
                topic_arn=sns.get("TopicArn"),
                subject=sns.get("Subject"),
                timestamp=sns.get("Timestamp"),
            )
            inbound.append(Inbound(record.raw_event, notification, "sns"))
        return inbound
    return [Inbound(event, Notification(message=json.dumps(event)), "direct")]
