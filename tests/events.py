"""Lambda events of every trigger, built around one payload, for tests that send the same
thing through each path."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.samples import load

TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:itom-forwarder-alarms"


def sns_event(message: str) -> dict[str, Any]:
    """A Lambda SNS event of one notification whose Message is `message`."""
    event: dict[str, Any] = load("sns-generic-alert.json")
    event["Records"][0]["Sns"]["Message"] = message
    return event


def sqs_event(message: str, *, message_id: str = "msg-0") -> dict[str, Any]:
    """A Lambda SQS event (buffered mode) of one SNS notification whose Message is `message`."""
    template = load("sqs-buffered-batch.json")["Records"][0]
    notification = {
        "Type": "Notification",
        "MessageId": f"sns-{message_id}",
        "TopicArn": TOPIC_ARN,
        "Subject": "alert",
        "Message": message,
        "Timestamp": "2026-11-29T08:00:00.000Z",
    }
    return {"Records": [{**template, "messageId": message_id, "body": json.dumps(notification)}]}


def rest_event(path: str, body: str, *, base64_body: bool = False) -> dict[str, Any]:
    """An API Gateway REST API (payload 1.0) proxy event."""
    event: dict[str, Any] = load("powertools-apigateway-rest-v1-proxy-event.json")
    event.update(path=path, resource=path, httpMethod="POST", headers={"Content-Type": "application/json"})
    event["multiValueHeaders"] = {"Content-Type": ["application/json"]}
    event["requestContext"].update(resourcePath=path, httpMethod="POST", path=f"/v1{path}")
    event["body"] = base64.b64encode(body.encode()).decode() if base64_body else body
    event["isBase64Encoded"] = base64_body
    return event


def http_event(path: str, body: str, *, base64_body: bool = False) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event."""
    event: dict[str, Any] = load("powertools-apigateway-http-v2-event.json")
    event.update(routeKey=f"POST {path}", rawPath=path, rawQueryString="", headers={"content-type": "application/json"})
    event["requestContext"]["http"].update(method="POST", path=path)
    event["body"] = base64.b64encode(body.encode()).decode() if base64_body else body
    event["isBase64Encoded"] = base64_body
    return event
